"""Exact top-k by inner product, merged shard by shard.

The score of a (query, document) pair is the float32 nearest to the exact inner product of
their float32 vectors (ties to even): a function of the two vectors only, never of the block,
batch, device or backend they were scored in. The running top-k keeps the ``k`` best by
``(score desc, tie rank desc)``. The tie rank is the document's rank in the sorted list of
document ids, so among equal scores the larger id wins, which is also how trec_eval orders
ties. Both are packed into one int64 key per pair (the float's order-preserving bits above,
the tie rank below), so the selection is a total order: the result never depends on shard
size, batch size, the order shards are merged in or how many processes took part. Embeddings of
cosine models are unit vectors, so the inner product is the cosine.

How it stays cheap (:func:`score_block`):

1. A float32 GEMM (TF32 and reduced-precision modes off) gives every pair a score ``S``. Its
   error obeys Higham's bound ``|S - q.d| <= gamma_{w+1} sum|q_i||d_i| <= gamma_{w+1}
   |q|_2 |d|_2`` with ``gamma_n = n u / (1 - n u)``, ``u = 2**-24``, for any summation order,
   blocking or FMA use, plus ``2**-125 (2w + sqrt(w)(|q|+|d|))`` for underflow (covering
   flush-to-zero too). Norms are bounded from above in float64 (:func:`norm_bounds`).
2. Per query, a lower bound of the final ``k``-th score is kept: the ``k``-th largest of the
   proven lower bounds seen so far (the state's exact scores, ``S`` minus the bound of the
   candidates, or a chunk's ``k``-th ``S`` minus the bound). A document whose ``S`` plus its
   bound stays below it, with a float32 rounding step of margin, cannot reach the top k and
   is dropped; the rest wait until the block's last chunk, when the bound is at its highest.
3. The candidates still in reach are rescored in float64, where each product of two float32
   is exact and the sum is off by at most ``gamma_{w+1}`` (``u = 2**-53``) of ``|q||d|``. When
   both ends of that interval round to the same float32, that float32 is the answer; otherwise
   (float64 cannot decide: 4 of 200,000 rescored pairs of random unit vectors at 768 dims,
   more on vectors built of a few powers of two) the exact sum settles it
   (:func:`exact_f32`: ``math.fsum`` of the exact products, and at a float32 midpoint the sign
   of the exact remainder).

This assumes IEEE arithmetic in the float64 step (no flush-to-zero of float32 subnormals when
they are widened; PyTorch's default). A block costs one float32 GEMM plus, per query, about
``k`` float64 dot products (more while the running top k is still filling).

On the CPU every step is numpy (its BLAS does the GEMM; a run whose vectors are all cached
then never imports torch); on a GPU the same steps run in torch. Arrays are numpy or torch
tensors, and each function below takes either.

The faiss backend takes its candidates from ``IndexFlatIP`` (also float32, so the same bound
holds for its scores) and rescores them the same way, so both backends return the same keys.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from evalkit.errors import EvalkitError

Backend = Literal["torch", "faiss"]
_LOW32 = (1 << 32) - 1
_PAD = -(2**63)  # a key below every real one (see TopK.merge)
_U32 = 2.0**-24  # unit roundoff of float32
_U64 = 2.0**-53  # unit roundoff of float64
_HUGE = 2.0**100  # norm products above this might overflow float32: score every pair exactly


def _gamma(n: int, u: float) -> float:
    """Higham's gamma_n, nudged up so that rounding in the bound's own arithmetic is covered."""
    return n * u / (1.0 - n * u) * (1.0 + 2.0**-40)


def _is_np(x: object) -> bool:
    return isinstance(x, np.ndarray)


def _on_cpu(device: object) -> bool:
    """Whether a search on ``device`` runs in numpy (no torch import)."""
    return device is None or str(device) == "cpu" or str(device).startswith("cpu:")


def _like(x, ref):
    """``x`` (numpy or torch) as the kind of ``ref``: numpy, or a tensor on ref's device."""
    if _is_np(ref):
        return x if _is_np(x) else x.detach().cpu().numpy()
    import torch

    return (torch.from_numpy(np.ascontiguousarray(x)) if _is_np(x) else x).to(ref.device)


def _as64(x):  # numpy or torch, as float64
    return x.astype(np.float64) if _is_np(x) else x.to(__import__("torch").float64)


def _where(cond, a, b):
    if _is_np(cond):
        return np.where(cond, a, b)
    import torch

    return torch.where(cond, a, b)


def _cat(parts: list, dim: int = 0):
    if _is_np(parts[0]):
        return np.concatenate(parts, axis=dim)
    import torch

    return torch.cat(parts, dim=dim)


def _top_values(x, k: int):  # the k largest of each row, in no order
    if _is_np(x):
        return np.partition(x, x.shape[1] - k, axis=1)[:, x.shape[1] - k :]
    import torch

    return torch.topk(x, k, dim=1, sorted=False).values


def _top_keys(keys, positions, k: int):  # each row's k largest keys and their positions
    if _is_np(keys):
        sel = np.argpartition(keys, keys.shape[1] - k, axis=1)[:, keys.shape[1] - k :]
        return np.take_along_axis(keys, sel, 1), np.take_along_axis(positions, sel, 1)
    import torch

    keys, sel = torch.topk(keys, k, dim=1, sorted=False)
    return keys, torch.gather(positions, 1, sel)


def _sortable(scores):  # float32 -> int64 whose order is the floats' order
    if _is_np(scores):
        s = scores.astype(np.float32) + np.float32(0.0)  # -0.0 -> 0.0: equal keys
        bits = s.view(np.int32).astype(np.int64)
        return np.where(bits >= 0, bits, bits ^ 0x7FFFFFFF)
    import torch

    s = scores.to(torch.float32) + 0.0  # -0.0 -> 0.0: equal floats get equal keys
    bits = s.view(torch.int32).to(torch.int64)
    return torch.where(bits >= 0, bits, bits ^ 0x7FFFFFFF)


def _unsortable(keys):  # inverse of _sortable on the high 32 bits
    hi = keys >> 32
    if _is_np(keys):
        return np.where(hi >= 0, hi, hi ^ 0x7FFFFFFF).astype(np.int32).view(np.float32)
    import torch

    bits = torch.where(hi >= 0, hi, hi ^ 0x7FFFFFFF).to(torch.int32)
    return bits.view(torch.float32)


def norm_bounds(x):  # float32 (n, w) -> float64 (n,)
    """Upper bounds of the rows' Euclidean norms. The float32 norm (one cheap pass) loses at
    most a relative gamma_{w+1} of the sum of squares (here gamma_{2w+2}, for slack), plus
    ``2**-126`` for each square or partial sum that underflows (flushed to zero or not); both
    are added back before the square root."""
    w = x.shape[1]
    if _is_np(x):
        nc = np.linalg.norm(x, axis=1).astype(np.float64)  # float32 sums, as torch's
        ss = (nc / (1.0 - _U32)) ** 2 + 2 * w * 2.0**-126
        out = np.sqrt(ss / (1.0 - _gamma(2 * w + 2, _U32))) * (1.0 + 2.0**-48)
        return np.nan_to_num(out, nan=math.inf)
    import torch

    nc = torch.linalg.vector_norm(x, dim=1).to(torch.float64)
    ss = (nc / (1.0 - _U32)) ** 2 + 2 * w * 2.0**-126
    out = torch.sqrt(ss / (1.0 - _gamma(2 * w + 2, _U32))) * (1.0 + 2.0**-48)
    return torch.nan_to_num(out, nan=math.inf)


def _gemm_bound(qn, dn, w: int):  # float64 norms (broadcastable) -> bound on |S - q.d|
    return _gamma(w + 1, _U32) * qn * dn + 2.0**-125 * (2 * w + math.sqrt(w) * (qn + dn))


def exact_f32(q: np.ndarray, d: np.ndarray) -> np.float32:
    """The float32 nearest to the exact inner product of two float32 vectors (ties to even).

    Products of two float32 are exact in float64 and ``math.fsum`` rounds their exact sum
    correctly to float64. Rounding that once more to float32 is right unless it lands exactly
    on a float32 midpoint, where the sign of the exact remainder decides."""
    p = q.astype(np.float64) * d.astype(np.float64)
    if not np.isfinite(p).all():
        return np.float32(p.sum())
    terms = p.tolist()
    f = math.fsum(terms)
    with np.errstate(over="ignore"):
        r = np.float32(f)
    r64 = _f64(r)
    if r64 == f:
        return r
    below, above = (r, _next32(r, 1)) if r64 < f else (_next32(r, -1), r)
    if f != (_f64(below) + _f64(above)) / 2:
        return r  # f is on the same side of every float32 midpoint as the exact sum
    rest = math.fsum([*terms, -f])  # exact sum - f, correctly rounded: its sign is exact
    return above if rest > 0 else below if rest < 0 else r


def _f64(x: np.float32) -> float:  # float32 as float64, with inf as the 2**128 it rounds from
    v = float(x)
    return math.copysign(2.0**128, v) if math.isinf(v) else v


def _next32(x: np.float32, direction: int) -> np.float32:
    return np.nextafter(x, np.float32(math.inf * direction))


def _down32(x):  # float64 -> the largest float32 <= x (elementwise)
    if _is_np(x):
        c = x.astype(np.float32)
        return np.where(c.astype(np.float64) > x, np.nextafter(c, np.float32(-math.inf)), c)
    import torch

    c = x.to(torch.float32)
    return torch.where(c.to(torch.float64) > x, torch.nextafter(c, c.new_tensor(-math.inf)), c)


def rescore(queries, docs, rows, cols, qn=None, dn=None):
    """Correctly rounded float32 scores of the pairs ``(queries[rows], docs[cols])``:
    float32 (n, w), (m, w) and int64 (P,) with ``rows`` ascending -> float32 (P,), numpy or
    torch. ``qn`` / ``dn`` are :func:`norm_bounds` of the two sides, if already known."""
    qn = norm_bounds(queries) if qn is None else qn
    dn = norm_bounds(docs) if dn is None else dn
    err = _gamma(queries.shape[1] + 1, _U64) * qn[rows] * dn[cols]
    if _is_np(queries):
        return _rescore(queries, rows, cols, err, lambda pos: docs[pos])
    if queries.device.type == "cpu":
        d_np = docs.numpy()
        return _rescore(queries, rows, cols, err, lambda pos: d_np[pos])
    return _rescore(queries, rows, cols, err, None, docs)


def _cpu_dots(queries, cols: np.ndarray, counts: list[int], get):
    """float64 inner products on CPU, per query a gather of its candidates' rows and one
    GEMV. These are small operations, where an intra-op thread pool costs more than the work
    on a busy machine, so each runs on one thread and the queries are split over as many
    Python threads as torch would use (gathers and GEMVs release the GIL)."""
    if _is_np(queries):
        return _np_dots(queries, cols, counts, get)
    import torch

    q64 = queries.to(torch.float64)
    out = torch.empty(len(cols), dtype=torch.float64)
    ends = np.cumsum(counts)
    n_threads = max(1, min(torch.get_num_threads(), 8))

    def work(lo: int, hi: int) -> None:
        with torch.inference_mode():  # thread-local: `out` is an inference tensor
            _dots(lo, hi)

    def _dots(lo: int, hi: int) -> None:
        for i in range(lo, hi):
            a, b = int(ends[i] - counts[i]), int(ends[i])
            if b > a:
                rows = torch.from_numpy(np.ascontiguousarray(get(cols[a:b]), dtype=np.float32))
                torch.mv(rows.to(torch.float64), q64[i], out=out[a:b])

    # split the queries so that each part holds about the same number of pairs
    cuts = np.searchsorted(ends, np.linspace(0, ends[-1], 4 * n_threads + 1)[1:-1])
    bounds = [0, *sorted(set(int(c) for c in cuts)), len(counts)]
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(n_threads) as pool:
            list(pool.map(work, bounds[:-1], bounds[1:]))
    finally:
        torch.set_num_threads(old)
    return out


def _np_dots(queries: np.ndarray, cols: np.ndarray, counts: list[int], get) -> np.ndarray:
    """:func:`_cpu_dots` in numpy: per query the float64 products of its candidates' rows,
    the queries split over threads. ``einsum``, not ``matmul``: BLAS would start its own
    threads for each small GEMV under ours (twice the CPU on 2 cores), while einsum's loop
    runs on the calling thread with the GIL released. The summation order is einsum's; the
    error bound used holds for any order."""
    q64 = queries.astype(np.float64)
    out = np.empty(len(cols), dtype=np.float64)
    ends = np.cumsum(counts)

    def work(lo: int, hi: int) -> None:
        for i in range(lo, hi):
            a, b = int(ends[i] - counts[i]), int(ends[i])
            if b > a:
                rows = np.asarray(get(cols[a:b]), dtype=np.float32).astype(np.float64)
                np.einsum("ij,j->i", rows, q64[i], out=out[a:b])

    n_threads = max(1, min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                           else (os.cpu_count() or 1), 8))  # fmt: skip
    if n_threads == 1 or len(counts) < 2:
        work(0, len(counts))
        return out
    cuts = np.searchsorted(ends, np.linspace(0, ends[-1], 4 * n_threads + 1)[1:-1])
    bounds = [0, *sorted(set(int(c) for c in cuts)), len(counts)]
    with ThreadPoolExecutor(n_threads) as pool:
        list(pool.map(work, bounds[:-1], bounds[1:]))
    return out


def _rescore(queries, rows, cols, err, get=None, docs=None):
    """:func:`rescore` with the documents either as a tensor ``docs`` on the queries' device
    or, on CPU, as ``get`` (numpy int64 indices -> numpy float32 rows), so that candidate
    vectors are read straight from where they lie (a shard, a matrix) without a copy of them
    all. Numpy ``queries`` (with ``get``) are rescored in numpy."""
    if _is_np(queries):
        return _np_rescore(queries, rows, cols, err, get)
    import torch

    n_pairs = rows.numel()
    if n_pairs == 0:
        return torch.empty(0, dtype=torch.float32, device=queries.device)
    counts = torch.bincount(rows, minlength=queries.shape[0]).tolist()
    if get is not None:
        out = _cpu_dots(queries, cols.cpu().numpy(), counts, get)
    else:
        q64 = queries.to(torch.float64)
        out = torch.empty(n_pairs, dtype=torch.float64, device=queries.device)
        a = 0
        for i, c in enumerate(counts):  # per query: its candidates' rows, one float64 GEMV
            if c:
                sel = docs.index_select(0, cols[a : a + c]).to(torch.float64)
                out[a : a + c] = sel @ q64[i]
                a += c
    # The products are exact in float64; only the w - 1 additions round: ``err`` bounds
    # that (gamma_{w+1} |q| |d| for u = 2**-53), the last term the rounding of out +- err.
    err = err.to(out.device) + out.abs() * 2.0**-52
    scores = out.to(torch.float32)
    undecided = torch.nonzero((out - err).to(torch.float32) != (out + err).to(torch.float32))
    if len(undecided):
        q_np, r_np, c_np = queries.cpu().numpy(), rows.cpu().numpy(), cols.cpu().numpy()
        d_np = docs.cpu().numpy() if get is None else None
        for j in undecided.flatten().tolist():
            d_row = d_np[c_np[j]] if get is None else get(c_np[j : j + 1])[0]
            scores[j] = float(exact_f32(q_np[r_np[j]], d_row))
    return scores


def _np_rescore(queries: np.ndarray, rows, cols, err, get) -> np.ndarray:
    """:func:`_rescore` in numpy (the CPU search)."""
    rows, cols, err = _like(rows, queries), _like(cols, queries), _like(err, queries)
    if len(rows) == 0:
        return np.empty(0, dtype=np.float32)
    counts = np.bincount(rows, minlength=queries.shape[0]).tolist()
    out = _np_dots(queries, cols, counts, get)
    err = err + np.abs(out) * 2.0**-52  # as in _rescore
    scores = out.astype(np.float32)
    undecided = np.flatnonzero((out - err).astype(np.float32) != (out + err).astype(np.float32))
    for j in undecided.tolist():
        scores[j] = exact_f32(queries[rows[j]], get(cols[j : j + 1])[0])
    return scores


def pair_scores(queries, docs):  # float32 (q, w), (m, w) -> (q, m) float32
    """Every pair's correctly rounded score (small blocks: tests and references)."""
    if _is_np(queries):
        rows = np.repeat(np.arange(queries.shape[0]), docs.shape[0])
        cols = np.tile(np.arange(docs.shape[0]), queries.shape[0])
        return rescore(queries, docs, rows, cols).reshape(queries.shape[0], docs.shape[0])
    import torch

    rows = torch.arange(queries.shape[0], device=queries.device).repeat_interleave(docs.shape[0])
    cols = torch.arange(docs.shape[0], device=queries.device).repeat(queries.shape[0])
    return rescore(queries, docs, rows, cols).reshape(queries.shape[0], docs.shape[0])


def _round_margin(x):  # float64
    """A lower bound of the float32 that any real >= ``x`` rounds to (elementwise)."""
    return x - 2.0**-23 * abs(x) - 2.0**-149


def _cut(t, bq):
    """Per query, the float32 cut below which a float32 score ``S`` (off the exact one by at
    most ``bq``) cannot round to ``t`` or more: a real below ``t - 2**-24 |t| - 2**-150``
    rounds below ``t``, and 2**-22 also covers the rounding of this arithmetic."""
    return _down32(t - bq - 2.0**-22 * (abs(t) + bq) - 2.0**-148)


def _refine(s, b, t):
    """Which candidate pairs (float32 scores ``s``, bounds ``b``) stay in reach of their
    query's ``t``: the first cut used the block's largest document norm, and the norms of a
    dot-product model's documents differ."""
    return ~(_as64(s) + b < t - 2.0**-22 * (abs(t) + b) - 2.0**-148)


class _Pending:
    """Candidates of one set of queries, gathered over document chunks and rescored together
    at the end, so that only those still in reach of the final k-th score are rescored.
    ``pool`` holds per query the ``k`` largest proven lower bounds of exact scores seen so far
    (the state's own exact scores included): at least ``k`` documents score at least its
    smallest, so nothing that cannot reach it can enter the top k."""

    def __init__(self, state: TopK, queries, qn) -> None:
        self.state, self.queries, self.qn, self.w = state, queries, qn, queries.shape[1]
        held = _like(state.keys, queries)
        self.pool = _where(held == _PAD, -math.inf, _as64(_unsortable(held)))
        self.parts: list[tuple] = []
        self.count = 0

    def bound(self):
        """Per query (float64): the final ``k``-th score is at least this; -inf while fewer
        than ``k`` lower bounds are known."""
        if self.pool.shape[1] < self.state.k:
            if _is_np(self.pool):
                return np.full(self.pool.shape[0], -math.inf)
            import torch

            return torch.full(
                (self.pool.shape[0],), -math.inf, dtype=torch.float64, device=self.pool.device
            )
        if _is_np(self.pool):
            return _round_margin(self.pool.min(axis=1))
        return _round_margin(self.pool.min(dim=1).values)

    def add(self, rows, positions, s, b) -> None:
        """Candidate pairs: query rows (ascending), corpus positions, float32 scores ``S`` and
        their bounds (:func:`_gemm_bound`)."""
        if len(rows) == 0:
            return
        rows, positions, s, b = (_like(x, self.pool) for x in (rows, positions, s, b))
        low = _as64(s) - b
        mat = _ragged(rows, low, self.pool.shape[0], -math.inf)
        pool = _cat([self.pool, mat], dim=1)
        if pool.shape[1] > self.state.k:
            pool = _top_values(pool, self.state.k)
        self.pool = pool
        self.parts.append((rows, positions, s, b))
        self.count += len(rows)
        if self.count > max(4 * self.pool.shape[0] * self.state.k, 1 << 22):
            self._prune()

    def _prune(self) -> None:
        if not self.parts:
            return
        rows, positions, s, b = (_cat(list(x)) for x in zip(*self.parts))
        keep = _refine(s, b, self.bound()[rows])
        self.parts = [(rows[keep], positions[keep], s[keep], b[keep])]
        self.count = int(keep.sum())

    def finish(self, fetch: Callable, ranks_of: Callable, where: np.ndarray | None = None) -> None:
        """Rescore the survivors exactly and merge them into the state. ``fetch`` (corpus
        positions, numpy int64) returns their float32 vectors (numpy), the very vectors that
        were scored; ``ranks_of`` their tie ranks. ``where``: the corpus position of each
        position scored, when the chunks were numbered apart from the corpus (a subset of
        its rows)."""
        self._prune()
        if not self.parts:
            return
        rows, positions, _, b = self.parts[0]
        self.parts = []
        # sorted runs, one a chunk: numpy's stable sort merges them in about linear time
        order = _like(np.argsort(_like(rows, np.empty(0)), kind="stable"), rows)
        rows, positions, b = rows[order], positions[order], b[order]
        # b >= gamma32 |q||d|, so this bounds float64's gamma64 |q||d|
        err = b * (_gamma(self.w + 1, _U64) / (self.w + 1) / _U32)
        if _is_np(self.queries):
            exact = _np_rescore(self.queries, rows, positions, err, fetch)
            ranks = np.asarray(ranks_of(positions), dtype=np.int64)
            keys = (_sortable(exact) << 32) | ranks
            n_q = self.pool.shape[0]
            if where is not None:
                positions = where[positions]
            self.state.merge(_ragged(rows, keys, n_q, _PAD), _ragged(rows, positions, n_q, -1))
            return
        import torch

        if self.queries.device.type == "cpu":  # read each query's rows where they lie
            pos_np = positions.numpy()
            exact = _rescore(self.queries, rows, positions, err, fetch)
        else:  # the candidates' union, once, to the device
            uniq, inv = torch.unique(positions, return_inverse=True)
            docs = torch.from_numpy(fetch(uniq.cpu().numpy())).to(self.queries.device)
            exact = _rescore(self.queries, rows, inv, err, None, docs)
            pos_np = positions.cpu().numpy()
        ranks = torch.from_numpy(np.asarray(ranks_of(pos_np), dtype=np.int64))
        keys = (_sortable(exact) << 32) | ranks.to(rows.device)
        n_q = self.pool.shape[0]
        if where is not None:
            positions = torch.from_numpy(where[pos_np]).to(rows.device)
        self.state.merge(_ragged(rows, keys, n_q, _PAD), _ragged(rows, positions, n_q, -1))


def _ragged(rows, values, n_rows: int, fill):
    """Values of ascending ``rows`` as a padded (n_rows, widest row) matrix."""
    if _is_np(rows):
        counts = np.bincount(rows, minlength=n_rows)
        slot = np.arange(len(rows)) - (np.cumsum(counts) - counts)[rows]
        out = np.full((n_rows, int(counts.max()) if len(rows) else 0), fill, dtype=values.dtype)
        out[rows, slot] = values
        return out
    import torch

    counts = torch.bincount(rows, minlength=n_rows)
    slot = torch.arange(rows.numel(), device=rows.device) - (torch.cumsum(counts, 0) - counts)[rows]
    out = torch.full(
        (n_rows, int(counts.max()) if rows.numel() else 0),
        fill,
        dtype=values.dtype,
        device=values.device,
    )
    out[rows, slot] = values
    return out


@dataclass
class TopK:
    """Running top-``k`` of several queries: packed keys and corpus positions, best first
    after :meth:`result`. Merge shards in any order; the result is the same. Numpy arrays
    for a search on the CPU, torch tensors on ``device`` otherwise."""

    k: int
    keys: object  # int64 (n_queries, <=k)
    positions: object  # int64 (n_queries, <=k)

    @classmethod
    def empty(cls, n_queries: int, k: int, device: str = "cpu") -> TopK:
        if _on_cpu(device):
            z = np.empty((n_queries, 0), dtype=np.int64)
            return cls(k, z, z.copy())
        import torch

        z = torch.empty((n_queries, 0), dtype=torch.int64, device=device)
        return cls(k, z, z.clone())

    def push(self, scores, positions, tie_ranks) -> None:
        """Merge a block of final scores: ``scores`` (n_queries, m) float32, ``positions`` /
        ``tie_ranks`` (m,) int64 for the block's documents."""
        keys = (_sortable(scores) << 32) | _like(tie_ranks, scores)[None, :]
        pos = _like(positions, scores)[None, :]
        pos = np.broadcast_to(pos, keys.shape) if _is_np(keys) else pos.expand_as(keys)
        if keys.shape[1] > self.k:
            keys, pos = _top_keys(keys, pos, self.k)
        self.merge(keys, pos)

    def merge(self, keys, positions) -> None:
        """Merge packed keys. Rows may be padded with keys of ``-2**63`` (position -1): they
        lose to every real key, and every row always holds at least ``min(k, seen)`` real
        ones, so a pad never stays."""
        keys = _cat([self.keys, _like(keys, self.keys)], dim=1)
        positions = _cat([self.positions, _like(positions, self.keys)], dim=1)
        if keys.shape[1] > self.k:
            keys, positions = _top_keys(keys, positions, self.k)
        self.keys, self.positions = keys, positions

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, positions)`` as numpy, each row best first."""
        if _is_np(self.keys):
            # keys differ within a row (tie ranks do), so no sort stability question
            order = np.argsort(self.keys, axis=1)[:, ::-1]
            keys = np.take_along_axis(self.keys, order, 1)
            return _unsortable(keys), np.take_along_axis(self.positions, order, 1)
        import torch

        keys, order = torch.sort(self.keys, dim=1, descending=True)
        positions = torch.gather(self.positions, 1, order)
        return _unsortable(keys).cpu().numpy(), positions.cpu().numpy()


def cut_dim(block: np.ndarray, dim: int | None, normalize: bool) -> np.ndarray:
    """Matryoshka view of full-width embeddings: first ``dim`` features, unit length again
    when the model's similarity is cosine. Always a float32 copy."""
    width = dim or block.shape[1]
    out = np.array(block[:, :width], dtype=np.float32)
    if normalize and width < block.shape[1]:
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return out


def search_queries(queries: np.ndarray, device: Any) -> Any:
    """Query vectors as :func:`score_block` takes them on ``device``: numpy on the CPU (no
    torch import), else a tensor there."""
    if _on_cpu(device):
        return queries
    import torch

    return torch.from_numpy(queries).to(device)


def score_block(
    state: TopK,
    queries,  # float32 (n_queries, width): numpy on the CPU, else a tensor on the device
    docs: np.ndarray,
    start: int,
    tie_ranks: np.ndarray,
    *,
    backend: Backend = "torch",
    doc_chunk: int = 65536,
    query_chunk: int = 4096,
    positions: np.ndarray | None = None,
) -> None:
    """Score ``docs`` (corpus rows ``start..start+len(docs)``, or the rows ``positions`` when
    given, with ``tie_ranks`` theirs) against every query and merge them into ``state`` (see
    the module docstring for how)."""
    step = max(len(docs) if backend == "faiss" else doc_chunk, 1)  # faiss: one index a block
    if positions is not None:  # numbered 0..len(docs) while searched, then as ``positions``
        where = np.asarray(positions, dtype=np.int64)
        _search(
            state,
            queries,
            ((s, docs[s : s + step]) for s in range(0, len(docs), step)),
            lambda pos: np.ascontiguousarray(docs[pos], dtype=np.float32),
            lambda pos: np.asarray(tie_ranks)[pos],
            backend=backend,
            query_chunk=query_chunk,
            where=where,
        )
        return
    chunks = ((start + s, docs[s : s + step]) for s in range(0, len(docs), step))
    _search(
        state,
        queries,
        chunks,
        lambda pos: np.ascontiguousarray(docs[pos - start], dtype=np.float32),
        lambda pos: np.asarray(tie_ranks)[pos - start],
        backend=backend,
        query_chunk=query_chunk,
    )


def _search(
    state: TopK, queries, chunks, fetch, ranks_of, *, backend, query_chunk, where=None
) -> None:
    """Merge document ``chunks`` ((first corpus position, float32 array) pairs) into
    ``state``; ``fetch`` / ``ranks_of`` give candidates' vectors and tie ranks back by corpus
    position for the exact rescoring. Numpy ``queries`` (and always the faiss backend, a
    CPU library) search in numpy, tensors in torch on their device."""
    if backend not in ("torch", "faiss"):
        raise EvalkitError(f"--search-backend {backend!r}: expected 'torch' or 'faiss'")
    if backend == "faiss" or _is_np(queries):
        # overflow and inf - inf are handled by the bounds, as torch does without warning
        with np.errstate(all="ignore"):
            queries = np.ascontiguousarray(_like(queries, np.empty(0)), dtype=np.float32)
            pending = _Pending(state, queries, norm_bounds(queries))
            for pos0, block in chunks:
                if len(block) == 0:
                    continue
                block = np.ascontiguousarray(block, dtype=np.float32)
                if backend == "faiss":
                    _faiss_chunk(pending, block, pos0)
                else:
                    _torch_chunk(pending, block, pos0, query_chunk)
            pending.finish(fetch, ranks_of, where)
        return
    import torch

    with torch.inference_mode(), _no_tf32():
        queries = queries.to(torch.float32)
        pending = _Pending(state, queries, norm_bounds(queries))
        for pos0, block in chunks:
            if len(block) == 0:
                continue
            block = np.ascontiguousarray(block, dtype=np.float32)
            _torch_chunk(pending, torch.from_numpy(block).to(queries.device), pos0, query_chunk)
        pending.finish(fetch, ranks_of, where)


def _torch_chunk(pending: _Pending, d, pos0: int, query_chunk: int) -> None:
    """float32 GEMM of every query with the chunk; candidates go to ``pending``. Numpy or
    torch, as the queries are (the backend's name is the user's word for this path)."""
    queries, qn, w, k = pending.queries, pending.qn, pending.w, pending.state.k
    xp: Any = np if _is_np(queries) else __import__("torch")
    dn = norm_bounds(d)
    dmax = dn.max()
    spread = bool(dmax > dn.min() * 1.001)  # unequal norms: per-document bounds cut more
    t_all = pending.bound()
    for qs in range(0, queries.shape[0], max(query_chunk, 1)):
        sl = slice(qs, qs + max(query_chunk, 1))
        scores = _gemm(queries[sl], d)
        bq = _gemm_bound(qn[sl], dmax, w)
        t = t_all[sl]
        if d.shape[0] >= k and bool(xp.isneginf(t).any()):
            t = xp.maximum(t, _round_margin(_as64(_kth_lower(scores, k)) - bq))
        t = _where(~xp.isfinite(bq) | (qn[sl] * dmax > _HUGE), -math.inf, t)  # overflow
        if _is_np(scores):
            rows, cols = np.nonzero(~(scores < _cut(t, bq)[:, None]))
        else:
            rows, cols = _torch_nonzero(~(scores < _cut(t, bq)[:, None]))
        s = scores[rows, cols]
        b = _gemm_bound(qn[sl][rows], dn[cols], w)
        if spread:
            keep = _refine(s, b, t[rows])
            rows, cols, s, b = rows[keep], cols[keep], s[keep], b[keep]
        pending.add(rows + qs, cols + pos0, s, b)


def _torch_nonzero(mask):  # 2-D bool tensor -> (rows, cols)
    import torch

    return torch.nonzero(mask, as_tuple=True)


def _gemm(q, d):  # float32 (m, w), (n, w) -> (m, n) float32 scores, q @ d.T
    """float32 products and sums (TF32 off). On the CPU numpy's BLAS does it: the same GEMM
    took 1.14 s there against 1.9 s in torch (500 x 768 x 262,144, 2 cores), and the bound
    holds for any summation order, so which library sums does not change a result."""
    if _is_np(q):
        return np.matmul(q, d.T)
    import torch

    if q.device.type == "cpu" and d.device.type == "cpu":
        return torch.from_numpy(np.matmul(q.numpy(), d.numpy().T))
    return q @ d.T


def _kth_lower(scores, k: int):
    """Per row, a value that at least ``k`` different columns reach: the ``k``-th largest of
    the maxima of ``4k`` disjoint column groups (each maximum is a different column). Close
    below the exact ``k``-th, at a fraction of a full top-k's cost over a wide block."""
    g = max(1, scores.shape[1] // (4 * k))
    n = scores.shape[1] // g
    if _is_np(scores):
        maxima = scores[:, : n * g].reshape(scores.shape[0], n, g).max(axis=2) if g > 1 else scores
        return np.partition(maxima, maxima.shape[1] - k, axis=1)[:, maxima.shape[1] - k]
    import torch

    maxima = scores[:, : n * g].reshape(scores.shape[0], n, g).amax(dim=2) if g > 1 else scores
    return torch.topk(maxima, k, dim=1, sorted=False).values.min(dim=1).values


def _faiss_chunk(pending: _Pending, d_np: np.ndarray, pos0: int) -> None:
    """faiss's flat inner-product index gives each query's candidates in the chunk: its
    scores are float32 sums too, so the same bound holds for them. A query is asked for more
    neighbours until the last one returned falls below its cut (then every document not
    returned does too). All numpy: faiss works on the CPU."""
    try:
        import faiss
    except ImportError:
        raise EvalkitError(
            "--search-backend faiss: faiss is not installed (pip install 'evalkit[faiss]')"
        ) from None
    m, w = d_np.shape
    k, queries, qn = pending.state.k, pending.queries, pending.qn
    index = faiss.IndexFlatIP(w)
    index.add(d_np)
    dn = norm_bounds(d_np)
    dmax = dn.max()
    bq = _gemm_bound(qn, dmax, w)
    huge = ~np.isfinite(bq) | (qn * dmax > _HUGE)  # float32 could overflow: keep all
    t_all = pending.bound()
    todo = np.arange(queries.shape[0])
    want = min(m, k + max(16, k // 8))
    while len(todo):
        found, idx = index.search(np.ascontiguousarray(queries[todo]), want)
        idx = idx.astype(np.int64)
        t = t_all[todo]
        if m >= k:  # k documents of the chunk score at least (their k-th S) - bq exactly
            t = np.maximum(t, _round_margin(found[:, k - 1].astype(np.float64) - bq[todo]))
        t = np.where(huge[todo], -math.inf, t)
        cut = _cut(t, bq[todo])
        done = found[:, -1] < cut if want < m else np.ones(len(todo), dtype=bool)
        r, j = np.nonzero(~(found < cut[:, None]) & (idx >= 0) & done[:, None])
        c, s = idx[r, j], found[r, j]
        b = _gemm_bound(qn[todo][r], dn[c], w)
        keep = _refine(s, b, t[r])
        pending.add(todo[r[keep]], c[keep] + pos0, s[keep], b[keep])
        todo, want = todo[~done], min(m, want * 4)


class _no_tf32:
    """float32 matmuls stay float32 (TF32 on Ampere+ GPUs, bf16 passes on CPUs): the error
    bound of :func:`_gemm_bound` assumes float32 products and sums."""

    def __enter__(self) -> None:
        import torch

        self._old = (torch.backends.cuda.matmul.allow_tf32, torch.get_float32_matmul_precision())
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.set_float32_matmul_precision("highest")

    def __exit__(self, *exc: object) -> None:
        import torch

        torch.backends.cuda.matmul.allow_tf32 = self._old[0]
        torch.set_float32_matmul_precision(self._old[1])


def tie_ranks(ids: list[str] | np.ndarray) -> np.ndarray:
    """Rank of each id in sorted (UTF-8 byte) order: the tie-breaker of :class:`TopK`."""
    arr = np.asarray([i.encode("utf-8") for i in ids], dtype=object)
    order = np.argsort(arr, kind="stable")
    ranks = np.empty(len(arr), dtype=np.int64)
    ranks[order] = np.arange(len(arr), dtype=np.int64)
    return ranks


def exact_search(
    queries: np.ndarray,
    docs: np.ndarray,
    top_k: int,
    *,
    backend: Backend = "torch",
    device: str = "cpu",
    doc_chunk: int = 65536,
    query_chunk: int = 4096,
    progress: Callable[[int], None] | None = None,
    dim: int | None = None,
    normalize: bool = True,
    ranks: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top ``top_k`` documents per query over a whole in-memory matrix: ``(scores, indices)``,
    each ``(n_queries, min(top_k, n_docs))``, best first. ``ranks`` breaks ties (default:
    corpus position). ``dim`` cuts both sides (Matryoshka); the runner instead streams shards
    through :func:`score_block`."""
    width = dim or docs.shape[1]
    if queries.ndim == 2 and docs.ndim == 2 and queries.shape[1] == docs.shape[1] != width:
        queries = cut_dim(queries, width, normalize)
    if queries.ndim != 2 or docs.ndim != 2 or queries.shape[1] != width or width > docs.shape[1]:
        raise ValueError(f"shape mismatch: queries {queries.shape}, docs {docs.shape}")
    k = min(top_k, docs.shape[0])
    if k <= 0 or queries.shape[0] == 0:
        return np.zeros((queries.shape[0], 0), np.float32), np.zeros(
            (queries.shape[0], 0), np.int64
        )
    ranks = np.arange(docs.shape[0], dtype=np.int64) if ranks is None else ranks
    q: Any = np.ascontiguousarray(queries, dtype=np.float32)
    if not _on_cpu(device):
        import torch

        q = torch.from_numpy(q).to(device)
    state = TopK.empty(q.shape[0], k, device)
    step = max(doc_chunk, 1)

    # A plain float32 matrix at full width is scored in place; anything else (a memmap, a
    # Matryoshka cut, another dtype) as a float32 copy, chunk by chunk.
    as_is = (
        (dim is None or dim == docs.shape[1])
        and type(docs) is np.ndarray
        and docs.dtype == np.float32
        and docs.flags.c_contiguous
    )

    def chunks():
        for start in range(0, docs.shape[0], step):
            block = docs[start : start + step]
            block = block if as_is else cut_dim(block, dim, normalize)
            yield start, block
            if progress is not None:
                progress(len(block))

    # Candidates are rescored once, after the last chunk: their vectors are read back here.
    _search(
        state,
        q,
        chunks(),
        lambda pos: docs[pos] if as_is else cut_dim(docs[pos], dim, normalize),
        lambda pos: ranks[pos],
        backend=backend,
        query_chunk=query_chunk,
    )
    return state.result()


@dataclass
class Duplicates:
    """Rows whose exact text occurred earlier in the corpus. A group of equal texts is
    encoded and searched once, as its first row (its canonical row): the others have the
    same vector, so the same score for every query, by definition. The search ranks the
    canonical row with its group's best tie rank, so that the group is in the top ``k`` of
    the canonical rows whenever any member is in the top ``k`` of all rows (fewer than ``k``
    groups then have a better best key); :meth:`expand` then gives each member its own tie
    rank and cuts to ``k`` again: brute force over all rows, exactly. Held compactly: a few
    integers per duplicate row, nothing per other row."""

    rows: np.ndarray
    """int64, ascending: the rows that repeat an earlier row's text."""
    canon: np.ndarray
    """int64: each of :attr:`rows`'s canonical row."""
    leads: np.ndarray
    """int64, ascending: the canonical rows that have duplicates."""
    lead_ranks: np.ndarray
    """int64: each lead's group's best (largest) tie rank."""

    @classmethod
    def find(cls, keys: np.ndarray, ranks: np.ndarray) -> Duplicates | None:
        """From every row's text key (equal keys: equal texts; e.g. text hashes viewed as
        one void scalar a row) and tie rank; ``None`` when every text is distinct."""
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        if len(first) == len(keys):
            return None
        canon = first[inverse.ravel()]
        rows = np.flatnonzero(canon != np.arange(len(keys)))
        canon = canon[rows].astype(np.int64)
        del inverse, first
        leads = np.unique(canon)
        lead_ranks = np.asarray(ranks)[leads].astype(np.int64)
        np.maximum.at(lead_ranks, np.searchsorted(leads, canon), np.asarray(ranks)[rows])
        return cls(rows.astype(np.int64), canon, leads, lead_ranks)

    @property
    def count(self) -> int:
        return len(self.rows)

    def keep(self, start: int, stop: int) -> np.ndarray | None:
        """Offsets from ``start`` of the canonical rows of ``start..stop``; ``None``: all."""
        a, b = np.searchsorted(self.rows, [start, stop])
        if a == b:
            return None
        skip = np.zeros(stop - start, bool)
        skip[self.rows[a:b] - start] = True
        return np.flatnonzero(~skip)

    def search_ranks(self, start: int, ranks: np.ndarray) -> np.ndarray:
        """Tie ranks of rows ``start..start+len(ranks)`` as searched: a lead holds its
        group's best."""
        a, b = np.searchsorted(self.leads, [start, start + len(ranks)])
        if a == b:
            return ranks
        out = np.array(ranks, dtype=np.int64)
        out[self.leads[a:b] - start] = self.lead_ranks[a:b]
        return out

    def expand(
        self, scores: np.ndarray, positions: np.ndarray, ranks: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """A top-k of canonical rows (:meth:`TopK.result`, best first; position -1: none) as
        the top ``k`` of all rows: each group becomes all its members with its score, in
        ``(score desc, own tie rank desc)`` order. Rows with fewer than the widest hold -1."""
        n_q, w = positions.shape
        order = np.argsort(self.canon, kind="stable")
        members, member_of = self.rows[order], self.canon[order]
        flat = positions.reshape(-1).astype(np.int64)
        lo = np.searchsorted(member_of, flat, "left")
        hi = np.searchsorted(member_of, flat, "right")
        cnt = np.where(flat >= 0, hi - lo + 1, 0)
        entry = np.repeat(np.arange(len(flat)), cnt)
        offset = np.arange(len(entry)) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        pick = np.clip(lo[entry] + offset - 1, 0, max(len(members) - 1, 0))
        pos = np.where(offset == 0, flat[entry], members[pick])
        score = scores.reshape(-1)[entry]
        query = entry // max(w, 1)
        key = (_sortable(score) << 32) | np.asarray(ranks)[pos].astype(np.int64)
        by = np.lexsort((-key, query))
        query, pos, score = query[by], pos[by], score[by]
        per = np.bincount(query, minlength=n_q)
        slot = np.arange(len(query)) - np.repeat(np.cumsum(per) - per, per)
        kept = slot < k
        width = int(np.minimum(per, k).max()) if n_q else 0
        out_s = np.zeros((n_q, width), np.float32)
        out_p = np.full((n_q, width), -1, np.int64)
        out_s[query[kept], slot[kept]] = score[kept]
        out_p[query[kept], slot[kept]] = pos[kept]
        return out_s, out_p
