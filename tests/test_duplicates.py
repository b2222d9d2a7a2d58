"""Exact duplicate texts in a corpus (MS MARCO, Quora, CQADupStack hold them): a text that
occurred earlier is neither encoded nor searched, its first row stands for it, so an encoder
whose vectors move with their batch mates (padding, kernels) still gives ``--no-cache`` ==
cold cache == warm cache and two torchrun ranks == one process, bit for bit.

The encoders here make that movement large on purpose: each call adds a function of the whole
call's output to every vector it returns, so a text encoded in two calls gets two vectors."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import test_scale as scale
from conftest import write_beir
from test_runner import HashingEncoder
from test_scale import SHARD, assert_same_results, child_env, cli_args, free_port, outputs

import evalkit
from evalkit.data import doc_text

tiny_model = scale.tiny_model  # test_scale's session fixture: a tiny random BERT

# (earlier row, later row): the later one gets the earlier one's text; shards are 10 rows
COPIES = [(3, 17), (3, 45), (12, 31), (25, 58), (40, 41), (50, 52), (7, 59), (21, 29)]


def dup_corpus() -> tuple[list[dict], list[dict], list[tuple]]:
    corpus, queries, qrels = scale.make_corpus()
    for a, b in COPIES:
        corpus[b] = {**corpus[a], "_id": corpus[b]["_id"]}
    qrels += [(f"q{i}", corpus[b]["_id"], 2) for i, (_, b) in enumerate(COPIES)]
    return corpus, queries, qrels


@pytest.fixture()
def dup60(tmp_path: Path) -> Path:
    return write_beir(tmp_path / "dup60", *dup_corpus())


class BatchMovedEncoder(HashingEncoder):
    """:class:`HashingEncoder` whose vectors depend on the other texts of the call."""

    def encode_documents(self, texts_or_dicts, dim=None, batch_size=None):
        out = super().encode_documents(texts_or_dicts, dim, batch_size)
        return out + np.float32(1e-3) * np.float32(float(np.abs(out).sum()) % 1.0)


def run(enc, suite: Path, out: Path, cache: Path | None) -> tuple[evalkit.ResultRecord, str]:
    opts = {"shard_size": SHARD, "dim": None, "save_run": True, "output_dir": out}
    if cache is None:
        [rec] = evalkit.evaluate(enc, str(suite), cache=False, **opts)
    else:
        [rec] = evalkit.evaluate(enc, str(suite), cache_dir=cache, **opts)
    [trec] = list(out.rglob("*.trec"))
    return rec, trec.read_text()


def test_no_cache_equals_cold_and_warm_cache_and_encodes_each_text_once(
    dup60: Path, tmp_path: Path
) -> None:
    texts = [doc_text(d, " ") for d in dup_corpus()[0]]
    distinct = len(set(texts))
    assert distinct == len(texts) - len(COPIES)
    enc = BatchMovedEncoder()
    plain, plain_run = run(enc, dup60, tmp_path / "plain", None)
    plain_seen, enc.seen = enc.seen, []
    cold, cold_run = run(enc, dup60, tmp_path / "cold", tmp_path / "cache")
    cold_seen, enc.seen = enc.seen, []
    warm, warm_run = run(enc, dup60, tmp_path / "warm", tmp_path / "cache")
    for rec, trec in ((cold, cold_run), (warm, warm_run)):
        assert trec == plain_run  # rankings and scores, to the last digit written
        assert rec.per_query == plain.per_query and rec.scores == plain.scores
    assert sorted(plain_seen) == sorted(set(texts))  # each text once, without a cache too
    assert cold_seen == plain_seen  # the very same batches
    assert enc.seen == [] and warm.search["corpus_from_cache"]
    assert plain.search["duplicate_texts"] == len(COPIES)
    # a duplicate scores as its first row, for every query
    lines = [x.split() for x in plain_run.splitlines()]
    by_doc = {(q, d): s for q, _, d, _, s, _ in lines}
    for a, b in COPIES:
        for q in {q for q, _ in by_doc}:
            assert by_doc[q, f"doc{a:03d}"] == by_doc[q, f"doc{b:03d}"]


DRIVER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from evalkit.models.transformer import TransformerEncoder

    inner = TransformerEncoder.encode_tokenized

    def moved(self, *args, **kwargs):  # every vector moves with the call's other texts
        out = inner(self, *args, **kwargs)
        return out + np.float32(1e-3) * np.float32(float(np.abs(out).sum()) % 1.0)

    TransformerEncoder.encode_tokenized = moved
    from evalkit.cli import main
    main(sys.argv[1:])
    """
)


def test_torchrun_two_ranks_equal_one_process_with_duplicate_texts(
    tiny_model: Path, dup60: Path, tmp_path: Path
) -> None:
    """Two ranks equal one process; so does a run killed and resumed (that held before)."""
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    one = subprocess.run(
        [sys.executable, str(driver)]
        + cli_args(tiny_model, dup60, tmp_path / "cache1", tmp_path / "one"),
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert one.returncode == 0, one.stderr[-3000:]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]
    two = subprocess.run(
        [*launcher, "--master-port", str(free_port()), str(driver)]
        + cli_args(tiny_model, dup60, tmp_path / "cache2", tmp_path / "two"),
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert two.returncode == 0, two.stderr[-3000:]
    got, want = outputs(tmp_path / "two"), outputs(tmp_path / "one")
    assert_same_results(got, want)
    for rec, _ in got.values():
        assert rec["search"]["processes"] == 2
        assert rec["search"]["duplicate_texts"] == len(COPIES)

    # killed (-9) after its third block, then the same command again: the same results
    args = cli_args(tiny_model, dup60, tmp_path / "cache3", tmp_path / "resumed")
    for fault in ("shard-written:3", ""):
        again = subprocess.run(
            [sys.executable, str(driver), *args],
            env=child_env(EVALKIT_FAULT=fault),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert again.returncode == (-signal.SIGKILL if fault else 0), again.stderr[-3000:]
    assert_same_results(outputs(tmp_path / "resumed"), want)
