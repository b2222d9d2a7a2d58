"""Exact search: evalkit's torch backend against FAISS IndexFlatIP on the same random unit
vectors, in one run, plus evalkit's faiss backend (FAISS candidates, exact rescoring).

    python benchmarks/bench_search.py --docs 1000000 --queries 500 --dim 768 --top-k 1000

Prints wall times and ratios, checks that evalkit's two backends agree bit for bit, compares
evalkit's top-k with FAISS's (as sets; in order where FAISS's float32 scores leave no tie),
and checks a few queries' evalkit scores against the exact inner products.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from evalkit.retrieval.search import exact_f32, exact_search


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=200_000)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--top-k", type=int, default=1000)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--check-queries", type=int, default=3, help="queries checked exactly")
    args = ap.parse_args()
    import faiss
    import torch

    rng = np.random.default_rng(0)
    docs = rng.standard_normal((args.docs, args.dim), dtype=np.float32)
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    q = rng.standard_normal((args.queries, args.dim), dtype=np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    k = args.top_k
    print(
        f"docs={args.docs} queries={args.queries} dim={args.dim} top_k={k} device={args.device}"
        f" | {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, torch "
        f"{torch.__version__} ({torch.get_num_threads()} threads), faiss {faiss.__version__} "
        f"({faiss.omp_get_max_threads()} threads), load {os.getloadavg()[0]:.1f}"
    )

    t = time.perf_counter()
    s_t, i_t = exact_search(q, docs, k, backend="torch", device=args.device)
    torch_s = time.perf_counter() - t

    t = time.perf_counter()
    index = faiss.IndexFlatIP(args.dim)
    index.add(docs)
    s_f, i_f = index.search(q, k)
    faiss_s = time.perf_counter() - t

    t = time.perf_counter()
    s_b, i_b = exact_search(q, docs, k, backend="faiss")
    backend_s = time.perf_counter() - t
    print(f"load after: {os.getloadavg()[0]:.1f}")

    print(f"{'method':<44}{'seconds':>9}{'vs FAISS':>10}")
    print(f"{'FAISS IndexFlatIP (float32, add + search)':<44}{faiss_s:>9.2f}{1.0:>10.2f}")
    print(f"{'evalkit torch backend (exact)':<44}{torch_s:>9.2f}{torch_s / faiss_s:>10.2f}")
    print(f"{'evalkit faiss backend (exact)':<44}{backend_s:>9.2f}{backend_s / faiss_s:>10.2f}")

    same_backends = np.array_equal(i_t, i_b) and np.array_equal(s_t, s_b)
    print(f"evalkit torch vs faiss backend: identical ids and scores: {same_backends}")
    sets = [set(a) == set(b) for a, b in zip(i_t, i_f)]
    overlap = float(np.mean([len(set(a) & set(b)) / len(a) for a, b in zip(i_t, i_f)]))
    # FAISS orders by its float32 scores, which equal scores of different pairs may share
    # (and which are off the exact score by a few ulps): compare order only where it is strict.
    strict = [np.all(np.diff(row) < 0) for row in s_f]
    same_order = [np.array_equal(a, b) for a, b, st in zip(i_t, i_f, strict) if st]
    print(
        f"vs FAISS: same top-{k} set for {sum(sets)}/{len(sets)} queries (mean overlap "
        f"{overlap:.6f}); same order for {sum(same_order)}/{len(same_order)} queries whose "
        f"FAISS scores have no tie; max |score diff| {np.abs(s_t - s_f).max():.2e}"
    )
    bad = 0
    for r in range(min(args.check_queries, args.queries)):
        exact = [exact_f32(q[r], docs[j]) for j in i_t[r]]
        bad += int(not np.array_equal(np.array(exact, np.float32), s_t[r]))
        # nothing left out scores above the k-th (float64 is far inside the float32 ulp here)
        rest = np.setdiff1d(np.arange(args.docs), i_t[r])
        full = docs[rest].astype(np.float64) @ q[r].astype(np.float64)
        bad += int(full.max(initial=-np.inf) > float(s_t[r][-1]) + 1e-6)
    print(f"exactness check on {min(args.check_queries, args.queries)} queries: {bad} problems")


if __name__ == "__main__":
    main()
