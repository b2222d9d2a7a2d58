"""Retrieval collections: a corpus, queries and graded relevance judgements.

A :class:`Corpus` is backed by a ``datasets.Dataset`` (memory-mapped Arrow), so corpora of
millions of passages stream into the encoder without a Python list of all texts. Every reader
of :mod:`evalkit.data` (BEIR-format folders, the Hub layouts) produces a :class:`Collection`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evalkit.arrow_file import utf8_lengths
from evalkit.errors import DataError

Qrels = dict[str, dict[str, int]]
"""query id -> {doc id -> relevance grade}. Grade 0 means judged non-relevant."""


class Corpus:
    """Documents with columns ``_id``, ``title``, ``text`` over an Arrow-backed dataset.

    Rows are read in slices, so only the batch being encoded is materialised as Python strings.
    """

    def __init__(self, dataset: Any) -> None:
        missing = {"_id", "text"} - set(dataset.column_names)
        if missing:
            raise DataError(f"corpus is missing column(s) {sorted(missing)}")
        if "title" not in dataset.column_names:
            import pyarrow as pa

            # Empty strings as one offsets buffer (4 bytes a row), not a Python list of "".
            n = len(dataset)
            empty = pa.StringArray.from_buffers(
                n, pa.py_buffer(bytes(4 * (n + 1))), pa.py_buffer(b"")
            )
            fp = hashlib.sha256(f"{dataset._fingerprint}/title".encode()).hexdigest()[:16]
            dataset = dataset.add_column("title", empty, new_fingerprint=fp)
        if dataset.column_names != ["_id", "title", "text"]:
            dataset = dataset.select_columns(["_id", "title", "text"])
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    @property
    def ids(self) -> list[str]:
        """All document ids as a Python list: for small corpora (tests, adapters). The runner
        uses :meth:`id_array`, which costs no Python objects (56 MB per 1M ids otherwise)."""
        return [str(x) for x in self.dataset["_id"]]

    def id_array(self):  # -> pyarrow.Array
        """Document ids as one Arrow string array: ``take`` the hits without a Python list
        of all ids (32.9M for MIRACL-en)."""
        import pyarrow as pa

        col = self.dataset.with_format("arrow").select_columns(["_id"])[:]["_id"]
        col = col.cast(pa.string())
        return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col

    def rows(self, indices: np.ndarray | list[int]) -> list[dict[str, str]]:
        """Documents at ``indices`` as ``{"_id", "title", "text"}`` dicts."""
        batch = self.dataset.select_columns(["_id", "title", "text"])[list(map(int, indices))]
        return [
            {"_id": str(i), "title": t or "", "text": x or ""}
            for i, t, x in zip(batch["_id"], batch["title"], batch["text"])
        ]

    def iter_slices(self, batch_size: int) -> Iterator[tuple[int, list[dict[str, str]]]]:
        """Contiguous slices ``(start, docs)`` in storage order."""
        cols = self.dataset.select_columns(["_id", "title", "text"])
        for start in range(0, len(self), batch_size):
            # A contiguous slice, not a per-row gather: much faster on Arrow.
            b = cols[start : start + batch_size]
            yield (
                start,
                [
                    {"_id": str(i), "title": t or "", "text": x or ""}
                    for i, t, x in zip(b["_id"], b["title"], b["text"])
                ],
            )

    def byte_lengths(self) -> np.ndarray:
        """Length in bytes (UTF-8) of title plus text per document: a proxy for token count
        that Arrow reads from the offsets alone, without touching the text pages (reading
        them would page in ~12 GB for MIRACL-en just to sort)."""
        table = self.dataset.select_columns(["title", "text"]).with_format("arrow")[:]
        return utf8_lengths(table.column("title")) + utf8_lengths(table.column("text"))

    @classmethod
    def from_records(cls, records: list[dict[str, str]]) -> Corpus:
        """A small in-memory corpus (tests, demos)."""
        import datasets

        cols = {
            "_id": [str(r["_id"]) for r in records],
            "title": [r.get("title") or "" for r in records],
            "text": [r.get("text") or "" for r in records],
        }
        return cls(datasets.Dataset.from_dict(cols))


@dataclass
class Collection:
    """One evaluable unit: a (dataset, split, language) with its corpus, queries and qrels."""

    name: str
    corpus: Corpus
    queries: dict[str, str]
    qrels: Qrels
    split: str = "test"
    language: str | None = None
    text_language: str | None = None
    """The language the texts are in: :attr:`language`, else the suite's for a dataset that
    records none (set by :func:`evalkit.data.load`). Not in :attr:`key` or any record identity."""
    ignore_identical_ids: bool = False
    source: dict[str, Any] = field(default_factory=dict)
    """Where it came from: ``{"id", "revision"}`` for Hub data, ``{"path", "fingerprint"}``
    for local files. Copied into every result record."""
    title_join: str = " "
    """How title and text are joined for encoding (mteb and beir: a single space)."""
    max_query_length: int | None = None
    max_doc_length: int | None = None
    main_metric: str = "ndcg_at_10"
    sampled_queries: dict[str, Any] | None = None
    """Set when the queries were subsampled (``{"n", "seed", "of"}``), so a quick run is never
    mistaken for a full one."""
    warnings: list[str] = field(default_factory=list)
    """Data problems that were scored through rather than refused (repeated identical queries,
    documents without text, negative grades, judgements of unknown queries or documents): one
    line each, with the count and a few example ids. Copied into every result record."""

    @property
    def key(self) -> str:
        lang = self.language or "default"
        return f"{self.name}/{self.split}/{lang}"

    def sample_queries(self, n: int, seed: int = 0) -> Collection:
        """A copy scored on a seeded sample of ``n`` judged queries."""
        judged = sorted(
            q for q in self.queries if any(g > 0 for g in self.qrels.get(q, {}).values())
        )
        if n >= len(judged):
            return self
        rng = np.random.default_rng(seed)
        keep = set(rng.choice(np.array(judged, dtype=object), size=n, replace=False).tolist())
        copy = Collection(**{**self.__dict__, "warnings": list(self.warnings)})
        copy.queries = {q: t for q, t in self.queries.items() if q in keep}
        copy.qrels = {q: d for q, d in self.qrels.items() if q in keep}
        copy.sampled_queries = {"n": n, "seed": seed, "of": len(judged)}
        return copy


def doc_text(doc: dict[str, str], join: str = " ") -> str:
    """The string a document is encoded as, built exactly as mteb 2.x
    (``_create_dataloaders._corpus_to_dict``) and beir (``extract_corpus_sentences``) build it:
    ``(title + join + text).strip()`` when the title is non-empty, else ``text.strip()``.
    Title and text are not stripped separately: a title ending in a space keeps both spaces
    inside the string, as the peers encode it."""
    title = doc.get("title") or ""
    text = doc.get("text") or ""
    return (title + join + text).strip() if title else text.strip()
