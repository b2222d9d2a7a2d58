"""The catalogue of bad input: each case is refused with one line naming the file, line or
option, or scored through with a counted warning on the collection, never silently.

Every test writes real files to ``tmp_path`` and goes through the real loaders (and, where the
behaviour is the command's, through ``evalkit.cli.main`` expecting exit code 2 and one line).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SHARED_DATA, SMALL_CORPUS, SMALL_QRELS, SMALL_QUERIES, needs_shared_data
from conftest import write_beir as _write_beir

from evalkit.cli import main
from evalkit.data import fingerprint, load, load_beir_dir, parse_grade, read_qrels
from evalkit.errors import DataError
from evalkit.suites import resolve

QUERIES = [{"_id": "q1", "text": "capital of France"}, {"_id": "q2", "text": "a river"}]
CORPUS = [
    {"_id": "d1", "title": "Paris", "text": "Paris is the capital of France."},
    {"_id": "d2", "title": "Nile", "text": "The Nile flows north."},
]


def write_beir(root: Path, corpus=CORPUS, queries=QUERIES, qrels=(("q1", "d1", 1),)) -> Path:
    return _write_beir(root, list(corpus), list(queries), list(qrels))


def cli_error(args: list[str], capfd: pytest.CaptureFixture[str], tmp_path: Path) -> str:
    """Run the command expecting a bad-input exit (2); the one stderr line it printed."""
    with pytest.raises(SystemExit) as e:
        main([*args, "--output-dir", str(tmp_path / "out"), "--no-progress"])
    err = capfd.readouterr().err
    lines = [x for x in err.splitlines() if x.strip()]
    assert e.value.code == 2, err
    assert len(lines) == 1, err  # nothing from datasets' logger before it, no traceback
    assert not list((tmp_path / "out").rglob("*.json"))
    return lines[0]


# --------------------------------------------------------------------------------------------
# 1. What is scored is what is fingerprinted


def test_corpus_edited_in_place_with_size_and_mtime_kept_is_read_anew(tmp_path: Path) -> None:
    root = write_beir(tmp_path / "c")
    corpus = root / "corpus.jsonl"
    before = load_beir_dir(root)
    st = corpus.stat()
    # Every letter of the texts changes, the size does not; the mtime is put back, which is
    # all datasets' cache looks at.
    edited = [{**d, "text": d["text"].swapcase()} for d in CORPUS]
    corpus.write_text("".join(json.dumps(d) + "\n" for d in edited))
    os.utime(corpus, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert corpus.stat().st_size == st.st_size and corpus.stat().st_mtime_ns == st.st_mtime_ns
    after = load_beir_dir(root)
    assert after.corpus.rows([0])[0]["text"] == "pARIS IS THE CAPITAL OF fRANCE."
    assert after.source["fingerprint"] != before.source["fingerprint"]


def test_fingerprint_is_the_sha256_of_the_files_read(tmp_path: Path) -> None:
    root = write_beir(tmp_path / "c")
    files = [root / "corpus.jsonl", root / "queries.jsonl", root / "qrels" / "test.tsv"]
    assert load_beir_dir(root).source["fingerprint"] == fingerprint(files)


# --------------------------------------------------------------------------------------------
# 3. Relevance grades


@pytest.mark.parametrize("grade", ["4294967296", "2147483648", "-2147483648", "1.5", "nan"])
def test_grade_outside_the_integer_range_is_refused_with_line(tmp_path: Path, grade: str) -> None:
    root = write_beir(tmp_path / "c", qrels=[("q1", "d1", 1), ("q2", "d2", grade)])
    with pytest.raises(DataError, match=rf"test.tsv:3: relevance grade '{grade}'"):
        load_beir_dir(root)


def test_grades_at_the_edge_of_the_range_are_kept() -> None:
    assert parse_grade("2147483647", "x") == 2**31 - 1
    assert parse_grade("-2147483647", "x") == -(2**31) + 1
    assert parse_grade("2.0", "x") == 2  # beir's files sometimes write grades as floats


def test_hub_qrels_grade_out_of_range_is_refused() -> None:
    import datasets

    from evalkit.hub import qrels_from

    ds = datasets.Dataset.from_dict({"query-id": ["q"], "corpus-id": ["d"], "score": [2**32]})
    with pytest.raises(DataError, match=r"repo: judgement \(q, d\): relevance grade 4294967296"):
        qrels_from(ds, "repo")


# --------------------------------------------------------------------------------------------
# 4. Silent data problems: refused, or counted on the collection


@pytest.mark.parametrize(
    "line",
    [
        '{"_id": "d3", "title": "Only a title"}',
        '{"_id": "d3", "title": "Only a title", "text": null}',
    ],
)
def test_document_without_text_is_a_counted_warning(tmp_path: Path, line: str) -> None:
    root = write_beir(tmp_path / "c")
    with open(root / "corpus.jsonl", "a") as f:
        f.write(line + "\n")
    coll = load_beir_dir(root)
    # Indexed by its title (as beir and mteb would), and said so.
    assert coll.corpus.rows([2]) == [{"_id": "d3", "title": "Only a title", "text": ""}]
    assert coll.warnings == [
        "corpus.jsonl: 1 documents have no 'text' (missing or null) and are indexed by title "
        "alone (e.g. d3)"
    ]


def test_duplicate_document_id_is_refused_naming_both_lines(tmp_path: Path) -> None:
    root = write_beir(tmp_path / "c", corpus=[*CORPUS, {"_id": "d1", "text": "again"}])
    with pytest.raises(
        DataError, match=r"corpus.jsonl:3: duplicate document id 'd1' \(first at line 1\)"
    ):
        load_beir_dir(root)


def test_duplicate_document_id_is_refused_on_every_load(tmp_path: Path) -> None:
    # The uniqueness check is remembered per content hash: a passed check, never a failed one.
    root = write_beir(tmp_path / "c")
    load_beir_dir(root)
    with open(root / "corpus.jsonl", "a") as f:
        f.write(json.dumps({"_id": "d2", "text": "again"}) + "\n")
    for _ in range(2):
        with pytest.raises(DataError, match=r"corpus.jsonl:3: duplicate document id 'd2'"):
            load_beir_dir(root)


def test_duplicate_numeric_document_id_is_refused(tmp_path: Path) -> None:
    root = write_beir(
        tmp_path / "c", corpus=[*CORPUS, {"_id": 7, "text": "a"}, {"_id": 7, "text": "b"}]
    )
    with pytest.raises(DataError, match=r"corpus.jsonl:4: duplicate document id '7'"):
        load_beir_dir(root)


def test_duplicate_query_id_with_another_text_is_refused(tmp_path: Path) -> None:
    root = write_beir(tmp_path / "c", queries=[*QUERIES, {"_id": "q1", "text": "other"}])
    with pytest.raises(DataError, match=r"queries.jsonl:3: query id 'q1' repeats line 1"):
        load_beir_dir(root)


def test_duplicate_query_with_the_same_text_is_a_counted_warning(tmp_path: Path) -> None:
    root = write_beir(tmp_path / "c", queries=[*QUERIES, QUERIES[0]])
    coll = load_beir_dir(root)
    assert coll.queries == {q["_id"]: q["text"] for q in QUERIES}
    assert coll.warnings == [
        "queries.jsonl: 1 lines repeat an earlier query with the same id and text; each query "
        "is scored once (e.g. q1)"
    ]


def test_headerless_qrels_with_bad_first_grade_is_refused_not_dropped(tmp_path: Path) -> None:
    root = write_beir(tmp_path / "c")
    (root / "qrels" / "test.tsv").write_text("q1\td1\thigh\nq2\td2\t1\n")
    with pytest.raises(DataError, match=r"test.tsv:1: relevance grade 'high' is not an integer"):
        load_beir_dir(root)


@pytest.mark.parametrize(
    "header", ["query-id\tcorpus-id\tscore", "query_id\tdoc_id\trelevance", "qid\tdocid\tlabel"]
)
def test_qrels_header_is_skipped_and_headerless_first_row_kept(tmp_path: Path, header: str) -> None:
    path = tmp_path / "test.tsv"
    path.write_text(f"{header}\nq1\td1\t1\n")
    assert read_qrels(path) == {"q1": {"d1": 1}}
    path.write_text("q1\td1\t1\nq2\td2\t2\n")
    assert read_qrels(path) == {"q1": {"d1": 1}, "q2": {"d2": 2}}


def test_negative_grades_are_a_counted_warning(tmp_path: Path) -> None:
    root = write_beir(tmp_path / "c", qrels=[("q1", "d1", 1), ("q1", "d2", -1), ("q2", "d2", -2)])
    coll = load_beir_dir(root)
    assert coll.qrels["q1"]["d2"] == -1  # kept: trec_eval treats it as non-relevant
    assert coll.warnings == [
        "qrels/test.tsv: 2 judgements have a negative grade, scored as non-relevant "
        "(e.g. q1/d2, q2/d2)"
    ]


def test_judgements_of_unknown_queries_and_documents_are_counted(tmp_path: Path) -> None:
    qrels = [("q1", "d1", 1), ("q1", "d9", 1), ("q7", "d1", 1), ("q8", "d8", 0), ("q9", "d1", 2)]
    coll = load_beir_dir(write_beir(tmp_path / "c", qrels=qrels))
    assert coll.warnings == [
        "qrels/test.tsv: 3 judged query ids are not in queries.jsonl (e.g. q7, q8, q9)",
        "qrels/test.tsv: 2 judged document ids are not in corpus.jsonl (e.g. d9, d8)",
    ]


def test_repeated_judgement_is_a_counted_warning(tmp_path: Path) -> None:
    coll = load_beir_dir(write_beir(tmp_path / "c", qrels=[("q1", "d1", 1), ("q1", "d1", 2)]))
    assert coll.qrels == {"q1": {"d1": 2}}  # the last, as beir's loader keeps
    assert coll.warnings == [
        "qrels/test.tsv: 1 judgements repeat an earlier (query, document) pair; the last grade "
        "is used (e.g. q1/d1)"
    ]


# --------------------------------------------------------------------------------------------
# 5. Ids: the text the file spells, and only ids a run file can carry


def _write_lines(root: Path, corpus: list[str], queries: list[str], qrels: list[str]) -> Path:
    """A BEIR folder written verbatim, so number tokens stay as spelled."""
    (root / "qrels").mkdir(parents=True, exist_ok=True)
    (root / "corpus.jsonl").write_text("".join(x + "\n" for x in corpus), encoding="utf-8")
    (root / "queries.jsonl").write_text("".join(x + "\n" for x in queries), encoding="utf-8")
    (root / "qrels" / "test.tsv").write_text("".join(x + "\n" for x in qrels), encoding="utf-8")
    return root


BIG = "18446744073709551617"  # above 2^64: a float would round it


@pytest.mark.parametrize(
    "odd",
    [
        "1.5",  # one float among integers: datasets types the column float64 ("1000.0")
        BIG,  # an integer above 2^63: float64 again, rounded
        "1e3",
        '"d-str"',  # strings and numbers mixed: datasets keeps JSON text with its quotes
    ],
)
def test_numeric_corpus_ids_are_the_text_the_file_spells(tmp_path: Path, odd: str) -> None:
    corpus = [
        '{"_id": 1000, "title": "A", "text": "first"}',
        '{"_id": 7, "title": "B", "text": "second"}',
        f'{{"_id": {odd}, "title": "C", "text": "third"}}',
    ]
    queries = ['{"_id": 1, "text": "one"}', '{"_id": 2.0, "text": "two"}']
    want = json.loads(odd) if odd.startswith('"') else odd
    qrels = ["1\t1000\t1", f"2.0\t{want}\t2", "2.0\t7\t0"]
    coll = load_beir_dir(_write_lines(tmp_path / "c", corpus, queries, qrels))
    assert coll.corpus.ids == ["1000", "7", want]
    assert coll.queries == {"1": "one", "2.0": "two"}
    assert coll.qrels == {"1": {"1000": 1}, "2.0": {want: 2, "7": 0}}
    assert coll.warnings == []  # every judgement matches: the score can be trusted
    assert str(coll.corpus.id_array().type) == "string"


def test_numeric_id_after_the_first_10_mb_keeps_its_text(tmp_path: Path) -> None:
    # datasets types a JSON file by its first 10 MB and casts later chunks to that: a float
    # id further down became "1000" (string column, float value), a judgement of "1000.0"
    # then matched nothing. Arrow's reader with a fixed schema refuses instead of casting.
    body = "x" * 10_000
    corpus = [f'{{"_id": "d{i}", "text": "{body}"}}' for i in range(1100)]
    corpus.append('{"_id": 1e3, "text": "late"}')
    root = _write_lines(tmp_path / "c", corpus, ['{"_id": "q", "text": "t"}'], ["q\t1e3\t1"])
    assert (root / "corpus.jsonl").stat().st_size > 10 << 20
    coll = load_beir_dir(root)
    assert coll.corpus.ids == [f"d{i}" for i in range(1100)] + ["1e3"]
    assert coll.warnings == []


@pytest.mark.parametrize("value", ["null", "true", "[1]", '{"a": 1}'])
@pytest.mark.parametrize("rel", ["corpus.jsonl", "queries.jsonl"])
def test_id_that_is_not_a_string_or_number_is_refused_with_line(
    tmp_path: Path, rel: str, value: str
) -> None:
    corpus = ['{"_id": "d1", "text": "a"}', '{"_id": "d2", "text": "b"}']
    queries = ['{"_id": "q1", "text": "a"}', '{"_id": "q2", "text": "b"}']
    lines = {"corpus.jsonl": corpus, "queries.jsonl": queries}[rel]
    lines[1] = lines[1].replace(f'"{lines[1][9:11]}"', value)
    root = _write_lines(tmp_path / "c", corpus, queries, ["q1\td1\t1"])
    with pytest.raises(DataError, match=rf"{rel}:2: '_id' is "):
        load_beir_dir(root)


BAD_IDS = ["d 1", "", "d\t1", "d\n1", "d\u00a01", "d\u00001", "d\u20281", " d1", "d1\r"]


@pytest.mark.parametrize("bad", BAD_IDS)
@pytest.mark.parametrize("rel", ["corpus.jsonl", "queries.jsonl", "qrels/test.tsv"])
def test_id_a_run_file_cannot_carry_is_refused_with_line(
    tmp_path: Path, rel: str, bad: str
) -> None:
    # A TREC run line is split on whitespace: such an id would shift the columns trec_eval
    # reads (and an empty one drops one), so --save-run could not write it faithfully.
    corpus = [{"_id": "d0", "text": "a"}, {"_id": "d1", "text": "b"}]
    queries = [{"_id": "q0", "text": "a"}, {"_id": "q1", "text": "b"}]
    qrels = ["q0\td0\t1", "q1\td1\t1"]
    if rel == "corpus.jsonl":
        corpus[1]["_id"] = bad
    elif rel == "queries.jsonl":
        queries[1]["_id"] = bad
    elif "\n" in bad or "\t" in bad:
        pytest.skip("a line break ends a TSV line; a tab is a 4th column (refused as such)")
    else:
        qrels[1] = f"q1\t{bad}\t1"
    root = _write_lines(
        tmp_path / "c", [json.dumps(d) for d in corpus], [json.dumps(q) for q in queries], qrels
    )
    with pytest.raises(DataError, match=rf"{rel}:2: (empty \w+ id|\w+ id .* contains U\+)"):
        load_beir_dir(root)


def test_trailing_tab_in_a_qrels_line_is_not_a_silent_empty_column(tmp_path: Path) -> None:
    root = write_beir(tmp_path / "c")
    (root / "qrels" / "test.tsv").write_text("q1\t\t1\n")
    with pytest.raises(DataError, match=r"test.tsv:1: empty document id"):
        load_beir_dir(root)


def test_clean_collection_has_no_warnings(beir_dir: Path) -> None:
    coll = load_beir_dir(beir_dir)
    # The fixture judges q3 against a document whose id is the query's: present in the corpus.
    assert coll.warnings == []


@needs_shared_data
@pytest.mark.parametrize("name", ["msmarco-subset", "dbpedia-subset"])
def test_shared_real_collections_load_as_written(name: str) -> None:
    root = SHARED_DATA / name
    coll = load_beir_dir(root)
    rows = [x.split("\t") for x in (root / "qrels" / "test.tsv").read_text().splitlines()]
    body = rows[1:] if rows[0][2] == "score" else rows  # msmarco's qrels have no header
    assert sum(len(d) for d in coll.qrels.values()) == len({(q, d) for q, d, _ in body})
    assert coll.qrels[body[0][0]][body[0][1]] == int(body[0][2])  # first row kept
    assert coll.warnings == []  # both are clean: every judged id exists, grades 0-3


# --------------------------------------------------------------------------------------------
# 7. Encoding, BOM, missing files, messages that name file and line


@pytest.mark.parametrize("rel", ["corpus.jsonl", "queries.jsonl", "qrels/test.tsv"])
def test_invalid_utf8_names_file_and_line(tmp_path: Path, rel: str) -> None:
    root = write_beir(tmp_path / "c")
    path = root / rel
    with open(path, "ab") as f:
        f.write(
            b'{"_id": "x", "text": "caf\xe9"}\n' if rel.endswith("jsonl") else b"q1\td\xe92\t1\n"
        )
    line = len(path.read_bytes().splitlines())
    with pytest.raises(DataError, match=rf"{rel}:{line}: not valid UTF-8"):
        load_beir_dir(root)


def test_invalid_utf8_in_corpus_fails_the_cli_before_the_model_loads(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import evalkit.runner

    def no_model(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded before the corpus was checked")

    monkeypatch.setattr(evalkit.runner, "load_model", no_model)
    root = write_beir(tmp_path / "c")
    with open(root / "corpus.jsonl", "ab") as f:
        f.write(b'{"_id": "d3", "text": "\xff"}\n')
    line = cli_error(["run", "--model", "bm25", "--suite", str(root)], capfd, tmp_path)
    assert "corpus.jsonl:3: not valid UTF-8" in line


@pytest.mark.parametrize("rel", ["corpus.jsonl", "queries.jsonl", "qrels/test.tsv"])
def test_utf8_bom_is_accepted_in_every_file(tmp_path: Path, rel: str) -> None:
    plain = load_beir_dir(write_beir(tmp_path / "plain"))
    root = write_beir(tmp_path / "bom")
    (root / rel).write_bytes(b"\xef\xbb\xbf" + (root / rel).read_bytes())
    coll = load_beir_dir(root)
    assert coll.corpus.rows(range(len(CORPUS))) == plain.corpus.rows(range(len(CORPUS)))
    assert (coll.queries, coll.qrels, coll.warnings) == (plain.queries, plain.qrels, [])


def test_missing_corpus_is_named(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    root = write_beir(tmp_path / "c")
    (root / "corpus.jsonl").unlink()
    line = cli_error(["run", "--model", "bm25", "--suite", str(root)], capfd, tmp_path)
    assert f"{root / 'corpus.jsonl'}: not found" in " ".join(line.split())


def test_malformed_corpus_gives_one_line_without_datasets_logs(tmp_path: Path) -> None:
    # A real process: datasets' log handler holds the stderr of the process that imported it,
    # which an in-process capture does not see.
    root = write_beir(tmp_path / "c")
    with open(root / "corpus.jsonl", "a") as f:
        f.write('{"_id": "d3", "text": oops}\n')
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    args = ["run", "--model", "bm25", "--suite", str(root), "--output-dir", str(tmp_path / "o")]
    p = subprocess.run(
        [sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, env=env
    )
    assert p.returncode == 2
    lines = [x for x in p.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "corpus.jsonl:3: not valid JSON" in lines[0], p.stderr


# --------------------------------------------------------------------------------------------
# 8. Gzipped files and folders of BEIR folders


def _gzip(path: Path) -> None:
    with open(path, "rb") as src, gzip.open(f"{path}.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    path.unlink()


def test_gzipped_corpus_and_queries_load_like_plain_ones(tmp_path: Path) -> None:
    plain = load_beir_dir(write_beir(tmp_path / "plain", SMALL_CORPUS, SMALL_QUERIES, SMALL_QRELS))
    root = write_beir(tmp_path / "gz", SMALL_CORPUS, SMALL_QUERIES, SMALL_QRELS)
    _gzip(root / "corpus.jsonl")
    _gzip(root / "queries.jsonl")
    coll = load_beir_dir(root)
    n = len(SMALL_CORPUS)
    assert coll.corpus.rows(range(n)) == plain.corpus.rows(range(n))
    assert (coll.queries, coll.qrels) == (plain.queries, plain.qrels)
    files = [root / "corpus.jsonl.gz", root / "queries.jsonl.gz", root / "qrels" / "test.tsv"]
    assert coll.source["fingerprint"] == fingerprint(files)


def test_plain_file_wins_over_gzipped_twin_and_says_so(tmp_path: Path) -> None:
    root = write_beir(tmp_path / "c")
    with gzip.open(root / "corpus.jsonl.gz", "wt") as f:
        f.write(json.dumps({"_id": "other", "text": "x"}) + "\n")
    coll = load_beir_dir(root)
    assert coll.corpus.ids == ["d1", "d2"]
    assert coll.warnings == ["corpus.jsonl: corpus.jsonl.gz is also present and was not read"]


def test_truncated_gzip_corpus_is_named(tmp_path: Path) -> None:
    root = write_beir(tmp_path / "c", corpus=CORPUS * 1)
    _gzip(root / "corpus.jsonl")
    data = (root / "corpus.jsonl.gz").read_bytes()
    (root / "corpus.jsonl.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"corpus.jsonl.gz: (truncated|not a readable) gzip"):
        load_beir_dir(root)


def test_folder_of_folders_lists_every_attempt_and_each_fails_alone(tmp_path: Path) -> None:
    top = tmp_path / "many"
    write_beir(top / "a-good")
    (top / "b-no-queries").mkdir(parents=True)
    shutil.copytree(top / "a-good", top / "b-no-queries", dirs_exist_ok=True)
    (top / "b-no-queries" / "queries.jsonl").unlink()
    gz = write_beir(top / "c-gzipped")
    _gzip(gz / "corpus.jsonl")
    _gzip(gz / "queries.jsonl")
    no_split = write_beir(top / "d-no-test-split")
    (no_split / "qrels" / "test.tsv").rename(no_split / "qrels" / "dev.tsv")
    (top / "e-not-a-dataset").mkdir()  # no BEIR file at all: not an attempt
    tasks = resolve(str(top))
    assert [t.spec.name for t in tasks] == [
        "a-good",
        "b-no-queries",
        "c-gzipped",
        "d-no-test-split",
    ]
    outcome = {}
    for t in tasks:
        try:
            outcome[t.spec.name] = len(load(t).corpus)
        except DataError as e:
            outcome[t.spec.name] = str(e)
    assert outcome["a-good"] == outcome["c-gzipped"] == 2
    assert outcome["b-no-queries"].startswith(
        f"{top / 'b-no-queries' / 'queries.jsonl'}: not found"
    )
    assert outcome["d-no-test-split"].startswith(f"{no_split / 'qrels' / 'test.tsv'}: no qrels")
    assert "'dev'" in outcome["d-no-test-split"]


def test_folder_without_any_dataset_is_one_line(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    line = cli_error(
        ["run", "--model", "bm25", "--suite", str(tmp_path / "empty")], capfd, tmp_path
    )
    assert "no BEIR-format folder here or in its sub-folders" in line
