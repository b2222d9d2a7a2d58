"""What names a dataset, as data: a :class:`DatasetSpec` (a layout, a Hub repository and
revision, a split, languages, the identical-ids rule, ...) or a local BEIR-format folder.

This module is the vocabulary two layers share without knowing each other: the suites
(:mod:`evalkit.suites`) are built from specs and never load them; the readers
(:mod:`evalkit.data`) take a spec and never look at a suite. It imports nothing of evalkit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset of a suite. ``languages`` empty means a single, language-less collection."""

    name: str
    suite: str
    layout: str
    """Which reader of :mod:`evalkit.data` reads it: ``beir-dir`` (a BEIR-format folder, such
    as the embedded demo) or a Hub layout (``mteb``, ``beir-hub``, ``miracl``, ``mldr``,
    ``syntec``: :mod:`evalkit.data.hub`)."""
    split: str = "test"
    languages: tuple[str, ...] = ()
    source: dict[str, Any] = field(default_factory=dict)
    """``{"id": hub id, "revision": commit, ...}`` or ``{"path": ...}``."""
    ignore_identical_ids: bool = False
    title_join: str = " "
    max_query_length: int | None = None
    max_doc_length: int | None = None
    main_metric: str = "ndcg_at_10"
    mteb_task: str | None = None
    citation: str | None = None
    size: dict[str, Any] = field(default_factory=dict)
    """Documented sizes (``{"queries": n, "docs": n}``), shown by ``evalkit suites``."""

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class LoadTask:
    """One (dataset, language) to load and evaluate: what :func:`evalkit.data.load` takes."""

    spec: DatasetSpec
    language: str | None
    text_language: str | None = None
    """The language its texts are in when the dataset records none (its suite's: MTEB-ZH's
    T2Retrieval is Chinese): what a language-aware analyzer reads, never part of its identity."""

    @property
    def label(self) -> str:
        return f"{self.spec.name}" + (f"/{self.language}" if self.language else "")


# --------------------------------------------------------------------------------------------
# A local BEIR-format folder, recognised by its file names (the suites resolve a --suite
# directory into specs with these; the reader is evalkit.data.load_beir_dir)


def beir_file(folder: Path, name: str) -> Path | None:
    """``folder/name``, else its gzipped form ``name.gz`` (BEIR downloads are often kept
    gzipped; beir's own loader reads only the plain file), else ``None``."""
    for p in (folder / name, folder / f"{name}.gz"):
        if p.is_file():
            return p
    return None


def is_beir_dir(path: Path) -> bool:
    """A complete BEIR-format folder: a corpus and queries (plain or gzipped)."""
    return beir_file(path, "corpus.jsonl") is not None and (
        beir_file(path, "queries.jsonl") is not None
    )


def looks_like_beir_dir(path: Path) -> bool:
    """A folder meant as a BEIR-format dataset: it has any of the corpus, the queries or a
    ``qrels`` folder. Such a folder is loaded (or fails naming what is missing), never
    skipped."""
    return (
        beir_file(path, "corpus.jsonl") is not None
        or beir_file(path, "queries.jsonl") is not None
        or (path / "qrels").is_dir()
    )
