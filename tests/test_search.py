from __future__ import annotations

import numpy as np
import pytest

from evalkit.retrieval.search import exact_search


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
    np.testing.assert_allclose(s1, s2, atol=1e-5)


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
