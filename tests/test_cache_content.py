"""Cached vectors are addressed by the exact text encoded, not by how the corpus was cut or
named: another ``--shard-size``, the same files under another name, a corpus sharing part of
its documents with another, or duplicate texts inside one corpus encode each text once, and
the scores are what a run without the cache gives.

Runs are in-process: a tiny random BERT for the shard-size case (real batching), the hashing
encoder of ``test_runner`` (which lists every text it encodes) for the rest, on BEIR folders
of at most 60 documents."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import test_scale as scale
from conftest import write_beir
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_runner import HashingEncoder
from test_scale import N_DOCS, SHARD, block_holding, make_corpus, vector_blocks

import evalkit
from evalkit.data import doc_text

tiny_model = scale.tiny_model  # test_scale's session fixture: a tiny random BERT


@pytest.fixture()
def corpus60(tmp_path: Path) -> Path:
    return write_beir(tmp_path / "c60", *make_corpus())


def run(model, suite: Path, cache: Path | None, **kw) -> evalkit.ResultRecord:
    opts = {"shard_size": SHARD, "dim": None, **kw}
    if cache is None:
        [rec] = evalkit.evaluate(model, str(suite), cache=False, **opts)
    else:
        [rec] = evalkit.evaluate(model, str(suite), cache_dir=cache, **opts)
    return rec


def same_scores(a: evalkit.ResultRecord, b: evalkit.ResultRecord) -> None:
    assert json.dumps(a.scores, sort_keys=True) == json.dumps(b.scores, sort_keys=True)
    assert json.dumps(a.per_query, sort_keys=True) == json.dumps(b.per_query, sort_keys=True)


def computed(rec: evalkit.ResultRecord) -> int:
    return rec.search["shards"]["computed"]


def test_another_shard_size_reuses_every_vector(
    tiny_model: Path, corpus60: Path, tmp_path: Path
) -> None:
    cold = run(str(tiny_model), corpus60, tmp_path / "cache")
    assert computed(cold) == 6 and cold.search["tokens_encoded"] > 0
    for size, tokens in ((7, None), (25, None), (SHARD, 60)):  # by documents, by tokens
        warm = run(
            str(tiny_model), corpus60, tmp_path / "cache", shard_size=size, shard_tokens=tokens
        )
        assert warm.search["shards"]["reused"] == warm.search["shards"]["total"] > 1
        assert computed(warm) == 0 and warm.search["tokens_encoded"] == 0
        assert warm.search["corpus_from_cache"]
        same_scores(warm, cold)
    assert len(vector_blocks(tmp_path / "cache")) == 6  # nothing stored twice


def test_same_files_under_another_name_reuse_every_vector(corpus60: Path, tmp_path: Path) -> None:
    enc = HashingEncoder()
    first = run(enc, corpus60, tmp_path / "cache")
    assert len(enc.seen) == N_DOCS
    renamed = shutil.copytree(corpus60, tmp_path / "elsewhere" / "another-name")
    second = run(enc, renamed, tmp_path / "cache", shard_size=8)
    assert second.dataset["name"] != first.dataset["name"]
    assert len(enc.seen) == N_DOCS and computed(second) == 0  # nothing encoded again
    assert second.search["cache"]["dir"] == first.search["cache"]["dir"]
    assert len(list((tmp_path / "cache").rglob("queries-*.npy"))) == 1  # queries reused too
    same_scores(second, first)
    same_scores(second, run(HashingEncoder(), renamed, None))


def test_partial_overlap_encodes_only_the_new_texts(corpus60: Path, tmp_path: Path) -> None:
    corpus, queries, qrels = make_corpus()
    enc = HashingEncoder()
    run(enc, corpus60, tmp_path / "cache")
    enc.seen.clear()
    # Half the documents shared (under other ids, in another order), half new.
    shared = [{**d, "_id": f"s{i}"} for i, d in enumerate(reversed(corpus[:30]))]
    new = [{"_id": f"n{i}", "title": "", "text": f"fresh words {i} river"} for i in range(30)]
    qrels = [(q, f"s{i % 30}", 1) for i, (q, _, _) in enumerate(qrels)]
    other = write_beir(tmp_path / "half", shared + new, queries, qrels)
    rec = run(enc, other, tmp_path / "cache")
    assert sorted(enc.seen) == sorted(d["text"] for d in new)
    same_scores(rec, run(HashingEncoder(), other, None))


def test_duplicate_texts_in_one_corpus_are_encoded_once(tmp_path: Path) -> None:
    corpus, queries, qrels = make_corpus()
    # Every text three times: twice in one shard of 10, once in a later shard.
    texts = [d["text"] for d in corpus[:20]]
    dup = [texts[i // 3 if i % 10 < 6 else (i * 7) % 20] for i in range(N_DOCS)]
    docs = [{"_id": f"doc{i:03d}", "title": "", "text": t} for i, t in enumerate(dup)]
    suite = write_beir(tmp_path / "dups", docs, queries, qrels)
    enc = HashingEncoder()
    rec = run(enc, suite, tmp_path / "cache")
    assert sorted(enc.seen) == sorted(set(dup))
    same_scores(rec, run(HashingEncoder(), suite, None))
    again = run(enc, suite, tmp_path / "cache", shard_size=4)
    assert sorted(enc.seen) == sorted(set(dup)) and computed(again) == 0
    same_scores(again, rec)


def test_a_tampered_block_is_refused_and_its_texts_encoded_again(
    corpus60: Path, tmp_path: Path
) -> None:
    corpus = make_corpus()[0]
    enc = HashingEncoder()
    cold = run(enc, corpus60, tmp_path / "cache")
    victim = block_holding(tmp_path / "cache", doc_text(corpus[15]))
    data = bytearray(victim.read_bytes())
    data[-3] ^= 0x04  # one bit of one float: same size, still a valid .npy
    victim.write_bytes(bytes(data))
    enc.seen.clear()
    again = run(enc, corpus60, tmp_path / "cache", shard_size=7)  # read across another plan
    assert sorted(enc.seen) == sorted(doc_text(d) for d in corpus[10:20])  # that block only
    assert not victim.exists()
    same_scores(again, cold)
    enc.seen.clear()
    assert computed(run(enc, corpus60, tmp_path / "cache", shard_size=9)) == 0
    assert enc.seen == []


def test_hash_files_of_a_block_bound_to_it(corpus60: Path, tmp_path: Path) -> None:
    """Hashes swapped between two blocks (each file intact): both refused, texts encoded
    again, never another text's vector."""
    corpus = make_corpus()[0]
    enc = HashingEncoder()
    cold = run(enc, corpus60, tmp_path / "cache")
    a, b = (block_holding(tmp_path / "cache", doc_text(corpus[i])) for i in (5, 45))
    ha, hb = a.with_suffix(".hashes.npy"), b.with_suffix(".hashes.npy")
    da, db = ha.read_bytes(), hb.read_bytes()
    ha.write_bytes(db)
    hb.write_bytes(da)
    enc.seen.clear()
    again = run(enc, corpus60, tmp_path / "cache")
    assert len(enc.seen) == 20
    same_scores(again, cold)


WORDS = "red blue green cat dog sun moon sea".split()


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    texts=st.lists(
        st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join),
        min_size=2,
        max_size=24,
    ),
    cuts=st.lists(
        st.tuples(st.integers(1, 9), st.integers(0, 23), st.integers(1, 24)),
        min_size=1,
        max_size=3,
    ),
)
def test_any_corpora_and_shard_sizes_score_as_without_cache_and_encode_each_text_once(
    tmp_path_factory: pytest.TempPathFactory,
    texts: list[str],
    cuts: list[tuple[int, int, int]],
) -> None:
    """Runs over slices of one pool of texts (duplicates likely), each with its own shard
    size and name, on one cache: each scores exactly as a run without the cache, and no text
    is encoded twice over all the runs."""
    root = tmp_path_factory.mktemp("prop")
    enc = HashingEncoder(dim=16)
    for n, (size, start, length) in enumerate(cuts):
        part = texts[start : start + length] or texts[:1]
        docs = [{"_id": f"r{n}d{i}", "title": "", "text": t} for i, t in enumerate(part)]
        queries = [{"_id": f"q{j}", "text": w} for j, w in enumerate(WORDS[:3])]
        qrels = [(f"q{j}", f"r{n}d{j % len(part)}", 1) for j in range(3)]
        suite = write_beir(root / f"corpus{n}", docs, queries, qrels)
        rec = run(enc, suite, root / "cache", shard_size=size)
        same_scores(rec, run(HashingEncoder(dim=16), suite, None, shard_size=size))
        assert len(enc.seen) == len(set(enc.seen)), "a text was encoded twice"
        assert set(enc.seen) >= set(part)
    assert np.all([p.stat().st_size > 0 for p in vector_blocks(root / "cache")])
