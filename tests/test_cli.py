"""The command line: the offline default, options, and one-line errors without tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import HAVE_MINILM

from evalkit.cli import main


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "evalkit", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
    )


def test_default_run_is_offline_demo(tmp_path: Path) -> None:
    p = run_cli("run", "--no-progress", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "bm25" in p.stdout and "nDCG@10" in p.stdout and "R@100" in p.stdout
    records = sorted((tmp_path / "results" / "runs").rglob("*.json"))
    names = {json.loads(r.read_text())["model"]["name"] for r in records}
    assert names == ({"bm25", "minilm"} if HAVE_MINILM else {"bm25"})


def test_missing_suite_path_is_one_line(tmp_path: Path) -> None:
    p = run_cli("run", "--model", "bm25", "--suite", str(tmp_path / "nope"), cwd=tmp_path)
    assert p.returncode != 0
    assert "Traceback" not in p.stderr
    lines = [x for x in p.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "--suite" in lines[0] and "nope" in lines[0]


def test_debug_shows_traceback(tmp_path: Path) -> None:
    p = run_cli("--debug", "run", "--model", "bm25", "--suite", str(tmp_path / "nope"))
    assert p.returncode != 0 and "Traceback" in p.stderr


def test_malformed_file_names_line(tmp_path: Path, beir_dir: Path, capsys) -> None:
    with open(beir_dir / "queries.jsonl", "a") as f:
        f.write("{not json\n")
    with pytest.raises(SystemExit) as e:
        main(
            [
                "run",
                "--model",
                "bm25",
                "--suite",
                str(beir_dir),
                "--output-dir",
                str(tmp_path / "o"),
                "--no-progress",
            ]
        )
    assert e.value.code != 0
    err = capsys.readouterr().err
    assert "queries.jsonl:7: not valid JSON" in " ".join(err.split())
    assert not list((tmp_path / "o").rglob("*.json"))  # nothing half-written


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--metric", "ndcg"], "--metric 'ndcg'"),
        (["--top-k", "50"], "--top-k 50: smaller than the deepest cutoff scored (100)"),
        (["--max-length", "0"], "--max-length 0: must be at least 1"),
        (["--batch-size", "-1"], "--batch-size -1: must be at least 1"),
        (["--output-dir", "/proc/evalkit-nope"], "--output-dir /proc/evalkit-nope: not writable"),
        (["--top-k", "0"], "--top-k 0"),
        (["--model", "nosuch"], "--model 'nosuch'"),
        (["--dataset", "scifact"], "--dataset 'scifact'"),
        (["--search-backend", "annoy"], "--search-backend 'annoy'"),
    ],
)
def test_bad_options_one_line(
    args: list[str], needle: str, beir_dir: Path, tmp_path: Path, capsys
) -> None:
    base = ["run", "--suite", str(beir_dir), "--output-dir", str(tmp_path), "--no-progress"]
    if "--model" not in args:
        base += ["--model", "bm25"]
    with pytest.raises(SystemExit) as e:
        main(base + args)
    assert e.value.code != 0
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_run_on_beir_folder_with_options(beir_dir: Path, tmp_path: Path, capsys) -> None:
    main(
        [
            "run",
            "--model",
            "bm25",
            "--suite",
            str(beir_dir),
            "--metric",
            "mrr_at_10",
            "--metric",
            "nDCG@10",
            "--top-k",
            "100",
            "--save-run",
            "--output-dir",
            str(tmp_path),
            "--no-progress",
        ]
    )
    out = capsys.readouterr().out
    assert "RR@10" in out and "nDCG@10" in out
    rec = json.loads(next(tmp_path.rglob("*.json")).read_text())
    # --metric adds to the defaults, so every record carries the main metric.
    assert rec["top_k"] == 100
    assert set(rec["scores"]) == {"mrr_at_10", "ndcg_at_10", "recall_at_100"}
    assert next(tmp_path.rglob("*.trec")).read_text().count(" Q0 ") <= 100 * 4
    # The record's file name carries its identity, which includes top_k.
    from evalkit.results import ResultRecord

    assert ResultRecord.from_dict(rec).identity_key in str(next(tmp_path.rglob("*.json")))


def test_models_lists_registry(capsys) -> None:
    main(["models"])
    out = capsys.readouterr().out
    assert "bm25" in out and "minilm" in out


def test_bracketed_error_text_survives(beir_dir: Path, tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--model", "bm25", "--suite", str(beir_dir), "--split", "dev",
              "--output-dir", str(tmp_path), "--no-progress"])
    assert "found: ['test']" in " ".join(capsys.readouterr().err.split())
