from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import SMALL_CORPUS, write_beir

from evalkit.data import Corpus, doc_text, load_beir_dir
from evalkit.errors import DataError


def test_loads_beir_folder(beir_dir: Path) -> None:
    coll = load_beir_dir(beir_dir, "test")
    assert len(coll.corpus) == len(SMALL_CORPUS)
    assert coll.corpus.dataset.column_names == ["_id", "title", "text"]  # extra fields dropped
    assert "7" in coll.corpus.ids  # numeric ids become strings
    assert coll.queries["q1"] == "What is the capital of France?"
    assert coll.qrels["q1"] == {"d1": 2, "d2": 0}
    assert coll.source["fingerprint"] and coll.source["path"].endswith("tiny")


def test_fingerprint_changes_with_content(beir_dir: Path) -> None:
    before = load_beir_dir(beir_dir).source["fingerprint"]
    with open(beir_dir / "qrels" / "test.tsv", "a") as f:
        f.write("q2\td1\t1\n")
    assert load_beir_dir(beir_dir).source["fingerprint"] != before


def test_corpus_rows_lengths_and_ids(beir_dir: Path) -> None:
    corpus = load_beir_dir(beir_dir).corpus
    rows = corpus.rows([2, 0])
    assert [r["_id"] for r in rows] == ["d3", "d1"]
    assert rows[0]["title"] == ""
    lengths = corpus.byte_lengths()
    expect = [len(d.get("title") or "") + len(d["text"]) for d in SMALL_CORPUS]
    np.testing.assert_array_equal(lengths, expect)
    assert corpus.id_array().take(np.array([1, 6])).to_pylist() == ["d2", "7"]


DOCS = [
    {"title": "Paris ", "text": "is big. "},  # a title ending in a space keeps it
    {"title": " Paris ", "text": " is big"},
    {"title": "", "text": " only text "},
    {"title": "   ", "text": " blank title "},
    {"title": "T", "text": ""},
    {"title": "a\tb", "text": "\nc\u00a0"},
]


def test_doc_text_is_the_string_mteb_and_beir_encode() -> None:
    # The peers' own code, installed: mteb 2.x builds the corpus string in _corpus_to_dict,
    # beir's models in extract_corpus_sentences. Title and text are joined, then stripped.
    from beir.retrieval.models.util import extract_corpus_sentences
    from mteb._create_dataloaders import _corpus_to_dict

    for doc in DOCS:
        mteb_text = _corpus_to_dict({"id": "d", **doc})["text"]
        assert doc_text(doc) == mteb_text, doc
        assert extract_corpus_sentences([doc], sep=" ") == [mteb_text]
    assert doc_text({"title": "Paris ", "text": "is big. "}) == "Paris  is big."
    assert doc_text({"text": " x "}) == "x"


def test_malformed_corpus_line_names_file_and_line(tmp_path: Path) -> None:
    root = write_beir(tmp_path / "bad", SMALL_CORPUS[:2], [{"_id": "q", "text": "x"}], [])
    with open(root / "corpus.jsonl", "a") as f:
        f.write('{"_id": "d9", "text": oops}\n')
    with pytest.raises(DataError, match=r"corpus.jsonl:3: not valid JSON"):
        load_beir_dir(root)


def test_query_without_text_names_line(tmp_path: Path) -> None:
    root = write_beir(tmp_path / "bad", SMALL_CORPUS[:2], [{"_id": "q"}], [])
    with pytest.raises(DataError, match=r"queries.jsonl:1: expected fields"):
        load_beir_dir(root)


def test_bad_qrels_grade_names_line(tmp_path: Path) -> None:
    root = write_beir(
        tmp_path / "bad", SMALL_CORPUS[:2], [{"_id": "q", "text": "x"}], [("q", "d1", 1)]
    )
    with open(root / "qrels" / "test.tsv", "a") as f:
        f.write("q\td2\thigh\n")
    with pytest.raises(DataError, match=r"test.tsv:3: relevance grade 'high'"):
        load_beir_dir(root)


def test_missing_split_lists_available(beir_dir: Path) -> None:
    with pytest.raises(DataError, match=r"no qrels for split 'dev' \(found: \['test'\]\)"):
        load_beir_dir(beir_dir, "dev")


def test_not_a_beir_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"corpus.jsonl: not found"):
        load_beir_dir(tmp_path)


def test_sample_queries_is_seeded_and_recorded(beir_dir: Path) -> None:
    coll = load_beir_dir(beir_dir)
    a, b = coll.sample_queries(2, seed=1), coll.sample_queries(2, seed=1)
    assert sorted(a.queries) == sorted(b.queries) and len(a.queries) == 2
    assert a.sampled_queries == {"n": 2, "seed": 1, "of": 4}
    assert set(a.qrels) <= set(a.queries)
    assert coll.sample_queries(100) is coll  # asking for more than there are: the full set


def test_corpus_from_records() -> None:
    c = Corpus.from_records([{"_id": "a", "text": "x"}, {"_id": "b", "title": "t", "text": "y"}])
    assert c.rows([1]) == [{"_id": "b", "title": "t", "text": "y"}]


def test_four_column_qrels_are_refused(tmp_path: Path) -> None:
    root = write_beir(tmp_path / "bad", SMALL_CORPUS[:2], [{"_id": "q", "text": "x"}], [])
    with open(root / "qrels" / "test.tsv", "a") as f:
        f.write("q\t0\td1\t1\n")  # TREC layout: would make "0" the document id
    with pytest.raises(DataError, match=r"test.tsv:2: expected 3 tab-separated columns"):
        load_beir_dir(root)


def test_empty_corpus_is_refused(tmp_path: Path) -> None:
    root = write_beir(tmp_path / "bad", [], [{"_id": "q", "text": "x"}], [("q", "d", 1)])
    with pytest.raises(DataError, match="corpus is empty"):
        load_beir_dir(root)


def test_iter_slices_matches_rows(beir_dir: Path) -> None:
    corpus = load_beir_dir(beir_dir).corpus
    got = [d for _, docs in corpus.iter_slices(3) for d in docs]
    assert got == corpus.rows(range(len(corpus)))


def test_corpus_line_without_id_names_line(tmp_path: Path) -> None:
    root = write_beir(tmp_path / "bad", SMALL_CORPUS[:2], [{"_id": "q", "text": "x"}], [])
    with open(root / "corpus.jsonl", "a") as f:
        f.write('{"title": "t", "text": "no id here"}\n')
    with pytest.raises(DataError, match=r"corpus.jsonl:3: missing field '_id'"):
        load_beir_dir(root)


@pytest.mark.parametrize(
    "lines,ids,exact",
    [
        (['{"_id": "d1", "text": "a"}', '{"_id": "d2", "text": "b"}', ""], ["d1", "d2"], False),
        (
            ['{"_id": 1, "text": "a"}', '{"_id": 22, "title": null, "text": "b"}'],
            ["1", "22"],
            False,
        ),
        (['{"_id": 1, "text": "a"}', '{"_id": 2.0, "text": "b"}'], ["1", "2.0"], True),
        (['{"_id": "d1", "text": "a"}', "", '{"_id": "d2", "text": "b"}'], ["d1", "d2"], True),
    ],
)
def test_corpus_is_read_by_arrow_unless_it_cannot_be_read_as_written(
    tmp_path: Path, lines: list[str], ids: list[str], exact: bool
) -> None:
    # Plain corpora (string or integer ids, trailing blank lines) take Arrow's fast JSON
    # reader; a float id (or a blank line inside, where rows and lines cannot be matched)
    # sends the file through evalkit's own line-by-line reader, which keeps token text.
    root = tmp_path / "c"
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text("\n".join(lines) + "\n")
    (root / "queries.jsonl").write_text('{"_id": "q", "text": "x"}\n')
    (root / "qrels" / "test.tsv").write_text("q\td1\t1\n")
    coll = load_beir_dir(root)
    files = [f["filename"] for f in coll.corpus.dataset.cache_files]
    assert files and all(("-exact-v1.arrow" in f) == exact for f in files), files
    assert coll.corpus.ids == ids
