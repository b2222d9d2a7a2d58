"""The shard runner's benchmarks (issue 7): each subcommand measures its pair side by side in
one run and prints the ratio.

    python benchmarks/bench_runner.py e2e        # evalkit vs mteb.evaluate, MiniLM, MS MARCO
    python benchmarks/bench_runner.py runner     # cold / warm re-run / 3 dims / kill -9 + resume
    python benchmarks/bench_runner.py memory     # peak RSS over 250k, 1M, 4M synthetic docs
    python benchmarks/bench_runner.py drama-cpu  # drama-base shape: GFLOP/s vs matmul peak
    python benchmarks/bench_runner.py gpu --device cuda   # drama-1b shape, bf16, 20-8192 tokens

``e2e`` reuses ``compare_mteb.py``'s two sides (in process, heavy imports paid before timing;
``--side-by-side`` runs them at the same time in two processes, fair on a busy machine).
``runner`` times real ``python -m evalkit run`` subprocesses of MiniLM on
``../shared/data/msmarco-subset`` (5,000 passages, ``--shard-size 1000``): a cold run (fresh
cache), the same command with ``--overwrite`` (every shard cached: the warm re-run), one dim
and three Matryoshka dims (``--dim 128,256,384 --force-dim``) run at the same time with fresh
caches, and a run sent SIGKILL after half the cold run's wall time, then the same command again
(the resume): its scores must equal the cold run's exactly. ``--steps`` picks a subset.
``memory`` runs evalkit's retrieval over synthetic corpora in fresh processes with a cheap
deterministic encoder and reports the peak RSS (VmHWM) and the peak anonymous memory
(sampled), which must be flat in corpus size.
``drama-cpu`` measures this machine's ``torch.matmul`` float32 peak before and after encoding
with evalkit's DRAMA path and reports the achieved fraction. ``gpu`` is the CUDA path (see its
``--help``): it was not run here, as no GPU was lent to the task.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))  # the sibling benchmark scripts, reused as modules
DATA = REPO.parent / "shared" / "data"


def load_note() -> str:
    return f"load average {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)"


# ---- e2e: evalkit vs mteb.evaluate ----------------------------------------------------------


def cmd_e2e(args: argparse.Namespace) -> dict[str, Any]:
    import compare_mteb as cm
    import mteb  # noqa: F401  (imports before any timing, as compare_mteb does)
    import sentence_transformers  # noqa: F401

    path = args.data_dir / args.dataset
    if args.side:  # one side, in a child of --side-by-side
        with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
            if args.side == "evalkit":
                scores, _, secs = cm.run_evalkit(path, Path(tmp) / "evalkit", args.batch_size)
            else:
                scores, _, secs = cm.run_mteb(cm.minilm_dir(), path, Path(tmp) / "mteb",
                                              args.batch_size)
        return {"seconds": secs, "ndcg_at_10": scores["ndcg_at_10"]}
    rows = []
    for rep in range(args.repeats):
        if args.side_by_side:
            ek, ek_s, mt, mt_s = _e2e_side_by_side(args)
        else:
            with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
                ek, _, ek_s = cm.run_evalkit(path, Path(tmp) / "evalkit", args.batch_size)
                mt, _, mt_s = cm.run_mteb(cm.minilm_dir(), path, Path(tmp) / "mteb",
                                          args.batch_size)
        rows.append({"evalkit_s": ek_s, "mteb_s": mt_s, "evalkit_ndcg_at_10": ek["ndcg_at_10"],
                     "mteb_ndcg_at_10": mt["ndcg_at_10"], "load": os.getloadavg()[0]})
        print(f"rep {rep}: evalkit {ek_s:.1f} s, mteb {mt_s:.1f} s, evalkit/mteb "
              f"{ek_s / mt_s:.2f}; nDCG@10 {ek['ndcg_at_10']:.5f} vs {mt['ndcg_at_10']:.5f}; "
              f"{load_note()}")
    ek_t = sum(r["evalkit_s"] for r in rows)
    mt_t = sum(r["mteb_s"] for r in rows)
    print(f"e2e {args.dataset}: evalkit {ek_t:.1f} s, mteb {mt_t:.1f} s over {len(rows)} "
          f"rep(s): evalkit / mteb wall time = {ek_t / mt_t:.2f} (target <= 1.00)")
    return {"rows": rows, "ratio": ek_t / mt_t}


def _e2e_side_by_side(args: argparse.Namespace) -> tuple[dict, float, dict, float]:
    """Both sides at the same time in two processes (each times itself after its imports)."""
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        outs = {side: Path(tmp) / f"{side}.json" for side in ("evalkit", "mteb")}
        procs = [subprocess.Popen([sys.executable, __file__, "--json", str(out), "e2e",
                                   "--side", side, "--data-dir", str(args.data_dir),
                                   "--dataset", args.dataset,
                                   "--batch-size", str(args.batch_size)],
                                  env=_env(), stdout=subprocess.DEVNULL)
                 for side, out in outs.items()]
        if any(p.wait() != 0 for p in procs):
            sys.exit("e2e --side-by-side: a side failed")
        ek, mt = (json.loads(outs[s].read_text()) for s in ("evalkit", "mteb"))
    return ek, ek["seconds"], mt, mt["seconds"]


# ---- runner: cold, warm, dims, kill + resume ------------------------------------------------


def evalkit_cmd(data: Path, out: Path, cache: Path, shard_size: int, extra: list[str]) -> list:
    return [sys.executable, "-m", "evalkit", "run", "--model", "minilm", "--suite", str(data),
            "--device", "cpu", "--output-dir", str(out), "--cache-dir", str(cache),
            "--shard-size", str(shard_size), "--no-progress", *extra]


def _env() -> dict[str, str]:
    # PYTHONPATH: this checkout's evalkit, also in the child.
    return {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false"}


def timed_run(cmd: list[str]) -> float:
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True)
    secs = time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return secs


def records(out: Path) -> dict[Any, Any]:
    """dim -> (scores, per_query, search, timings) of the records under ``out``."""
    from evalkit.results import load_results

    return {r.model["dim"]: (r.scores, r.per_query, r.search, r.timings)
            for r in load_results(out)}


def shard_files(cache: Path) -> int:
    return len(list(cache.rglob("shard-*.json")))


def timed_parallel(cmds: list[list[str]]) -> list[float]:
    """Run ``cmds`` at the same time and time each: on a shared machine, two runs side by side
    see the same load, so their ratio is fair where two runs one after the other may not be."""
    t = time.perf_counter()
    procs = [subprocess.Popen(c, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True) for c in cmds]
    ends = [0.0] * len(procs)
    while not all(ends):
        for i, p in enumerate(procs):
            if not ends[i] and p.poll() is not None:
                ends[i] = time.perf_counter() - t
                if p.returncode != 0:
                    sys.exit(f"failed ({p.returncode}): {' '.join(cmds[i])}\n"
                             f"{p.stderr.read()[-3000:]}")
        time.sleep(0.2)
    return ends


def kill_and_resume(cmd: list[str], delay: float, cache: Path) -> tuple[float, int, float]:
    """Start ``cmd``, SIGKILL it (its whole process group) after ``delay`` seconds, then run
    it again: ``(killed at, shards stored when killed, resumed run's seconds)``."""
    t = time.perf_counter()
    err = tempfile.TemporaryFile("w+")
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=err,
                            start_new_session=True)
    try:
        proc.wait(timeout=delay)
        err.seek(0)
        sys.exit(f"the run ended (exit {proc.returncode}) after {time.perf_counter() - t:.0f} s,"
                 f" before it could be killed: {err.read()[-3000:]}")
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    killed_at = time.perf_counter() - t
    return killed_at, shard_files(cache), timed_run(cmd)


def cmd_runner(args: argparse.Namespace) -> dict[str, Any]:
    data = args.data_dir / args.dataset
    if not (data / "corpus.jsonl").is_file():
        sys.exit(f"{data}: not found")
    steps = set(args.steps.split(","))
    if "cold" not in steps and ({"warm", "kill"} & steps) and not (args.cold_s and args.reference):
        sys.exit("--steps without cold: warm/kill need --cold-s and --reference (records dir)")
    work = Path(args.keep or tempfile.mkdtemp(prefix="bench-runner-"))
    res: dict[str, Any] = {}
    print(f"MiniLM, {args.dataset}, --shard-size {args.shard_size}, CPU; {load_note()}")
    try:
        def cmd(tag: str, extra: list[str] = ()) -> list[str]:
            return evalkit_cmd(data, work / f"out-{tag}", work / f"cache-{tag}", args.shard_size,
                               list(extra))

        if "cold" in steps:
            cold = res["cold_s"] = timed_run(cmd("cold"))
            ref = work / "out-cold"
            print(f"cold: {cold:.1f} s ({load_note()})", flush=True)
        else:
            cold, ref = args.cold_s, args.reference
            res["cold_s"] = cold
        cold_rec = records(ref) if ref else {}
        if "warm" in steps:
            warm = res["warm_s"] = timed_run(cmd("cold", ["--overwrite"]))
            [(_, _, w_search, w_t)] = records(work / "out-cold").values()
            [(_, _, _, c_t)] = cold_rec.values()
            print(f"warm / cold wall time       {warm / cold:6.3f}  (target <= 0.05): {warm:.1f} "
                  f"s vs {cold:.1f} s; in-process retrieve_s {w_t['retrieve_s']:.2f} vs "
                  f"{c_t['retrieve_s']:.2f} = {w_t['retrieve_s'] / c_t['retrieve_s']:.3f}; "
                  f"shards {w_search['shards']} ({load_note()})", flush=True)
            res.update(warm_timings=w_t, cold_timings=c_t, warm_shards=w_search["shards"])
        if "dims" in steps:
            one, three = timed_parallel([cmd("dim1"), cmd("dims", ["--dim", args.dims,
                                                                   "--force-dim"])])
            dims_rec = records(work / "out-dims")
            [(one_scores, _, one_search, _)] = records(work / "out-dim1").values()
            same = dims_rec[one_search["dim"]][0] == one_scores
            ndcg = {str(d): round(v[0]["ndcg_at_10"], 5) for d, v in dims_rec.items()}
            res.update(dim1_s=one, dims_s=three, dims_ndcg_at_10=ndcg, dims_full_identical=same)
            print(f"3 dims / 1 dim wall time    {three / one:6.3f}  (target <= 1.10): {three:.1f}"
                  f" s vs {one:.1f} s, run side by side; nDCG@10 by dim {ndcg}; full dim equals "
                  f"the 1-dim run: {same} ({load_note()})", flush=True)
        if "kill" in steps:
            killed_at, stored, resumed = kill_and_resume(cmd("kill"), 0.5 * cold,
                                                         work / "cache-kill")
            [(c_scores, c_pq, _, _)] = cold_rec.values()
            [(r_scores, r_pq, r_search, _)] = records(work / "out-kill").values()
            identical = r_scores == c_scores and r_pq == c_pq
            res.update(killed_at_s=killed_at, shards_at_kill=stored, resumed_s=resumed,
                       resumed_shards=r_search["shards"], resumed_identical=identical)
            print(f"resumed / cold wall time    {resumed / cold:6.3f}  (target <= 0.80): SIGKILL "
                  f"at {killed_at:.1f} s with {stored} shard(s) stored, resumed in {resumed:.1f}"
                  f" s vs cold {cold:.1f} s; shards {r_search['shards']}; scores and per-query "
                  f"scores identical to the cold run's: {identical} ({load_note()})", flush=True)
            if not identical:
                print("RESUMED SCORES DIFFER:", c_scores, r_scores)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return res


# ---- memory: peak RSS over synthetic corpora ------------------------------------------------


class CrcEncoder:
    """A cheap deterministic encoder: each text's CRC-32 picks and sums two rows of a fixed
    random table (unit-normalised). Nothing like a model, but it streams like one: evalkit
    sees an Encoder and cannot tell the difference, and 4M documents cost seconds."""

    def __init__(self, dim: int = 64) -> None:
        from evalkit.models.base import ModelSpec

        self.spec = ModelSpec(name="crc-hash", kind="transformers", dim=dim, revision="r1")
        self.device = "cpu"
        self.max_query_length: int | None = None
        self.max_doc_length: int | None = None
        self.table = np.random.default_rng(0).standard_normal((65536, dim)).astype(np.float32)

    def _encode(self, texts: list[str], dim: int | None) -> np.ndarray:
        from evalkit.models.base import truncate_dim

        h = np.fromiter((zlib.crc32(t.encode()) for t in texts), np.uint32, len(texts))
        v = self.table[h & 0xFFFF] + self.table[h >> 16]
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        return truncate_dim(v, dim, self.spec.dim)

    def encode_queries(self, texts, dim=None, batch_size=None):  # noqa: ANN001, ANN201
        return self._encode(list(texts), dim)

    def encode_documents(self, texts_or_dicts, dim=None, batch_size=None):  # noqa: ANN001, ANN201
        from evalkit.models.base import as_doc_texts

        return self._encode(as_doc_texts(texts_or_dicts), dim)


def short_texts(rng: np.random.Generator, n: int) -> list[str]:
    """4-16 words a passage: the encoder ignores length, and 4M long passages would take the
    2-core machine an hour just to write."""
    from bench_corpus_memory import WORDS

    vocab = np.array(WORDS, dtype=object)
    lengths = rng.integers(4, 17, size=n)
    flat = vocab[rng.integers(0, len(vocab), size=int(lengths.sum()))]
    ends = np.cumsum(lengths)
    return [" ".join(flat[e - k : e]) for e, k in zip(ends, lengths)]


def memory_child(data_dir: str, shard_size: int, cache_dir: str | None) -> None:
    """Fresh process: load the synthetic collection, retrieve through evalkit's runner."""
    from bench_corpus_memory import _rss as _status  # VmRSS, VmHWM, RssAnon, RssFile in MB

    from evalkit.data.hub import load_hub_dataset
    from evalkit.retrieval import RetrievalSettings
    from evalkit.runner import evaluate_collection
    from evalkit.suites.base import DatasetSpec

    peak_anon = [0.0]
    done = threading.Event()

    def sample() -> None:  # RssAnon has no high-water mark: sample it
        while not done.wait(0.02):
            peak_anon[0] = max(peak_anon[0], _status()["RssAnon"])

    before = _status()
    spec = DatasetSpec(name="synthetic", suite="bench", layout="mteb", split="test",
                       source={"id": "bench/synthetic", "revision": None})
    t = time.perf_counter()
    coll = load_hub_dataset(spec, None, Path(data_dir))
    load_s = time.perf_counter() - t
    loaded = _status()
    threading.Thread(target=sample, daemon=True).start()
    settings = RetrievalSettings(top_k=100, shard_size=shard_size, cache=cache_dir is not None,
                                 cache_dir=Path(cache_dir) if cache_dir else None)
    t = time.perf_counter()
    [(rec, _run)] = evaluate_collection(CrcEncoder(), coll, settings)
    run_s = time.perf_counter() - t
    done.set()
    end = _status()
    print(json.dumps({"n": len(coll.corpus), "load_s": load_s, "run_s": run_s,
                      "imports": before, "loaded": loaded, "end": end,
                      "peak_anon_during_run": max(peak_anon[0], end["RssAnon"]),
                      "shards": rec.search["shards"]}))


def cmd_memory(args: argparse.Namespace) -> dict[str, Any]:
    from bench_corpus_memory import write_corpus

    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-memory-"))
    rows = []
    try:
        for n in [int(x) for x in args.sizes.split(",")]:
            data = work / f"corpus-{n}"
            t = time.perf_counter()
            write_corpus(data / "synthetic", n, "parquet", texts=short_texts)
            write_s = time.perf_counter() - t
            env = {**_env(), "HF_DATASETS_CACHE": str(work / f"hf-{n}"),
                   "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}
            cmd = [sys.executable, __file__, "memory", "--child", str(data),
                   "--shard-size", str(args.shard_size)]
            if args.cache:
                cmd += ["--child-cache", str(work / f"emb-{n}")]
            # The first process builds the Arrow cache from Parquet (a one-off per dataset);
            # the second is what every later evaluation of the dataset costs.
            for label in ("first", "cached"):
                t = time.perf_counter()
                out = subprocess.run(cmd, env=env, capture_output=True, text=True)
                if out.returncode != 0:
                    sys.exit(f"child failed for {n}: {out.stderr[-3000:]}")
                res = json.loads(out.stdout.strip().splitlines()[-1])
                res.update(label=label, wall_s=time.perf_counter() - t, write_s=write_s)
                rows.append(res)
                print(f"{n:>9,} {label:6}: wall {res['wall_s']:.0f} s, peak RSS "
                      f"{res['end']['VmHWM']:.0f} MB, peak anon {res['peak_anon_during_run']:.0f}"
                      f" MB, anon after load {res['loaded']['RssAnon']:.0f} MB ({load_note()})",
                      flush=True)
            shutil.rmtree(data, ignore_errors=True)
            shutil.rmtree(work / f"hf-{n}", ignore_errors=True)
            shutil.rmtree(work / f"emb-{n}", ignore_errors=True)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\nCrcEncoder (64 dims), 2 queries, top-100, --shard-size {args.shard_size}, "
          f"{'cache on' if args.cache else '--no-cache'}; {load_note()}")
    print(f"{'docs':>10} {'process':8} {'load s':>7} {'run s':>7} {'anon after load MB':>19} "
          f"{'peak anon MB':>13} {'peak RSS MB':>12} {'file-mapped at end MB':>22}")
    for r in rows:
        print(f"{r['n']:>10,} {r['label']:8} {r['load_s']:7.1f} {r['run_s']:7.1f} "
              f"{r['loaded']['RssAnon']:19.0f} {r['peak_anon_during_run']:13.0f} "
              f"{r['end']['VmHWM']:12.0f} {r['end']['RssFile']:22.0f}")
    cached = [r for r in rows if r["label"] == "cached"]
    if len(cached) > 1:
        a, b = cached[0], cached[-1]
        print(f"peak anon {b['n']:,} / {a['n']:,} docs: "
              f"{b['peak_anon_during_run'] / a['peak_anon_during_run']:.2f}x for "
              f"{b['n'] / a['n']:.0f}x the documents")
    return {"rows": rows}


# ---- drama-cpu: achieved GFLOP/s vs torch.matmul peak ---------------------------------------


def matmul_peak(n: int, dtype: Any, device: str, seconds: float = 3.0) -> tuple[float, float]:
    """``(best FLOP/s, FLOP per CPU-second)`` of square ``n x n`` matmuls over about
    ``seconds``. Best, not mean: on a shared machine the best wall-clock rate is the closest to
    what the hardware can do; per CPU-second counts only the time this process got a core."""
    import torch

    a = torch.randn(n, n, dtype=dtype, device=device)
    b = torch.randn(n, n, dtype=dtype, device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    torch.matmul(a, b)
    sync()
    best, done, end = 0.0, 0, time.perf_counter() + seconds
    reps = 20 if device.startswith("cuda") else 1
    cpu = time.process_time()
    while time.perf_counter() < end:
        t = time.perf_counter()
        for _ in range(reps):
            torch.matmul(a, b)
        sync()
        done += reps
        best = max(best, reps * 2 * n**3 / (time.perf_counter() - t))
    return best, done * 2 * n**3 / (time.process_time() - cpu)


def drama_encoder(shape: str, docs: list[str], path: Path, device: str, dtype: str, attn: str,
                  max_batch_tokens: int | None = None) -> Any:
    from bench_drama_encode import SHAPES, build_checkpoint

    from evalkit.models.base import ModelSpec
    from evalkit.models.drama import DramaEncoder

    build_checkpoint(path, SHAPES[shape], docs, 0)
    spec = ModelSpec(name=path.name, kind="drama", hf_id=str(path),
                     extra={"attn_implementation": attn})
    return DramaEncoder(spec, device=device, dtype=dtype, max_batch_tokens=max_batch_tokens)


def cmd_drama_cpu(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from bench_drama_encode import count_flops, synthetic_corpus

    if args.threads:
        torch.set_num_threads(args.threads)
    docs = synthetic_corpus(args.docs, args.min_words, args.max_words, 0)
    with tempfile.TemporaryDirectory() as tmp:
        enc = drama_encoder("base", docs, Path(tmp) / "drama-base-random", "cpu", "float32",
                            "sdpa")
        flops, n_tokens = count_flops(enc, docs, args.max_length)
        # Padding is work the FLOP count does not credit: state how much the batches carry.
        lengths = [len(x) for x in enc._token_ids(docs, args.max_length)]
        padded = sum(len(b) * max(lengths[i] for i in b) for b in enc.batches(
            lengths, args.batch_size or enc.default_batch_size))
        enc.encode_documents(docs[:4], max_length=args.max_length)  # warm-up
        peak_before, cpu_peak_before = matmul_peak(args.matmul_n, torch.float32, "cpu")
        t, cpu = time.perf_counter(), time.process_time()
        enc.encode_documents(docs, max_length=args.max_length, batch_size=args.batch_size)
        secs, cpu_secs = time.perf_counter() - t, time.process_time() - cpu
        peak_after, cpu_peak_after = matmul_peak(args.matmul_n, torch.float32, "cpu")
    achieved = flops / secs
    peak = max(peak_before, peak_after)
    cpu_peak = max(cpu_peak_before, cpu_peak_after)
    print(f"drama-base shape, random weights, float32, SDPA, {torch.get_num_threads()} threads; "
          f"{len(docs)} docs, {n_tokens} tokens (max length {args.max_length}), "
          f"{padded} padded ({1 - n_tokens / padded:.0%} padding); {load_note()}")
    print(f"torch.matmul {args.matmul_n}x{args.matmul_n} float32 peak: {peak_before / 1e9:.1f} "
          f"GFLOP/s before, {peak_after / 1e9:.1f} after (per CPU-second: "
          f"{cpu_peak_before / 1e9:.1f}, {cpu_peak_after / 1e9:.1f})")
    print(f"evalkit DRAMA encode: {secs:.1f} s, {n_tokens / secs:.0f} tokens/s, "
          f"{achieved / 1e9:.1f} GFLOP/s = {achieved / peak:.2f} of the matmul peak; per "
          f"CPU-second {flops / cpu_secs / 1e9:.1f} GFLOP = {flops / cpu_secs / cpu_peak:.2f} "
          "of the matmul's (target >= 0.60)")
    return {"seconds": secs, "cpu_seconds": cpu_secs, "tokens": n_tokens, "flops": flops,
            "padded_tokens": padded,
            "peak_before": peak_before, "peak_after": peak_after, "fraction": achieved / peak,
            "cpu_peak": cpu_peak, "cpu_fraction": flops / cpu_secs / cpu_peak}


# ---- gpu: drama-1b shape on CUDA, and the GPU-hour projection -------------------------------

# Corpus token counts are not in the catalog (it has passage counts only): assumed means in
# DRAMA's Llama 3 tokens per document, overridable on the command line.
MIRACL_TOKENS_PER_DOC = 150  # Wikipedia passages of ~100 words; non-Latin scripts cost more
MLDR_TOKENS_PER_DOC = 3000   # long documents, mean after truncation at 8192 tokens


def corpus_tokens(miracl_per_doc: float, mldr_per_doc: float) -> dict[str, float]:
    from evalkit.suites.catalog import MIRACL, MLDR

    return {"MIRACL-18": MIRACL[0].size["docs"] * miracl_per_doc,
            "MLDR-13": MLDR[0].size["docs"] * mldr_per_doc}


def cmd_gpu(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from bench_drama_encode import count_flops, sentence_transformer, synthetic_corpus

    cuda = args.device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        sys.exit("gpu: --device cuda, but this machine has no CUDA GPU")
    if not cuda:
        print("--device cpu: a smoke test of this code path (use --shapes tiny); the figures "
              "below are not GPU figures")

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    docs = synthetic_corpus(args.docs, args.min_words, args.max_words, 0)
    peak, _ = matmul_peak(8192 if cuda else 256, torch.bfloat16, args.device, 5.0 if cuda else 0.5)
    name = torch.cuda.get_device_name(args.device) if cuda else "cpu"
    print(f"{name}: measured bf16 matmul peak {peak / 1e12:.3g} TFLOP/s; stated peak "
          f"{args.peak_tflops:g} TFLOP/s")
    rows, out = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for shape in args.shapes.split(","):
            enc = drama_encoder(shape, docs, Path(tmp) / f"drama-{shape}", args.device,
                                "bfloat16", args.attn)
            flops, n_tokens = count_flops(enc, docs, args.max_length)
            enc.encode_documents(docs[:8], max_length=args.max_length)
            sync()
            t = time.perf_counter()
            ours = enc.encode_documents(docs, max_length=args.max_length)
            sync()
            secs = time.perf_counter() - t
            non_emb = sum(p.numel() for n, p in enc.model.named_parameters()
                          if not n.startswith("embed_tokens"))
            cfg = enc.model.config
            rows[shape] = {"seconds": secs, "tokens": n_tokens, "tflops": flops / secs / 1e12,
                           "non_emb": non_emb,
                           "attn_flops_per_token_per_len": 4 * cfg.hidden_size
                           * cfg.num_hidden_layers}
            print(f"{shape}: {n_tokens / secs:,.0f} tokens/s, {flops / secs / 1e12:.0f} TFLOP/s ="
                  f" {flops / secs / 1e12 / args.peak_tflops:.2f} of stated peak, "
                  f"{flops / secs / peak:.2f} of measured (target >= 0.50)", flush=True)
            if shape == args.st_shape:
                st = sentence_transformer(Path(tmp) / f"drama-{shape}", args.device,
                                          torch.bfloat16, args.max_length, True, args.attn)
                st.encode(docs[:8], batch_size=args.st_batch_size)
                sync()
                t = time.perf_counter()
                theirs = st.encode(docs, batch_size=args.st_batch_size, convert_to_numpy=True,
                                   show_progress_bar=False).astype(np.float32)
                sync()
                st_s = time.perf_counter() - t
                diff = float(np.abs(theirs - ours).max())
                out["st_ratio"] = st_s / secs
                print(f"{shape}: sentence-transformers (bidirectional) {st_s:.1f} s vs evalkit "
                      f"{secs:.1f} s: evalkit {st_s / secs:.2f}x faster (target >= 1.5x); "
                      f"max |diff| {diff:.2e}", flush=True)
                del st
            del enc
            if cuda:
                torch.cuda.empty_cache()
    tokens = corpus_tokens(args.miracl_tokens, args.mldr_tokens)
    mean_len = {"MIRACL-18": args.miracl_tokens, "MLDR-13": args.mldr_tokens}
    print(f"\nprojected GPU-hours on this GPU: assumed {args.miracl_tokens:g} tokens per MIRACL "
          f"passage, {args.mldr_tokens:g} per MLDR document (every document that long), at the "
          "TFLOP/s achieved above; corpus encoding only (queries and search are minutes):")
    for shape, r in rows.items():
        # FLOPs per token at the corpus's length: the weights' 2 x params plus attention,
        # which grows with the length (so MLDR costs more per token than MIRACL).
        hours = {k: v * (2 * r["non_emb"] + r["attn_flops_per_token_per_len"] * mean_len[k])
                 / (r["tflops"] * 1e12) / 3600 for k, v in tokens.items()}
        r["projected_gpu_hours"] = hours
        print(f"  {shape:5} ({r['non_emb'] / 1e6:,.0f}M non-emb): "
              + ", ".join(f"{k} {h:,.1f} h" for k, h in hours.items()))
    out.update(rows=rows, measured_peak=peak, corpus_tokens=tokens)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path, help="also write the figures here")
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("e2e", help="evalkit vs mteb.evaluate wall time")
    p.add_argument("--data-dir", type=Path, default=DATA)
    p.add_argument("--dataset", default="msmarco-subset")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--side-by-side", action="store_true",
                   help="run the two sides at the same time (fair on a busy machine)")
    p.add_argument("--side", choices=("evalkit", "mteb"), help=argparse.SUPPRESS)
    p.set_defaults(fn=cmd_e2e)

    p = sub.add_parser("runner", help="cold, warm, 3 dims, kill -9 + resume")
    p.add_argument("--data-dir", type=Path, default=DATA)
    p.add_argument("--dataset", default="msmarco-subset")
    p.add_argument("--shard-size", type=int, default=1000)
    p.add_argument("--dims", default="128,256,384", help="MiniLM's full dim is 384")
    p.add_argument("--steps", default="cold,warm,dims,kill",
                   help="a subset, to spread the measurement over processes on a busy machine")
    p.add_argument("--cold-s", type=float, help="without the cold step: its wall time")
    p.add_argument("--reference", type=Path, help="without the cold step: its records dir")
    p.add_argument("--keep", type=Path, help="work here and keep the records and caches")
    p.set_defaults(fn=cmd_runner)

    p = sub.add_parser("memory", help="peak RSS over synthetic corpora")
    p.add_argument("--sizes", default="250000,1000000,4000000")
    p.add_argument("--shard-size", type=int, default=100_000)
    p.add_argument("--cache", action="store_true", help="store shards (default: --no-cache)")
    p.add_argument("--workdir", default=None)
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--child-cache", default=None, help=argparse.SUPPRESS)
    p.set_defaults(fn=cmd_memory)

    p = sub.add_parser("drama-cpu", help="drama-base shape: GFLOP/s vs matmul peak")
    p.add_argument("--docs", type=int, default=32)
    p.add_argument("--min-words", type=int, default=5)
    p.add_argument("--max-words", type=int, default=500)
    p.add_argument("--max-length", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--matmul-n", type=int, default=2048)
    p.add_argument("--threads", type=int, default=None)
    p.set_defaults(fn=cmd_drama_cpu)

    p = sub.add_parser("gpu", help="drama shapes in bf16 on CUDA; GPU-hour projection")
    p.add_argument("--device", default="cuda")
    p.add_argument("--shapes", default="base,1b", help="drama-large's shape is not public")
    p.add_argument("--st-shape", default="1b")
    p.add_argument("--docs", type=int, default=1000)
    p.add_argument("--min-words", type=int, default=18, help="~1 token a word, +BOS/EOS")
    p.add_argument("--max-words", type=int, default=8190)
    p.add_argument("--max-length", type=int, default=8192)
    p.add_argument("--attn", default="sdpa")
    p.add_argument("--st-batch-size", type=int, default=16)
    p.add_argument("--peak-tflops", type=float, default=989.0, help="H100/H200 bf16 dense")
    p.add_argument("--miracl-tokens", type=float, default=MIRACL_TOKENS_PER_DOC)
    p.add_argument("--mldr-tokens", type=float, default=MLDR_TOKENS_PER_DOC)
    p.set_defaults(fn=cmd_gpu)

    args = ap.parse_args()
    if args.cmd == "memory" and args.child:
        memory_child(args.child, args.shard_size, args.child_cache)
        return
    figures = args.fn(args)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
