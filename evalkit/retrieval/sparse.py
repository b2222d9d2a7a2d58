"""BM25 (and any model that ranks a collection by itself) behind the Retriever interface."""

from __future__ import annotations

import time
from typing import Any

from evalkit.data import Collection
from evalkit.retrieval import distributed
from evalkit.retrieval.dense import RetrievalResult, RetrievalSettings
from evalkit.retrieval.progress import Progress, Stats


class SparseRetriever:
    """Wraps a model with ``retrieve(collection, query_ids, top_k, progress) -> run``.

    Sparse indexes are built in memory by one process: under torchrun, rank 0 does the work
    and the other ranks wait for the next collection."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.spec = model.spec

    def retrieve(
        self,
        coll: Collection,
        qids: list[str],
        settings: RetrievalSettings,
        *,
        progress: Progress | None = None,
        dist: distributed.Dist | None = None,
    ) -> RetrievalResult:
        progress = progress or Progress(False)
        dist = dist or distributed.Dist()
        stats = Stats()
        info = self.describe(coll, settings)
        if not dist.is_main:
            return RetrievalResult({None: {}}, None, stats, info)
        t = time.perf_counter()
        with progress.task(f"bm25 index {coll.key}", len(coll.corpus)) as advance:
            run = self.model.retrieve(coll, qids, settings.top_k, progress=lambda n: advance(n, 0))
        stats.encode_s = time.perf_counter() - t
        stats.docs_encoded = len(coll.corpus)
        return RetrievalResult({None: run}, None, stats, info)

    def describe(self, coll: Collection, settings: RetrievalSettings) -> dict[str, Any]:
        """The ranking function's parameters, as the record states them (the model's own
        account: engine, k1, b, tokenizer and its versions, analyzer)."""
        describe = getattr(self.model, "describe", None)
        if callable(describe):
            return dict(describe(coll))
        return {"backend": type(self.model).__name__, "exact": True}
