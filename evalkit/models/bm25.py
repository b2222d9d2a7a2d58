"""BM25 baseline with ``bm25s`` (Lucene's BM25 variant, pyserini's k1=0.9, b=0.4).

Tokenisation is language-agnostic so the multilingual suites get a fair baseline: lower-cased
Unicode word tokens, CJK ideographs and kana as single characters (as Lucene's
StandardTokenizer does), English stop words removed, no stemming. Documents with a score of 0
(no query term) are not returned, as Lucene would not return them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import numpy as np

from evalkit.data import Collection, doc_text
from evalkit.models.base import ModelSpec

_CJK = (
    r"\u3040-\u30ff"  # hiragana, katakana
    r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs
)
_TOKEN = re.compile(rf"[{_CJK}]|[^\W{_CJK}_]+", re.UNICODE)


def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def tokenize(text: str, stopwords: frozenset[str] = frozenset()) -> list[str]:
    return [t for t in _TOKEN.findall(text.lower()) if t not in stopwords]


class BM25Retriever:
    """Sparse retriever: ``retrieve(collection, top_k) -> run``."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.k1 = float(spec.extra.get("k1", 0.9))
        self.b = float(spec.extra.get("b", 0.4))
        self.method = str(spec.extra.get("method", "lucene"))
        self.device = "cpu"

    def retrieve(
        self,
        collection: Collection,
        query_ids: Iterable[str],
        top_k: int,
        progress: Callable[[int], None] | None = None,
    ) -> dict[str, dict[str, float]]:
        import bm25s

        stop = _stopwords()
        corpus = collection.corpus
        tokens: list[list[str]] = []
        for _, docs in corpus.iter_slices(8192):
            tokens.extend(tokenize(doc_text(d, collection.title_join), stop) for d in docs)
            if progress is not None:
                progress(len(docs))
        index = bm25s.BM25(k1=self.k1, b=self.b, method=self.method)
        index.index(tokens, show_progress=False)
        del tokens
        qids = list(query_ids)
        q_tokens = [tokenize(collection.queries[q], stop) for q in qids]
        k = min(top_k, len(corpus))
        docs_idx, scores = index.retrieve(q_tokens, k=k, show_progress=False, n_threads=0)
        ids = corpus.id_array()
        run: dict[str, dict[str, float]] = {}
        for row, q in enumerate(qids):
            keep = scores[row] > 0
            hit_ids = ids.take(np.asarray(docs_idx[row][keep], dtype=np.int64)).to_pylist()
            run[q] = dict(zip(hit_ids, scores[row][keep].astype(float).tolist()))
        return run
