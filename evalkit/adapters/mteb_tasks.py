"""Run mteb on a local BEIR-format folder: an ``AbsTaskRetrieval`` whose data comes from disk.

mteb 2.x retrieval tasks load Hub datasets (configs ``corpus``, ``queries``, ``default``/
``qrels``) through ``RetrievalDatasetLoader``. This builds a task that reads ``corpus.jsonl``,
``queries.jsonl`` and ``qrels/<split>.tsv`` instead and hands mteb the same structure
(``RetrievalSplitData``: ``corpus`` and ``queries`` as ``datasets.Dataset`` with an ``id``
column, ``relevant_docs`` as ``{query id: {doc id: grade}}``), processed as mteb's loader
processes the Hub data: every qrels row is kept, grade 0 included, and queries without a qrels
row are removed. Everything after loading (search, scoring) is mteb's own code::

    import mteb
    from sentence_transformers import SentenceTransformer
    from evalkit.adapters.mteb_tasks import local_retrieval_task

    task = local_retrieval_task("data/scifact")
    result = mteb.evaluate(SentenceTransformer(path), task, cache=None)
    result.task_results[0].scores["test"][0]["ndcg_at_10"]
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

from evalkit.data import fingerprint, is_beir_dir
from evalkit.errors import DataError, EvalkitError


def _require_mteb() -> None:
    try:
        import mteb  # noqa: F401
    except ImportError:  # optional dependency
        raise EvalkitError(
            "mteb is not installed: pip install 'evalkit[peers]' to run mteb on a local folder"
        ) from None


def _task_name(path: Path) -> str:
    """A name mteb accepts in file names: the folder name with odd characters replaced."""
    return "Local" + re.sub(r"[^A-Za-z0-9]+", "_", path.name).strip("_")


def _read_jsonl(path: Path, columns: tuple[str, ...], cache_dir: str | None) -> Any:
    """A JSON-lines file as a ``datasets.Dataset`` of string ``columns`` (``_id`` -> ``id``).

    No fixed schema on reading (BEIR files carry extra fields such as ``metadata``); ids
    become strings, as mteb's loader casts them."""
    import datasets

    ds = datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=cache_dir)
    for col in columns:
        if col not in ds.column_names:
            if col in ("_id", "text"):
                raise DataError(f"{path}: records have no '{col}' field")
            ds = ds.add_column(col, [""] * len(ds))
    ds = ds.select_columns(list(columns))
    odd = [c for c in columns if ds.features[c] != datasets.Value("string")]
    if odd:
        # Convert the decoded Python values: an Arrow cast of a mixed-type column (ids "d1" and
        # 7 in one file) would give JSON text such as '"d1"'.
        features = datasets.Features({c: datasets.Value("string") for c in columns})
        ds = ds.map(
            lambda b: {c: ["" if v is None else str(v) for v in b[c]] for c in odd},
            batched=True,
            features=features,
        )
    return ds.rename_column("_id", "id")


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """``query-id  corpus-id  score`` rows, tab-separated; the header line is optional (the
    shared MS MARCO subset has none, and beir's loader would drop its first judgement)."""
    relevant: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8", newline="") as f:
        for lineno, row in enumerate(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE), 1):
            if not row or not "".join(row).strip():
                continue
            try:
                grade = int(float(row[-1]))
            except ValueError:
                if lineno == 1:
                    continue  # header
                raise DataError(
                    f"{path}:{lineno}: relevance grade {row[-1]!r} is not a number"
                ) from None
            if len(row) < 3:
                raise DataError(f"{path}:{lineno}: expected 3 tab-separated columns")
            relevant.setdefault(row[0], {})[row[1]] = grade
    return relevant


def _load_split(path: Path, split: str, cache_dir: str | None) -> dict[str, Any]:
    corpus = _read_jsonl(path / "corpus.jsonl", ("_id", "title", "text"), cache_dir)
    # mteb joins title and text only when the title is a non-empty string; None would fail.
    corpus = corpus.map(lambda r: {"title": r["title"] or "", "text": r["text"] or ""})
    queries = _read_jsonl(path / "queries.jsonl", ("_id", "text"), cache_dir)
    relevant = _read_qrels(path / "qrels" / f"{split}.tsv")
    # As mteb's RetrievalDatasetLoader.load: keep the queries that have qrels rows.
    keep = [i for i, q in enumerate(queries["id"]) if q in relevant]
    return {
        "corpus": corpus,
        "queries": queries.select(keep),
        "relevant_docs": relevant,
        "top_ranked": None,
    }


def local_retrieval_task(
    path: str | Path,
    *,
    split: str = "test",
    name: str | None = None,
    ignore_identical_ids: bool = False,
    eval_langs: tuple[str, ...] = ("eng-Latn",),
    main_score: str = "ndcg_at_10",
    cache_dir: str | Path | None = None,
) -> Any:
    """An mteb ``AbsTaskRetrieval`` instance over the BEIR folder ``path`` (one split).

    ``ignore_identical_ids`` is mteb's task attribute of that name (off by default, as in
    mteb). ``cache_dir`` is where ``datasets`` keeps its Arrow copy of the files. The task's
    dataset revision is the files' SHA-256 fingerprint, so mteb's result cache tells
    different versions of a folder apart."""
    _require_mteb()
    from mteb.abstasks.retrieval import AbsTaskRetrieval
    from mteb.abstasks.task_metadata import TaskMetadata

    path = Path(path)
    if not is_beir_dir(path):
        raise DataError(f"{path}: not a BEIR-format folder (needs corpus.jsonl and queries.jsonl)")
    qrels_path = path / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        raise DataError(f"{qrels_path}: no qrels for split '{split}'")
    files = [path / "corpus.jsonl", path / "queries.jsonl", qrels_path]
    task_name = name or _task_name(path)
    metadata = TaskMetadata(
        name=task_name,
        description=f"Local BEIR-format folder {path.resolve()} (evalkit)",
        dataset={"path": str(path.resolve()), "revision": fingerprint(files)},
        type="Retrieval",
        category="t2t",
        modalities=["text"],
        eval_splits=[split],
        eval_langs=list(eval_langs),
        main_score=main_score,
    )
    cache = str(cache_dir) if cache_dir is not None else None

    def load_data(self: Any, num_proc: int | None = None, **kwargs: Any) -> None:
        # Replaces AbsTaskRetrieval.load_data, which would ask the Hub for these configs.
        if self.data_loaded:
            return
        self.dataset = {"default": {split: _load_split(path, split, cache)}}
        self.dataset_transform(num_proc=num_proc)
        self.data_loaded = True

    cls = type(
        task_name,
        (AbsTaskRetrieval,),
        {
            "metadata": metadata,
            "ignore_identical_ids": ignore_identical_ids,
            "load_data": load_data,
            "__module__": __name__,
        },
    )
    return cls()
