"""BM25 baseline with ``bm25s`` (Lucene's BM25 variant, pyserini's k1=0.9, b=0.4).

The default ``bm25`` analyses text as pyserini's Lucene BM25 does, in pure Python
(:mod:`evalkit.models.bm25_analyzers`): the Lucene analyzer of the collection's language
(English: possessives, Lucene's 33 stop words, Lucene's Porter stemmer; other languages their
Snowball or light stemmer, CJK bigrams, Thai words, ...), so its figures sit beside a paper's
"BM25" row. ``bm25-multilingual-nostem`` keeps evalkit's earlier tokeniser
(:mod:`evalkit.models.bm25_tokenize`: one rule set for every language, no stemming), under which
records before the change were made. Documents with a score of 0 (no query term) are not
returned, as Lucene would not return them; a query or corpus without any token (empty or
whitespace-only text) matches nothing.

The index is built from documents streamed in slices, as token ids and int32/uint16 arrays
(:mod:`evalkit.models.bm25_index`): at most ~16 bytes a token while indexing, where a list of
token strings took ~65. The scores are bm25s' own, bit for bit. A corpus whose estimated need
exceeds the available memory is refused before indexing, pointing to ``bm25-lucene``
(:mod:`evalkit.models.bm25_lucene`, pyserini's on-disk Lucene index).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from evalkit.data import Collection, doc_text
from evalkit.errors import EvalkitError, ModelError
from evalkit.models.base import ModelSpec
from evalkit.models.bm25_analyzers import TOKENIZER_NAME as LUCENE_TOKENIZER
from evalkit.models.bm25_analyzers import analyzer_versions, get_analyzer
from evalkit.models.bm25_index import PEAK_BYTES_PER_TOKEN, StreamingIndex
from evalkit.models.bm25_tokenize import (
    ENGLISH_STOPWORDS,
    TOKENIZER_NAME,
    tokenize,
    tokenizer_versions,
)

__all__ = ["ANALYZERS", "BM25Retriever", "tokenize"]

ANALYZERS: tuple[str, ...] = ("lucene", TOKENIZER_NAME)
"""Values of a bm25 model's ``extra["analyzer"]``: Lucene's analyzer of the collection's
language (the default), or evalkit's earlier multilingual tokeniser without stemming."""

Tokenize = Callable[[str], list[str]]

INDEX_SLICE_DOCS = 2048
"""Documents tokenised at a time: their token strings are the only per-token Python objects,
and live for one slice (whose memory the allocator keeps: ~15 MB at 2,048 passages)."""


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
        self.analyzer = str(spec.extra.get("analyzer", "lucene"))
        if self.analyzer not in ANALYZERS:
            raise ModelError(
                f"--model {spec.name}: unknown BM25 analyzer {self.analyzer!r} "
                f"({', '.join(ANALYZERS)})"
            )
        self.tokenizer_name = (
            TOKENIZER_NAME if self.analyzer == TOKENIZER_NAME else LUCENE_TOKENIZER
        )

    def tokenizer(self, collection: Collection | None) -> Tokenize:
        """The function that turns one text of ``collection`` into its tokens: a fresh
        analyzer (its own stem memo) for the collection's language, or the legacy tokeniser."""
        if self.analyzer == TOKENIZER_NAME:
            return lambda text: tokenize(text, ENGLISH_STOPWORDS)
        return get_analyzer(collection_language(collection)).analyze

    def describe(self, collection: Collection | None = None) -> dict[str, Any]:
        """What a result record stores under ``search``: everything that changes the scores
        (for the default analyzer: its name, the Lucene analyzer it follows, its stemmer and
        where it differs from Lucene's, and the versions of the packages it uses)."""
        out: dict[str, Any] = {
            "backend": self.engine,
            "exact": True,
            "k1": self.k1,
            "b": self.b,
            "method": self.method,
        }
        if self.analyzer == TOKENIZER_NAME:
            out["tokenizer"] = TOKENIZER_NAME
            out["tokenizer_versions"] = tokenizer_versions()
            return out
        analyzer = get_analyzer(collection_language(collection))
        out["tokenizer"] = LUCENE_TOKENIZER
        out["analyzer"] = analyzer.describe()
        out["tokenizer_versions"] = analyzer_versions()
        return out

    def check_memory(self, collection: Collection, tokens_of: Tokenize | None = None) -> None:
        """Refuse, before any indexing, a corpus whose index would not fit in memory: tokens
        estimated from its byte length at the rate of a sample of its documents, at
        :data:`~evalkit.models.bm25_index.PEAK_BYTES_PER_TOKEN` bytes each."""
        need, tokens = estimate_index_bytes(collection, tokens_of or self.tokenizer(collection))
        free = available_memory()
        if free is not None and need > free:
            raise EvalkitError(
                f"--model {self.spec.name}: indexing {collection.key} ({len(collection.corpus):,} "
                f"documents, ~{tokens:.2g} tokens) needs about {need / 1e9:.1f} GB of memory but "
                f"{free / 1e9:.1f} GB is available; use --model bm25-lucene (an on-disk Lucene "
                "index) or a machine with more memory"
            )

    def build_index(
        self, collection: Collection, progress: Callable[[int], None] | None = None
    ) -> Any:
        """The ``bm25s.BM25`` index of the corpus, built from slices of
        :data:`INDEX_SLICE_DOCS` documents (``None`` when the corpus has no token at all);
        refused first when it cannot fit in memory (:meth:`check_memory`)."""
        tokens_of = self.tokenizer(collection)
        self.check_memory(collection, tokens_of)
        return self._build_index(collection, tokens_of, progress)

    def _build_index(
        self,
        collection: Collection,
        tokens_of: Tokenize,
        progress: Callable[[int], None] | None = None,
    ) -> Any:
        import bm25s

        join = collection.title_join
        stream = StreamingIndex()
        for _, docs in collection.corpus.iter_slices(INDEX_SLICE_DOCS):
            stream.add([tokens_of(doc_text(d, join)) for d in docs])
            if progress is not None:
                progress(len(docs))
        if stream.n_tokens == 0:
            return None
        index = bm25s.BM25(k1=self.k1, b=self.b, method=self.method)
        stream.build(index)
        return index

    def retrieve(
        self,
        collection: Collection,
        query_ids: Iterable[str],
        top_k: int,
        progress: Callable[[int], None] | None = None,
    ) -> dict[str, dict[str, float]]:
        corpus = collection.corpus
        tokens_of = self.tokenizer(collection)  # one analyzer (and stem memo) for the run
        self.check_memory(collection, tokens_of)
        index = self._build_index(collection, tokens_of, progress)
        qids = list(query_ids)
        run: dict[str, dict[str, float]] = {q: {} for q in qids}
        if index is None:
            return run  # bm25s cannot index an empty vocabulary; nothing can match anyway
        q_tokens = {q: tokens_of(collection.queries[q]) for q in qids}
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


def collection_language(collection: Collection | None) -> str | None:
    """The language whose analyzer reads ``collection``: its own, else the language its texts
    are in as the loader set it from its suite (MTEB-ZH's T2Retrieval records no language but
    is Chinese; one English analyzer would cut it into single characters), else None
    (English, as pyserini)."""
    if collection is None:
        return None
    return collection.language or collection.text_language


SAMPLE_DOCS = 2000


def estimate_index_bytes(
    collection: Collection, tokens_of: Tokenize | None = None
) -> tuple[int, float]:
    """(bytes, tokens) an in-memory index of ``collection`` is estimated to need: its byte
    length times the tokens per byte (under ``tokens_of``, by default the language's Lucene
    analyzer) of an evenly spaced sample of documents (the same sample every time), times
    :data:`PEAK_BYTES_PER_TOKEN`."""
    if tokens_of is None:
        tokens_of = get_analyzer(collection_language(collection)).analyze
    corpus = collection.corpus
    n = len(corpus)
    if n == 0:
        return 0, 0.0
    lengths = corpus.byte_lengths()
    total = int(lengths.sum())
    pick = np.unique(np.linspace(0, n - 1, num=min(n, SAMPLE_DOCS)).astype(np.int64))
    docs = corpus.rows(pick)
    sample_tokens = sum(len(tokens_of(doc_text(d, collection.title_join))) for d in docs)
    sample_bytes = int(lengths[pick].sum())
    tokens = total * sample_tokens / max(sample_bytes, 1)
    return int(tokens * PEAK_BYTES_PER_TOKEN), tokens


def available_memory() -> int | None:
    """Bytes this process can still allocate: the kernel's MemAvailable, or the cgroup's
    limit less its usage when lower; ``None`` where neither can be read."""
    found: list[int] = []
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError):
        pass
    try:
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as f:
            limit = f.read().strip()
        with open("/sys/fs/cgroup/memory.current", encoding="ascii") as f:
            used = int(f.read().strip())
        if limit != "max":
            found.append(max(0, int(limit) - used))
    except (OSError, ValueError):
        pass
    return min(found) if found else None
