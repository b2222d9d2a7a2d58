"""The report compares like with like and says what each number is: averages over the data
every column has, sampled and other-corpus values marked in every format, the paper's layout
only for the paper's suites, settings named in words, published numbers with their verdict."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from conftest import md_squeezed
from hypothesis import given, settings
from hypothesis import strategies as st

from evalkit.cli import main
from evalkit.evaluation.published import (
    COLUMNS,
    CONDITIONS_DIFFER,
    DIFFERS,
    REPRODUCED,
    PublishedRow,
    compare_records,
)
from evalkit.evaluation.report import build_report, render
from evalkit.evaluation.tables import scores
from evalkit.results import ResultRecord

FORMATS = ("md", "csv", "latex", "html")


def rec(
    model: str,
    dataset: str,
    value: float,
    suite: str = "local",
    dim: int | None = None,
    full_dim: int = 384,
    sampled: bool = False,
    language: str | None = None,
    **model_extra: object,
) -> ResultRecord:
    return ResultRecord(
        model={"name": model, "dim": dim or full_dim, "full_dim": full_dim, **model_extra},
        dataset={
            "name": dataset,
            "suite": suite,
            "split": "test",
            "language": language,
            "main_metric": "ndcg_at_10",
            "sampled_queries": {"n": 3, "seed": 0, "of": 9} if sampled else None,
            "source": {"fingerprint": f"fp-{dataset}-{language}"},
        },
        scores={"ndcg_at_10": value},
        n_queries_scored=9,
        n_queries_dropped=0,
        top_k=1000,
        per_query={f"q{i}": {"ndcg_at_10": value} for i in range(9)},
    )


def issue_records() -> list[ResultRecord]:
    """The issue's case: bm25 on 5 local datasets, minilm on 2, minilm at 128 dims on 1."""
    bm25 = [rec("bm25", f"d{i}", v) for i, v in enumerate((0.60, 0.55, 0.58, 0.57, 0.5855))]
    minilm = [rec("minilm", "d0", 0.7977), rec("minilm", "d1", 0.5113)]
    return bm25 + minilm + [rec("minilm", "d0", 0.7807, dim=128)]


def write(records: list[ResultRecord], root: Path) -> Path:
    for r in records:
        r.write(root)
    return root


def report(args: list[str], capsys) -> str:
    capsys.readouterr()
    main(["report", *args])
    return md_squeezed(capsys.readouterr().out)


def test_averages_over_different_datasets_are_not_set_side_by_side(tmp_path: Path, capsys) -> None:
    # bug: average row 57.71 / 65.45 / 78.07, every one complete=yes
    runs = write(issue_records(), tmp_path / "runs")
    rows = list(csv.DictReader(io.StringIO(report([str(runs), "-f", "csv"], capsys))))
    own = {(r["model"], r["dim"]): r for r in rows if r["table"] == "suites"}
    assert own[("bm25", "")]["complete"] == "yes"
    assert own[("minilm", "")]["complete"] == "no"  # 2 of the 5 datasets
    assert (own[("minilm", "")]["n"], own[("minilm", "")]["expected"]) == ("2", "5")
    assert own[("minilm", "128")]["complete"] == "no"
    assert own[("minilm", "")]["averaged_over"] == "d0;d1"  # says which data
    common = {(r["model"], r["dim"]): r for r in rows if r["table"] == "common"}
    assert {k: float(r["evalkit"]) for k, r in common.items()} == pytest.approx(
        {("bm25", ""): 60.0, ("minilm", ""): 79.77, ("minilm", "128"): 78.07}
    )
    assert {r["averaged_over"] for r in common.values()} == {"d0"}

    md = report([str(runs), "-f", "md"], capsys)
    table = md.split("## local: per dataset")[1].split("\n## ")[0]
    assert "| bm25 | minilm (dim 128) | minilm |" in table
    assert "| average over the 1 common dataset | 60.00 | 78.07 | 79.77 |" in table
    assert "| own average (not comparable) | 57.71 | 78.07* (1/5) | 65.45* (2/5) |" in table
    assert "over the 1 dataset: d0, which every column has" in table
    for fmt in ("latex", "html"):
        assert "average over the 1 common dataset" in report([str(runs), "-f", fmt], capsys)


def test_dims_figure_is_drawn_over_the_datasets_every_dim_has() -> None:
    # bug: a line from 78.07 at 128 dims down to 65.45 at 384 ("cutting dims gains 12.6")
    from evalkit.evaluation.plots import dim_lines

    lines = dim_lines(scores(issue_records()), {"minilm": 384})
    pts, common = lines["local"]["minilm"]
    assert [(d, round(v, 2)) for d, v, _ in pts] == [(128, 78.07), (384, 79.77)]
    assert common.datasets == ["d0"]


@pytest.mark.parametrize("fmt", ["terminal", *FORMATS])
def test_include_sampled_marks_every_sampled_value(fmt: str, tmp_path: Path, capsys) -> None:
    runs = write(
        [rec("m", "d0", 0.5), rec("m", "d1", 0.7, sampled=True), rec("n", "d0", 0.4)],
        tmp_path / "runs",
    )
    out = report([str(runs), "--include-sampled", "-f", fmt], capsys)
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
        got = {(r["table"], r["model"], r["dataset"]): r["sampled"] for r in rows if r["model"]}
        assert got[("datasets", "m", "d1")] == "yes" and got[("datasets", "m", "d0")] == "no"
        assert got[("suites", "m", "")] == "yes" and got[("suites", "n", "")] == "no"
        return
    # the sampled dataset, and m's own average that it went into: each says so
    assert out.count("70.00 (sampled)") == 1
    assert out.count("60.00* (2/2) (sampled)") == 0  # (n/expected) only when incomplete
    assert out.count("60.00 (sampled)") >= 2  # suite table and per-dataset average
    assert "50.00 (sampled)" not in out and "40.00 (sampled)" not in out


def test_paper_layout_only_for_the_paper_suites(tmp_path: Path, capsys) -> None:
    # bug: 18 columns of dashes for a local folder, and a footnote for absent asterisks
    runs = write([rec("m", "d0", 0.5), rec("m", "d1", 0.6)], tmp_path / "runs")
    for fmt in FORMATS:
        out = report([str(runs), "-f", fmt], capsys)
        if fmt == "csv":
            out = out.split("\n", 1)[1]  # the header names every column, paper among them
        assert "Table 1" not in out and "MIRACL" not in out and "paper" not in out.lower()
        assert "asterisk" not in out and "* =" not in out and "(n/expected)" not in out


def test_settings_are_named_in_words(tmp_path: Path, capsys) -> None:
    # bug: `minilm [69108b7]`, with no legend
    runs = write(
        [
            rec("drama-base", "d0", 0.5, max_query_length=256, max_doc_length=256),
            rec("drama-base", "d0", 0.6, max_query_length=8192, max_doc_length=8192),
            rec("minilm", "d0", 0.7, dim=128),
            rec("minilm", "d0", 0.8),
        ],
        tmp_path / "runs",
    )
    md = report([str(runs), "-f", "md"], capsys)
    for label in (
        "drama-base (max length 256)",
        "drama-base (max length 8192)",
        "minilm (dim 128)",
        "| minilm | 80.00 |",
    ):
        assert label in md
    assert "[" not in md


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "top_k": st.sampled_from([100, 1000]),
                "max_query_length": st.sampled_from([None, 64, 512]),
                "max_doc_length": st.sampled_from([None, 256, 512]),
                "dtype": st.sampled_from([None, "float16", "float32"]),
                "query_prefix": st.sampled_from([None, "", "query: "]),
            }
        ),
        min_size=1,
        max_size=5,
    )
)
def test_settings_words_tell_every_setting_apart(variants: list[dict]) -> None:
    """Different settings of one model always get different words; one setting gets none."""
    from evalkit.evaluation.tables import settings_words

    records = []
    for v in variants:
        r = rec("m", "d0", 0.5, **{k: x for k, x in v.items() if k != "top_k"})
        r.top_k = v["top_k"]
        records.append(r)
    words = settings_words(records)
    keys = {r.settings_key for r in records}
    if len(keys) == 1:
        assert words == {}
    else:
        assert set(words) == keys and len(set(words.values())) == len(keys)
        assert all(w and "[" not in w for w in words.values())


def test_local_collections_get_a_per_dataset_figure() -> None:
    from evalkit.evaluation.plots import figures

    items = scores([rec("m", "d0", 0.5), rec("m", "d1", 0.6), rec("n", "d0", 0.4)])
    figs = {f.name: f for f in figures(items, {})}
    assert "datasets-local" in figs
    assert "no bar = not run" in figs["datasets-local"].title  # n has no d1: no bar at 0


def published_row(dataset: str, value: str, model: str = "m", **cond: object) -> PublishedRow:
    raw = dict.fromkeys(COLUMNS, "")
    raw.update(
        source_kind="mteb-results",
        model=model,
        evalkit_model=model,
        dataset=dataset,
        split="test",
        metric="ndcg_at_10",
        source_repo="embeddings-benchmark/results",
        source_commit="0" * 40,
        source_path=f"results/{model}/{dataset}.json",
    )
    raw.pop("is_main_score")
    raw.pop("value")
    raw.pop("conditions")
    return PublishedRow(
        **raw, is_main_score=True, value_text=value, conditions_json=json.dumps(cond)
    )


def test_published_numbers_beside_cells_with_a_summary_in_every_format() -> None:
    records = [
        rec("m", "d0", 0.4), rec("m", "d1", 0.5), rec("m", "d2", 0.6, dim=128),
        rec("m", "d3", 0.7),
    ]  # fmt: skip
    rows = [
        published_row("d0", "0.4000"),  # reproduced
        published_row("d1", "0.4500"),  # differs by +5 points
        published_row("d2", "0.9000"),  # a cut dim: conditions differ, not a failure
    ]
    pairs = compare_records(records, rows, ["ndcg_at_10"])
    assert [c.verdict for _, c in pairs] == [REPRODUCED, DIFFERS, CONDITIONS_DIFFER]
    rep = build_report(scores(records), published=pairs)
    assert rep.published == {REPRODUCED: 1, DIFFERS: 1, CONDITIONS_DIFFER: 1}
    for fmt in ("md", "latex", "html"):
        out = render(rep, fmt)
        assert "40.00 (mteb): reproduced" in out
        assert "45.00 (mteb): differs (+5.000)" in out
        assert "90.00 (mteb): conditions differ" in out
        assert "differs (-30" not in out  # the cut dim is never shown as a failed one
        assert "Reproduction of published numbers" in out
        assert "Matryoshka dim 128 of 384" in out
    summary = {t.title: t for t in rep.tables}["Reproduction of published numbers: summary"]
    assert summary.rows[:3] == [
        ["reproduced", "1", summary.rows[0][2]],
        ["differs", "1", summary.rows[1][2]],
        ["conditions differ", "1", summary.rows[2][2]],
    ]
    csv_rows = list(csv.DictReader(io.StringIO(render(rep, "csv"))))
    counts = {r["verdict"]: r["n"] for r in csv_rows if r["table"] == "reproduction"}
    assert counts == {REPRODUCED: "1", DIFFERS: "1", CONDITIONS_DIFFER: "1"}
    d3 = [r for r in csv_rows if r["table"] == "datasets" and r["dataset"] == "d3"]
    assert d3[0]["published"] == "" and d3[0]["verdict"] == ""


def test_published_flag(tmp_path: Path, capsys) -> None:
    """On by default (the committed published.csv exists); --no-published leaves it out."""
    runs = write([rec("bm25", "scifact", 0.5, suite="beir", kind="bm25")], tmp_path / "runs")
    on = report([str(runs), "-f", "md"], capsys)
    assert "bm25: published" in on and "67.89 (2CR flat): conditions differ" in on
    assert "| conditions differ | 2 |" in on and "| differs | 0 |" in on
    off = report([str(runs), "-f", "md", "--no-published"], capsys)
    assert "bm25: published" not in off and "Reproduction" not in off and "67.89" not in off


def test_a_paper_suite_on_another_corpus_gets_no_difference_to_the_paper(
    tmp_path: Path, capsys
) -> None:
    """A BEIR dataset read from a folder of another size (a test folder, a subset) is not the
    paper's data: marked in every format, no Δ, and OTHER DATA instead of FAIL."""
    from evalkit.suites import get_suite

    recs = []
    for spec in get_suite("beir").datasets:
        r = rec("bm25", spec.name, 0.8, suite="beir", kind="bm25")
        r.dataset["n_docs"] = 7
        recs.append(r)
    runs = write(recs, tmp_path / "runs")
    md = report([str(runs), "-f", "md", "--no-published"], capsys)
    assert "| bm25 | 80.00 (other corpus) | 43.7 | – |" in md
    assert "| bm25 | BEIR | 80.00 | 43.7 | – | OTHER DATA |" in md and "| FAIL |" not in md
    rows = list(csv.DictReader(io.StringIO(report([str(runs), "-f", "csv"], capsys))))
    beir = next(r for r in rows if r["table"] == "suites")
    assert beir["other_corpus"] == "yes" and beir["diff"] == ""
    main(["report", str(runs), "--fail-on-regression", "-f", "md"])  # no FAIL: exits 0
    from evalkit.evaluation.plots import figures

    figs = {f.name: f for f in figures(scores(recs), {})}
    assert "other corpus than the published one" in figs["datasets-beir"].title


def test_a_full_run_beats_a_later_sample_of_the_same_experiment() -> None:
    """--include-sampled fills gaps with samples; it never puts a sample over a full run."""
    full, sample = rec("m", "d0", 0.5), rec("m", "d0", 0.9, sampled=True)
    full.created_at, sample.created_at = "2026-01-01T00:00:00", "2026-02-01T00:00:00"
    [s] = scores([full, sample], include_sampled=True)
    assert s.value == pytest.approx(50.0) and not s.sampled
