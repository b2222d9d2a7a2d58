"""BM25 index memory per token: v1 (every token a Python string, bm25s' ``index()``) vs the
streamed index (token ids, int32/uint16 postings), side by side in one run, same corpus.

A synthetic corpus of MIRACL-like passages (~58 words, Zipf-distributed over a 200k-word
vocabulary so the vocabulary keeps growing as in real text) is written as a BEIR folder and
loaded through ``evalkit.data.load_beir_dir``. Each variant runs in a fresh process: after
loading, its anonymous memory (``RssAnon``; the memory-mapped corpus pages are not counted) is
read, the index is built while a thread samples it every 10 ms, and it is read again. Printed:
bytes per indexed token at the peak and retained (growth over the loaded corpus; it includes
what the allocator keeps of freed slices, a fixed ~15-60 MB), wall time, and
whether the two indexes give the same top-10 (ids and scores, to the bit) for 50 queries.

    python benchmarks/bench_bm25_memory.py                    # 200,000 passages
    python benchmarks/bench_bm25_memory.py --passages 1000000  # the issue's size
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def write_corpus(root: Path, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(200_000)], dtype=object)
    (root / "qrels").mkdir(parents=True)
    with open(root / "corpus.jsonl", "w", encoding="utf-8") as f:
        for start in range(0, n, 50_000):
            m = min(50_000, n - start)
            lengths = np.clip(rng.gamma(4.0, 14.5, size=m).astype(int), 5, 170)
            words = vocab[(rng.zipf(1.2, size=int(lengths.sum())) - 1) % len(vocab)]
            pos = 0
            for i, k in enumerate(lengths):
                text = " ".join(words[pos : pos + k])
                pos += k
                f.write(json.dumps({"_id": f"d{start + i}", "title": "", "text": text}) + "\n")
    with open(root / "queries.jsonl", "w", encoding="utf-8") as f:
        for i in range(50):
            q = " ".join(vocab[(rng.zipf(1.2, size=4) - 1) % 2000])
            f.write(json.dumps({"_id": f"q{i}", "text": q}) + "\n")
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq0\td0\t1\n")


def _rss() -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:", "RssAnon:")):
                out[line.split(":")[0]] = int(line.split()[1]) * 1024
    return out


class AnonPeak:
    """Anonymous memory has no high-water mark in /proc: sampled every 10 ms on a thread
    (file-backed pages, such as the memory-mapped Arrow corpus, are not the index's)."""

    def __init__(self) -> None:
        import threading

        self.peak = _rss()["RssAnon"]
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            self.peak = max(self.peak, _rss()["RssAnon"])
            time.sleep(0.01)

    def stop(self) -> int:
        self._stop = True
        self._thread.join()
        return max(self.peak, _rss()["RssAnon"])


def child(data: str, variant: str, out: str) -> None:
    sys.path.insert(0, str(REPO))
    import bm25s

    from evalkit.data import doc_text, load_beir_dir
    from evalkit.models.bm25 import BM25Retriever
    from evalkit.models.bm25_tokenize import ENGLISH_STOPWORDS, tokenize
    from evalkit.models.registry import resolve_model

    coll = load_beir_dir(Path(data))
    qids = sorted(coll.queries)
    retriever = BM25Retriever(resolve_model("bm25"))
    n_tokens = 0
    before = _rss()
    sampler = AnonPeak()
    t = time.perf_counter()
    if variant == "old":
        tokens: list[list[str]] = []
        for _, docs in coll.corpus.iter_slices(8192):
            tokens.extend(tokenize(doc_text(d, coll.title_join), ENGLISH_STOPWORDS) for d in docs)
        n_tokens = sum(map(len, tokens))
        index = bm25s.BM25(k1=0.9, b=0.4, method="lucene")
        index.index(tokens, show_progress=False)
        del tokens
    else:
        index = retriever.build_index(coll)
    secs = time.perf_counter() - t
    anon_peak = sampler.stop()
    after = _rss()
    if variant != "old":
        n_tokens = _count_tokens(coll)  # outside the timed and measured part
    q = [tokenize(coll.queries[x], ENGLISH_STOPWORDS) for x in qids]
    docs, scores = index.retrieve(q, k=10, show_progress=False)
    np.save(out + ".docs.npy", docs)
    np.save(out + ".scores.npy", scores)
    Path(out).write_text(json.dumps({
        "tokens": n_tokens, "seconds": secs, "anon_before": before["RssAnon"],
        "anon_peak": anon_peak, "anon_after": after["RssAnon"],
        "postings": int(len(index.scores["data"])),
    }))


def _count_tokens(coll) -> int:
    from evalkit.data import doc_text
    from evalkit.models.bm25_tokenize import ENGLISH_STOPWORDS, tokenize

    return sum(
        len(tokenize(doc_text(d, coll.title_join), ENGLISH_STOPWORDS))
        for _, docs in coll.corpus.iter_slices(8192)
        for d in docs
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--passages", type=int, default=200_000)
    ap.add_argument("--variants", default="old,new")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    work = Path(tempfile.mkdtemp(prefix="evalkit-bm25-bench-"))
    try:
        write_corpus(work / "data", args.passages)
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_CACHE": str(work / "hf")}
        res = {}
        for v in args.variants.split(","):
            out = str(work / f"{v}.json")
            subprocess.run([sys.executable, __file__, "--child", str(work / "data"), v, out],
                           env=env, check=True)
            res[v] = json.loads(Path(out).read_text())
            res[v]["docs"] = np.load(out + ".docs.npy")
            res[v]["scores"] = np.load(out + ".scores.npy")
        print(f"\nBM25 index, {args.passages:,} synthetic passages (~58 words, Zipf over 200k "
              "words), fresh process each, anonymous memory (RssAnon) over the loaded corpus")
        print(f"  {'variant':44s} {'tokens':>12s} {'postings':>12s} {'B/token peak':>13s} "
              f"{'B/token retained':>17s} {'seconds':>8s}")
        names = {"old": "v1: token strings, bm25s index()",
                 "new": "streamed: token ids, int32/uint16 postings"}
        for v, r in res.items():
            peak = (r["anon_peak"] - r["anon_before"]) / r["tokens"]
            kept = (r["anon_after"] - r["anon_before"]) / r["tokens"]
            print(f"  {names[v]:44s} {r['tokens']:12,d} {r['postings']:12,d} {peak:13.1f} "
                  f"{kept:17.1f} {r['seconds']:8.1f}")
        if {"old", "new"} <= set(res):
            same = np.array_equal(res["old"]["docs"], res["new"]["docs"]) and np.array_equal(
                res["old"]["scores"], res["new"]["scores"])
            print(f"  top-10 of 50 queries identical (ids and float32 scores): {same}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
