"""Collection + model -> ranked runs: shards, the shard cache, exact search, BM25 and the
distributed plumbing. One :class:`Retriever` interface for every kind of model, so the runner
above has no model-kind special cases."""

from __future__ import annotations

from typing import Any, Protocol

from evalkit.data import Collection
from evalkit.retrieval.dense import (
    DEFAULT_SHARD_SIZE,
    DEFAULT_SHARD_TOKENS,
    DenseRetriever,
    RetrievalResult,
    RetrievalSettings,
)
from evalkit.retrieval.distributed import Dist
from evalkit.retrieval.progress import Progress
from evalkit.retrieval.sparse import SparseRetriever

__all__ = [
    "DEFAULT_SHARD_SIZE",
    "DEFAULT_SHARD_TOKENS",
    "DenseRetriever",
    "Dist",
    "Progress",
    "RetrievalResult",
    "RetrievalSettings",
    "Retriever",
    "SparseRetriever",
    "retriever_for",
]


class Retriever(Protocol):
    spec: Any

    def retrieve(
        self,
        coll: Collection,
        qids: list[str],
        settings: RetrievalSettings,
        *,
        progress: Progress | None = None,
        dist: Dist | None = None,
    ) -> RetrievalResult: ...


def retriever_for(model: Any) -> Retriever:
    """A loaded model as a retriever: encoders stream shards; anything that ranks a
    collection itself (BM25) is wrapped as it is."""
    if hasattr(model, "encode_documents"):
        return DenseRetriever(model)
    if hasattr(model, "retrieve"):
        return SparseRetriever(model)
    raise TypeError(f"{type(model).__name__} is neither an encoder nor a retriever")
