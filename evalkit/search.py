"""Exact top-k search by inner product.

``torch`` backend: queries x document-chunk matrix products with a running top-k merge, so the
full score matrix never exists (MIRACL-en is 32.9M documents). ``faiss`` backend: a flat
inner-product index (exact too), for users who prefer it. Embeddings are unit vectors, so the
inner product is the cosine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np

from evalkit.errors import EvalkitError

Backend = Literal["torch", "faiss"]


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
) -> tuple[np.ndarray, np.ndarray]:
    """Top ``top_k`` documents per query: ``(scores, indices)``, each ``(n_queries, k)``,
    best first. ``k = min(top_k, n_docs)``. ``docs`` may be a memory-mapped array.

    ``dim`` (Matryoshka): documents are cut to their first ``dim`` features (and
    re-normalised) chunk by chunk, so the corpus matrix is never copied whole; ``queries``
    must already have ``dim`` columns. ``progress`` is called with the number of documents
    searched after each chunk."""
    width = dim or docs.shape[1]
    if queries.ndim != 2 or docs.ndim != 2 or queries.shape[1] != width or width > docs.shape[1]:
        raise ValueError(f"shape mismatch: queries {queries.shape}, docs {docs.shape}")
    k = min(top_k, docs.shape[0])
    if k <= 0 or queries.shape[0] == 0:
        return np.zeros((queries.shape[0], 0), np.float32), np.zeros(
            (queries.shape[0], 0), np.int64
        )

    def chunk(start: int, stop: int) -> np.ndarray:
        # np.array copies: chunks of a read-only memmap (the cache) are not writable.
        block = np.array(docs[start:stop, :width], dtype=np.float32)
        if dim and dim < docs.shape[1] and normalize:
            block /= np.maximum(np.linalg.norm(block, axis=1, keepdims=True), 1e-12)
        return block

    if backend == "faiss":
        return _faiss_search(queries, chunk, docs.shape[0], width, k, progress)
    if backend != "torch":
        raise EvalkitError(f"--search-backend {backend!r}: expected 'torch' or 'faiss'")
    return _torch_search(queries, chunk, docs.shape[0], k, device, doc_chunk, query_chunk, progress)


def _torch_search(
    queries: np.ndarray,
    chunk: Callable[[int, int], np.ndarray],
    n_docs: int,
    k: int,
    device: str,
    doc_chunk: int,
    query_chunk: int,
    progress: Callable[[int], None] | None,
) -> tuple[np.ndarray, np.ndarray]:
    import torch

    dev = torch.device(device)
    n_q = queries.shape[0]
    best_s = torch.full((n_q, k), float("-inf"), dtype=torch.float32, device=dev)
    best_i = torch.full((n_q, k), -1, dtype=torch.int64, device=dev)
    q_all = torch.from_numpy(np.ascontiguousarray(queries, dtype=np.float32)).to(dev)
    with torch.inference_mode():
        for start in range(0, n_docs, doc_chunk):
            d = torch.from_numpy(chunk(start, start + doc_chunk)).to(dev, non_blocking=True)
            for qs in range(0, n_q, query_chunk):
                scores = q_all[qs : qs + query_chunk] @ d.T
                kk = min(k, scores.shape[1])
                s, i = torch.topk(scores, kk, dim=1, sorted=False)
                merged_s = torch.cat([best_s[qs : qs + query_chunk], s], dim=1)
                merged_i = torch.cat([best_i[qs : qs + query_chunk], i + start], dim=1)
                top_s, pos = torch.topk(merged_s, k, dim=1)
                best_s[qs : qs + query_chunk] = top_s
                best_i[qs : qs + query_chunk] = torch.gather(merged_i, 1, pos)
            if progress is not None:
                progress(min(doc_chunk, n_docs - start))
    return best_s.cpu().numpy(), best_i.cpu().numpy()


def _faiss_search(
    queries: np.ndarray,
    chunk: Callable[[int, int], np.ndarray],
    n_docs: int,
    width: int,
    k: int,
    progress: Callable[[int], None] | None,
) -> tuple[np.ndarray, np.ndarray]:
    try:
        import faiss
    except ImportError:
        raise EvalkitError(
            "--search-backend faiss: faiss is not installed (pip install 'evalkit[faiss]')"
        ) from None
    index = faiss.IndexFlatIP(width)
    step = 262144
    for start in range(0, n_docs, step):
        index.add(chunk(start, start + step))
        if progress is not None:
            progress(min(step, n_docs - start))
    scores, idx = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    return scores.astype(np.float32), idx.astype(np.int64)
