"""Run mteb on local files.

:func:`local_retrieval_task`: an ``AbsTaskRetrieval`` over a local BEIR-format folder, read by
evalkit's one reader of such folders (:func:`evalkit.data.load_beir_dir`: the same checks and
errors as ``evalkit run``, e.g. a 4-column TREC qrels line is refused, not misread) and handed to
mteb in the structure its Hub loader produces (``RetrievalSplitData``: ``corpus`` and
``queries`` as ``datasets.Dataset`` with an ``id`` column, ``relevant_docs`` as
``{query id: {doc id: grade}}``): every qrels row kept, grade 0 included, and queries without a
qrels row removed, as ``RetrievalDatasetLoader.load`` does. Everything after loading (search,
scoring) is mteb's own code::

    import mteb
    from sentence_transformers import SentenceTransformer
    from evalkit.adapters.mteb_tasks import local_retrieval_task

    task = local_retrieval_task("data/scifact")
    result = mteb.evaluate(SentenceTransformer(path), task, cache=None)
    result.task_results[0].scores["test"][0]["ndcg_at_10"]

:func:`mteb_task_from_local_copy`: mteb's own task (``SciFact``, ``MultiLongDocRetrieval``...)
reading a local copy of its Hub repository with mteb's own loader, e.g. after
``hf download --repo-type dataset mteb/scifact --local-dir DIR``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evalkit.data import Collection, fingerprint, is_beir_dir, load_beir_dir
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
    import re

    return "Local" + re.sub(r"[^A-Za-z0-9]+", "_", path.name).strip("_")


def split_data(coll: Collection) -> dict[str, Any]:
    """An evalkit collection as mteb's ``RetrievalSplitData``."""
    import datasets

    def fill(batch: dict[str, list[Any]]) -> dict[str, list[str]]:
        # mteb joins title and text only when the title is a non-empty string; None would fail.
        return {c: [v or "" for v in batch[c]] for c in ("title", "text")}

    corpus = coll.corpus.dataset.map(fill, batched=True).rename_column("_id", "id")
    # As mteb's RetrievalDatasetLoader.load: keep the queries that have qrels rows, in file
    # order (evalkit scores only those with a positive one; the README says why).
    kept = [q for q in coll.queries if q in coll.qrels]
    queries = datasets.Dataset.from_dict({"id": kept, "text": [coll.queries[q] for q in kept]})
    return {
        "corpus": corpus,
        "queries": queries,
        "relevant_docs": {q: dict(d) for q, d in coll.qrels.items()},
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
) -> Any:
    """An mteb ``AbsTaskRetrieval`` instance over the BEIR folder ``path`` (one split).

    ``ignore_identical_ids`` is mteb's task attribute of that name (off by default, as in
    mteb). ``name`` is the task's name (default ``Local<folder>``); the mteb adapter takes
    token limits by it, so naming a catalog task (``MultiLongDocRetrieval``) gives its limits.
    The task's dataset revision is the files' SHA-256 fingerprint, so mteb's result cache
    tells different versions of a folder apart. Bad files fail in ``load_data`` with
    evalkit's :class:`~evalkit.errors.DataError`, naming the file and line."""
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

    def load_data(self: Any, num_proc: int | None = None, **kwargs: Any) -> None:
        # Replaces AbsTaskRetrieval.load_data, which would ask the Hub for these configs.
        if self.data_loaded:
            return
        coll = load_beir_dir(path, split, ignore_identical_ids=ignore_identical_ids)
        self.dataset = {"default": {split: split_data(coll)}}
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


def mteb_task_from_local_copy(
    task_name: str, path: str | Path, *, languages: list[str] | None = None, **filters: Any
) -> Any:
    """mteb's own retrieval task ``task_name``, reading ``path`` instead of its Hub repository.

    ``path`` is a local copy of the repository (``README.md`` declaring the ``corpus``,
    ``queries`` and qrels configs, and their files, as the Hub holds them); mteb's
    ``RetrievalDatasetLoader`` opens it with ``datasets.load_dataset(path, config)``, which
    reads a local folder as it reads the Hub. Everything else (splits, subsets, identical-ids
    rule, scoring) is the task's own. ``languages`` and ``filters`` go to ``mteb.get_task``."""
    _require_mteb()
    import mteb

    from evalkit.data.hub import manifest_fingerprint, versioned_link

    path = Path(path)
    if not (path / "README.md").is_file():
        raise DataError(
            f"{path}: not a local copy of a Hub dataset repository (no README.md declaring "
            "its configs)"
        )
    task = mteb.get_task(task_name, languages=languages, **filters)
    metadata = task.metadata.model_copy(deep=True)
    # A local copy has no Hub commit (datasets ignores the revision for a folder); names, sizes
    # and times of its files tell copies apart in mteb's result cache without reading GBs.
    version = manifest_fingerprint([path])
    metadata.dataset["path"] = str(versioned_link(path, version))
    metadata.dataset["revision"] = version
    task.metadata = metadata  # the instance's copy: the task class keeps its Hub path
    return task
