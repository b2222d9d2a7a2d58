"""``evalkit compare``: the paired randomisation test against scipy, Holm's correction, exit
codes, tolerance edges, and refusal of pairs whose top-k or queries differ (two models are
compared: tests/test_compare_models.py).

Baselines are real BM25 runs. A "current" that regresses is the baseline with some per-query
scores lowered, as a code change that hurt those queries would write it."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import md_squeezed
from report_fixtures import write_data_dir

from evalkit.cli import main
from evalkit.evaluation.stats import holm, randomisation_test
from evalkit.results import ResultRecord, load_results

scipy_stats = pytest.importorskip("scipy.stats")


def _scipy_p(d: np.ndarray, n_resamples: int) -> float:
    res = scipy_stats.permutation_test(
        (d,), np.mean, permutation_type="samples", n_resamples=n_resamples, vectorized=True, rng=0
    )
    return float(res.pvalue)


def test_exact_randomisation_test_equals_scipy() -> None:
    rng = np.random.default_rng(1)
    for n in (5, 9, 12):
        d = rng.normal(0.05, 0.2, n)
        assert randomisation_test(d) == pytest.approx(_scipy_p(d, 10_000), abs=1e-12)
    assert randomisation_test([0.1, 0.1, 0.1, 0.1]) == pytest.approx(2 / 16)
    assert randomisation_test([0.0, 0.0]) == 1.0


def test_sampled_randomisation_test_agrees_with_scipy() -> None:
    d = np.random.default_rng(2).normal(0.03, 0.2, 200)
    ours, theirs = randomisation_test(d, 20_000), _scipy_p(d, 20_000)
    # two seeded Monte Carlo estimates of one p-value (sd about 0.003 each)
    assert abs(ours - theirs) < 0.01 and 0.01 < ours < 0.2


def test_stratified_test_with_equal_strata_is_the_pooled_test() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(0.1, 0.3, 6), rng.normal(0.0, 0.3, 6)
    pooled = randomisation_test(np.concatenate([a, b]), 10_000)
    assert randomisation_test([a, b], 10_000) == pytest.approx(pooled)
    # unequal weights test a different average
    assert randomisation_test([a, b], 10_000, weights=[0.9, 0.1]) != pytest.approx(pooled)


def test_holm_adjustment() -> None:
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    adj = holm([0.2, float("nan"), 0.01])
    assert adj[0] == pytest.approx(0.2) and adj[2] == pytest.approx(0.02) and adj[1] != adj[1]
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    # statsmodels' Holm, which evalkit does not call (each call runs gc.collect(): see holm())
    for p in (np.random.default_rng(0).uniform(0, 0.2, 9), np.array([0.3, 0.01, 0.01, 0.2])):
        assert holm(list(p)) == pytest.approx(list(multitest.multipletests(p, method="holm")[1]))


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import evalkit

    root = tmp_path_factory.mktemp("compare")
    data = write_data_dir(root / "data")
    out = root / "baseline"
    evalkit.evaluate("bm25", "beir", datasets=["scifact", "arguana"], data_dir=data, output_dir=out)
    evalkit.evaluate("bm25", "demo", output_dir=out)
    return out


def _current(baseline: Path, tmp: Path, drops: dict[str, tuple[float, int | None]]) -> Path:
    """Copy the baseline; lower nDCG@10 of dataset -> (by, on how many queries; None = all)."""
    out = tmp / "current"
    for r in load_results(baseline):
        r = copy.deepcopy(r)
        if r.dataset["name"] in drops:
            by, n = drops[r.dataset["name"]]
            qids = sorted(r.per_query)[:n] if n else sorted(r.per_query)
            for q in qids:
                r.per_query[q]["ndcg_at_10"] -= by
            r.scores["ndcg_at_10"] = float(np.mean([v["ndcg_at_10"] for v in r.per_query.values()]))
        r.write(out)
    return out


def _compare(capsys, *args: str) -> tuple[int, str, str]:
    code = 0
    try:
        main(["compare", *args])
    except SystemExit as e:
        code = int(e.code or 0)
    cap = capsys.readouterr()
    return code, md_squeezed(cap.out), cap.err


def test_same_records_pass(baseline: Path, capsys) -> None:
    code, out, _ = _compare(capsys, str(baseline), str(baseline))
    assert code == 0 and "no regression beyond 0.5 points" in out
    assert "| BEIR | scifact |" in out and "paired randomisation test" in out


def test_tolerance_edges(baseline: Path, tmp_path: Path, capsys) -> None:
    # the mean drops by exactly `by` x100 points
    at_edge = _current(baseline, tmp_path / "a", {"scifact": (0.005, None)})
    code, out, _ = _compare(capsys, str(baseline), str(at_edge), "--tolerance", "0.5")
    assert code == 0, out
    beyond = _current(baseline, tmp_path / "b", {"scifact": (0.0051, None)})
    code, out, _ = _compare(capsys, str(baseline), str(beyond), "--tolerance", "0.5")
    assert code == 1 and "regressed" in out and "-0.51" in out
    code, _, _ = _compare(capsys, str(baseline), str(beyond), "--tolerance", "0.51")
    assert code == 0


def test_alpha_needs_a_significant_drop(baseline: Path, tmp_path: Path, capsys) -> None:
    one_query = _current(baseline, tmp_path / "a", {"demo": (0.5, 1)})  # one query, big drop
    assert _compare(capsys, str(baseline), str(one_query))[0] == 1
    code, out, _ = _compare(capsys, str(baseline), str(one_query), "--alpha", "0.05")
    assert code == 0, out
    every_query = _current(baseline, tmp_path / "b", {"demo": (0.02, None)})
    code, out, _ = _compare(capsys, str(baseline), str(every_query), "--alpha", "0.05")
    assert code == 1 and "regressed" in out


def test_json_output(baseline: Path, tmp_path: Path, capsys) -> None:
    cur = _current(baseline, tmp_path, {"scifact": (0.1, None)})
    code, out, _ = _compare(
        capsys, str(baseline), str(cur), "--format", "json", "--json", str(tmp_path / "c.json")
    )
    data = json.loads(out)
    assert code == 1 and data["exit_code"] == 1 and data["regressions"] >= 1
    assert data["test"].startswith("paired randomisation test")
    line = next(x for x in data["lines"] if x["dataset"] == "scifact")
    assert line["status"] == "regressed" and line["diff"] == pytest.approx(-10.0)
    assert {s["suite"] for s in data["suites"]} == {"beir", "demo"}
    assert json.loads((tmp_path / "c.json").read_text()) == data


def test_missing_dataset_fails(baseline: Path, tmp_path: Path, capsys) -> None:
    cur = tmp_path / "cur"
    for r in load_results(baseline):
        if r.dataset["name"] != "arguana":
            r.write(cur)
    code, out, _ = _compare(capsys, str(baseline), str(cur))
    assert code == 1 and "missing" in out and "not in CURRENT" in out


def test_refuses_another_top_k_unless_told(baseline: Path, tmp_path: Path, capsys) -> None:
    import evalkit

    evalkit.evaluate("bm25", "demo", output_dir=tmp_path / "cur", top_k=100)
    demo = [str(p) for p in baseline.rglob("*.json") if "/demo/" in str(p)]
    code, _, err = _compare(capsys, demo[0], str(tmp_path / "cur"))
    assert code == 2 and "top-k differs (1000 in BASELINE, 100 in CURRENT" in err
    code, out, _ = _compare(capsys, demo[0], str(tmp_path / "cur"), "--allow-settings-mismatch")
    assert code == 0 and "top-k differs (--allow-settings-mismatch): 1000 in BASELINE" in out


def test_refuses_other_query_sets_unless_told(baseline: Path, tmp_path: Path, capsys) -> None:
    import evalkit

    evalkit.evaluate("bm25", "demo", output_dir=tmp_path / "cur", max_queries=20)
    demo = [str(p) for p in baseline.rglob("*.json") if "/demo/" in str(p)]
    code, _, err = _compare(capsys, demo[0], str(tmp_path / "cur"))
    assert code == 2 and "query sets or data differ" in err and "only in BASELINE" in err
    code, out, _ = _compare(capsys, demo[0], str(tmp_path / "cur"), "--allow-query-mismatch")
    assert code == 0 and "queries both hold" in out


def test_bad_input_exits_2(baseline: Path, tmp_path: Path, capsys) -> None:
    assert _compare(capsys, str(baseline), str(tmp_path / "nope"))[0] == 2
    assert _compare(capsys, str(baseline), str(baseline), "--tolerance", "-1")[0] == 2
    assert _compare(capsys, str(baseline), str(baseline), "--alpha", "2")[0] == 2
    other = tmp_path / "other"
    ResultRecord.from_dict(
        {**load_results(baseline)[0].to_dict(), "dataset": {"name": "x", "split": "test"}}
    ).write(other)
    code, _, err = _compare(capsys, str(baseline), str(other))
    assert code == 2 and "nothing to compare" in err


def test_ci_workflow_passes_on_a_fresh_run_against_its_stored_baseline(
    tmp_path: Path, capsys
) -> None:
    """The shipped workflow's own settings and baselines: a fresh BM25 run of its suite
    compares clean (fails when the record format or BM25's scores drift from the baseline)."""
    import yaml

    import evalkit

    repo = Path(__file__).resolve().parents[1]
    wf = yaml.safe_load((repo / ".github" / "workflows" / "evalkit-regression.yml").read_text())
    env = wf["env"]
    baseline = repo / env["BASELINE"]
    assert {r.model["name"] for r in load_results(baseline)} == set(env["MODELS"].split())
    evalkit.evaluate("bm25", env["SUITE"], output_dir=tmp_path / "current")
    # MiniLM's run is minutes on a loaded CI core: its stored record stands in for it here
    for r in load_results(baseline / "minilm"):
        r.write(tmp_path / "current")
    code, out, err = _compare(
        capsys,
        str(baseline),
        str(tmp_path / "current"),
        "--tolerance",
        env["TOLERANCE"],
        "--alpha",
        env["ALPHA"],
    )
    assert code == 0, out + err
    # two models a side: each is paired with itself, rows per model
    assert "| bm25 | demo | demo | 67.45 | 67.45 | +0.00 |" in out
    assert "| minilm | demo | demo | 76.68 | 76.68 | +0.00 |" in out


def test_two_stored_models_one_a_side_compare_without_a_flag(capsys) -> None:
    stored = Path(__file__).resolve().parents[1] / "results" / "baselines" / "demo"
    bm25, minilm = str(stored / "bm25"), str(stored / "minilm")
    code, out, err = _compare(capsys, bm25, minilm)
    assert code == 0, err
    assert "improved" in out and "| demo | demo | 67.45 | 76.68 | +9.23 |" in out
    assert "- Baseline: bm25 (bm25s lucene, k1 0.9 b 0.4) vs current: minilm (" in out
