"""Write failures, full disks, stale temp files and concurrent runs: nothing wrong is ever
published, and every failure is one line naming the path."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_runner import HashingEncoder

import evalkit
from evalkit.errors import EvalkitError

ROOT = Path(__file__).resolve().parents[1]


def _corpus(root: Path, n: int) -> Path:
    (root / "qrels").mkdir(parents=True)
    with open(root / "corpus.jsonl", "w") as f:
        for i in range(n):
            f.write(json.dumps({"_id": f"d{i}", "title": "", "text": f"word{i} common"}) + "\n")
    (root / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "word3"}) + "\n")
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td3\t1\n")
    return root


def test_failed_run_file_publishes_no_record(beir_dir: Path, tmp_path: Path, monkeypatch):
    """Disk full while writing the TREC run: one line naming the file, and no record that
    looks complete (an older run file of another result cannot sit beside a newer record)."""
    import evalkit.runner as runner

    def full(path, run, tag):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(runner, "write_trec_run", full)
    out = tmp_path / "out"
    with pytest.raises(EvalkitError, match=r"\.trec: cannot write the result \(No space"):
        evalkit.evaluate(
            HashingEncoder(), str(beir_dir), output_dir=out, save_run=True, cache=False
        )
    assert not list(out.rglob("*.json")) and not list(out.rglob("*.tmp"))


@pytest.fixture()
def tiny_disk(tmp_path: Path):
    """A 64 KiB tmpfs: a real full disk (skips where mounting is not allowed)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.decode().strip()[:80]})")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=False)


def test_full_cache_disk_is_refused_before_encoding(tmp_path: Path, tiny_disk: Path) -> None:
    coll = _corpus(tmp_path / "c", 300)  # 300 x 256 float32 = 300 KiB > 64 KiB
    enc = HashingEncoder(dim=256)
    with pytest.raises(
        EvalkitError,
        match=r"embedding cache needs 312.0 KB more but the disk has .* KB free; .* --no-cache",
    ):
        evalkit.evaluate(enc, str(coll), cache_dir=tiny_disk)
    assert enc.seen == []  # nothing was encoded for nothing
    assert not [p for p in tiny_disk.rglob("*") if p.is_file() and p.suffix == ".tmp"]


def test_write_failure_mid_cache_is_one_line_and_leaves_no_temp(
    tmp_path: Path, tiny_disk: Path, monkeypatch
) -> None:
    """The space check passes (it is told there is room) but the disk fills while a shard is
    written: a one-line error naming the cache folder, and the partial temp file is gone."""
    import shutil as sh

    from evalkit.retrieval import cache as cache_mod

    real = sh.disk_usage
    monkeypatch.setattr(cache_mod.shutil, "disk_usage", lambda p: real(p)._replace(free=10**12))
    coll = _corpus(tmp_path / "c", 300)
    with pytest.raises(
        EvalkitError, match=r"cannot write the embedding cache \((No space|disk full)"
    ):
        evalkit.evaluate(HashingEncoder(dim=256), str(coll), cache_dir=tiny_disk, shard_size=100)
    assert not list(tiny_disk.rglob("*.tmp"))
    # Blocks that did fit are complete and verified; the rest is simply missing.
    for man in tiny_disk.rglob("block-*.json"):
        assert man.with_suffix(".npy").is_file() and man.with_suffix(".hashes.npy").is_file()


def test_stale_temp_files_of_dead_runs_are_removed(beir_dir: Path, tmp_path: Path) -> None:
    enc = HashingEncoder()
    evalkit.evaluate(enc, str(beir_dir), cache_dir=tmp_path / "c")
    [key_dir] = [p for p in (tmp_path / "c" / "v2").iterdir() if p.is_dir()]
    host = socket.gethostname().replace(".", "_")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    stale = key_dir / f".block-new-1.npy.{host}.{dead}.tmp"
    stale.write_bytes(b"\0" * 1000)
    mine = key_dir / f".block-x.npy.{host}.{os.getpid()}.tmp"  # a live process's: kept
    mine.write_bytes(b"")
    evalkit.evaluate(enc, str(beir_dir), cache_dir=tmp_path / "c")
    assert not stale.exists() and mine.exists()


def test_two_runs_sharing_cache_and_output_at_once(tmp_path: Path) -> None:
    """Two processes on the same cache and output dir at the same time: both succeed, the
    records agree, and every shard in the cache verifies."""
    coll = _corpus(tmp_path / "c", 200)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    cmd = [
        sys.executable,
        "-m",
        "evalkit",
        "run",
        "-m",
        "minilm",
        "--suite",
        str(coll),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--output-dir",
        str(tmp_path / "out"),
        "--shard-size",
        "50",
        "--no-progress",
    ]
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err.decode()[-2000:]
    [rec] = evalkit.load_results(tmp_path / "out")
    [alone] = evalkit.evaluate("minilm", str(coll), cache=False)
    assert rec.scores == pytest.approx(alone.scores, abs=1e-6)
    from evalkit.retrieval.cache import VectorStore, text_hashes

    [key_dir] = [p for p in (tmp_path / "cache" / "v2").iterdir() if p.is_dir()]
    store = VectorStore(tmp_path / "cache", key_dir.name)
    index = store.index()
    block, _ = index.lookup(text_hashes([f"word{i} common" for i in range(200)]))
    assert (block >= 0).all()
    for name in index.names:
        arr = store.load(name)
        assert arr is not None and np.isfinite(arr).all()
    assert not list((tmp_path / "cache").rglob("*.tmp"))
