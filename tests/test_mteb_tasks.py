"""``evalkit.adapters.mteb_tasks``: an mteb retrieval task over a local BEIR folder (read by
evalkit's reader), and mteb's own task over a local copy of its Hub repository (read by mteb)."""

from __future__ import annotations

from pathlib import Path

import peers
import pytest
from conftest import SMALL_CORPUS, SMALL_QRELS, SMALL_QUERIES, needs_minilm, write_beir

from evalkit.data import fingerprint
from evalkit.errors import DataError

pytest.importorskip("mteb")

from evalkit.adapters.mteb_tasks import local_retrieval_task  # noqa: E402


def test_task_holds_the_folder_as_mteb_loads_hub_data(beir_dir: Path, tmp_path: Path) -> None:
    from mteb.abstasks.retrieval import AbsTaskRetrieval

    task = local_retrieval_task(beir_dir, ignore_identical_ids=True)
    assert isinstance(task, AbsTaskRetrieval) and task.ignore_identical_ids is True
    assert task.metadata.name == "Localtiny" and task.metadata.main_score == "ndcg_at_10"
    files = [beir_dir / "corpus.jsonl", beir_dir / "queries.jsonl", beir_dir / "qrels/test.tsv"]
    assert task.metadata.dataset["revision"] == fingerprint(files)
    task.load_data()
    split = task.dataset["default"]["test"]
    corpus = split["corpus"]
    assert corpus.column_names == ["id", "title", "text"]
    assert corpus["id"] == [str(d["_id"]) for d in SMALL_CORPUS]  # numeric id 7 -> "7"
    assert corpus[2]["title"] == ""  # mteb then encodes the text alone
    # As mteb's loader: every qrels row (grade 0 too); queries without a qrels row removed,
    # a query whose rows are all grade 0 (q5) kept.
    assert split["queries"]["id"] == ["q1", "q2", "q3", "q4", "q5"]
    assert split["relevant_docs"]["q1"] == {"d1": 2, "d2": 0}
    assert split["relevant_docs"]["q5"] == {"d2": 0}
    assert sum(len(v) for v in split["relevant_docs"].values()) == len(SMALL_QRELS)
    assert split["top_ranked"] is None


def test_qrels_without_a_header_keep_their_first_row(tmp_path: Path) -> None:
    root = write_beir(tmp_path / "nohead", SMALL_CORPUS, SMALL_QUERIES, SMALL_QRELS)
    qrels = root / "qrels" / "test.tsv"
    qrels.write_text(qrels.read_text().split("\n", 1)[1])  # drop the header line
    task = local_retrieval_task(root)
    task.load_data()
    assert task.dataset["default"]["test"]["relevant_docs"]["q1"] == {"d1": 2, "d2": 0}


def test_bad_folders_raise_data_errors(beir_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a BEIR-format folder"):
        local_retrieval_task(tmp_path)
    with pytest.raises(DataError, match=r"qrels/dev\.tsv: no qrels for split 'dev'"):
        local_retrieval_task(beir_dir, split="dev")
    bad = write_beir(tmp_path / "bad", SMALL_CORPUS, SMALL_QUERIES, SMALL_QRELS)
    with open(bad / "qrels" / "test.tsv", "a") as f:
        f.write("q1\td3\thigh\n")
    task = local_retrieval_task(bad)
    with pytest.raises(DataError, match=r"test\.tsv:10: relevance grade 'high'"):
        task.load_data()


def test_trec_qrels_with_four_columns_are_refused(tmp_path: Path) -> None:
    """``q1 0 d1 2`` (TREC qrels) once gave mteb the document id "0"; evalkit's one reader of
    BEIR folders refuses the line, naming it, for mteb's task as for ``evalkit run``."""
    root = write_beir(tmp_path / "trec", SMALL_CORPUS, SMALL_QUERIES, SMALL_QRELS)
    rows = "".join(f"{q}\t0\t{d}\t{g}\n" for q, d, g in SMALL_QRELS)
    (root / "qrels" / "test.tsv").write_text(rows)
    task = local_retrieval_task(root)
    with pytest.raises(DataError, match=r"test\.tsv:1: expected 3 tab-separated columns"):
        task.load_data()


def test_task_data_is_what_evalkit_reads(beir_dir: Path) -> None:
    """One reader: mteb's task holds exactly the collection ``load_beir_dir`` returns."""
    from evalkit.data import load_beir_dir

    coll = load_beir_dir(beir_dir)
    task = local_retrieval_task(beir_dir)
    task.load_data()
    split = task.dataset["default"]["test"]
    assert split["relevant_docs"] == coll.qrels
    assert dict(zip(split["queries"]["id"], split["queries"]["text"])) == {
        q: t for q, t in coll.queries.items() if q in coll.qrels
    }
    assert split["corpus"]["id"] == coll.corpus.ids
    assert split["corpus"]["text"] == [r["text"] for r in coll.corpus.rows(range(len(coll.corpus)))]


def test_mteb_reads_a_local_copy_of_its_hub_repository(beir_dir: Path) -> None:
    """mteb's own SciFact task, its own loader (``RetrievalDatasetLoader`` through
    ``datasets``), pointed at a local copy: it reads the same judgements evalkit reads."""
    from evalkit.adapters.mteb_tasks import mteb_task_from_local_copy
    from evalkit.data import load_beir_dir

    peers.write_mteb_copy(beir_dir)
    task = mteb_task_from_local_copy("SciFact", beir_dir)
    assert type(task).__name__ == "SciFact"
    assert Path(task.metadata.dataset["path"]).resolve() == beir_dir.resolve()
    task.load_data()
    split = task.dataset["default"]["test"]
    assert split["relevant_docs"] == load_beir_dir(beir_dir).qrels
    assert split["queries"]["id"] == ["q1", "q2", "q3", "q4", "q5"]
    # The task class keeps its Hub repository: only this instance reads the copy.
    import mteb

    assert mteb.get_task("SciFact").metadata.dataset["path"] == "mteb/scifact"
    with pytest.raises(DataError, match="no README.md"):
        mteb_task_from_local_copy("SciFact", beir_dir / "qrels")


def test_local_copies_with_the_same_name_are_not_confused(tmp_path: Path) -> None:
    """datasets caches a local folder by its name: two copies called ``scifact`` (or one
    copy, edited) must each be read afresh, not served the other's cached Arrow tables."""
    from evalkit.adapters.mteb_tasks import mteb_task_from_local_copy

    def relevant(folder: Path) -> dict:
        task = mteb_task_from_local_copy("SciFact", folder)
        task.load_data()
        return task.dataset["default"]["test"]["relevant_docs"]

    a = peers.write_mteb_copy(
        write_beir(tmp_path / "a" / "scifact", SMALL_CORPUS, SMALL_QUERIES, SMALL_QRELS)
    )
    b = peers.write_mteb_copy(
        write_beir(tmp_path / "b" / "scifact", SMALL_CORPUS, SMALL_QUERIES, SMALL_QRELS[:2])
    )
    assert relevant(a)["q4"] == {"d5": 2, "d1": 1}
    assert relevant(b) == {"q1": {"d1": 2, "d2": 0}}
    peers.write_mteb_copy(write_beir(a, SMALL_CORPUS, SMALL_QUERIES, SMALL_QRELS[:1]))
    assert relevant(a) == {"q1": {"d1": 2}}


@pytest.mark.slow
@needs_minilm
def test_mteb_and_evalkit_differ_only_by_the_all_grade_0_query(
    beir_dir: Path, tmp_path: Path
) -> None:
    """Both pipelines end to end on the tiny folder with MiniLM. mteb keeps q5 (judgements all
    grade 0) and averages it in as 0; evalkit drops it and says so. Hence
    mteb * 5 == evalkit * 4 for every mean, and the per-query ranked lists are the same."""
    import evalkit

    [rec] = evalkit.evaluate(
        "minilm", str(beir_dir), measures=["ndcg_at_10", "recall_at_100"], cache=False
    )
    assert (rec.n_queries_scored, rec.n_queries_dropped) == (4, 1)
    mteb_scores, mteb_run, _ = peers.run_mteb_local(peers.minilm_dir(), beir_dir, tmp_path)
    assert sorted(mteb_run) == ["q1", "q2", "q3", "q4", "q5"]
    for m in ("ndcg_at_10", "recall_at_100"):
        assert 0 < rec.scores[m] <= 1
        assert mteb_scores[m] * 5 == pytest.approx(rec.scores[m] * 4, abs=5 * 5e-6), m
