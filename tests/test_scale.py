"""The runner at scale, tested for real: SIGKILL at every stage of a run and resume, torchrun
with two gloo processes, every dim from one encoding, damaged shards, token budgets and OOM
retries, ties across shard sizes and backends, the float16 cache, NaN and --overwrite.

The kill and torchrun tests start real ``python -m evalkit run`` processes on a tiny random
BERT (saved like any Hub checkpoint) and a 60-document BEIR folder cut into shards of 10; every
other run is in-process. The file costs about a minute of CPU, most of it in those processes'
imports."""

from __future__ import annotations

import functools
import json
import os
import random
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO, write_beir
from test_runner import HashingEncoder
from test_transformer_encoder import save_tiny_bert

import evalkit
from evalkit.cli import main
from evalkit.data import doc_text, load_beir_dir
from evalkit.errors import EvalkitError, ModelError
from evalkit.retrieval import RetrievalSettings
from evalkit.retrieval.cache import VectorStore, text_hashes
from evalkit.runner import evaluate_collection, load_model

N_DOCS, SHARD = 60, 10
WORDS = (
    "apple river city capital france germany tea green leaf stone music piano north sea "
    "ocean tree grow light dark winter summer bridge castle train"
).split()


# ---- fixtures: a tiny checkpoint, a 60-document collection, one uninterrupted run ----------


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer BERT (hidden 32) with MiniLM's real WordPiece vocabulary."""
    return save_tiny_bert(tmp_path_factory.mktemp("scale-model") / "tiny")


def make_corpus(seed: int = 0) -> tuple[list[dict], list[dict], list[tuple]]:
    rng = random.Random(seed)
    corpus = [
        {
            "_id": f"doc{i:03d}",
            "title": "",
            "text": " ".join(rng.choices(WORDS, k=rng.randint(3, 40))),
        }
        for i in range(N_DOCS)
    ]
    queries = [{"_id": f"q{i}", "text": " ".join(rng.choices(WORDS, k=4))} for i in range(12)]
    qrels = [(f"q{i}", f"doc{rng.randrange(N_DOCS):03d}", rng.randint(1, 2)) for i in range(12)]
    qrels += [(f"q{i}", f"doc{rng.randrange(N_DOCS):03d}", 1) for i in range(12)]
    return corpus, queries, qrels


@pytest.fixture(scope="session")
def beir60(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_beir(tmp_path_factory.mktemp("scale-data") / "beir60", *make_corpus())


def cli_args(model: Path, suite: Path, cache: Path, out: Path, *extra: str) -> list[str]:
    """One command for every run of the kill/torchrun tests: two dims from one encoding, run
    files written, shards of 10."""
    return [
        "run",
        "--model",
        str(model),
        "--suite",
        str(suite),
        "--shard-size",
        str(SHARD),
        "--dim",
        "16,all",
        "--force-dim",
        "--save-run",
        "--cache-dir",
        str(cache),
        "--output-dir",
        str(out),
        "--no-progress",
        *extra,
    ]


def outputs(out: Path) -> dict[int, tuple[dict, str]]:
    """dim -> (record, TREC run text) of every record under ``out``."""
    found = {}
    for p in out.rglob("*.json"):
        rec = json.loads(p.read_text())
        found[rec["model"]["dim"]] = (rec, p.with_suffix(".trec").read_text())
    return found


@pytest.fixture(scope="session")
def baseline(tiny_model: Path, beir60: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """An uninterrupted single-process run (in-process: the same command)."""
    root = tmp_path_factory.mktemp("scale-baseline")
    main(cli_args(tiny_model, beir60, root / "cache", root / "out"))
    got = outputs(root / "out")
    assert set(got) == {16, 32}
    return got


def assert_same_results(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    for dim, (rec, trec) in want.items():
        assert got[dim][0]["scores"] == rec["scores"], dim
        assert got[dim][0]["per_query"] == rec["per_query"], dim
        assert got[dim][1] == trec, dim  # the rankings and scores themselves


def child_env(**extra: str) -> dict[str, str]:
    # The children run this checkout with the thread count of this process, so their float
    # arithmetic is the same as the in-process runs they are compared with.
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "OMP_NUM_THREADS": str(torch.get_num_threads()),
        **extra,
    }


def cache_dir_of(out: Path) -> Path:
    [rec, *_] = [r for r, _ in outputs(out).values()]
    return Path(rec["search"]["cache"]["dir"])


def vector_blocks(cache_dir: Path) -> list[Path]:
    """The vector files (not the hash files) of the blocks under ``cache_dir``, by name."""
    return sorted(p for p in cache_dir.rglob("block-*.npy") if not p.name.endswith(".hashes.npy"))


def block_holding(cache_dir: Path, text: str) -> Path:
    """The vector file of the one block under ``cache_dir`` that holds ``text``'s vector."""
    [found] = [
        p
        for p in vector_blocks(cache_dir)
        if (np.load(p.with_suffix(".hashes.npy")) == text_hashes([text])).all(axis=1).any()
    ]
    return found


def assert_cache_sound(cache_dir: Path) -> None:
    """Every text of the 60-document corpus has a vector there, in a block that verifies,
    and no temp file is left."""
    assert not list(cache_dir.parent.rglob("*.tmp"))
    texts = [doc_text(d) for d in make_corpus()[0]]
    store = VectorStore(cache_dir.parent.parent, cache_dir.name)
    index = store.index()
    block, _ = index.lookup(text_hashes(texts))
    assert (block >= 0).all()
    for name in index.names:
        assert store.load(name, 32) is not None, name


# ---- 1. SIGKILL at every stage, then the same command again --------------------------------


@pytest.mark.parametrize(
    "fault,reused",
    [
        ("shard-encoded:1", 0),  # during the first shard
        ("shard-temp:2", 1),  # mid-publish: a synced temp file, not renamed
        ("shard-written:2", 2),  # between shards
        # During the search of shard 2, whose write may still be in flight on the writer
        # thread: 1 or 2 shards published, and the resumed run reuses exactly those.
        ("shard-searched:2", (1, 2)),
        ("record-write:2", 6),  # one dim's record written, the other's not
    ],
)
def test_kill_and_resume_gives_identical_results(
    fault: str,
    reused: int | tuple[int, ...],
    tiny_model: Path,
    beir60: Path,
    baseline: dict,
    tmp_path: Path,
) -> None:
    args = cli_args(tiny_model, beir60, tmp_path / "cache", tmp_path / "out")
    killed = subprocess.run(
        [sys.executable, "-m", "evalkit", *args],
        env=child_env(EVALKIT_FAULT=fault),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    published = len(list((tmp_path / "cache").rglob("block-*.json")))  # what it finished
    assert published in (reused if isinstance(reused, tuple) else (reused,))
    reused = published
    if fault.startswith("shard-temp"):
        assert list((tmp_path / "cache").rglob(".block-*.npy.*.tmp"))  # what a kill leaves
    if fault.startswith("record-write"):
        assert len(list((tmp_path / "out").rglob("*.json"))) == 1
    else:
        assert not list((tmp_path / "out").rglob("*.json"))

    main(args)  # the same command again
    got = outputs(tmp_path / "out")
    assert_same_results(got, baseline)
    for rec, _ in got.values():
        assert rec["search"]["shards"] == {"total": 6, "reused": reused, "computed": 6 - reused}
    assert_cache_sound(cache_dir_of(tmp_path / "out"))


# ---- 2. torchrun, two gloo processes -------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_two_processes_equal_one(
    tiny_model: Path, beir60: Path, baseline: dict, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]
    p = subprocess.run(
        [*launcher, "--master-port", str(free_port()), "-m", "evalkit"]
        + cli_args(tiny_model, beir60, cache, tmp_path / "out"),
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    got = outputs(tmp_path / "out")
    assert_same_results(got, baseline)
    for rec, _ in got.values():
        assert rec["search"]["processes"] == 2
        # Both ranks' shards are counted, and all six are in the one cache (rank 1 owns 1, 3, 5).
        assert rec["search"]["shards"] == {"total": 6, "reused": 0, "computed": 6}
    assert_cache_sound(cache_dir_of(tmp_path / "out"))

    main(cli_args(tiny_model, beir60, cache, tmp_path / "one"))  # one process, same cache
    again = outputs(tmp_path / "one")
    assert_same_results(again, baseline)
    for rec, _ in again.values():
        assert rec["search"]["processes"] == 1
        assert rec["search"]["shards"] == {"total": 6, "reused": 6, "computed": 0}


# ---- 3. several dims from one encoding -----------------------------------------------------


def counting(encoder, seen: list[int]):
    """``encoder`` with the documents it encodes counted, whichever entry point the retriever
    takes (texts, or token ids tokenised ahead on the prefetch thread); signatures kept."""
    for name in ("encode_documents", "tokenize_documents"):
        inner = getattr(encoder, name, None)
        if inner is None:
            continue

        def wrap(inner):
            @functools.wraps(inner)
            def counted(texts, *args, **kwargs):
                seen.append(len(texts))
                return inner(texts, *args, **kwargs)

            return counted

        setattr(encoder, name, wrap(inner))
    return encoder


def test_multi_dim_run_equals_single_dim_runs(
    tiny_model: Path, beir60: Path, tmp_path: Path
) -> None:
    seen: list[int] = []
    enc = counting(load_model(str(tiny_model), device="cpu"), seen)
    kw = {"force_dim": True, "cache": False, "save_run": True, "shard_size": SHARD}
    multi = evalkit.evaluate(enc, str(beir60), dim="8,16,all", output_dir=tmp_path / "m", **kw)
    assert sum(seen) == N_DOCS  # the corpus once, for three dims
    assert [r.model["dim"] for r in multi] == [8, 16, 32]
    many = outputs(tmp_path / "m")
    for d in (8, 16, None):
        seen.clear()
        evalkit.evaluate(enc, str(beir60), dim=d, output_dir=tmp_path / f"s{d}", **kw)
        assert sum(seen) == N_DOCS
        one = outputs(tmp_path / f"s{d}")
        assert_same_results(one, {d or 32: many[d or 32]})
    assert many[8][0]["scores"] != many[32][0]["scores"]  # the cut is real


# ---- 4. damaged shards are detected and encoded again --------------------------------------


def test_damaged_shards_are_encoded_again(
    tiny_model: Path, beir60: Path, baseline: dict, tmp_path: Path
) -> None:
    args = cli_args(tiny_model, beir60, tmp_path / "cache", tmp_path / "cold")
    main(args)
    key = cache_dir_of(tmp_path / "cold")
    npys = vector_blocks(key)
    assert len(npys) == 6
    data = npys[0].read_bytes()
    npys[0].write_bytes(data[: len(data) // 2])  # truncated
    data = bytearray(npys[3].read_bytes())
    data[-5] ^= 0x01  # one bit of one float: same size, still a valid .npy
    npys[3].write_bytes(bytes(data))
    main([*args, "--overwrite"])
    got = outputs(tmp_path / "cold")
    assert_same_results(got, baseline)
    for rec, _ in got.values():
        assert rec["search"]["shards"] == {"total": 6, "reused": 4, "computed": 2}
    assert_cache_sound(key)


def test_reordered_corpus_reuses_every_vector(
    tiny_model: Path, beir60: Path, tmp_path: Path
) -> None:
    """A reordered copy of the corpus (docs 20 and 25 swapped, so shard 2 holds other rows)
    finds every vector by its text and gives what a cold run of the copy gives."""
    corpus, queries, qrels = make_corpus()
    corpus[20], corpus[25] = corpus[25], corpus[20]
    moved = write_beir(tmp_path / "moved" / beir60.name, corpus, queries, qrels)
    main(cli_args(tiny_model, moved, tmp_path / "cache0", tmp_path / "cold"))
    want = outputs(tmp_path / "cold")
    main(cli_args(tiny_model, beir60, tmp_path / "cache", tmp_path / "orig"))
    main(cli_args(tiny_model, moved, tmp_path / "cache", tmp_path / "warm"))
    assert cache_dir_of(tmp_path / "orig") == cache_dir_of(tmp_path / "warm")
    got = outputs(tmp_path / "warm")
    assert_same_results(got, want)
    for rec, _ in got.values():
        assert rec["search"]["shards"] == {"total": 6, "reused": 6, "computed": 0}


# ---- 5. token budget and out-of-memory retries ---------------------------------------------


@pytest.fixture(scope="module")
def tiny_encoder(tiny_model: Path):
    return load_model(str(tiny_model), device="cpu")


def test_token_budget_is_never_exceeded(tiny_encoder) -> None:
    rng = np.random.default_rng(0)
    for _ in range(300):
        lengths = rng.integers(1, 600, size=int(rng.integers(1, 200))).tolist()
        batch_size = int(rng.integers(1, 80))
        budget = int(rng.integers(1, 5000))
        batches = list(tiny_encoder.batches(lengths, batch_size, budget))
        flat = np.concatenate(batches)
        assert sorted(flat.tolist()) == list(range(len(lengths)))  # each text exactly once
        assert [lengths[i] for i in flat] == sorted(lengths, reverse=True)
        for b in batches:
            padded = len(b) * max(lengths[i] for i in b)
            assert len(b) <= batch_size
            assert padded <= budget or len(b) == 1, (len(b), padded, budget)


def test_out_of_memory_halves_and_retries(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    enc = load_model(str(tiny_model), device="cpu")
    texts = [" ".join(random.Random(i).choices(WORDS, k=1 + i % 23)) for i in range(40)]
    plain = enc.encode_documents(texts, batch_size=32)
    by_four = enc.encode_documents(texts, batch_size=4)
    real = enc._run_batch
    rows: list[int] = []
    failures: list[int] = []

    def run_batch(ids, lengths, idx):
        if len(idx) > 4:
            failures.append(len(idx))
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")
        rows.extend(idx.tolist())
        return real(ids, lengths, idx)

    monkeypatch.setattr(enc, "_run_batch", run_batch)
    got = enc.encode_documents(texts, batch_size=32)
    # 32 -> 16 -> 8 -> 4, and the batches still to run are re-planned at the halved size,
    # so none of them fails again (before, the second batch of 8 failed once more).
    assert failures == [32, 16, 8]
    np.testing.assert_array_equal(got, by_four)
    np.testing.assert_allclose(got, plain, atol=1e-6)
    assert sorted(rows) == list(range(40))  # none dropped, none twice
    err = capsys.readouterr().err
    assert err.count("out of memory") == 1 and "halving" in err

    def always(ids, lengths, idx):
        raise torch.OutOfMemoryError("CUDA out of memory (injected)")

    monkeypatch.setattr(enc, "_run_batch", always)
    with pytest.raises(ModelError, match=r"--model tiny: one text of \d+ tokens does not fit"):
        enc.encode_documents(["one text alone"])


# ---- 6. ties: by id, whatever the shard size and backend -----------------------------------


def test_ties_rank_by_id_whatever_shards_and_backend(tmp_path: Path) -> None:
    pytest.importorskip("faiss")
    same = "the same passage"
    dup_ids = ["d07", "d02", "d11", "d04", "d09", "d05"]
    corpus = [{"_id": f"x{i}", "title": "", "text": f"other words number {i}"} for i in range(6)]
    for pos, i in zip((0, 2, 5, 7, 8, 11), dup_ids):  # duplicates spread over the corpus
        corpus.insert(pos, {"_id": i, "title": "", "text": same})
    coll = load_beir_dir(
        write_beir(tmp_path / "ties", corpus, [{"_id": "q", "text": same}], [("q", "d02", 1)])
    )
    runs = []
    for shard_size in (1, 3, len(corpus)):
        for backend in ("torch", "faiss"):
            settings = RetrievalSettings(
                top_k=3, shard_size=shard_size, backend=backend, cache=False
            )
            [(_, run)] = evaluate_collection(HashingEncoder(), coll, settings)
            runs.append(list(run["q"].items()))
    assert all(r == runs[0] for r in runs)
    # The cut falls inside the six-way tie: trec_eval's order keeps the larger ids.
    assert [d for d, _ in runs[0]] == ["d11", "d09", "d07"]
    assert len({s for _, s in runs[0]}) == 1


# ---- 7. float16 cache ----------------------------------------------------------------------


def test_float16_cache_cold_equals_warm(tiny_model: Path, beir60: Path, tmp_path: Path) -> None:
    kw = {"shard_size": SHARD, "cache_dir": tmp_path / "cache", "save_run": True}
    [cold] = evalkit.evaluate(
        str(tiny_model), str(beir60), cache_dtype="float16", output_dir=tmp_path / "a", **kw
    )
    [warm] = evalkit.evaluate(
        str(tiny_model), str(beir60), cache_dtype="float16", output_dir=tmp_path / "b", **kw
    )
    assert warm.search["shards"]["reused"] == 6 and cold.search["shards"]["computed"] == 6
    assert warm.search["cache_dtype"] == "float16"
    assert_same_results(outputs(tmp_path / "b"), outputs(tmp_path / "a"))
    [f32] = evalkit.evaluate(str(tiny_model), str(beir60), output_dir=tmp_path / "c", **kw)
    # The vectors take half the bytes (each block also keeps 16 bytes a text of hashes).
    half, full = (
        sum(p.stat().st_size for p in vector_blocks(Path(r.search["cache"]["dir"])))
        for r in (cold, f32)
    )
    assert half < full * 0.6
    assert cold.search["cache"]["bytes"] < f32.search["cache"]["bytes"]
    assert f32.identity_key != cold.identity_key  # float16 is a setting of the record
    # Each dtype keeps its own shards: alternating --cache-dtype encodes nothing again.
    assert f32.search["shards"]["computed"] == 6
    [back] = evalkit.evaluate(
        str(tiny_model), str(beir60), cache_dtype="float16", output_dir=tmp_path / "d", **kw
    )
    assert back.search["shards"]["reused"] == 6 and back.scores == cold.scores
    for m, v in f32.scores.items():
        assert abs(v - cold.scores[m]) < 0.05, m


# ---- 8. NaN embeddings ---------------------------------------------------------------------


class NaNEncoder(HashingEncoder):
    def encode_documents(self, texts_or_dicts, dim=None, batch_size=None):
        out = super().encode_documents(texts_or_dicts, dim, batch_size)
        out[[i for i, t in enumerate(self.seen[-len(out) :]) if "Nile" in t]] = np.nan
        return out


def test_nan_embedding_names_model_and_document(beir_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(EvalkitError) as e:
        evalkit.evaluate(NaNEncoder(), str(beir_dir), shard_size=2, cache_dir=tmp_path / "c")
    msg = str(e.value)
    assert "\n" not in msg and "--model hashing" in msg and "(e.g. d3)" in msg and "NaN" in msg
    # The shard with d3 (rows 2..4) was never stored; the one before it (2 rows) was.
    [block] = vector_blocks(tmp_path / "c")
    assert np.load(block).shape[0] == 2


# ---- 9. records are reused unless --overwrite ----------------------------------------------


def test_existing_record_is_reused_unless_overwrite(beir_dir: Path, tmp_path: Path) -> None:
    enc = HashingEncoder()
    kw = {"output_dir": tmp_path / "out", "cache": False}
    [first] = evalkit.evaluate(enc, str(beir_dir), **kw)
    [path] = (tmp_path / "out").rglob("*.json")
    written = path.stat().st_ino
    assert len(enc.seen) == 7
    [again] = evalkit.evaluate(enc, str(beir_dir), **kw)
    assert len(enc.seen) == 7 and path.stat().st_ino == written  # read back: nothing encoded
    assert again == first
    [fresh] = evalkit.evaluate(enc, str(beir_dir), overwrite=True, **kw)
    assert len(enc.seen) == 14 and path.stat().st_ino != written  # encoded and rewritten
    assert fresh.scores == first.scores


def test_prefetch_never_hands_one_shard_the_text_of_another(beir60: Path) -> None:
    """A prefetch left unused (its shard turned out cached), or started for other rows of
    the shard (a block failed to verify meanwhile), must not be taken: each shard gets
    exactly the rows asked for, longest first."""
    from evalkit.retrieval.cache import plan_shards
    from evalkit.retrieval.dense import _Prefetch

    coll = load_beir_dir(beir60)
    lengths = coll.corpus.byte_lengths()
    a, b, c = plan_shards(len(coll.corpus), SHARD)[:3]
    pf = _Prefetch(coll, lengths)
    pf.start(a, None)  # then a is found in the cache: never taken
    pf.start(b, None)
    got_b, _ = pf.take(b, None)
    pf.start(c, np.array([1, 4, 5]))
    got_a, _ = pf.take(a, None)  # not what was started: read now
    pf.start(c, np.array([1, 4, 5]))
    got_c, order = pf.take(c, np.array([0, 4, 5]))  # other rows: read now
    pf.close()
    for shard, got in ((a, got_a), (b, got_b)):
        want, _ = _Prefetch(coll, lengths).read(shard.start, shard.stop)
        assert got == want
    texts = [doc_text(d) for d in make_corpus()[0][c.start : c.stop]]
    assert got_c == [[texts[0], texts[4], texts[5]][i] for i in order]
