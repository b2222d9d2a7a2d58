"""Output that is not a terminal (CI logs, pipes) is never cut to the terminal's width."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
    assert "66.65" in out and "65.69" in out  # the demo's BM25 nDCG@10 and R@100, whole
    for args in (("models",), ("suites",), ("suites", "show", "miracl")):
        text = _redirected(*args, cwd=tmp_path)
        assert text.strip()
        assert "…" not in text, args
    assert "…" not in out
