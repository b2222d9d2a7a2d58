"""The one entry point of :mod:`evalkit.data`: :func:`load` reads the collection a
:class:`~evalkit.dataset_spec.LoadTask` (a dataset spec and a language) names, through the
reader its layout names. The suites only name datasets; this is where they are read."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from evalkit.data import hub
from evalkit.data.beir import load_beir_dir
from evalkit.data.collection import Collection
from evalkit.dataset_spec import DatasetSpec, LoadTask
from evalkit.errors import EvalkitError

Reader = Callable[[DatasetSpec, "str | None", "Path | None"], Collection]
"""``(spec, language, data_dir) -> Collection``."""


def read_beir_spec(spec: DatasetSpec, language: str | None, data_dir: Path | None) -> Collection:
    """``beir-dir``: the folder ``spec.source["path"]`` (a local folder given as ``--suite``,
    the embedded demo); for a registered suite with ``data_dir``, ``data_dir/NAME``."""
    root = Path(spec.source["path"])
    if data_dir is not None and spec.suite != "local":
        root = Path(data_dir) / spec.name
    return load_beir_dir(
        root,
        spec.split,
        name=spec.name,
        language=language,
        ignore_identical_ids=spec.ignore_identical_ids,
    )


def readers() -> dict[str, Reader]:
    """Layout -> reader: BEIR folders here, every Hub layout through :mod:`evalkit.data.hub`
    (read at call time, so a layout added to ``hub.READERS`` is read)."""
    return {"beir-dir": read_beir_spec, **dict.fromkeys(hub.READERS, hub.load_hub_dataset)}


def load(task: LoadTask, data_dir: Path | None = None) -> Collection:
    """Read one task's collection through the reader its layout names, with the dataset's
    settings (identical-ids rule, title join, token limits, main metric) on it."""
    spec = task.spec
    reader = readers().get(spec.layout)
    if reader is None:
        raise EvalkitError(f"dataset {spec.name}: no loader for layout {spec.layout!r}")
    coll = reader(spec, task.language, data_dir)
    coll.ignore_identical_ids = spec.ignore_identical_ids
    coll.title_join = spec.title_join
    coll.max_query_length = spec.max_query_length
    coll.max_doc_length = spec.max_doc_length
    coll.main_metric = spec.main_metric
    coll.text_language = coll.language or task.text_language
    return coll
