"""BM25 baseline with ``bm25s`` (Lucene's BM25 variant, pyserini's k1=0.9, b=0.4).

Tokenisation (:mod:`evalkit.models.bm25_tokenize`) is one multilingual rule set, so every
language of MIRACL and MLDR gets a fair baseline without a per-language analyzer: NFKC, case
folding, words that keep their combining marks, Thai segmented into words, CJK as overlapping
bigrams (Lucene's CJKAnalyzer), English stop words, no stemming. Documents with a score of 0
(no query term) are not returned, as Lucene would not return them; a query or corpus without
any token (empty or whitespace-only text) matches nothing.

``bm25-lucene`` (:mod:`evalkit.models.bm25_lucene`) runs pyserini's Lucene instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from evalkit.data import Collection, doc_text
from evalkit.errors import ModelError
from evalkit.models.base import ModelSpec
from evalkit.models.bm25_tokenize import (
    ENGLISH_STOPWORDS,
    TOKENIZER_NAME,
    tokenize,
    tokenizer_versions,
)

__all__ = ["BM25Retriever", "tokenize"]


class BM25Retriever:
    """Sparse retriever: ``retrieve(collection, query_ids, top_k) -> run``."""

    engine = "bm25s"

    def __init__(self, spec: ModelSpec) -> None:
        if spec.extra.get("engine", "bm25s") != self.engine:
            # Scoring a Lucene model with bm25s would record the wrong numbers under its name.
            raise ModelError(
                f"--model {spec.name}: engine {spec.extra.get('engine')!r} is not built by "
                f"{type(self).__name__}; load it with evalkit.models.registry.load_sparse"
            )
        self.spec = spec
        self.k1 = float(spec.extra.get("k1", 0.9))
        self.b = float(spec.extra.get("b", 0.4))
        self.method = str(spec.extra.get("method", "lucene"))
        self.device = "cpu"
        self.tokenizer_name = TOKENIZER_NAME

    def describe(self, collection: Collection | None = None) -> dict[str, Any]:
        """What a result record stores under ``search``: everything that changes the scores."""
        return {
            "backend": self.engine,
            "exact": True,
            "k1": self.k1,
            "b": self.b,
            "method": self.method,
            "tokenizer": self.tokenizer_name,
            "tokenizer_versions": tokenizer_versions(),
        }

    def retrieve(
        self,
        collection: Collection,
        query_ids: Iterable[str],
        top_k: int,
        progress: Callable[[int], None] | None = None,
    ) -> dict[str, dict[str, float]]:
        import bm25s

        corpus = collection.corpus
        tokens: list[list[str]] = []
        for _, docs in corpus.iter_slices(8192):
            tokens.extend(
                tokenize(doc_text(d, collection.title_join), ENGLISH_STOPWORDS) for d in docs
            )
            if progress is not None:
                progress(len(docs))
        qids = list(query_ids)
        run: dict[str, dict[str, float]] = {q: {} for q in qids}
        if not any(tokens):
            return run  # bm25s cannot index an empty vocabulary; nothing can match anyway
        index = bm25s.BM25(k1=self.k1, b=self.b, method=self.method)
        index.index(tokens, show_progress=False)
        del tokens
        q_tokens = {q: tokenize(collection.queries[q], ENGLISH_STOPWORDS) for q in qids}
        asked = [q for q in qids if q_tokens[q]]  # a query without tokens matches nothing
        if not asked:
            return run
        k = min(top_k, len(corpus))
        docs_idx, scores = index.retrieve(
            [q_tokens[q] for q in asked], k=k, show_progress=False, n_threads=0
        )
        ids = corpus.id_array()
        for row, q in enumerate(asked):
            keep = scores[row] > 0
            hit_ids = ids.take(np.asarray(docs_idx[row][keep], dtype=np.int64)).to_pylist()
            run[q] = dict(zip(hit_ids, scores[row][keep].astype(float).tolist()))
        return run
