from __future__ import annotations

import importlib.util
import math
import operator
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from evalkit.retrieval.search import exact_f32, exact_search

HAVE_FAISS = importlib.util.find_spec("faiss") is not None


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("doc_chunk,query_chunk", [(7, 3), (1000, 1000), (1, 1)])
def test_torch_search_equals_brute_force(doc_chunk: int, query_chunk: int) -> None:
    rng = np.random.default_rng(0)
    q, d = _unit(rng, 11, 16), _unit(rng, 53, 16)
    scores, idx = exact_search(q, d, 10, doc_chunk=doc_chunk, query_chunk=query_chunk)
    full = q @ d.T
    expect = np.argsort(-full, axis=1, kind="stable")[:, :10]
    np.testing.assert_array_equal(idx, expect)
    np.testing.assert_allclose(scores, np.take_along_axis(full, expect, 1), atol=1e-6)


def test_faiss_backend_matches_torch() -> None:
    pytest.importorskip("faiss")
    rng = np.random.default_rng(1)
    q, d = _unit(rng, 9, 32), _unit(rng, 200, 32)
    s1, i1 = exact_search(q, d, 20, backend="torch")
    s2, i2 = exact_search(q, d, 20, backend="faiss")
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_array_equal(s1, s2)  # both rescored exactly: bit for bit


def test_k_larger_than_corpus_and_progress() -> None:
    rng = np.random.default_rng(2)
    q, d = _unit(rng, 2, 4), _unit(rng, 5, 4)
    seen: list[int] = []
    scores, idx = exact_search(q, d, 1000, doc_chunk=2, progress=seen.append)
    assert idx.shape == (2, 5) and sorted(idx[0]) == [0, 1, 2, 3, 4]
    assert sum(seen) == 5


def test_memmap_input(tmp_path) -> None:
    rng = np.random.default_rng(3)
    d = _unit(rng, 40, 8)
    np.save(tmp_path / "d.npy", d)
    mm = np.load(tmp_path / "d.npy", mmap_mode="r")
    q = _unit(rng, 3, 8)
    _, i1 = exact_search(q, mm, 5, doc_chunk=16)
    _, i2 = exact_search(q, d, 5)
    np.testing.assert_array_equal(i1, i2)


def test_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="shape mismatch"):
        exact_search(np.zeros((2, 3), np.float32), np.zeros((4, 5), np.float32), 2)


@pytest.mark.parametrize("backend", ["torch", "faiss"])
def test_matryoshka_cut_inside_search_equals_cut_first(backend: str) -> None:
    pytest.importorskip("faiss")
    rng = np.random.default_rng(4)
    q, d = _unit(rng, 6, 32), _unit(rng, 70, 32)
    cut = d[:, :8] / np.linalg.norm(d[:, :8], axis=1, keepdims=True)
    qc = q[:, :8] / np.linalg.norm(q[:, :8], axis=1, keepdims=True)
    s1, i1 = exact_search(qc, d, 10, dim=8, doc_chunk=16, backend=backend)
    s2, i2 = exact_search(qc, cut, 10, backend=backend)
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_allclose(s1, s2, atol=1e-6)


# ---- exact scores: every pair is the float32 nearest to the exact inner product ------------

_SCALE = 2**149  # every float32 is an integer multiple of 2**-149


def _exact_ints(x: np.ndarray) -> list[list[int]]:
    """Rows of float32 as exact integers in units of 2**-149 (the scaling is exact in
    float64: a power of two, far from overflow)."""
    return [[int(v) for v in row] for row in (x.astype(np.float64) * float(_SCALE)).tolist()]


def _nearest_f32(x: Fraction) -> np.float32:
    """The float32 nearest to a rational, ties to even (subnormals and overflow included)."""
    if x == 0:
        return np.float32(0.0)
    a = abs(x)
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if a < Fraction(2) ** e:
        e -= 1
    quantum = Fraction(2) ** (max(e, -126) - 23)
    n, rem = divmod(a, quantum)
    if 2 * rem > quantum or (2 * rem == quantum and n % 2 == 1):
        n += 1
    v = n * quantum
    out = math.inf if v >= 2**128 else float(v)
    return np.float32(out if x > 0 else -out)


def reference_scores(q: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Brute force: each float32 product exact as a rational, summed exactly, rounded once."""
    qi, di = _exact_ints(q), _exact_ints(d)
    out = np.empty((len(qi), len(di)), np.float32)
    for a, qa in enumerate(qi):
        for b, db in enumerate(di):
            out[a, b] = _nearest_f32(Fraction(sum(map(operator.mul, qa, db)), _SCALE**2))
    return out


def reference_topk(full: np.ndarray, k: int, ranks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Top k by (score desc, tie rank desc), from the reference score matrix."""
    idx = np.array(
        [
            sorted(range(full.shape[1]), key=lambda j: (-full[r, j], -ranks[j]))[:k]
            for r in range(full.shape[0])
        ]
    ).reshape(full.shape[0], -1)
    return np.take_along_axis(full, idx, 1), idx


def _same(got: tuple[np.ndarray, np.ndarray], want: tuple[np.ndarray, np.ndarray]) -> None:
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], want[0])  # bit for bit (only -0.0 == 0.0 allowed)


def test_reference_rounding_itself() -> None:
    # The reference's rounding on known cases: midpoints go to even, just above goes up.
    one = Fraction(1)
    assert _nearest_f32(one + Fraction(1, 2**24)) == np.float32(1.0)
    assert _nearest_f32(one + Fraction(1, 2**24) + Fraction(1, 2**80)) == np.float32(1 + 2**-23)
    assert _nearest_f32(one + Fraction(3, 2**24)) == np.float32(1 + 2**-22)
    assert _nearest_f32(Fraction(1, 2**150)) == 0.0  # half the least subnormal: ties to 0
    assert _nearest_f32(Fraction(3, 2**151)) == np.float32(2.0**-149)
    assert _nearest_f32(-Fraction(2**128)) == -np.inf
    rng = np.random.default_rng(9)
    x = rng.standard_normal(200)
    assert [_nearest_f32(Fraction(v)) for v in x] == list(x.astype(np.float32))


# Vectors whose exact inner products sit on or next to float32 midpoints: powers of two far
# apart (a float64 sum drops the small ones, then rounds a midpoint to even), subnormals, and
# plain float32 noise.
_VALUE = st.one_of(
    st.builds(lambda m, e: m * 2.0**e, st.integers(-9, 9), st.integers(-62, 3)),
    st.floats(-4, 4, width=32),
    st.sampled_from([0.0, 2.0**-149, -(2.0**-140), 1.5 * 2.0**-126]),
)


@st.composite
def _instances(draw):
    w = draw(st.integers(1, 12))
    n_q, n_u = draw(st.integers(1, 3)), draw(st.integers(1, 8))
    rows = st.lists(_VALUE, min_size=w, max_size=w)
    q = np.array(draw(st.lists(rows, min_size=n_q, max_size=n_q)), np.float32)
    unique = np.array(draw(st.lists(rows, min_size=n_u, max_size=n_u)), np.float32)
    # documents repeat: duplicates must be ordered by tie rank wherever they are
    pick = draw(st.lists(st.integers(0, n_u - 1), min_size=1, max_size=14))
    d = unique[pick]
    ranks = np.array(draw(st.permutations(range(len(d)))), np.int64)
    k = draw(st.integers(1, len(d) + 1))
    chunk = draw(st.integers(1, len(d) + 1))
    return q, d, ranks, k, chunk


@settings(max_examples=150, deadline=None)
@given(_instances())
def test_scores_equal_exact_rational_reference(inst) -> None:
    q, d, ranks, k, chunk = inst
    want = reference_topk(reference_scores(q, d), min(k, len(d)), ranks)
    for backend in ("torch", "faiss") if HAVE_FAISS else ("torch",):
        got = exact_search(q, d, k, doc_chunk=chunk, query_chunk=2, ranks=ranks, backend=backend)
        _same(got, want)


@pytest.mark.parametrize(
    "terms,expect",
    [
        # exact 1 + 2**-24 + 2**-60: above the midpoint; a float64 sum rounds onto it, then
        # to even (1.0)
        ([1.0, 2.0**-24, 2.0**-60], 1 + 2.0**-23),
        # exact just below the midpoint 1 + 3 * 2**-24: float64 lands on it, even is 1 + 2**-22
        ([1.0, 3 * 2.0**-24, -(2.0**-60)], 1 + 2.0**-23),
        ([1.0, 2.0**-24], 1.0),  # a true midpoint: ties to even
        ([2.0**-75, 2.0**-75], 2.0**-74),
        ([2.0**-75, -(2.0**-75)], 0.0),
    ],
)
def test_double_rounding_cases(terms: list[float], expect: float) -> None:
    q = np.array([terms], np.float32)
    d = np.ones((3, len(terms)), np.float32)  # three identical documents
    for backend in ("torch", "faiss") if HAVE_FAISS else ("torch",):
        scores, idx = exact_search(q, d, 3, backend=backend, doc_chunk=2)
        assert scores.tolist() == [[np.float32(expect)] * 3]
        assert idx.tolist() == [[2, 1, 0]]  # equal scores: the larger tie rank first
    assert exact_f32(q[0], d[0]) == np.float32(expect)


def _backends() -> tuple[str, ...]:
    return ("torch", "faiss") if HAVE_FAISS else ("torch",)


def test_large_dims_mixed_magnitudes_where_float32_sums_err() -> None:
    # A dot-product model's vectors at 2048 dims, features of 1e-3, 1 and 1e3 mixed, and
    # clusters of near-duplicates: float32 GEMMs (torch's and faiss's) miss the exact score of
    # most pairs by up to dozens of ulps and order the clusters differently from the exact
    # scores; the search must still return exactly the reference's top k.
    rng = np.random.default_rng(5)
    w, n = 2048, 120
    q = rng.standard_normal((4, w)).astype(np.float32)
    q *= rng.choice(np.float32([1e-3, 1.0, 1e3]), size=(4, w))
    d = q[rng.integers(0, 4, n)] * (1 + 1e-5 * rng.standard_normal((n, w)).astype(np.float32))
    ref = reference_scores(q, d)
    s32 = (torch.from_numpy(q) @ torch.from_numpy(d).T).numpy()
    assert np.mean(s32 != ref) > 0.5
    for k in (10, 30):  # cuts inside a cluster and between two
        want = reference_topk(ref, k, np.arange(n))
        assert (np.argsort(-s32, axis=1, kind="stable")[:, :k] != want[1]).any()
        for chunk in (1, 7, 64, n):
            for backend in _backends() if chunk > 1 else ("torch",):
                _same(exact_search(q, d, k, doc_chunk=chunk, backend=backend), want)


def test_duplicates_rank_by_id_inside_a_block_and_across_shards() -> None:
    # The exact product of q with a vector of ones is 1 + 2**-24 + 3 * 2**-53: above the float32
    # midpoint, so 1 + 2**-23. Summed in float64 the small terms are lost or kept depending on
    # the BLAS kernel's order, which depends on the block's width and the column's place in
    # it: the old float64 scores gave some copies 1.0 and others 1.0000001, within one block
    # and from block size to block size, and ranked the copies by that. Six copies scattered
    # over the corpus (three side by side), tie ranks (the id order) unlike the position
    # order, the cut at k = 4 inside the tie: every copy must get the exact score and the four
    # with the largest ids stay, whatever the block size and backend.
    rng = np.random.default_rng(7)
    q = np.zeros((1, 9), np.float32)
    q[0, [1, 4, 5, 6, 7, 8]] = [1.0, 2.0**-54, 2.0**-53, 2.0**-54, 2.0**-24, 2.0**-53]
    d = rng.uniform(-0.5, 0.5, (40, 9)).astype(np.float32)
    spots = [3, 4, 5, 17, 29, 38]
    d[spots] = 1.0
    ranks = rng.permutation(40).astype(np.int64)
    want = reference_topk(reference_scores(q, d), 4, ranks)
    assert want[0].tolist() == [[1 + 2.0**-23] * 4]
    assert want[1][0].tolist() == sorted(spots, key=lambda j: -ranks[j])[:4]
    for chunk in (1, 2, 3, 4, 5, 8, 9, 40):
        for backend in _backends():
            _same(exact_search(q, d, 4, doc_chunk=chunk, ranks=ranks, backend=backend), want)


def test_device_path_of_the_rescoring_equals_the_cpu_path() -> None:
    # On a GPU the candidates' vectors go to the device as one tensor and are rescored with
    # torch; on CPU they are read where they lie with numpy. Both must give the same floats,
    # including pairs float64 cannot decide (here: sums on float32 midpoints).
    from evalkit.retrieval.search import _rescore

    rng = np.random.default_rng(8)
    q = rng.integers(-4, 5, (3, 6)).astype(np.float32) * np.float32(2.0**-20)
    q[:, 0] = 1.0
    d = rng.integers(-4, 5, (20, 6)).astype(np.float32) * np.float32(2.0**-5)
    d[:, 0] = 1.0
    qt, dt = torch.from_numpy(q), torch.from_numpy(d)
    rows = torch.arange(3).repeat_interleave(20)
    cols = torch.arange(20).repeat(3)
    err = torch.full((60,), 1e-14, dtype=torch.float64)
    on_cpu = _rescore(qt, rows, cols, err, lambda pos: d[pos])
    on_device = _rescore(qt, rows, cols, err, None, dt)
    np.testing.assert_array_equal(on_cpu.numpy(), on_device.numpy())
    # the CPU search's numpy path (no torch at all) too
    in_numpy = _rescore(q, rows.numpy(), cols.numpy(), err.numpy(), lambda pos: d[pos])
    np.testing.assert_array_equal(in_numpy, on_device.numpy())
    np.testing.assert_array_equal(on_cpu.numpy().reshape(3, 20), reference_scores(q, d))


@settings(max_examples=60, deadline=None)
@given(_instances(), st.lists(st.integers(1, 6), min_size=1, max_size=8))
def test_shard_by_shard_equals_reference(inst, shard_sizes: list[int]) -> None:
    # The runner's way: shards of any sizes merged one after the other into one running state
    # (each call starts from the state's exact k-th score), in both backends.
    from evalkit.retrieval.search import TopK, score_block

    q, d, ranks, k, chunk = inst
    k = min(k, len(d))
    want = reference_topk(reference_scores(q, d), k, ranks)

    # numpy queries: the CPU search (numpy throughout); tensors (and a state of tensors): the
    # device path, in torch
    def numpy_state() -> TopK:
        return TopK.empty(len(q), k)

    def torch_state() -> TopK:
        return TopK(k, torch.empty((len(q), 0), dtype=torch.int64), torch.empty((len(q), 0)).long())

    tq = torch.from_numpy(q)
    variants = [(q, numpy_state), (tq, numpy_state), (tq, torch_state)]
    for backend, (queries, new_state) in [(b, v) for b in _backends() for v in variants]:
        state, start, i = new_state(), 0, 0
        while start < len(d):
            stop = min(len(d), start + shard_sizes[i % len(shard_sizes)])
            score_block(
                state,
                queries,
                d[start:stop],
                start,
                ranks[start:stop],
                backend=backend,
                doc_chunk=chunk,
            )
            start, i = stop, i + 1
        _same(state.result(), want)


@st.composite
def _dup_instances(draw):
    """Rows that repeat earlier rows' vectors (duplicate texts), random ids, k and shard
    cuts. Vector entries from a few values, so that distinct groups tie too."""
    n = draw(st.integers(1, 30))
    copy_of = [draw(st.integers(-1, i - 1)) if i else -1 for i in range(n)]
    group = list(range(n))
    for i, j in enumerate(copy_of):
        if j >= 0:
            group[i] = group[j]
    vals = st.sampled_from([-1.0, -0.5, 0.0, 0.25, 1.0])
    w = draw(st.integers(1, 4))
    base = np.array(draw(st.lists(st.lists(vals, min_size=w, max_size=w), min_size=n,
                                  max_size=n)), dtype=np.float32)  # fmt: skip
    docs = base[group]
    n_q = draw(st.integers(1, 3))
    q = np.array(draw(st.lists(st.lists(vals, min_size=w, max_size=w), min_size=n_q,
                               max_size=n_q)), dtype=np.float32)  # fmt: skip
    ranks = np.array(draw(st.permutations(range(n))), dtype=np.int64)  # ids in random order
    k = draw(st.integers(1, n + 2))
    cuts = sorted(set(draw(st.lists(st.integers(1, max(n - 1, 1)), max_size=4))) - {n})
    torch_state = draw(st.booleans())
    backend = "faiss" if HAVE_FAISS and not torch_state and draw(st.booleans()) else "torch"
    return q, docs, np.array(group), ranks, k, cuts, torch_state, backend


@settings(max_examples=150, deadline=None)
@given(_dup_instances())
def test_searching_each_text_once_then_expanding_equals_brute_force(inst) -> None:
    """Only each group's first row is searched (ranked by the group's best tie rank); the
    expanded top-k equals brute force over every row: scores, order and trec_eval's ties."""
    from evalkit.retrieval.search import Duplicates, TopK, score_block

    q, docs, group, ranks, k, cuts, torch_state, backend = inst
    n = len(docs)
    k_eff = min(k, n)
    want_s, want_p = exact_search(q, docs, k, ranks=ranks, doc_chunk=3)
    dups = Duplicates.find(group, ranks)
    if torch_state:  # the torch path of the search (as on a GPU), on CPU tensors
        z = torch.empty((len(q), 0), dtype=torch.int64)
        state, queries = TopK(k_eff, z, z.clone()), torch.from_numpy(q)
    else:
        state, queries = TopK.empty(len(q), k_eff), q
    for a, b in zip([0, *cuts], [*cuts, n]):
        tie = ranks[a:b] if dups is None else dups.search_ranks(a, ranks[a:b])
        keep = None if dups is None else dups.keep(a, b)
        if keep is None:
            score_block(state, queries, docs[a:b], a, tie, doc_chunk=2, backend=backend)
        else:
            score_block(state, queries, docs[a:b][keep], a, tie[keep], doc_chunk=2,
                        positions=a + keep, backend=backend)  # fmt: skip
    got_s, got_p = state.result()
    if dups is not None:
        assert dups.count == n - len(set(group.tolist()))
        got_s, got_p = dups.expand(got_s, got_p, ranks, k_eff)
    np.testing.assert_array_equal(got_p, want_p)
    np.testing.assert_array_equal(got_s, want_s)
