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
2. Per query, the ``k``-th best score is bounded from below (the state's ``k``-th exact score,
   or the block's ``k``-th ``S`` minus the bound); a document whose ``S`` plus its bound stays
   below that, with a float32 rounding step of margin, cannot reach the top k and is dropped.
3. The few candidates left are rescored in float64, where each product of two float32 is
   exact and the sum is off by at most ``gamma_{w+1}`` (``u = 2**-53``) of ``|q||d|``. When
   both ends of that interval round to the same float32, that float32 is the answer; otherwise
   (float64 cannot decide, about one candidate in 10^5) the exact sum settles it
   (:func:`exact_f32`: ``math.fsum`` of the exact products, and at a float32 midpoint the sign
   of the exact remainder).

The faiss backend takes its candidates from ``IndexFlatIP`` (also float32, so the same bound
holds for its scores) and rescores them the same way, so both backends return the same keys.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

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


def _sortable(scores):  # torch.Tensor float32 -> int64 whose order is the floats' order
    import torch

    s = scores.to(torch.float32) + 0.0  # -0.0 -> 0.0: equal floats get equal keys
    bits = s.view(torch.int32).to(torch.int64)
    return torch.where(bits >= 0, bits, bits ^ 0x7FFFFFFF)


def _unsortable(keys):  # inverse of _sortable on the high 32 bits
    import torch

    hi = keys >> 32
    bits = torch.where(hi >= 0, hi, hi ^ 0x7FFFFFFF).to(torch.int32)
    return bits.view(torch.float32)


def norm_bounds(x):  # torch float32 (n, w) -> float64 (n,)
    """Upper bounds of the rows' Euclidean norms. The float32 norm (one cheap pass) loses at
    most a relative gamma_{w+1} of the sum of squares, plus ``w * 2**-126`` for squares that
    underflow; both are added back before the square root."""
    import torch

    w = x.shape[1]
    nc = torch.linalg.vector_norm(x, dim=1).to(torch.float64)
    ss = (nc / (1.0 - _U32)) ** 2 + w * 2.0**-126
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


def _down32(x):  # float64 tensor -> the largest float32 <= x (elementwise)
    import torch

    c = x.to(torch.float32)
    return torch.where(c.to(torch.float64) > x, torch.nextafter(c, c.new_tensor(-math.inf)), c)


def rescore(queries, docs, rows, cols, qn=None, dn=None):
    """Correctly rounded float32 scores of the pairs ``(queries[rows], docs[cols])``:
    torch float32 (n, w), (m, w) and int64 (P,) with ``rows`` ascending -> float32 (P,).
    ``qn`` / ``dn`` are :func:`norm_bounds` of the two sides, if already known."""
    import torch

    n_pairs, w = rows.numel(), queries.shape[1]
    if n_pairs == 0:
        return torch.empty(0, dtype=torch.float32, device=queries.device)
    qn = norm_bounds(queries) if qn is None else qn
    dn = norm_bounds(docs) if dn is None else dn
    q64 = queries.to(torch.float64)
    out = torch.empty(n_pairs, dtype=torch.float64, device=queries.device)
    counts = torch.bincount(rows, minlength=queries.shape[0]).tolist()
    a = 0
    for i, c in enumerate(counts):  # per query: its candidates' rows, one float64 GEMV
        if c:
            out[a : a + c] = docs.index_select(0, cols[a : a + c]).to(torch.float64) @ q64[i]
            a += c
    # The products are exact in float64; only the w - 1 additions round.
    err = _gamma(w + 1, _U64) * qn[rows] * dn[cols] + out.abs() * 2.0**-52
    scores = out.to(torch.float32)
    undecided = torch.nonzero((out - err).to(torch.float32) != (out + err).to(torch.float32))
    if len(undecided):
        q_np, d_np = queries.cpu().numpy(), docs.cpu().numpy()
        r_np, c_np = rows.cpu().numpy(), cols.cpu().numpy()
        for j in undecided.flatten().tolist():
            scores[j] = float(exact_f32(q_np[r_np[j]], d_np[c_np[j]]))
    return scores


def pair_scores(queries, docs):  # torch float32 (q, w), (m, w) -> (q, m) float32
    """Every pair's correctly rounded score (small blocks: tests and references)."""
    import torch

    rows = torch.arange(queries.shape[0], device=queries.device).repeat_interleave(docs.shape[0])
    cols = torch.arange(docs.shape[0], device=queries.device).repeat(queries.shape[0])
    return rescore(queries, docs, rows, cols).reshape(queries.shape[0], docs.shape[0])


def _cut(t_state, kth, bq, qn, dmax):
    """Per query: ``t``, a lower bound of the final ``k``-th score, and the float32 cut below
    which a block score ``S`` (off by at most ``bq``) cannot reach it, even after rounding."""
    import torch

    t = t_state.to(torch.float64)
    if kth is not None:  # k documents of the block score at least kth - bq exactly
        t1 = kth.to(torch.float64) - bq
        t = torch.maximum(t, t1 - 2.0**-23 * t1.abs() - 2.0**-149)
    huge = ~torch.isfinite(bq) | (qn * dmax > _HUGE)  # float32 could overflow: keep all
    t = torch.where(huge, -math.inf, t)
    # A real below t - 2**-24 |t| - 2**-150 rounds to a float32 below t: the 2**-22 covers it
    # and the rounding of this arithmetic.
    return t, _down32(t - bq - 2.0**-22 * (t.abs() + bq) - 2.0**-148)


def _refine(s, rows, cols, t, qn, dn, w: int):
    """Which candidate pairs survive their own document's (not the block's largest) bound."""
    import torch

    b = _gemm_bound(qn[rows], dn[cols], w)
    tr = t[rows]
    return ~(s.to(torch.float64) + b < tr - 2.0**-22 * (tr.abs() + b) - 2.0**-148)


def _merge_pairs(state: TopK, rows, cols, scores, start: int, ranks) -> None:
    """Merge ragged per-query candidates (``rows`` ascending) into ``state``."""
    import torch

    if rows.numel() == 0:
        return
    dev = state.keys.device
    rows, cols, scores = rows.to(dev), cols.to(dev), scores.to(dev)
    keys = (_sortable(scores) << 32) | ranks.to(dev)[cols]
    n_q = state.keys.shape[0]
    counts = torch.bincount(rows, minlength=n_q)
    slot = torch.arange(rows.numel(), device=dev) - (torch.cumsum(counts, 0) - counts)[rows]
    width = int(counts.max())
    k_mat = torch.full((n_q, width), _PAD, dtype=torch.int64, device=dev)
    p_mat = torch.full((n_q, width), -1, dtype=torch.int64, device=dev)
    k_mat[rows, slot] = keys
    p_mat[rows, slot] = cols + start
    state.merge(k_mat, p_mat)


@dataclass
class TopK:
    """Running top-``k`` of several queries: packed keys and corpus positions, best first
    after :meth:`result`. Merge shards in any order; the result is the same."""

    k: int
    keys: object  # torch.Tensor int64 (n_queries, <=k)
    positions: object  # torch.Tensor int64 (n_queries, <=k)

    @classmethod
    def empty(cls, n_queries: int, k: int, device: str = "cpu") -> TopK:
        import torch

        z = torch.empty((n_queries, 0), dtype=torch.int64, device=device)
        return cls(k, z, z.clone())

    def push(self, scores, positions, tie_ranks) -> None:
        """Merge a block of final scores: ``scores`` (n_queries, m) float32, ``positions`` /
        ``tie_ranks`` (m,) int64 for the block's documents."""
        import torch

        keys = (_sortable(scores) << 32) | tie_ranks.to(scores.device).unsqueeze(0)
        pos = positions.to(scores.device).unsqueeze(0).expand_as(keys)
        if keys.shape[1] > self.k:
            keys, sel = torch.topk(keys, self.k, dim=1, sorted=False)
            pos = torch.gather(pos, 1, sel)
        self.merge(keys, pos)

    def merge(self, keys, positions) -> None:
        """Merge packed keys. Rows may be padded with keys of ``-2**63`` (position -1): they
        lose to every real key, and every row always holds at least ``min(k, seen)`` real
        ones, so a pad never stays."""
        import torch

        keys = torch.cat([self.keys, keys.to(self.keys.device)], dim=1)
        positions = torch.cat([self.positions, positions.to(self.keys.device)], dim=1)
        if keys.shape[1] > self.k:
            keys, sel = torch.topk(keys, self.k, dim=1, sorted=False)
            positions = torch.gather(positions, 1, sel)
        self.keys, self.positions = keys, positions

    def threshold(self):
        """Per query, the score of the ``k``-th key (float32), -inf while fewer are held: no
        later document scoring below it can enter."""
        import torch

        n = self.keys.shape[0]
        if self.keys.shape[1] < self.k or self.k == 0:
            return torch.full((n,), -math.inf, dtype=torch.float32, device=self.keys.device)
        low = self.keys.min(dim=1).values
        return torch.where(low == _PAD, -math.inf, _unsortable(low))

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, positions)`` as numpy, each row best first."""
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


def score_block(
    state: TopK,
    queries,  # torch.Tensor float32 (n_queries, width) on the search device
    docs: np.ndarray,
    start: int,
    tie_ranks: np.ndarray,
    *,
    backend: Backend = "torch",
    doc_chunk: int = 65536,
    query_chunk: int = 4096,
) -> None:
    """Score ``docs`` (corpus rows ``start..start+len(docs)``) against every query and merge
    them into ``state`` (see the module docstring for how)."""
    import torch

    if backend == "faiss":
        _faiss_block(state, queries, docs, start, tie_ranks)
        return
    if backend != "torch":
        raise EvalkitError(f"--search-backend {backend!r}: expected 'torch' or 'faiss'")
    dev = queries.device
    n_q, w = queries.shape
    with torch.inference_mode(), _no_tf32():
        queries = queries.to(torch.float32)
        qn = norm_bounds(queries)
        for s in range(0, len(docs), doc_chunk):
            d = torch.from_numpy(np.ascontiguousarray(docs[s : s + doc_chunk], np.float32))
            d = d.to(dev)
            dn = norm_bounds(d)
            dmax = dn.max()
            t_state = state.threshold().to(dev)
            rows, cols = [], []
            for qs in range(0, n_q, query_chunk):
                sl = slice(qs, qs + query_chunk)
                scores = queries[sl] @ d.T  # float32 candidates (TF32 off)
                bq = _gemm_bound(qn[sl], dmax, w)
                kth = None
                if d.shape[0] >= state.k and state.keys.shape[1] < state.k:
                    kth = torch.topk(scores, state.k, dim=1, sorted=False).values.min(1).values
                t, cut = _cut(t_state[sl], kth, bq, qn[sl], dmax)
                r, c = torch.nonzero(~(scores < cut.unsqueeze(1)), as_tuple=True)
                keep = _refine(scores[r, c], r, c, t, qn[sl], dn, w)
                rows.append(r[keep] + qs)
                cols.append(c[keep])
            r, c = torch.cat(rows), torch.cat(cols)
            exact = rescore(queries, d, r, c, qn, dn)
            ranks = torch.from_numpy(np.asarray(tie_ranks[s : s + doc_chunk], dtype=np.int64))
            _merge_pairs(state, r, c, exact, start + s, ranks)


def _faiss_block(state: TopK, queries, docs: np.ndarray, start: int, tie_ranks) -> None:
    """faiss's flat inner-product index gives each query's candidates in the block: its
    scores are float32 sums too, so the bound of :func:`_cut` holds for them. A query is
    asked for more neighbours until the last one returned falls below its cut (then every
    document not returned does too); the candidates are rescored exactly by :func:`rescore`,
    so both backends produce the same keys."""
    import torch

    try:
        import faiss
    except ImportError:
        raise EvalkitError(
            "--search-backend faiss: faiss is not installed (pip install 'evalkit[faiss]')"
        ) from None
    d_np = np.ascontiguousarray(docs, dtype=np.float32)
    m, w = d_np.shape
    if m == 0:
        return
    index = faiss.IndexFlatIP(w)
    index.add(d_np)
    with torch.inference_mode():
        q = queries.detach().cpu().to(torch.float32).contiguous()
        d = torch.from_numpy(d_np)
        qn, dn = norm_bounds(q), norm_bounds(d)
        dmax = dn.max()
        bq = _gemm_bound(qn, dmax, w)
        t_state = state.threshold().cpu()
        k = state.k
        full = state.keys.shape[1] >= k
        rows, cols = [], []
        todo = torch.arange(q.shape[0])
        want = min(m, k + max(16, k // 8))
        while len(todo):
            found, idx = index.search(q[todo].numpy(), want)
            found, idx = torch.from_numpy(found), torch.from_numpy(idx).to(torch.int64)
            kth = found[:, k - 1] if m >= k and not full else None
            t, cut = _cut(t_state[todo], kth, bq[todo], qn[todo], dmax)
            done = (found[:, -1] < cut) if want < m else torch.ones(len(todo), dtype=torch.bool)
            sub = ~(found < cut.unsqueeze(1)) & (idx >= 0) & done.unsqueeze(1)
            r, j = torch.nonzero(sub, as_tuple=True)
            c = idx[r, j]
            keep = _refine(found[r, j], r, c, t, qn[todo], dn, w)
            rows.append(todo[r[keep]])
            cols.append(c[keep])
            todo, want = todo[~done], min(m, want * 4)
        r, c = torch.cat(rows), torch.cat(cols)
        order = torch.argsort(r, stable=True)
        r, c = r[order], c[order]
        exact = rescore(q, d, r, c, qn, dn)
        ranks = torch.from_numpy(np.asarray(tie_ranks, dtype=np.int64))
        _merge_pairs(state, r, c, exact, start, ranks)


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
    import torch

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
    q = torch.from_numpy(np.ascontiguousarray(queries, dtype=np.float32)).to(device)
    state = TopK.empty(q.shape[0], k, device)
    step = max(doc_chunk, 1)
    for start in range(0, docs.shape[0], step):
        block = cut_dim(docs[start : start + step], dim, normalize)
        score_block(
            state,
            q,
            block,
            start,
            ranks[start : start + step],
            backend=backend,
            doc_chunk=doc_chunk,
            query_chunk=query_chunk,
        )
        if progress is not None:
            progress(len(block))
    return state.result()
