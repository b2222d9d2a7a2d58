"""Exact search: evalkit's chunked torch top-k against FAISS IndexFlatIP and a naive full
score matrix + argpartition in NumPy, on the same random unit vectors, in one run.

    python benchmarks/bench_search.py --docs 1000000 --queries 1000 --dim 768

Prints wall time, peak extra memory of the score matrix path, and ratios; also checks that
all three return the same top-k ids.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from evalkit.retrieval.search import exact_search


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=200_000)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--top-k", type=int, default=1000)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    docs = rng.standard_normal((args.docs, args.dim), dtype=np.float32)
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    q = rng.standard_normal((args.queries, args.dim), dtype=np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)

    t = time.perf_counter()
    s_t, i_t = exact_search(q, docs, args.top_k, backend="torch", device=args.device)
    torch_s = time.perf_counter() - t

    t = time.perf_counter()
    s_f, i_f = exact_search(q, docs, args.top_k, backend="faiss")
    faiss_s = time.perf_counter() - t

    t = time.perf_counter()
    full = q @ docs.T  # the whole (queries x docs) matrix: what a naive harness does
    part = np.argpartition(-full, args.top_k, axis=1)[:, : args.top_k]
    order = np.argsort(-np.take_along_axis(full, part, 1), axis=1)
    i_n = np.take_along_axis(part, order, 1)
    naive_s = time.perf_counter() - t
    naive_mb = full.nbytes / 2**20

    same_f = float(np.mean([len(set(a) & set(b)) / len(a) for a, b in zip(i_t, i_f)]))
    same_n = float(np.mean([len(set(a) & set(b)) / len(a) for a, b in zip(i_t, i_n)]))
    print(f"docs={args.docs} queries={args.queries} dim={args.dim} top_k={args.top_k} "
          f"device={args.device}")
    print(f"{'method':<28}{'seconds':>10}{'vs torch':>10}")
    print(f"{'evalkit torch (chunked)':<28}{torch_s:>10.2f}{1.0:>10.2f}")
    print(f"{'faiss IndexFlatIP':<28}{faiss_s:>10.2f}{faiss_s / torch_s:>10.2f}")
    print(f"{'numpy full matrix':<28}{naive_s:>10.2f}{naive_s / torch_s:>10.2f}"
          f"   (score matrix {naive_mb:.0f} MiB)")
    print(f"top-k overlap with torch: faiss {same_f:.6f}, numpy {same_n:.6f}")
    print(f"max |score diff| torch vs faiss: {np.abs(s_t - s_f).max():.2e}")


if __name__ == "__main__":
    main()
