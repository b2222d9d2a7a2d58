"""Memory per token of the two structures that grow with the corpus: a pre-tokenised shard
(flat int32 ids, not Python lists) and the BM25 index (token ids and int32 postings, not
Python strings); shards cut by tokens as well as documents; and BM25's refusal, before
indexing, of a corpus that cannot fit."""

from __future__ import annotations

import random
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from conftest import SMALL_CORPUS, SMALL_QRELS, SMALL_QUERIES, write_beir
from hypothesis import given, settings
from hypothesis import strategies as st
from test_runner import HashingEncoder
from test_transformer_encoder import save_tiny_bert

import evalkit
from evalkit.data import Collection, Corpus, load_beir_dir
from evalkit.errors import EvalkitError
from evalkit.models import bm25 as bm25_mod
from evalkit.models.base import TokenIds
from evalkit.models.bm25 import BM25Retriever
from evalkit.models.bm25_index import StreamingIndex
from evalkit.models.registry import resolve_model
from evalkit.retrieval import dense
from evalkit.retrieval.shards import estimated_tokens, plan_token_shards
from evalkit.runner import load_model

WORDS = (
    "the river city capital france germany tea green leaf stone music piano north sea ocean "
    "tree grow light dark winter summer bridge castle train history population village county"
).split()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_bert(tmp_path_factory.mktemp("memory-model") / "tiny")


def collection(docs: list[str], queries: dict[str, str] | None = None) -> Collection:
    corpus = Corpus.from_records([{"_id": f"d{i}", "text": t} for i, t in enumerate(docs)])
    return Collection(
        name="synthetic", corpus=corpus, queries=queries or {"q": "river"}, qrels={"q": {"d0": 1}}
    )


def long_docs(n: int, words: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=words + rng.randrange(words))) for _ in range(n)]


# ---- pre-tokenised shards: flat int32 ----------------------------------------------------------


def test_pretokenised_shard_is_flat_int32_with_bounded_bytes_per_token(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # MLDR-shaped: long documents, never truncated here (tokenised only, not encoded). Slices
    # small next to the shard, as 4 MB slices are next to a 100k-document MLDR shard.
    monkeypatch.setattr(dense, "TOKENIZE_SLICE_BYTES", 20_000)
    enc = load_model(str(tiny_model), device="cpu")
    coll = collection(long_docs(120, 600))
    lengths = coll.corpus.byte_lengths().astype(np.int32)

    def tokenize(texts: list[str]):
        return enc.tokenize_documents(texts, max_length=100_000)

    prefetch = dense._Prefetch(coll, lengths, tokenize)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        ids, order = prefetch.read(0, len(coll.corpus))
        retained = tracemalloc.get_traced_memory()[0] - base
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert isinstance(ids, TokenIds) and ids.flat.dtype == np.int32
    n_tokens = len(ids.flat)
    assert n_tokens > 80_000
    # The same ids as tokenising each document alone.
    for i in (0, 57, 119):
        want = enc.tokenize_documents([coll.corpus.rows([i])[0]["text"]], max_length=100_000)
        assert ids[int(np.flatnonzero(order == i)[0])].tolist() == want[0].tolist()
    # Lists of Python ints: ~36 bytes a token retained and more at the peak.
    assert retained / n_tokens <= 8, retained / n_tokens
    assert peak / n_tokens <= 16, peak / n_tokens


# ---- shards by tokens ------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 200_000), min_size=0, max_size=300),
    shard_size=st.integers(1, 50),
    shard_tokens=st.integers(1, 300_000),
    doc_limit=st.sampled_from([None, 512, 8192]),
)
def test_token_shard_plan_property(
    lengths: list[int], shard_size: int, shard_tokens: int, doc_limit: int | None
) -> None:
    arr = np.asarray(lengths, dtype=np.int64)
    plan = plan_token_shards(arr, shard_size, shard_tokens, doc_limit)
    assert plan == plan_token_shards(arr.copy(), shard_size, shard_tokens, doc_limit)
    est = estimated_tokens(arr, doc_limit)
    # contiguous, covering every document once, indexed in order
    assert [s.start for s in plan] == [0, *(s.stop for s in plan[:-1])][: len(plan)]
    assert (plan[-1].stop if plan else 0) == len(lengths)
    assert [s.index for s in plan] == list(range(len(plan)))
    for s in plan:
        tokens = int(est[s.start : s.stop].sum())
        assert s.rows <= shard_size
        assert tokens <= shard_tokens or s.rows == 1
        if s.stop < len(lengths):  # cut only when the next document would break a limit
            assert s.rows == shard_size or tokens + int(est[s.stop]) > shard_tokens


def test_long_documents_are_sharded_by_tokens_short_ones_by_count() -> None:
    mldr = np.full(100_000, 40_000, dtype=np.int64)  # ~10k tokens each, cut at 8192
    plan = plan_token_shards(mldr, 100_000, 50_000_000, 8192)
    assert len(plan) == 17 and plan[0].rows == 50_000_000 // 8192
    miracl = np.full(250_000, 350, dtype=np.int64)
    assert [(s.start, s.stop) for s in plan_token_shards(miracl, 100_000, 50_000_000, 512)] == [
        (0, 100_000),
        (100_000, 200_000),
        (200_000, 250_000),
    ]
    with pytest.raises(EvalkitError, match="--shard-tokens -1"):
        plan_token_shards(mldr, 10, -1)


def test_results_identical_with_and_without_shard_tokens(tiny_model: Path, tmp_path: Path) -> None:
    rng = random.Random(1)
    corpus = [
        {
            "_id": f"doc{i:03d}",
            "title": "",
            "text": " ".join(rng.choices(WORDS, k=rng.randint(3, 60))),
        }
        for i in range(50)
    ]
    queries = [{"_id": f"q{i}", "text": " ".join(rng.choices(WORDS, k=4))} for i in range(8)]
    qrels = [(f"q{i}", f"doc{rng.randrange(50):03d}", 1) for i in range(8)]
    root = write_beir(tmp_path / "data", corpus, queries, qrels)

    def runs(out: Path) -> dict[tuple[str, str], float]:
        return {
            (f[0], f[2]): float(f[4])
            for p in out.rglob("*.trec")
            for f in (line.split() for line in p.read_text().splitlines())
        }

    # An encoder whose vectors do not depend on the batch: the runs are identical to the bit.
    # A transformer's vectors move in the last float32 bit with a batch's padded width (as
    # with any --shard-size), so the tiny BERT's metrics are identical and its scores equal to
    # 1e-6; it runs the pre-tokenised (flat int32) path.
    for model, exact in ((HashingEncoder(), True), (str(tiny_model), False)):
        got = []
        for tokens in (0, 300):
            out = tmp_path / f"{exact}-{tokens}"
            [rec] = evalkit.evaluate(
                model, str(root), shard_tokens=tokens, cache=False, save_run=True, output_dir=out
            )
            got.append((rec, runs(out)))
        (a, run_a), (b, run_b) = got
        assert a.search["shards"]["total"] == 1 and b.search["shards"]["total"] > 5
        assert b.search["shard_tokens"] == 300 and a.search["shard_tokens"] is None
        assert a.per_query == b.per_query and a.scores == b.scores
        assert run_a.keys() == run_b.keys()
        if exact:
            assert run_a == run_b
        else:
            assert max(abs(run_a[k] - run_b[k]) for k in run_a) < 1e-6


# ---- BM25 --------------------------------------------------------------------------------------


def _tokens_corpus(draw_docs: list[list[int]]) -> list[list[str]]:
    return [[f"t{x}" for x in doc] for doc in draw_docs]


@settings(max_examples=40, deadline=None)
@given(
    docs=st.lists(st.lists(st.integers(0, 60), max_size=40), min_size=1, max_size=80),
    queries=st.lists(st.lists(st.integers(0, 70), min_size=1, max_size=5), min_size=1, max_size=6),
    method=st.sampled_from(["lucene", "robertson", "atire", "bm25l", "bm25+"]),
    slice_size=st.integers(1, 30),
)
def test_streamed_bm25_index_equals_bm25s_own(
    docs: list[list[int]], queries: list[list[int]], method: str, slice_size: int
) -> None:
    import bm25s

    corpus = _tokens_corpus(docs)
    if not any(corpus):
        return
    own = bm25s.BM25(k1=0.9, b=0.4, method=method)
    own.index(corpus, show_progress=False)
    ours = bm25s.BM25(k1=0.9, b=0.4, method=method)
    stream = StreamingIndex()
    for s in range(0, len(corpus), slice_size):
        stream.add(corpus[s : s + slice_size])
    stream.build(ours)
    q = _tokens_corpus(queries)
    k = min(10, len(corpus))
    d1, s1 = own.retrieve(q, k=k, show_progress=False)
    d2, s2 = ours.retrieve(q, k=k, show_progress=False)
    np.testing.assert_array_equal(s1, s2)  # bit for bit
    np.testing.assert_array_equal(d1, d2)
    for term, i in own.vocab_dict.items():
        if term:
            j = ours.vocab_dict[term]
            a = slice(own.scores["indptr"][i], own.scores["indptr"][i + 1])
            b = slice(ours.scores["indptr"][j], ours.scores["indptr"][j + 1])
            np.testing.assert_array_equal(own.scores["data"][a], ours.scores["data"][b])
            np.testing.assert_array_equal(own.scores["indices"][a], ours.scores["indices"][b])


def test_bm25_scores_unchanged_on_the_test_collections(tmp_path: Path) -> None:
    """The run of the retriever equals bm25s indexing the token strings itself (v1's path),
    for the default analyzer and the earlier tokeniser."""
    import bm25s

    from evalkit.data import doc_text

    roots = [write_beir(tmp_path / "small", SMALL_CORPUS, SMALL_QUERIES, SMALL_QRELS)]
    roots.append(Path(evalkit.__file__).parent / "demo")
    for root, model in [(r, m) for r in roots for m in ("bm25", "bm25-multilingual-nostem")]:
        coll = load_beir_dir(root)
        qids = sorted(coll.queries)
        retriever = BM25Retriever(resolve_model(model))
        got = retriever.retrieve(coll, qids, top_k=100)
        tokenize = retriever.tokenizer(coll)
        tokens = [
            tokenize(doc_text(d, coll.title_join))
            for _, docs in coll.corpus.iter_slices(1000)
            for d in docs
        ]
        old = bm25s.BM25(k1=0.9, b=0.4, method="lucene")
        old.index(tokens, show_progress=False)
        asked = [q for q in qids if tokenize(coll.queries[q])]
        k = min(100, len(coll.corpus))
        idx, scores = old.retrieve(
            [tokenize(coll.queries[q]) for q in asked], k=k, show_progress=False
        )
        ids = coll.corpus.ids
        for row, q in enumerate(asked):
            keep = scores[row] > 0
            want = {ids[int(i)]: float(s) for i, s in zip(idx[row][keep], scores[row][keep])}
            assert got[q] == want, (root.name, model, q)


def test_bm25_index_memory_per_token(monkeypatch: pytest.MonkeyPatch) -> None:
    # Slices small next to the corpus, as 8,192 passages are next to MIRACL-en's 32.9M.
    monkeypatch.setattr(bm25_mod, "INDEX_SLICE_DOCS", 500)
    rng = np.random.default_rng(0)
    vocab = np.array([f"w{i}" for i in range(5000)], dtype=object)
    docs = [
        " ".join(vocab[rng.zipf(1.3, size=int(n)) % len(vocab)])
        for n in rng.integers(20, 100, size=12_000)
    ]
    coll = collection(docs)
    retriever = BM25Retriever(resolve_model("bm25"))
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        index = retriever.build_index(coll)
        retained = tracemalloc.get_traced_memory()[0] - base
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    n_tokens = sum(len(d.split()) for d in docs)
    assert index.scores["num_docs"] == len(docs)
    assert isinstance(next(iter(index.vocab_dict)), str) and len(index.vocab_dict) <= 5001
    # v1: every token a Python string (~65 bytes), and bm25s' arrays on top.
    assert retained / n_tokens <= 10, retained / n_tokens
    assert peak / n_tokens <= 16, peak / n_tokens


def test_bm25_refuses_a_corpus_that_cannot_fit_before_indexing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_beir(tmp_path / "small", SMALL_CORPUS, SMALL_QUERIES, SMALL_QRELS)
    monkeypatch.setattr(bm25_mod, "available_memory", lambda: 10)

    def never(*args, **kwargs):
        raise AssertionError("indexing started")

    monkeypatch.setattr(StreamingIndex, "add", never)
    with pytest.raises(EvalkitError) as e:
        evalkit.evaluate("bm25", str(root))
    msg = str(e.value)
    assert "\n" not in msg and "--model bm25-lucene" in msg and "GB is available" in msg
    # With the memory there, the same run indexes and scores.
    monkeypatch.undo()
    [rec] = evalkit.evaluate("bm25", str(root))
    assert rec.scores["ndcg_at_10"] > 0


def test_the_estimate_scales_with_the_corpus() -> None:
    small = collection(long_docs(50, 20))
    big = collection(long_docs(500, 20))
    need_small, tokens_small = bm25_mod.estimate_index_bytes(small)
    need_big, tokens_big = bm25_mod.estimate_index_bytes(big)
    assert 8 < tokens_big / tokens_small < 12 and need_big > need_small
    real = sum(len(d.split()) for d in long_docs(500, 20)) * 0.6  # ~ stop words removed
    assert 0.5 < tokens_big / real < 2
