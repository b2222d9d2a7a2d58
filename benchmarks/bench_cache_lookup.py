"""What addressing cached vectors by text costs: hashing every document's text, building the
index of a cache's blocks, looking every document up and planning what to encode.

    python benchmarks/bench_cache_lookup.py --docs 200000 --block 10000 --shard 25000

Synthetic documents of about 300 bytes (MS MARCO passage length). The cache holds the first
half of the corpus in blocks of ``--block`` rows (as a run with ``--shard-size`` = block
left it); the run cuts the corpus in shards of ``--shard`` rows, so half of its documents are
found and half are planned for encoding, with one document in 20 a duplicate. Vectors are
stored at width ``--dim`` (the lookup never reads them; only a block's use does, and that
read and its SHA-256 are the same as the v1 cache's). Prints seconds, microseconds per
document, and the bytes per document the index and the plan hold.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from evalkit.retrieval.cache import Shard, TextsDigest, VectorStore, text_hashes
from evalkit.retrieval.dense import _ReusePlan
from evalkit.retrieval.search import Duplicates

WORDS = (
    "the of and to in is was for on that with as by at from his her an which were are this "
    "river city north south music game film war school church water house century island"
).split()


def corpus(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(WORDS), size=(n, 55))
    texts = [" ".join(WORDS[j] for j in row) + f" {i}" for i, row in enumerate(idx)]
    for i in range(0, n, 20):  # one document in 20 repeats an earlier one
        texts[i] = texts[i // 2]
    return texts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=200_000)
    ap.add_argument("--block", type=int, default=10_000)
    ap.add_argument("--shard", type=int, default=25_000)
    ap.add_argument("--dim", type=int, default=8)
    args = ap.parse_args()
    n = args.docs
    texts = corpus(n)
    mb = sum(len(t) for t in texts) / 1e6
    print(f"{platform.processor() or platform.machine()}, {n:,} docs, {mb:.0f} MB of text")

    t = time.perf_counter()
    hashes = np.concatenate([text_hashes(texts[i : i + 4096]) for i in range(0, n, 4096)])
    t_hash = time.perf_counter() - t
    t = time.perf_counter()
    for i in range(0, n, args.shard):  # v1's per-shard digest of the same texts, for scale
        TextsDigest().update(texts[i : i + args.shard]).hexdigest()
    t_v1 = time.perf_counter() - t

    with tempfile.TemporaryDirectory() as tmp:
        store = VectorStore(Path(tmp), "bench" * 6, "float16")
        rng = np.random.default_rng(1)
        half = n // 2
        for i in range(0, half, args.block):
            rows = min(args.block, half - i)
            emb = rng.standard_normal((rows, args.dim)).astype(np.float32)
            store.store(hashes[i : i + rows], emb, {})
        t = time.perf_counter()
        index = store.index()
        t_index = time.perf_counter() - t
        t = time.perf_counter()
        block, _ = index.lookup(hashes)
        t_lookup = time.perf_counter() - t
        found = int((block >= 0).sum())
        index_bytes = sum(a.nbytes for a in (index.hi, index.lo, index.block, index.row))
        del index

        shards = [
            Shard(k, s, min(s + args.shard, n)) for k, s in enumerate(range(0, n, args.shard))
        ]
        t = time.perf_counter()
        dups = Duplicates.find(hashes.view("V16").ravel(), np.arange(n, dtype=np.int32))
        t_dups = time.perf_counter() - t
        t = time.perf_counter()
        plan = _ReusePlan(store, hashes, shards, dups)  # index + lookup + plan
        t_plan = time.perf_counter() - t
        to_encode = sum(len(e) for e in plan.encode)
        plan_bytes = plan.hashes.nbytes + plan.block.nbytes + plan.row.nbytes

    def line(what: str, s: float) -> None:
        print(f"{what:<52} {s:8.3f} s  {s / n * 1e6:7.2f} us/doc")

    line("hash every text (SHA-256, 16 bytes kept)", t_hash)
    line("  v1: TextsDigest of each shard, same texts", t_v1)
    line(f"build the index ({half // args.block} blocks, {half:,} vectors)", t_index)
    line("look every document up", t_lookup)
    line("find duplicate texts (every run, cache or not)", t_dups)
    line("plan: index + lookup + dedup of what to encode", t_plan)
    print(f"found {found:,} of {n:,}; to encode {to_encode:,} unique texts")
    per_vector, per_doc = index_bytes / half, plan_bytes / n
    print(f"index {per_vector:.0f} bytes/stored vector, plan {per_doc:.0f} bytes/doc")


if __name__ == "__main__":
    main()
