"""torchrun with ranks far apart in time or in disagreement: two real gloo processes running
``evalkit run`` on the tiny BERT and the 60-document collection of test_scale.

Each process runs the CLI through a small driver that counts the encoder's query-encoding
calls per rank, so the tests also see where (and how often) the queries were encoded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import test_scale as scale
from conftest import write_beir
from test_scale import assert_same_results, child_env, cli_args, free_port, make_corpus, outputs

from evalkit.cli import main

# test_scale's session fixtures: the tiny BERT, the 60-document collection, a one-process run
tiny_model, beir60, baseline = scale.tiny_model, scale.beir60, scale.baseline

DRIVER = textwrap.dedent(
    """
    import atexit, functools, json, os, sys
    from evalkit.models.transformer import TransformerEncoder

    calls = []
    inner = TransformerEncoder.encode_queries

    @functools.wraps(inner)
    def counted(self, texts, *args, **kwargs):
        calls.append(len(texts))
        return inner(self, texts, *args, **kwargs)

    TransformerEncoder.encode_queries = counted
    out = os.environ["COUNTS_DIR"]
    open(f"{out}/pid{os.environ['RANK']}", "w").write(str(os.getpid()))
    atexit.register(
        lambda: open(f"{out}/rank{os.environ['RANK']}.json", "w").write(json.dumps(calls))
    )
    from evalkit.cli import main
    main(sys.argv[1:])
    """
)


def torchrun(tmp: Path, args: list[str], timeout: int = 180, **env: str):
    """``evalkit <args>`` on two gloo ranks: (returncode, stderr, {rank: the sizes of its
    query-encoding calls}). On a timeout the launcher and both ranks (each in a session of its
    own) are killed: a hung rank would outlive the test."""
    driver = tmp / "driver.py"
    driver.write_text(DRIVER)
    counts = tmp / "counts"
    counts.mkdir()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]
    cmd += ["--master-port", str(free_port()), str(driver), *args]
    with open(tmp / "stderr.txt", "w+") as err:
        p = subprocess.Popen(
            cmd,
            env=child_env(COUNTS_DIR=str(counts), **env),
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            for f in counts.glob("pid*"):
                os.kill(int(f.read_text()), signal.SIGKILL)
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            err.seek(0)
            pytest.fail(f"torchrun hung for {timeout} s: {err.read()[-3000:]}")
        err.seek(0)
        stderr = err.read()
    found = {int(f.stem[4:]): json.loads(f.read_text()) for f in counts.glob("rank*.json")}
    return p.returncode, stderr, found


def test_slow_ranks_outlast_the_collective_timeout(
    tiny_model: Path, beir60: Path, baseline: dict, tmp_path: Path
) -> None:
    """A 2-second --dist-timeout, rank 1 six seconds slow on its first shard (rank 0 waits
    for it before the top-k gather) and rank 0 six seconds slow writing the first record
    (rank 1 waits for it at the end): the run completes, equal to one process, and the
    queries were encoded once, on rank 0 (old code: no --dist-timeout; every rank encoded
    them; and waiting inside gloo's barrier/all_reduce past the timeout aborts)."""
    args = cli_args(tiny_model, beir60, tmp_path / "cache", tmp_path / "out")
    code, stderr, calls = torchrun(
        tmp_path,
        [*args, "--dist-timeout", "2"],
        EVALKIT_FAULT="shard-encoded:1@1=sleep6,record-write:1@0=sleep6",
    )
    assert code == 0, stderr[-3000:]
    assert_same_results(outputs(tmp_path / "out"), baseline)
    assert calls == {0: [12], 1: []}


def test_a_dataset_failing_on_one_rank_fails_on_all(
    tiny_model: Path, beir60: Path, baseline: dict, tmp_path: Path
) -> None:
    """Rank 1 alone cannot load the first of two datasets: rank 0 reports it failed (naming
    rank 1) and both ranks go on to the second, which is scored as one process scores it
    (old code: rank 1 skipped ahead, so its collectives paired with rank 0's for the other
    dataset: wrong merges, then a hang)."""
    suite = tmp_path / "suite"
    corpus, queries, qrels = make_corpus()
    write_beir(suite / "a-first", corpus, queries, qrels)
    write_beir(suite / "b-second", corpus, queries, qrels)
    args = cli_args(tiny_model, suite, tmp_path / "cache", tmp_path / "out")
    code, stderr, calls = torchrun(tmp_path, args, EVALKIT_FAULT="dataset-loaded:1@1=error")
    assert code == 1, stderr[-3000:]  # some datasets failed
    [line] = [x for x in stderr.splitlines() if "failed" in x and "a-first" in x]
    assert "fault injected at dataset-loaded (on rank 1 of 2)" in line
    got = outputs(tmp_path / "out")
    assert {rec["dataset"]["name"] for rec, _ in got.values()} == {"b-second"}
    assert_same_results(got, baseline)
    assert calls == {0: [12], 1: []}


def test_dist_timeout_must_be_positive(
    tiny_model: Path,
    beir60: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    args = cli_args(tiny_model, beir60, tmp_path / "cache", tmp_path / "out")
    for extra, env, message in (
        (["--dist-timeout", "0"], None, "--dist-timeout 0.0: must be a positive"),
        ([], "soon", "EVALKIT_DIST_TIMEOUT='soon': expected a positive"),
    ):
        if env:
            monkeypatch.setenv("EVALKIT_DIST_TIMEOUT", env)
        with pytest.raises(SystemExit) as exit_:
            main([*args, *extra])
        assert exit_.value.code == 2
        assert message in capsys.readouterr().err
