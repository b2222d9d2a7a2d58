"""Reports: suite averages from records, and 2CR-style checks against the paper's table."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.cli import main
from evalkit.report import load_reference, regression_checks, status, suite_table
from evalkit.results import ResultRecord
from evalkit.suites import get_suite

REPO = Path(__file__).resolve().parents[1]
PAPER = REPO / "results" / "paper" / "drama_table1.csv"


def record(
    model: str,
    suite: str,
    name: str,
    lang: str | None,
    ndcg: float,
    sampled: bool = False,
    dim: int | None = None,
    full_dim: int = 768,
) -> ResultRecord:
    return ResultRecord(
        model={"name": model, "dim": dim or full_dim, "full_dim": full_dim},
        dataset={
            "name": name,
            "suite": suite,
            "split": "test",
            "language": lang,
            "main_metric": "ndcg_at_10",
            "sampled_queries": {"n": 5, "seed": 0, "of": 9} if sampled else None,
        },
        scores={"ndcg_at_10": ndcg},
        n_queries_scored=9,
        n_queries_dropped=0,
        top_k=1000,
        # a record's mean is that of its per-query scores (readers check it)
        per_query={f"q{i}": {"ndcg_at_10": ndcg} for i in range(9)},
    )


def beir_records(
    model: str, mean: float, dim: int | None = None, full_dim: int = 768
) -> list[ResultRecord]:
    names = [d.name for d in get_suite("beir").datasets]
    assert len(names) == 13
    # Spread around the mean so the average, not any single value, is what is checked.
    deltas = [(i - 6) / 100 for i in range(13)]
    return [
        record(model, "beir", n, None, mean + d, dim=dim, full_dim=full_dim)
        for n, d in zip(names, deltas)
    ]


def test_suite_average_and_completeness() -> None:
    recs = beir_records("drama-base", 0.569)
    table = suite_table(recs)
    cell = table["drama-base"]["beir"]
    assert cell.value == pytest.approx(56.9) and cell.complete and cell.n == 13
    partial = suite_table(recs[:5])["drama-base"]["beir"]
    assert not partial.complete and (partial.n, partial.expected) == (5, 13)


def test_sampled_runs_are_not_averaged_by_default() -> None:
    recs = [record("m", "beir", "scifact", None, 0.5, sampled=True)]
    assert suite_table(recs) == {}
    assert suite_table(recs, include_sampled=True)["m"]["beir"].value == pytest.approx(50.0)


def test_status_bands() -> None:
    assert status(56.94, 56.9) == "OK"
    assert status(57.2, 56.9) == "OKish"
    assert status(58.0, 56.9) == "FAIL"


def test_paper_reference_and_checks() -> None:
    refs = load_reference(PAPER)
    base = next(r for r in refs if r.evalkit_model == "drama-base")
    assert base.values == {
        "beir": 56.9,
        "miracl": 70.4,
        "mteb-fr": 52.1,
        "mteb-zh": 61.7,
        "mteb-de": 55.1,
        "mldr": 47.1,
    }
    one_b_768 = next(r for r in refs if r.dim == 768)
    assert one_b_768.evalkit_model == "drama-1b" and one_b_768.values["beir"] == 58.5
    table = suite_table(
        beir_records("drama-base", 0.569) + beir_records("drama-1b", 0.560, 768, 2048)
    )
    checks = {(c.model, c.suite): c.status for c in regression_checks(table, refs)}
    assert checks[("drama-base", "beir")] == "OK"
    assert checks[("drama-1b (dim 768)", "beir")] == "FAIL"  # 56.0 against 58.5


def test_report_cli(tmp_path: Path, capsys) -> None:
    for r in beir_records("drama-base", 0.5):
        r.write(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["report", str(tmp_path), "--reference", str(PAPER), "--fail-on-regression"])
    assert e.value.code == 1
    out = capsys.readouterr().out
    assert "BEIR" in out and "50.0" in out and "FAIL" in out
    main(["report", str(tmp_path)])
    assert "drama-base" in capsys.readouterr().out


def test_report_errors(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(["report", str(tmp_path / "none")])
    assert e.value.code != 0 and "no such file" in capsys.readouterr().err
    bad = tmp_path / "ref.csv"
    bad.write_text("model,evalkit_model,dim,beir\nX,x,,fifty\n")
    with pytest.raises(Exception, match="column beir"):
        load_reference(bad)


def test_subsets_are_averaged_within_their_dataset_first() -> None:
    # mteb scores XPQA's three subsets as one task; the suite mean is over the 5 tasks.
    specs = get_suite("mteb-fr").datasets
    recs = []
    for spec in specs:
        langs = list(spec.languages) or [None]
        for i, lang in enumerate(langs):
            value = 0.9 if (len(langs) > 1 and i == 0) else 0.5
            recs.append(record("m", "mteb-fr", spec.name, lang, value))
    multi = [s for s in specs if len(s.languages) > 1]
    assert len(multi) == 1 and len(multi[0].languages) == 3
    cell = suite_table(recs)["m"]["mteb-fr"]
    assert cell.complete and cell.n == len(recs) == 7
    xpqa = (90 + 50 + 50) / 3
    assert cell.value == pytest.approx((4 * 50 + xpqa) / 5)  # not (90 + 6 * 50) / 7


def test_other_splits_and_short_lists_are_not_averaged() -> None:
    recs = beir_records("m", 0.5)
    dev = record("m", "beir", "nfcorpus", None, 0.9)
    dev.dataset["split"] = "dev"
    short = record("m", "beir", "scifact", None, 0.9)
    short.top_k = 5  # nDCG@10 from a 5-document list
    cell = suite_table([*recs[:12], dev, short])["m"]["beir"]
    assert not cell.complete and cell.n == 12
    assert cell.value == pytest.approx(sum(50 + (i - 6) for i in range(12)) / 12)


def test_report_shows_demo_and_local_records(tmp_path: Path, capsys) -> None:
    record("m", "demo", "demo", None, 0.7).write(tmp_path)
    record("m", "local", "mine", None, 0.4).write(tmp_path)
    main(["report", str(tmp_path)])
    out = capsys.readouterr().out
    assert "demo" in out and "local" in out and "70.0" in out and "40.0" in out
