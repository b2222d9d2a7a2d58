"""The report in every format, from records of real BM25 runs: golden files, no cut numbers in
redirected output, incomplete averages marked everywhere, the two report bugs."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import needs_chromium, render_in_chromium
from report_fixtures import bm25_records, write_data_dir

from evalkit.cli import main
from evalkit.evaluation.report import _tex

REPO = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).resolve().parent / "golden"
EXT = {"md": "md", "csv": "csv", "latex": "tex", "html": "html"}
DATA_URI = re.compile(r"data:image/png;base64,[A-Za-z0-9+/=]+")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report-runs")
    bm25_records(write_data_dir(root / "data"), root / "runs")
    return root / "runs"


def _report(args: list[str], capsys) -> str:
    main(["report", *args])
    return capsys.readouterr().out


@pytest.mark.parametrize("fmt", list(EXT))
def test_golden_formats(fmt: str, runs: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / f"report.{EXT[fmt]}"
    main(["report", str(runs), "--format", fmt, "--out", str(out)])
    text = DATA_URI.sub("data:image/png;base64,...", out.read_text(encoding="utf-8"))
    golden = GOLDEN / f"report.{EXT[fmt]}"
    if os.environ.get("EVALKIT_UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")
    # stdout gives the same text as --out
    if fmt != "html":
        capsys.readouterr()
        assert _report([str(runs), "--format", fmt], capsys) == out.read_text(encoding="utf-8")


def test_redirected_narrow_output_never_cuts_a_score(runs: Path) -> None:
    env = {**os.environ, "COLUMNS": "80", "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    p = subprocess.run(
        [sys.executable, "-m", "evalkit", "report", str(runs)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    assert "…" not in p.stdout
    # every number of the markdown tables appears whole in the terminal output
    md = (GOLDEN / "report.md").read_text(encoding="utf-8")
    numbers = set(re.findall(r"[+-]?\d+\.\d+(?:\* \(\d+/\d+\))?", md))
    assert numbers and {"80.47", "72.36* (2/18)", "67.45", "59.47"} <= numbers
    missing = [n for n in numbers if n not in p.stdout]
    assert not missing


def test_incomplete_average_is_never_shown_as_complete(runs: Path, capsys) -> None:
    rows = list(csv.DictReader(io.StringIO(_report([str(runs), "-f", "csv"], capsys))))
    suites = {r["suite"]: r for r in rows if r["table"] == "suites"}
    assert suites["beir"]["complete"] == "yes"
    assert (suites["beir"]["n"], suites["beir"]["expected"]) == ("13", "13")
    # 7-document test folders are not the published corpora: no difference to the paper
    assert suites["beir"]["other_corpus"] == "yes" and suites["beir"]["diff"] == ""
    miracl = suites["miracl"]
    assert miracl["complete"] == "no" and (miracl["n"], miracl["expected"]) == ("2", "18")
    assert miracl["paper"] == "38.5" and miracl["diff"] == ""  # no difference for a partial
    md = _report([str(runs), "-f", "md"], capsys)
    t1 = md.split("## BEIR")[0]
    assert "72.36* (2/18)" in t1 and "| 72.36 |" not in t1
    # full precision in CSV: a program reading it gets the number, not 2 decimals
    assert len(suites["beir"]["evalkit"].split(".")[1]) > 2


def test_latex_is_booktabs_and_escaped(runs: Path, capsys) -> None:
    tex = _report([str(runs), "-f", "latex"], capsys)
    assert tex.count(r"\toprule") == tex.count(r"\bottomrule") == tex.count(r"\begin{tabular}")
    assert r"\midrule" in tex and r"\hline" not in tex
    assert r"72.36$^{*}$ (2/18) (other corpus)" in tex and r"$\Delta$" in tex
    assert _tex("a_b & 5% #1") == r"a\_b \& 5\% \#1"


def test_metric_no_record_holds_is_an_error(runs: Path, capsys) -> None:
    # bug: printed an empty table, blamed sampled runs, exited 0
    with pytest.raises(SystemExit) as e:
        main(["report", str(runs), "--metric", "map_at_100"])
    err = capsys.readouterr().err
    assert e.value.code == 2
    assert "--metric map_at_100" in err and "ndcg_at_10" in err and "sampled" not in err


def test_demo_only_records_name_the_reference_row(tmp_path: Path, capsys) -> None:
    # bug: "no model in the records has a reference row" although bm25 has one
    import evalkit

    evalkit.evaluate("bm25", "demo", output_dir=tmp_path)
    out = _report([str(tmp_path)], capsys)
    assert "no model in the records has a reference row" not in out
    assert "bm25 has a reference row (BEIR, MIRACL)" in out and "only demo" in out


def test_each_settings_variant_is_its_own_row(tmp_path: Path, capsys) -> None:
    import evalkit

    evalkit.evaluate("bm25", "demo", output_dir=tmp_path, top_k=100)
    evalkit.evaluate("bm25", "demo", output_dir=tmp_path, top_k=1000)
    rows = list(csv.DictReader(io.StringIO(_report([str(tmp_path), "-f", "csv"], capsys))))
    demo = [r for r in rows if r["table"] == "suites" and r["suite"] == "demo"]
    assert len(demo) == 2 and len({r["settings"] for r in demo}) == 2


def test_plots_are_pngs(runs: Path, tmp_path: Path, capsys) -> None:
    main(["report", str(runs), "--plots", str(tmp_path / "fig"), "-f", "md"])
    names = sorted(p.name for p in (tmp_path / "fig").iterdir())
    assert names == ["datasets-beir.png", "datasets-demo.png", "languages-miracl.png"]
    for p in (tmp_path / "fig").iterdir():
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_format_and_out_without_format(runs: Path, tmp_path: Path, capsys) -> None:
    for args in (["--format", "pdf"], ["--out", str(tmp_path / "x.txt")]):
        with pytest.raises(SystemExit) as e:
            main(["report", str(runs), *args])
        assert e.value.code == 2 and "--" in capsys.readouterr().err


@needs_chromium
def test_html_renders_in_a_headless_browser(runs: Path, tmp_path: Path) -> None:
    """Chromium, with the network off, renders the one-file report: every table is in the DOM,
    every figure decodes (the screenshot holds matplotlib's bar colour, which the page's own
    CSS never uses)."""
    html_file = tmp_path / "report.html"
    main(["report", str(runs), "-f", "html", "--out", str(html_file)])
    page = html_file.read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page and "<script" not in page
    dom, colours = render_in_chromium(html_file, tmp_path, "1400,4000")
    n_tables = page.count("<table")
    figures = re.findall(r'<figure id="([^"]+)"', page)
    assert dom.count("<table") == n_tables >= 5
    assert dom.count("<img") == len(figures)
    assert set(figures) == {"datasets-beir", "datasets-demo", "languages-miracl"}
    blue = sum(n for n, (r, g, b) in colours if abs(r - 31) < 12 and abs(g - 119) < 12 and b > 160)
    assert blue > 500  # matplotlib's first bar colour #1f77b4: the figures were drawn


def test_score_against_dim_figure() -> None:
    """One line per model with two or more dims; a sampled point is said to be one."""
    from evalkit.evaluation.plots import figures
    from evalkit.evaluation.tables import Row, Score

    items = [
        Score(Row("drama-1b", dim), "beir", "scifact", None, v, sampled=dim == 256)
        for dim, v in ((256, 70.0), (768, 72.0), (None, 73.0))
    ] + [Score(Row("bm25"), "beir", "scifact", None, 66.0)]
    figs = {f.name: f for f in figures(items, {"drama-1b": 2048})}
    assert set(figs) == {"dims-beir", "datasets-beir"}
    assert "hollow = sampled queries" in figs["dims-beir"].title
    assert figs["dims-beir"].png[:8] == b"\x89PNG\r\n\x1a\n"
    # a collection outside the paper's suites gets its per-dataset figure, one dataset or more
    assert [f.name for f in figures([Score(Row("m"), "demo", "demo", None, 50.0)], {})] == [
        "datasets-demo"
    ]
