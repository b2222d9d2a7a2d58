"""Retrieval collections: a corpus, queries and graded relevance judgements.

A :class:`Corpus` is backed by a ``datasets.Dataset`` (memory-mapped Arrow), so corpora of
millions of passages stream into the encoder without a Python list of all texts. Every loader
(BEIR-format folders here, Hub layouts in :mod:`evalkit.hub`) produces a :class:`Collection`.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

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
            import hashlib

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
        import pyarrow.compute as pc

        table = self.dataset.select_columns(["title", "text"]).with_format("arrow")[:]
        title = pc.binary_length(pc.fill_null(table.column("title"), ""))
        text = pc.binary_length(pc.fill_null(table.column("text"), ""))
        return np.asarray(pc.add(title, text).to_numpy(zero_copy_only=False), dtype=np.int64)

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
        copy = Collection(**{**self.__dict__})
        copy.queries = {q: t for q, t in self.queries.items() if q in keep}
        copy.qrels = {q: d for q, d in self.qrels.items() if q in keep}
        copy.sampled_queries = {"n": n, "seed": seed, "of": len(judged)}
        return copy


def doc_text(doc: dict[str, str], join: str = " ") -> str:
    """``title + join + text``, stripped, as mteb and beir build document strings."""
    title = (doc.get("title") or "").strip()
    text = (doc.get("text") or "").strip()
    return f"{title}{join}{text}".strip() if title else text


def fingerprint(paths: list[Path]) -> str:
    """SHA-256 over the bytes of ``paths`` (sorted), first 16 hex digits."""
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(p.name.encode())
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, record)`` of a JSON Lines file, blank lines skipped; the first line that
    is not a JSON object raises :class:`DataError` naming ``file:line``."""
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None
            if not isinstance(rec, dict):
                raise DataError(f"{path}:{lineno}: expected a JSON object")
            yield lineno, rec


def _read_jsonl_checked(path: Path, required: tuple[str, ...]) -> None:
    """Fail with the file and line number on the first malformed record."""
    for lineno, rec in iter_jsonl(path):
        for key in required:
            if key not in rec:
                raise DataError(f"{path}:{lineno}: missing field '{key}'")


def read_queries(path: Path) -> dict[str, str]:
    """BEIR ``queries.jsonl``: ``{"_id", "text"}`` per line."""
    if not path.is_file():
        raise DataError(f"{path}: queries file not found")
    queries: dict[str, str] = {}
    for lineno, rec in iter_jsonl(path):
        if "_id" not in rec or not isinstance(rec.get("text"), str):
            raise DataError(f"{path}:{lineno}: expected fields '_id' and 'text'")
        queries[str(rec["_id"])] = rec["text"]
    return queries


def read_qrels(path: Path) -> Qrels:
    """BEIR ``qrels/<split>.tsv``: header ``query-id corpus-id score``, tab-separated."""
    if not path.is_file():
        raise DataError(f"{path}: qrels file not found")
    qrels: Qrels = {}
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        for lineno, row in enumerate(reader, 1):
            if not row or not "".join(row).strip():
                continue
            if lineno == 1 and not _is_int(row[-1]):
                continue  # header
            if len(row) != 3:
                # A 4-column TREC qrels line (qid 0 docid grade) would silently use "0" as
                # the document id.
                raise DataError(
                    f"{path}:{lineno}: expected 3 tab-separated columns (query-id, corpus-id, "
                    f"score), got {len(row)}"
                )
            qid, did, grade = row
            if not _is_int(grade):
                raise DataError(f"{path}:{lineno}: relevance grade {grade!r} is not an integer")
            qrels.setdefault(qid, {})[did] = int(float(grade))
    return qrels


def _is_int(s: str) -> bool:
    try:
        return float(s) == int(float(s))
    except (ValueError, OverflowError):
        return False


def load_corpus_jsonl(path: Path) -> Corpus:
    """BEIR ``corpus.jsonl`` read through ``datasets`` into memory-mapped Arrow."""
    import datasets

    if not path.is_file():
        raise DataError(f"{path}: corpus file not found")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the corpus is empty")
    # datasets' own bars for a local file conversion are noise next to evalkit's.
    datasets.disable_progress_bars()
    try:
        # No fixed schema: BEIR files carry extra fields (``metadata``) and numeric ids.
        ds = datasets.load_dataset("json", data_files=str(path), split="train")
    except Exception as e:  # datasets raises many types for bad json
        # Only now read the file line by line, to name the first bad line (a Python pass
        # over every line of a large corpus on every run would cost minutes).
        _read_jsonl_checked(path, ("_id",))
        raise DataError(f"{path}: cannot read corpus ({type(e).__name__}: {e})") from None
    if "_id" not in ds.column_names or ds.with_format("arrow")[:]["_id"].null_count:
        _read_jsonl_checked(path, ("_id",))  # names the line without an id
    if "text" not in ds.column_names:
        raise DataError(f"{path}: corpus records have no 'text' field")
    ds = ds.select_columns([c for c in ("_id", "title", "text") if c in ds.column_names])
    odd = [c for c in ds.column_names if ds.features[c] != datasets.Value("string")]
    if odd:
        # Numeric or mixed-type ids: convert the decoded Python values (an Arrow cast of a
        # mixed column would give JSON text such as '"d1"').
        features = datasets.Features({c: datasets.Value("string") for c in ds.column_names})
        ds = ds.map(
            lambda b: {c: ["" if v is None else str(v) for v in b[c]] for c in odd},
            batched=True,
            features=features,
            desc="normalising ids",
        )
    return Corpus(ds)


def is_beir_dir(path: Path) -> bool:
    return (path / "corpus.jsonl").is_file() and (path / "queries.jsonl").is_file()


def load_beir_dir(
    path: str | Path,
    split: str = "test",
    *,
    name: str | None = None,
    ignore_identical_ids: bool = False,
    language: str | None = None,
) -> Collection:
    """Load a BEIR-format folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``)."""
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"{path}: not a directory")
    if not is_beir_dir(path):
        raise DataError(f"{path}: not a BEIR-format folder (needs corpus.jsonl and queries.jsonl)")
    qrels_path = path / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        have = sorted(p.stem for p in (path / "qrels").glob("*.tsv"))
        raise DataError(f"{qrels_path}: no qrels for split '{split}' (found: {have or 'none'})")
    corpus = load_corpus_jsonl(path / "corpus.jsonl")
    queries = read_queries(path / "queries.jsonl")
    qrels = read_qrels(qrels_path)
    files = [path / "corpus.jsonl", path / "queries.jsonl", qrels_path]
    return Collection(
        name=name or path.name,
        corpus=corpus,
        queries=queries,
        qrels=qrels,
        split=split,
        language=language,
        ignore_identical_ids=ignore_identical_ids,
        source={"path": str(path.resolve()), "fingerprint": fingerprint(files)},
    )
