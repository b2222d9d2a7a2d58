"""A re-run whose corpus shards and query embeddings are all cached and verify never loads the
encoder and gives the same records; the query vectors are cached bound to their content (the
shards' cache key, the query token limit and the SHA-256 of the exact query strings) and any
mismatch, edit or damage makes them encoded again.

Every run is in-process on a tiny random BERT and a 60-document BEIR folder in shards of 10."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import test_scale as scale
from conftest import write_beir
from hypothesis import given, settings
from hypothesis import strategies as st
from test_cache_integrity import other_weights
from test_scale import SHARD, make_corpus
from test_transformer_encoder import save_tiny_bert

import evalkit
from evalkit.data import doc_text
from evalkit.models import registry
from evalkit.models.transformer import TransformerEncoder
from evalkit.retrieval import cache as cache_mod

# test_scale's session fixtures: the tiny BERT, its 60-document collection, a one-process run
tiny_model, beir60, baseline = scale.tiny_model, scale.beir60, scale.baseline

KW = {"shard_size": SHARD, "dim": None, "overwrite": True}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_bert(tmp_path_factory.mktemp("warm") / "tiny")


@pytest.fixture(scope="module")
def tiny_b(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return other_weights(tiny, tmp_path_factory.mktemp("warm-b") / "tiny")


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    return write_beir(tmp_path / "c60", *make_corpus())


@pytest.fixture()
def query_encodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many queries each ``encode_queries`` call of a loaded encoder encoded."""
    calls: list[int] = []
    original = TransformerEncoder.encode_queries

    def counted(self, queries, *args, **kwargs):
        calls.append(len(queries))
        return original(self, queries, *args, **kwargs)

    monkeypatch.setattr(TransformerEncoder, "encode_queries", counted)
    return calls


def run(model: Path, suite: Path, tmp_path: Path, **kw) -> evalkit.ResultRecord:
    [rec] = evalkit.evaluate(
        str(model), str(suite), cache_dir=tmp_path / "cache", output_dir=tmp_path / "out", **KW
    )
    return rec


def same_results(a: evalkit.ResultRecord, b: evalkit.ResultRecord) -> None:
    assert json.dumps(a.scores, sort_keys=True) == json.dumps(b.scores, sort_keys=True)
    assert json.dumps(a.per_query, sort_keys=True) == json.dumps(b.per_query, sort_keys=True)
    assert a.model == b.model
    assert a.identity_key == b.identity_key


def query_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache").rglob("queries-*.npy"))


def test_editing_a_query_text_misses_the_query_cache(
    tiny: Path, corpus: Path, tmp_path: Path, query_encodes: list[int]
) -> None:
    cold = run(tiny, corpus, tmp_path)
    assert query_encodes == [12]
    warm = run(tiny, corpus, tmp_path)
    assert query_encodes == [12], "the cached query vectors were not reused"
    same_results(cold, warm)
    lines = (corpus / "queries.jsonl").read_text(encoding="utf-8").splitlines()
    q = json.loads(lines[3])
    q["text"] += " edited"
    lines[3] = json.dumps(q)
    (corpus / "queries.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    run(tiny, corpus, tmp_path)
    assert query_encodes == [12, 12]
    assert len(query_files(tmp_path)) == 2  # one per query set, side by side


@pytest.mark.parametrize("damage", ["flip", "truncate", "manifest"])
def test_a_damaged_query_cache_is_refused_and_recomputed(
    tiny: Path, corpus: Path, tmp_path: Path, query_encodes: list[int], damage: str
) -> None:
    cold = run(tiny, corpus, tmp_path)
    [npy] = query_files(tmp_path)
    data = bytearray(npy.read_bytes())
    if damage == "flip":
        data[-3] ^= 0x40
        npy.write_bytes(bytes(data))
    elif damage == "truncate":
        npy.write_bytes(bytes(data[:-8]))
    else:
        man = npy.with_suffix(".json")
        meta = json.loads(man.read_text())
        meta["max_query_length"] = 7  # a manifest for other settings
        man.write_text(json.dumps(meta))
    again = run(tiny, corpus, tmp_path)
    assert query_encodes == [12, 12]
    same_results(cold, again)
    run(tiny, corpus, tmp_path)
    assert query_encodes == [12, 12]  # the recomputed vectors were stored again, and verify


def test_other_local_weights_never_reuse_the_query_vectors(
    tiny: Path, tiny_b: Path, corpus: Path, tmp_path: Path, query_encodes: list[int]
) -> None:
    model = tmp_path / "model"
    shutil.copytree(tiny, model)
    a = run(model, corpus, tmp_path)
    [qa] = query_files(tmp_path)
    # The same path, same file names and sizes, other weights: a new content fingerprint.
    for f in tiny_b.iterdir():
        shutil.copy(f, model / f.name)
    b = run(model, corpus, tmp_path)
    assert query_encodes == [12, 12]
    assert a.model["local_fingerprint"] != b.model["local_fingerprint"]
    assert qa in query_files(tmp_path) and len(query_files(tmp_path)) == 2
    assert a.scores != b.scores


def _refuse_to_load(*args, **kwargs):
    raise AssertionError("the model was loaded although every vector is cached")


def test_a_warm_rerun_never_loads_the_model_and_gives_the_same_records(
    tiny: Path, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cold = run(tiny, corpus, tmp_path)
    assert cold.search["shards"]["computed"] == 6
    monkeypatch.setattr(registry, "_construct", _refuse_to_load)
    warm = run(tiny, corpus, tmp_path)
    assert warm.search["shards"] == {"total": 6, "reused": 6, "computed": 0}
    same_results(cold, warm)
    moved = ("shards", "corpus_from_cache", "tokens_encoded")  # what a warm run did
    assert {k: v for k, v in warm.search.items() if k not in moved} == {
        k: v for k, v in cold.search.items() if k not in moved
    }
    assert warm.dataset == cold.dataset
    on_disk = json.loads((tmp_path / "out" / warm.relative_path()).read_text(encoding="utf-8"))
    assert on_disk["scores"] == json.loads(json.dumps(cold.scores))


def test_a_query_edit_loads_the_model_and_a_damaged_shard_loads_it_too(
    tiny: Path, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cold = run(tiny, corpus, tmp_path)
    loads: list[str] = []
    original = registry._construct

    def counted(spec, *args, **kwargs):
        loads.append(spec.name)
        return original(spec, *args, **kwargs)

    monkeypatch.setattr(registry, "_construct", counted)
    run(tiny, corpus, tmp_path)
    assert loads == []
    shard = scale.block_holding(tmp_path / "cache", doc_text(make_corpus()[0][10]))
    data = bytearray(shard.read_bytes())
    data[-2] ^= 0x10
    shard.write_bytes(bytes(data))
    again = run(tiny, corpus, tmp_path)
    assert loads == ["tiny"] and again.search["shards"]["computed"] == 1
    same_results(cold, again)
    (corpus / "queries.jsonl").write_text(
        (corpus / "queries.jsonl")
        .read_text(encoding="utf-8")
        .replace('"text": "', '"text": "x ', 1),
        encoding="utf-8",
    )
    run(tiny, corpus, tmp_path)
    assert loads == ["tiny", "tiny"]


@settings(max_examples=40, deadline=None)
@given(
    which=st.sampled_from(["npy", "json"]),
    where=st.integers(min_value=0, max_value=10_000),
    bit=st.integers(min_value=0, max_value=7),
)
def test_any_flipped_bit_of_the_query_cache_is_refused_or_harmless(
    which: str, where: int, bit: int
) -> None:
    """The manifest and bytes verify, or the read gives nothing: never other vectors."""
    import tempfile

    texts = ["what is a cat", "b", "", "ünïcode ☃"]
    emb = np.arange(4 * 6, dtype=np.float32).reshape(4, 6) / 7
    with tempfile.TemporaryDirectory() as tmp:
        qc = cache_mod.QueryCache(tmp, "k" * 32, 64, texts)
        qc.store(emb)
        path = qc.npy if which == "npy" else qc.man
        data = bytearray(path.read_bytes())
        data[where % len(data)] ^= 1 << bit
        path.write_bytes(bytes(data))
        got = cache_mod.QueryCache(tmp, "k" * 32, 64, texts).load()
        assert got is None or np.array_equal(got, emb)
        if got is None:
            assert not qc.npy.exists() and not qc.man.exists()  # removed: encoded again


@settings(max_examples=60, deadline=None)
@given(a=st.lists(st.text(max_size=5), max_size=4), b=st.lists(st.text(max_size=5), max_size=4))
def test_query_cache_keys_differ_for_any_two_query_lists(a: list[str], b: list[str]) -> None:
    ka = cache_mod.QueryCache("/nonexistent", "k" * 32, None, a).key
    assert (ka == cache_mod.QueryCache("/nonexistent", "k" * 32, None, b).key) == (a == b)
    assert ka != cache_mod.QueryCache("/nonexistent", "k" * 32, 32, a).key  # the token limit too


def test_under_torchrun_no_rank_loads_the_model_when_all_is_cached(
    tiny_model: Path,
    beir60: Path,
    baseline: dict,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two gloo ranks: a cold run, then the same command with --overwrite where loading the
    model on any rank exits: rank 0 decides for both that nothing is to be encoded."""
    import test_distributed as td
    from test_scale import assert_same_results, cli_args, outputs

    refuse = (
        "import os\n"
        "if os.environ.get('EVALKIT_TEST_NO_LOAD'):\n"
        "    import evalkit.models.registry as r\n"
        "    def _no(*a, **k):\n"
        "        raise SystemExit('rank ' + os.environ['RANK'] + ' loaded the model')\n"
        "    r._construct = _no\n"
    )
    monkeypatch.setattr(td, "DRIVER", refuse + td.DRIVER)
    args = cli_args(tiny_model, beir60, tmp_path / "cache", tmp_path / "out")
    (tmp_path / "cold").mkdir()
    code, stderr, calls = td.torchrun(tmp_path / "cold", args)
    assert code == 0, stderr[-3000:]
    assert calls == {0: [12], 1: []}
    (tmp_path / "warm").mkdir()
    code, stderr, calls = td.torchrun(
        tmp_path / "warm", [*args, "--overwrite"], EVALKIT_TEST_NO_LOAD="1"
    )
    assert code == 0, stderr[-3000:]
    assert calls == {0: [], 1: []}
    got = outputs(tmp_path / "out")
    assert_same_results(got, baseline)
    for rec, _ in got.values():
        assert rec["search"]["shards"]["computed"] == 0
