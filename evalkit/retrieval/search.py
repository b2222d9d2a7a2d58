"""Exact top-k by inner product, merged shard by shard.

Every (query, document) pair is scored from the float32 vectors with a float64 accumulation
rounded to float32 (:func:`pair_scores`), and the running top-k keeps the
``k`` best by ``(score desc, tie rank desc)``. The tie rank is the document's rank in the
sorted list of document ids, so among equal scores the larger id wins, which is also how
trec_eval orders ties. Both are packed into one int64 key per pair (the float's order-preserving
bits above, the tie rank below), so the selection is a total order: the result never depends
on shard size, batch size, the order shards are merged in or how many processes took part.
Embeddings of cosine models are unit vectors, so the inner product is the cosine.

Why float64: a float32 GEMM's result for one pair depends on the matrix shapes (BLAS picks other
kernels and summation orders for a 1-, 3- or 60-column block), so with float32 the same pair
scored in a shard of 10 and in a shard of 7 differed in the last bit, and duplicate documents
in two shards were ranked by that noise instead of by id. Accumulated in float64 the shape's
effect (~1e-16) vanishes when rounded to float32, so a pair's score is a function of its two
vectors only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from evalkit.errors import EvalkitError

Backend = Literal["torch", "faiss"]
_LOW32 = (1 << 32) - 1


def _sortable(scores):  # torch.Tensor float32 -> int64 whose order is the floats' order
    import torch

    s = scores.to(torch.float32) + 0.0  # -0.0 -> 0.0: equal floats get equal keys
    bits = s.view(torch.int32).to(torch.int64)
    return torch.where(bits >= 0, bits, bits ^ 0x7FFFFFFF)


def pair_scores(queries, docs):  # torch float32 (q, w), (m, w) -> (q, m) float32
    """Inner products that do not depend on the block's shape (see the module docstring)."""
    import torch

    return (queries.to(torch.float64) @ docs.to(torch.float64).T).to(torch.float32)


def _unsortable(keys):  # inverse of _sortable on the high 32 bits
    import torch

    hi = keys >> 32
    bits = torch.where(hi >= 0, hi, hi ^ 0x7FFFFFFF).to(torch.int32)
    return bits.view(torch.float32)


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
        """Merge a block: ``scores`` (n_queries, m) float32, ``positions`` / ``tie_ranks``
        (m,) int64 for the block's documents."""
        import torch

        keys = (_sortable(scores) << 32) | tie_ranks.to(scores.device).unsqueeze(0)
        pos = positions.to(scores.device).unsqueeze(0).expand_as(keys)
        if keys.shape[1] > self.k:
            keys, sel = torch.topk(keys, self.k, dim=1, sorted=False)
            pos = torch.gather(pos, 1, sel)
        self.merge(keys, pos)

    def merge(self, keys, positions) -> None:
        import torch

        keys = torch.cat([self.keys, keys.to(self.keys.device)], dim=1)
        positions = torch.cat([self.positions, positions.to(self.keys.device)], dim=1)
        if keys.shape[1] > self.k:
            keys, sel = torch.topk(keys, self.k, dim=1, sorted=False)
            positions = torch.gather(positions, 1, sel)
        self.keys, self.positions = keys, positions

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
    them into ``state``."""
    import torch

    if backend == "faiss":
        _faiss_block(state, queries, docs, start, tie_ranks)
        return
    if backend != "torch":
        raise EvalkitError(f"--search-backend {backend!r}: expected 'torch' or 'faiss'")
    dev = queries.device
    n_q = queries.shape[0]
    with torch.inference_mode(), _no_tf32():
        for s in range(0, len(docs), doc_chunk):
            d = torch.from_numpy(np.ascontiguousarray(docs[s : s + doc_chunk])).to(dev)
            pos = torch.arange(start + s, start + s + d.shape[0], dtype=torch.int64)
            ranks = torch.from_numpy(np.asarray(tie_ranks[s : s + doc_chunk], dtype=np.int64))
            if n_q <= query_chunk:
                state.push(pair_scores(queries, d), pos, ranks)
                continue
            parts = []
            for qs in range(0, n_q, query_chunk):
                sub = TopK.empty(min(query_chunk, n_q - qs), state.k, str(dev))
                sub.push(pair_scores(queries[qs : qs + query_chunk], d), pos, ranks)
                parts.append(sub)
            state.merge(torch.cat([p.keys for p in parts]), torch.cat([p.positions for p in parts]))


_FAISS_SLACK = 1e-4
"""More than faiss's float32 error on a score of unit vectors: a candidate further than this
below the k-th cannot be in the exact top k."""


def _faiss_block(state: TopK, queries, docs: np.ndarray, start: int, tie_ranks) -> None:
    """faiss's flat inner-product index picks each query's candidates in the block; they are
    rescored with :func:`pair_scores` (so both backends give the same scores) and merged in the
    score-and-id order. faiss breaks ties by position, so a query whose spare candidate comes
    within :data:`_FAISS_SLACK` of its k-th (a tie group may run past the cut) is scored
    against the whole block instead."""
    import torch

    try:
        import faiss
    except ImportError:
        raise EvalkitError(
            "--search-backend faiss: faiss is not installed (pip install 'evalkit[faiss]')"
        ) from None
    index = faiss.IndexFlatIP(docs.shape[1])
    index.add(np.ascontiguousarray(docs, dtype=np.float32))
    k = min(state.k + 1, len(docs))  # one spare: it tells whether a tie crosses the cut
    found, idx = index.search(np.ascontiguousarray(queries.cpu().numpy()), k)
    q = queries.cpu()
    d = torch.from_numpy(np.ascontiguousarray(docs, dtype=np.float32))
    ranks = torch.from_numpy(np.asarray(tie_ranks, dtype=np.int64))
    rows = torch.from_numpy(idx.astype(np.int64))
    # Rescore the candidates as pair_scores does (float64 sums rounded to float32), with the
    # block converted once rather than per query.
    q64, d64 = q.to(torch.float64), d.to(torch.float64)
    scores = torch.stack([(d64[rows[r]] @ q64[r]).to(torch.float32) for r in range(len(q))])
    if k < len(docs):
        near = np.flatnonzero(found[:, -1] >= found[:, -2] - _FAISS_SLACK)
        for s in range(0, len(near), 256):  # all near-tie queries of the block at once
            sel = torch.from_numpy(near[s : s + 256])
            full = pair_scores(q[sel], d)
            best = torch.topk((_sortable(full) << 32) | ranks, k, dim=1).indices
            rows[sel], scores[sel] = best, torch.gather(full, 1, best)
    keys = (_sortable(scores) << 32) | ranks[rows]
    state.merge(keys.to(state.keys.device), (rows + start).to(state.keys.device))


class _no_tf32:
    """float32 matmuls stay float32 on Ampere+ GPUs (TF32 would change scores at the 4th
    decimal and break ties differently from run to run)."""

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
