"""Records are not believed: a record states its integrity (a SHA-256 digest of its canonical
content, means equal to its per-query means, fields of the right types) and every reader
checks it. ``run`` reuses a record only when it verifies and holds what is asked (every
measure, and with --save-run a run file whose SHA-256 it states); otherwise it recomputes and
says so in one line.

The digest is computed here from its documented definition, not with evalkit's function, so
these tests pin the on-disk format (and run against code that has none)."""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import evalkit
from evalkit.cli import main
from evalkit.errors import EvalkitError

CLASS_NAME = re.compile(r"\b[A-Z]\w*(Error|Exception)\b|Traceback")


def digest(content: dict[str, Any]) -> str:
    """README: SHA-256 of the canonical JSON (sorted keys, no spaces, ASCII) of everything
    but the ``digest`` field, written ``sha256:<hex>``."""
    body = {k: v for k, v in content.items() if k != "digest"}
    blob = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(blob.encode("ascii")).hexdigest()


def edit(path: Path, change: Callable[[dict], object], reseal: bool) -> None:
    """Change a record file; ``reseal`` writes a matching digest (a forger who knows the
    format: the other checks must still catch what is wrong)."""
    d = json.loads(path.read_text(encoding="utf-8"))
    change(d)
    if reseal:
        d["digest"] = digest(d)
    path.write_text(json.dumps(d, indent=2), encoding="utf-8")


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = 0
    try:
        main(list(args))
    except SystemExit as e:
        code = int(e.code or 0)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("integrity") / "runs"
    evalkit.evaluate("bm25", "demo", output_dir=out)
    return out


@pytest.fixture()
def runs(demo_dir: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A fresh copy of the demo records and the path of its one record file."""
    out = tmp_path / "runs"
    shutil.copytree(demo_dir, out)
    [path] = out.rglob("*.json")
    return out, path


def assert_refused(code: int, err: str, path: Path, *words: str) -> None:
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert code == 2, err
    assert lines and lines[-1].startswith("error: ") and str(path) in err, err
    assert not CLASS_NAME.search(err), err
    for w in words:
        assert w in err, err


def test_records_carry_a_digest_of_their_content(runs: tuple[Path, Path]) -> None:
    _, path = runs
    d = json.loads(path.read_text())
    assert d["schema_version"] == 2 and d["digest"] == digest(d)


def _raise_ndcg(d: dict) -> None:
    d["scores"]["ndcg_at_10"] = min(1.0, d["scores"]["ndcg_at_10"] + 0.1)


def _lower_per_query_keep_mean(d: dict) -> None:
    # the case: per-query scores show a regression, the stated mean does not
    for row in d["per_query"].values():
        row["ndcg_at_10"] = 0.0


@pytest.mark.parametrize("change", [_raise_ndcg, _lower_per_query_keep_mean])
def test_edited_scores_are_refused_by_report_compare_and_export(
    runs: tuple[Path, Path], demo_dir: Path, tmp_path: Path, capsys, change: Callable
) -> None:
    out, path = runs
    edit(path, change, reseal=False)
    assert_refused(*cli(capsys, "report", str(out))[::2], path, "digest")
    for args in ((str(demo_dir), str(out)), (str(out), str(demo_dir))):
        assert_refused(*cli(capsys, "compare", *args)[::2], path, "digest")
    code, _, err = cli(capsys, "export", "mteb", str(out), "--out", str(tmp_path / "x"))
    assert_refused(code, err, path, "digest")


def test_edited_record_is_recomputed_by_run(runs: tuple[Path, Path], capsys) -> None:
    out, path = runs
    before = json.loads(path.read_text())
    edit(path, _raise_ndcg, reseal=False)
    code, _, err = cli(capsys, "run", "-m", "bm25", "-o", str(out), "--no-progress")
    assert code == 0, err
    note = [x for x in err.splitlines() if "recomputing" in x]
    assert len(note) == 1 and str(path) in note[0] and "digest" in note[0], err
    after = json.loads(path.read_text())
    assert after["scores"] == before["scores"] and after["digest"] == digest(after)


def test_stated_mean_must_be_the_mean_of_per_query_scores(
    runs: tuple[Path, Path], demo_dir: Path, capsys
) -> None:
    """Even with a digest that matches (resealed by hand), a mean that is not the mean of its
    per-query scores is refused by every reader, and recomputed by run."""
    out, path = runs

    def reorder(d: dict) -> None:
        d["per_query"] = dict(reversed(list(d["per_query"].items())))
        d["scores"]["ndcg_at_10"] = math.nextafter(d["scores"]["ndcg_at_10"], 1.0)

    # summed in another order, a mean is a few ulps off and still the same mean
    edit(path, reorder, reseal=True)
    assert len(evalkit.load_results(out)) == 1
    edit(path, _lower_per_query_keep_mean, reseal=True)
    assert_refused(*cli(capsys, "report", str(out))[::2], path, "not the mean")
    assert_refused(*cli(capsys, "compare", str(demo_dir), str(out))[::2], path, "not the mean")
    with pytest.raises(EvalkitError, match="ndcg_at_10 = .* is not the mean of its 34"):
        evalkit.load_results(out)
    notes: list[str] = []
    evalkit.evaluate("bm25", "demo", output_dir=out, on_notice=notes.append)
    assert len(notes) == 1 and "not the mean" in notes[0] and "recomputing" in notes[0]
    [rec] = evalkit.load_results(out)
    assert rec.scores["ndcg_at_10"] == pytest.approx(
        math.fsum(v["ndcg_at_10"] for v in rec.per_query.values()) / len(rec.per_query)
    )


BAD_VALUES = [float("nan"), None, "0.5", float("inf"), True, [0.5]]


@pytest.mark.parametrize("where", ["scores", "per_query"])
@pytest.mark.parametrize("value", BAD_VALUES, ids=lambda v: repr(v))
def test_nan_null_or_non_number_never_compares_as_no_regression(
    runs: tuple[Path, Path], demo_dir: Path, capsys, where: str, value: Any
) -> None:
    out, path = runs

    def put(d: dict) -> None:
        if where == "scores":
            d["scores"]["ndcg_at_10"] = value
        else:
            d["per_query"][next(iter(d["per_query"]))]["ndcg_at_10"] = value

    edit(path, put, reseal=True)
    for args in ((str(demo_dir), str(out)), (str(out), str(demo_dir))):
        code, stdout, err = cli(capsys, "compare", *args)
        assert "no regression" not in stdout
        assert_refused(code, err, path, f"{where}")


def test_nan_score_in_python_compare_is_refused(demo_dir: Path) -> None:
    """Records built in Python (not read from files) are checked by compare too."""
    from evalkit.evaluation.compare import compare

    base = evalkit.load_results(demo_dir)
    cur = copy.deepcopy(base)
    cur[0].scores["ndcg_at_10"] = float("nan")
    with pytest.raises(EvalkitError, match=r"CURRENT record 1: scores.ndcg_at_10 is nan"):
        compare(base, cur)


def test_record_without_digest_is_refused_and_recomputed(runs: tuple[Path, Path], capsys) -> None:
    """Records of schema 1 (no digest) cannot show they were not edited."""
    out, path = runs

    def schema_1(d: dict) -> None:
        del d["digest"], d["run_file"]
        d["schema_version"] = 1

    edit(path, schema_1, reseal=False)
    assert_refused(*cli(capsys, "report", str(out))[::2], path, "no digest")
    notes: list[str] = []
    evalkit.evaluate("bm25", "demo", output_dir=out, on_notice=notes.append)
    assert len(notes) == 1 and "no digest" in notes[0]
    assert json.loads(path.read_text())["schema_version"] == 2


MALFORMED: dict[str, Callable[[dict], object]] = {
    "model is a list": lambda d: d.update(model=[]),
    "model without a name": lambda d: d["model"].pop("name"),
    "dataset name a number": lambda d: d["dataset"].update(name=5),
    "split null": lambda d: d["dataset"].update(split=None),
    "scores text": lambda d: d.update(scores="high"),
    "scores empty": lambda d: d.update(scores={}),
    "per-query entry a list": lambda d: d["per_query"].update(q1=[1]),
    "top_k text": lambda d: d.update(top_k="1000"),
    "dim true": lambda d: d["model"].update(dim=True),
    "sampled_queries a number": lambda d: d["dataset"].update(sampled_queries=3),
    "source a list": lambda d: d["dataset"].update(source=[]),
    "timings text": lambda d: d.update(timings={"total_s": "fast"}),
    "packages a list": lambda d: d["environment"].update(packages=["torch"]),
    "unknown measure": lambda d: d["scores"].update(bleu=0.5),
    "n_queries_scored off": lambda d: d.update(n_queries_scored=d["n_queries_scored"] + 1),
    "an unknown field": lambda d: d.update(extra=1),
    "a newer schema": lambda d: d.update(schema_version=3),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_record_is_one_line_without_class_names(
    runs: tuple[Path, Path], demo_dir: Path, tmp_path: Path, capsys, name: str
) -> None:
    """Resealed so the digest passes: the field checks alone must refuse it, in one line,
    before report, compare or export index into it."""
    out, path = runs
    edit(path, MALFORMED[name], reseal=True)
    assert_refused(*cli(capsys, "report", str(out))[::2], path)
    assert_refused(*cli(capsys, "compare", str(demo_dir), str(out))[::2], path)
    code, _, err = cli(capsys, "export", "mteb", str(out), "--out", str(tmp_path / "x"))
    assert_refused(code, err, path)


def test_other_json_in_a_results_tree_is_passed_over(runs: tuple[Path, Path], capsys) -> None:
    """mteb's files beside the records are not records; a file named directly must be one."""
    out, _ = runs
    meta = out / "model_meta.json"
    meta.write_text(json.dumps({"name": "org/m", "revision": "abc"}))
    (out / "Task.json").write_text(json.dumps({"task_name": "T", "scores": {"test": []}}))
    assert cli(capsys, "report", str(out))[0] == 0
    code, _, err = cli(capsys, "report", str(meta))
    assert code == 2 and "not an evalkit result record" in err and str(meta) in err


# ---- reuse only what satisfies the request (#7) --------------------------------------------


def test_extra_metric_on_a_rerun_recomputes_and_the_record_holds_it(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    evalkit.evaluate("bm25", "demo", output_dir=out)
    notes: list[str] = []
    [rec] = evalkit.evaluate(
        "bm25", "demo", output_dir=out, measures=["mrr_at_10"], on_notice=notes.append
    )
    assert "mrr_at_10" in rec.scores
    assert len(notes) == 1 and "lacks mrr_at_10" in notes[0] and "recomputing" in notes[0]
    [back] = evalkit.load_results(out)
    assert back.scores == rec.scores and "mrr_at_10" in back.scores
    # a second new measure keeps the first: recomputing never drops what the record held
    [rec] = evalkit.evaluate("bm25", "demo", output_dir=out, measures=["map_at_100"])
    assert {"mrr_at_10", "map_at_100", "ndcg_at_10"} <= set(rec.scores)
    # and a run asking for what the record holds reuses it (no note)
    notes.clear()
    [again] = evalkit.evaluate(
        "bm25", "demo", output_dir=out, measures=["mrr_at_10"], on_notice=notes.append
    )
    assert notes == [] and again.created_at == rec.created_at


def test_extra_metric_on_a_rerun_via_cli(tmp_path: Path, capsys) -> None:
    out = tmp_path / "runs"
    assert cli(capsys, "run", "-m", "bm25", "-o", str(out), "--no-progress")[0] == 0
    code, stdout, err = cli(
        capsys, "run", "-m", "bm25", "-o", str(out), "--no-progress", "--metric", "RR@10"
    )
    assert code == 0 and "RR@10" in stdout, stdout
    assert len([x for x in err.splitlines() if "recomputing" in x]) == 1, err
    [rec] = evalkit.load_results(out)
    assert "mrr_at_10" in rec.scores


def _trec(out: Path) -> Path:
    [trec] = out.rglob("*.trec")
    return trec


def test_save_run_on_a_rerun_writes_the_run_file(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    evalkit.evaluate("bm25", "demo", output_dir=out)
    assert not list(out.rglob("*.trec"))
    notes: list[str] = []
    evalkit.evaluate("bm25", "demo", output_dir=out, save_run=True, on_notice=notes.append)
    trec = _trec(out)
    [rec] = evalkit.load_results(out)
    assert rec.run_file == {
        "name": trec.name,
        "sha256": hashlib.sha256(trec.read_bytes()).hexdigest(),
    }
    assert len(notes) == 1 and "no run file" in notes[0]


@pytest.mark.parametrize("damage", ["delete", "edit"])
def test_missing_or_edited_run_file_with_save_run_recomputes(tmp_path: Path, damage: str) -> None:
    out = tmp_path / "runs"
    evalkit.evaluate("bm25", "demo", output_dir=out, save_run=True)
    trec = _trec(out)
    good = trec.read_bytes()
    if damage == "delete":
        trec.unlink()
    else:
        trec.write_bytes(good.replace(b" 1 ", b" 2 ", 1))
    notes: list[str] = []
    evalkit.evaluate("bm25", "demo", output_dir=out, save_run=True, on_notice=notes.append)
    assert trec.read_bytes() == good
    assert len(notes) == 1 and trec.name in notes[0] and "recomputing" in notes[0]
    # intact now: the next run reuses both
    notes.clear()
    evalkit.evaluate("bm25", "demo", output_dir=out, save_run=True, on_notice=notes.append)
    assert notes == []


def test_recomputing_without_save_run_keeps_an_old_run_file_in_step(tmp_path: Path) -> None:
    """A run file from an earlier --save-run is rewritten with the record, never left beside
    a record whose scores it no longer gives."""
    out = tmp_path / "runs"
    evalkit.evaluate("bm25", "demo", output_dir=out, save_run=True)
    evalkit.evaluate("bm25", "demo", output_dir=out, overwrite=True, measures=["mrr_at_10"])
    [rec] = evalkit.load_results(out)
    trec = _trec(out)
    assert rec.run_file is not None
    assert rec.run_file["sha256"] == hashlib.sha256(trec.read_bytes()).hexdigest()
