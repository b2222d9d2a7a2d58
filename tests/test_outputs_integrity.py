"""Outputs are written inside the folder given, all or nothing, and say what they are.

- every path component from a record, a dataset or a name stays one component inside its
  folder (a property test over arbitrary strings), and a split is a name;
- temp files of killed processes in the output folder are removed by the next run;
- ``export mteb`` is all or nothing and exports the number mteb computes, also when queries
  have only grade-0 judgements (checked against ``mteb.evaluate`` on the same data);
- ``encode``'s ``.npy`` and ``.ids.txt`` are bound together, and a pair that does not belong
  together is detected;
- ``report`` keeps two collections of one name apart and the run table counts every query
  that was not scored;
- errors from report, compare and export about paths are one line naming the path.
"""

from __future__ import annotations

import copy
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import drama_fixtures as fx
import numpy as np
import pytest
from conftest import SMALL_CORPUS, SMALL_QRELS, SMALL_QUERIES, write_beir
from hypothesis import given, settings
from hypothesis import strategies as st
from test_runner import HashingEncoder

import evalkit
from evalkit.cli import main
from evalkit.errors import EvalkitError
from evalkit.paths import check_split, safe_component
from evalkit.results import ResultRecord

ROOT = Path(__file__).resolve().parents[1]
HOST = socket.gethostname().replace(".", "_")


def _dead_pid() -> int:
    out = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(out.stdout)


def _one_line_error(capsys: pytest.CaptureFixture, argv: list[str], code: int = 2) -> str:
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err.strip()
    assert e.value.code == code, err
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    for name in ("Error", "Exception", "Traceback"):
        assert name not in err, err
    return err


# ---- path components ---------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300), st.text(max_size=40))
def test_safe_component_stays_inside_and_never_collides(name: str, other: str) -> None:
    root = Path("/r/out")
    c = safe_component(name)
    assert c and c not in (".", "..") and not c.startswith(".")
    assert not any(ch in c for ch in "/\\\0") and c.isascii()
    assert len(c.encode()) <= 200
    assert (root / c).parent == root and os.path.normpath(root / c) == str(root / c)
    # distinct inputs get distinct components, also the look-alikes sanitising produces
    for o in (other, name.replace("/", "__"), name + "/", c):
        if o != name:
            assert safe_component(o) != c, (name, o)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_a_split_is_a_name_or_refused(split: str) -> None:
    root = Path("/r/data/qrels")
    try:
        check_split(split)
    except EvalkitError as e:
        assert str(e).startswith("--split ") and "\n" not in str(e)
        return
    assert os.path.normpath(root / f"{split}.tsv").startswith(str(root) + os.sep)
    assert (root / f"{split}.tsv").parent == root


def _record(model: str, name: str, suite: str, split: str = "test") -> ResultRecord:
    return ResultRecord(
        model={"name": model, "hf_id": None, "revision": None},
        dataset={"name": name, "suite": suite, "split": split, "language": None},
        scores={"ndcg_at_10": 0.5},
        n_queries_scored=1,
        n_queries_dropped=0,
        top_k=1000,
        per_query={"q1": {"ndcg_at_10": 0.5}},  # a record's means are its per-query means
    )


@pytest.mark.parametrize(
    ("model", "name", "suite"),
    [("..", "x", "local"), ("m", "../../escape", ".."), ("/abs", "a/b", "/etc"), ("m", "..", "")],
)
def test_record_names_from_data_stay_inside_the_output_dir(
    tmp_path: Path, model: str, name: str, suite: str
) -> None:
    out = tmp_path / "out"
    path = _record(model, name, suite).write(out)
    assert path.resolve().is_relative_to(out.resolve()), path
    parts = path.relative_to(out).parts
    assert len(parts) == 3 and os.path.normpath(path) == str(path), path  # no ".." part
    assert not any(p.startswith(".") for p in parts), path  # nor ".", nor a hidden file
    assert {p.name for p in tmp_path.iterdir()} == {"out"}
    assert evalkit.load_results(out)[0].dataset["name"] == name


def test_split_with_a_path_is_refused_before_reading_another_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """``--split ../../other/qrels/test`` would score another folder's judgements."""
    mine = write_beir(tmp_path / "mine", SMALL_CORPUS, SMALL_QUERIES, SMALL_QRELS)
    write_beir(tmp_path / "other", SMALL_CORPUS, SMALL_QUERIES, SMALL_QRELS[:2])
    split = "../../other/qrels/test"
    with pytest.raises(EvalkitError, match=r"^--split '\.\./\.\./other/qrels/test': a split"):
        evalkit.evaluate(HashingEncoder(), str(mine), split=split, cache=False)
    with pytest.raises(EvalkitError, match="split"):
        evalkit.load_beir_dir(mine, split)
    err = _one_line_error(
        capsys,
        ["run", "-m", "bm25", "--suite", str(mine), "--split", split, "--output-dir",
         str(tmp_path / "runs"), "--no-progress"],
    )  # fmt: skip
    assert "--split" in err
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").rglob("*.json"))


# ---- temp files of killed runs ------------------------------------------------------------


def test_stale_temp_files_in_the_output_dir_are_removed_by_the_next_run(
    beir_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    folder = out / "hashing" / "local"
    folder.mkdir(parents=True)
    dead = _dead_pid()
    stale = [
        folder / f".tiny__test__default__abc.json.{HOST}.{dead}-k9x2ab_c.tmp",
        folder / f".tiny__test__default__abc.trec.{HOST}.{dead}-zz81aq0p.tmp",
        out / f".evalkit-write-test.{HOST}.{dead}-probe.tmp",
    ]
    live = folder / f".other.json.{HOST}.{os.getpid()}-abcdefgh.tmp"  # a live process's
    elsewhere = folder / f".other.json.another-host.{dead}-abcdefgh.tmp"  # cannot be checked
    mine_not = folder / "notes.tmp"  # not an evalkit temp name
    for p in (*stale, live, elsewhere, mine_not):
        p.write_bytes(b"partial")
    evalkit.evaluate(HashingEncoder(), str(beir_dir), output_dir=out, cache=False)
    assert not any(p.exists() for p in stale)
    assert live.exists() and elsewhere.exists() and mine_not.exists()


def test_a_record_written_over_a_killed_write_leaves_no_temp(tmp_path: Path) -> None:
    rec = _record("m", "d", "s")
    path = tmp_path / rec.relative_path()
    path.parent.mkdir(parents=True)
    left = path.parent / f".{path.name}.{HOST}.{_dead_pid()}-a1b2c3d4.tmp"
    left.write_bytes(b"{")
    rec.write(tmp_path)
    assert [p.name for p in path.parent.iterdir()] == [path.name]


# ---- encode --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fx.make_drama_checkpoint(tmp_path_factory.mktemp("drama") / "ckpt", seed=1)


def _encode(ckpt: Path, inp: Path, out: Path, fault: str | None = None) -> int:
    """``evalkit encode``: in this process, or in a child that SIGKILLs itself at ``fault``."""
    argv = ["encode", "--model", str(ckpt), "--model-type", "drama", "--input", str(inp),
            "--kind", "query", "--output", str(out), "--device", "cpu"]  # fmt: skip
    if fault is None:
        main(argv)
        return 0
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "EVALKIT_FAULT": fault}
    cmd = [sys.executable, "-m", "evalkit", *argv]
    return subprocess.run(cmd, env=env, capture_output=True, timeout=300).returncode


def test_encode_killed_between_its_renames_is_detected_and_redone(
    ckpt: Path, tmp_path: Path
) -> None:
    from evalkit.cli.encode import load_embeddings

    inp = tmp_path / "q.jsonl"
    inp.write_text("".join(json.dumps({"_id": f"a{i}", "text": t}) + "\n" for i, t in
                           enumerate(fx.TEXTS[:3])))  # fmt: skip
    out = tmp_path / "q.npy"
    _encode(ckpt, inp, out)
    ids, emb = load_embeddings(out)
    assert ids == ["a0", "a1", "a2"] and emb.shape[0] == 3
    # New input, killed (SIGKILL) after the .ids.txt is in place and before the .npy is:
    inp.write_text("".join(json.dumps({"_id": f"b{i}", "text": t}) + "\n" for i, t in
                           enumerate(fx.TEXTS[:4])))  # fmt: skip
    assert _encode(ckpt, inp, out, fault="encode-renamed") == -9
    assert (tmp_path / "q.ids.txt").read_text().split() == ["b0", "b1", "b2", "b3"]
    assert np.load(out).shape[0] == 3  # the old matrix: the pair disagrees ...
    with pytest.raises(EvalkitError, match=r"q\.sha256 is missing"):
        load_embeddings(out)  # ... and evalkit says so
    assert list(tmp_path.glob(".*.tmp"))  # the killed run's temp file is still there
    _encode(ckpt, inp, out)
    ids, emb = load_embeddings(out)
    assert ids == ["b0", "b1", "b2", "b3"] and emb.shape[0] == 4
    assert not list(tmp_path.glob(".*.tmp"))  # removed by the next run
    # a pair edited afterwards is refused too
    (tmp_path / "q.ids.txt").write_text("x\ny\nz\nw\n")
    with pytest.raises(EvalkitError, match=r"q\.ids\.txt: does not match q\.sha256"):
        load_embeddings(out)


# ---- export mteb ---------------------------------------------------------------------------

mteb = pytest.importorskip("mteb")
ROUNDED = 5e-6 + 1e-9  # mteb rounds its means to 5 decimals
MEASURES = ["ndcg_at_10", "recall_at_10", "map_at_10", "mrr_at_10", "precision_at_3"]


@pytest.fixture(scope="module")
def graded_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SciFact-named folder where some queries have only grade-0 judgements (mteb scores
    them as 0, evalkit drops them) and some have no judgement at all (both drop them)."""
    corpus = [
        {"_id": f"d{i}", "title": f"T{i}" if i % 3 else "", "text": f"{t} ({i})"}
        for i, t in enumerate(fx.TEXTS * 3)
    ]
    queries = {f"q{i}": t[: 8 + 3 * i] for i, t in enumerate(fx.TEXTS[:9])}
    qrels = {f"q{i}": {f"d{i}": 1, f"d{i + 10}": 2 if i % 2 else 0} for i in range(5)}
    qrels["q5"] = {"d5": 0}  # only grade 0
    qrels["q6"] = {"d6": 0, "d16": 0}  # only grade 0; q7, q8: no judgement at all
    root = tmp_path_factory.mktemp("data")
    fx.write_beir_dir(root / "scifact", corpus, queries, qrels)
    return root


def _as_hub(r: ResultRecord) -> ResultRecord:
    """The record as a Hub read of mteb's SciFact would have written it (tests cannot reach
    the Hub), for a model with a Hub id."""
    r = copy.deepcopy(r)
    meta = mteb.get_task("SciFact").metadata
    r.dataset["source"] = {"layout": "mteb", "id": meta.dataset["path"], "revision": meta.revision}
    r.model["hf_id"] = "facebook/drama-base"
    r.model["revision"] = "0123456789abcdef0123456789abcdef01234567"
    return r


@pytest.fixture(scope="module")
def graded_record(ckpt: Path, graded_dir: Path) -> ResultRecord:
    enc = evalkit.load_encoder(str(ckpt), model_type="drama", device="cpu")
    [rec] = evalkit.evaluate(
        enc, "beir", datasets=["scifact"], data_dir=graded_dir, measures=MEASURES, cache=False
    )
    assert rec.n_queries_scored == 5 and rec.n_queries_dropped == 2
    return _as_hub(rec)


def test_export_equals_mteb_evaluate_when_queries_have_only_grade_0(
    ckpt: Path, graded_dir: Path, graded_record: ResultRecord, tmp_path: Path
) -> None:
    from evalkit.adapters.mteb import mteb_model
    from evalkit.adapters.mteb_tasks import local_retrieval_task
    from evalkit.evaluation.export_mteb import export_mteb

    enc = evalkit.load_encoder(str(ckpt), model_type="drama", device="cpu")
    theirs = mteb.evaluate(
        mteb_model(enc), local_retrieval_task(graded_dir / "scifact"), cache=None,
        show_progress_bar=False,
    ).task_results[0].scores["test"][0]  # fmt: skip
    result = export_mteb([graded_record], tmp_path / "results")
    assert result.adjusted and "2 of 7 queries" in result.adjusted[0]
    [task_file] = [p for p in result.written if p.name == "SciFact.json"]
    ours = mteb.TaskResult.from_disk(task_file).scores["test"][0]
    for m in MEASURES:
        assert abs(ours[m] - theirs[m]) <= ROUNDED, (m, ours[m], theirs[m])
        assert ours[m] < graded_record.scores[m] or graded_record.scores[m] == 0
    assert abs(ours["main_score"] - theirs["main_score"]) <= ROUNDED


def _folder_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_export_fails_or_is_killed_and_leaves_all_or_nothing(
    graded_record: ResultRecord, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evalkit.evaluation import export_mteb as ex

    out = tmp_path / "results"
    r2 = copy.deepcopy(graded_record)
    r2.model["hf_id"] = "facebook/drama-large"
    # 1. A failure after the first task file was written: nothing at all in --out.
    real = ex._model_meta
    calls = []

    def second_fails(r: ResultRecord, rev: str):  # type: ignore[no-untyped-def]
        calls.append(r)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(r, rev)

    monkeypatch.setattr(ex, "_model_meta", second_fails)
    with pytest.raises(OSError):
        ex.export_mteb([graded_record, r2], out)
    assert _folder_files(out) == [] and [p.name for p in tmp_path.iterdir()] == ["results"]
    monkeypatch.setattr(ex, "_model_meta", real)
    # 2. Killed (SIGKILL) after the commit point, between the folders' renames: one folder
    # is in place, the other staged; the next export into the same folder finishes it.
    runs = tmp_path / "runs"
    for r in (graded_record, r2):
        r.write(runs)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    env["EVALKIT_FAULT"] = "export-moved"
    cmd = [sys.executable, "-m", "evalkit", "export", "mteb", str(runs), "--out", str(out)]
    assert subprocess.run(cmd, env=env, capture_output=True, timeout=300).returncode == -9
    assert len({Path(f).parts[0] for f in _folder_files(out)}) == 1  # half of it, for now
    r3 = copy.deepcopy(graded_record)
    r3.model["hf_id"] = "facebook/drama-1b"
    ex.export_mteb([r3], out)
    files = _folder_files(out)
    for model in ("drama-base", "drama-large", "drama-1b"):
        rev = graded_record.model["revision"]
        assert f"facebook__{model}/{rev}/SciFact.json" in files, files
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results", "runs"]
    # 3. A staged export that never reached its commit point is removed, not applied.
    half = tmp_path / f".results.evalkit-export.{HOST}.{_dead_pid()}-q1w2e3r4.tmp"
    (half / "0").mkdir(parents=True)
    (half / "0" / "SciFact.json").write_text("{")
    ex.export_mteb([r3], out)
    assert not half.exists() and _folder_files(out) == files


@pytest.mark.parametrize(
    ("field", "value"),
    [("revision", "../../x"), ("revision", "/abs/olute"), ("hf_id", "org/..\\..\\x")],
)
def test_export_refuses_record_fields_that_are_not_folder_names(
    graded_record: ResultRecord, tmp_path: Path, field: str, value: str
) -> None:
    from evalkit.evaluation.export_mteb import export_mteb

    r = copy.deepcopy(graded_record)
    r.model[field] = value
    result = export_mteb([r], tmp_path / "deep" / "results")
    assert not result.written and "folder name" in result.refused[0].reason
    assert [p.name for p in tmp_path.iterdir()] == []


# ---- report and run tables ---------------------------------------------------------------


def test_report_keeps_two_collections_of_one_name_apart(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    a = write_beir(tmp_path / "a" / "docs", SMALL_CORPUS, SMALL_QUERIES, SMALL_QRELS)
    b = write_beir(tmp_path / "b" / "docs", SMALL_CORPUS, SMALL_QUERIES, SMALL_QRELS[:3])
    runs = tmp_path / "runs"
    recs = [
        evalkit.evaluate(HashingEncoder(), str(p), output_dir=runs, cache=False)[0] for p in (a, b)
    ]
    assert recs[0].scores != recs[1].scores
    main(["report", str(runs), "--format", "csv", "--no-reference"])
    rows = [line.split(",") for line in capsys.readouterr().out.splitlines()]
    header = rows[0]
    datasets = {
        r[header.index("dataset")]: float(r[header.index("evalkit")])
        for r in rows[1:]
        if r[header.index("table")] == "datasets"
    }
    want = {
        f"docs ({r.dataset['source']['fingerprint'][:8]})": 100 * r.scores["ndcg_at_10"]
        for r in recs
    }
    assert datasets.keys() == want.keys()
    for k, v in want.items():
        assert abs(datasets[k] - v) < 1e-4


def test_two_versions_of_a_suites_dataset_never_make_a_complete_average() -> None:
    """Both versions of SciFact are shown; the BEIR average over 14 results is marked, not
    passed off as the suite's number (before, the older version was silently dropped)."""
    from evalkit.evaluation.tables import scores, suite_cells
    from evalkit.suites import get_suite

    recs = []
    for spec in get_suite("beir").datasets:
        for rev in ("r1", "r2") if spec.name == "scifact" else ("r1",):
            r = _record("m", spec.name, "beir", split=spec.split)
            r.dataset["source"] = {"id": f"x/{spec.name}", "revision": rev}
            r.scores = {"ndcg_at_10": 0.5 if rev == "r1" else 0.9}
            recs.append(r)
    items = scores(recs)
    assert {s.dataset for s in items if s.dataset.startswith("scifact")} == {
        "scifact (r1)",
        "scifact (r2)",
    }
    [cell] = suite_cells(items).values()
    assert cell["beir"].n == 14 and not cell["beir"].complete


def test_run_table_counts_queries_without_any_judgement(tmp_path: Path) -> None:
    from evalkit.cli.run import results_table

    queries = [*SMALL_QUERIES, {"_id": "qx", "text": "no judgement at all"}]
    qrels = [*SMALL_QRELS, ("qz", "d1", 0)]  # qz is not a query: not counted
    d = write_beir(tmp_path / "c", SMALL_CORPUS, queries, qrels)
    [rec] = evalkit.evaluate(HashingEncoder(), str(d), cache=False)
    judged = {q for q, _, g in SMALL_QRELS if g > 0}
    unscored = len(queries) - len(judged)
    assert rec.n_queries_scored == len(judged)
    from rich.console import Console

    con = Console(width=200, record=True)
    con.print(results_table([rec], title="t", incomplete=False))
    assert f"{len(judged)} (-{unscored})" in con.export_text()


def test_report_plots_with_dataset_names_from_records_stay_in_their_folder(
    tmp_path: Path,
) -> None:
    from evalkit.suites import get_suite

    names = [d.name for d in get_suite("miracl").datasets]
    runs, figs = tmp_path / "runs", tmp_path / "figs"
    for lang in ("sw", "yo"):
        r = _record("m", "../../escaped/x", "miracl", split="dev")
        r.dataset["language"] = lang
        r.write(runs)
    assert names  # the per-language figure is drawn for the miracl suite
    main(["report", str(runs), "--format", "md", "--out", str(tmp_path / "r.md"),
          "--plots", str(figs)])  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figs", "r.md", "runs"]
    pngs = [p for p in figs.rglob("*") if p.is_file()]
    assert pngs and all(p.parent == figs for p in pngs)


# ---- one-line errors about paths ---------------------------------------------------------


def test_output_paths_that_cannot_be_written_are_one_line_naming_them(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    runs = tmp_path / "runs"
    _record("m", "d", "local").write(runs)
    a_dir = tmp_path / "adir"
    a_dir.mkdir()
    a_file = tmp_path / "afile"
    a_file.write_text("x")
    cases = [
        ["report", str(runs), "--format", "md", "--out", str(a_dir)],
        ["report", str(runs), "--format", "md", "--out", str(a_file / "r.md")],
        ["report", str(runs), "--plots", str(a_file)],
        ["compare", str(runs), str(runs), "--out", str(a_dir)],
        ["compare", str(runs), str(runs), "--json", str(a_dir)],
        ["export", "mteb", str(runs), "--out", str(a_file)],
    ]
    for argv in cases:
        err = _one_line_error(capsys, argv)
        target = argv[-1]
        assert target in err or str(a_file) in err, (argv, err)
    assert a_file.read_text() == "x" and list(a_dir.iterdir()) == []


def test_os_errors_reaching_the_cli_are_one_line_naming_the_path(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever command it comes from, an OSError is the path and what went wrong."""
    import evalkit.results as results_mod

    runs = tmp_path / "runs"
    _record("m", "d", "local").write(runs)

    def denied(paths):  # type: ignore[no-untyped-def]
        raise PermissionError(13, "Permission denied", str(runs / "m"))

    monkeypatch.setattr(results_mod, "load_results", denied)
    err = _one_line_error(capsys, ["report", str(runs)])
    assert err == f"error: {runs / 'm'}: permission denied"
