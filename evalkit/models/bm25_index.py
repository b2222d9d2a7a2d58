"""A bm25s index built from a stream of documents in bounded memory.

bm25s' own ``index()`` wants every document's tokens at once: as Python strings (~65 bytes a
token; MIRACL-en's ~2e9 tokens would need ~130 GB) or as lists of Python ints. Here documents
arrive in slices; each slice's tokens get ids from a vocabulary built as it goes and become,
straight away, that slice's postings: one (term id, term frequency) pair per distinct term of
each document, as int32/uint16 arrays. Nothing per token outlives its slice. When every slice
is in, the postings are scored with bm25s' own formulas (its idf and tf functions, called on
the same values and dtypes, so every float is the one bm25s computes) and laid out as its CSC
matrix, slice by slice into preallocated arrays. The result is handed to a ``bm25s.BM25``
object, which retrieves exactly as if it had indexed the corpus itself
(``tests/test_memory.py`` compares the two on random corpora).

Memory: the postings (6-8 bytes each) while streaming; at the end at most those plus the
index (8 bytes a posting: float32 score, int32 document). A posting is a distinct
(document, term) pair, so never more than the tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

PEAK_BYTES_PER_TOKEN = 16
"""Upper bound of index-building memory per token (postings + final index); used to say
before indexing when a corpus cannot fit."""


class StreamingIndex:
    """Feed slices of tokenised documents with :meth:`add`, then :meth:`build`."""

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}
        self._terms: list[np.ndarray] = []  # per slice: term id of each posting (int32)
        self._tfs: list[np.ndarray] = []  # per slice: its term frequency (uint16 or int32)
        self._per_doc: list[np.ndarray] = []  # per slice: postings of each document (int32)
        self._doc_lens: list[np.ndarray] = []  # per slice: tokens of each document (int32)
        self.n_docs = 0
        self.n_tokens = 0

    def add(self, docs: Sequence[Sequence[str]]) -> None:
        """One slice of documents, each its list of tokens (in corpus order)."""
        vocab = self.vocab
        get = vocab.get

        def ids() -> Iterable[int]:
            for doc in docs:
                for t in doc:
                    i = get(t)
                    if i is None:
                        i = vocab[t] = len(vocab)
                    yield i

        lens = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
        total = int(lens.sum())
        flat = np.fromiter(ids(), dtype=np.int64, count=total)
        doc = np.repeat(np.arange(len(docs), dtype=np.int64), lens)
        # One key per token, (document, term): unique keys are the postings, doc-major.
        keys, tf = np.unique((doc << 32) | flat, return_counts=True)
        del flat, doc
        self._terms.append((keys & 0xFFFFFFFF).astype(np.int32))
        self._per_doc.append(
            np.bincount(keys >> 32, minlength=len(docs)).astype(np.int32)
            if len(keys)
            else np.zeros(len(docs), np.int32)
        )
        del keys
        self._tfs.append(tf.astype(np.uint16 if tf.max(initial=0) < 2**16 else np.int32))
        self._doc_lens.append(lens.astype(np.int32))
        self.n_docs += len(docs)
        self.n_tokens += total

    def build(self, bm25: Any) -> None:
        """Score the postings as bm25s would and install the index on ``bm25`` (a
        ``bm25s.BM25``): ``scores``, ``vocab_dict``, ``unique_token_ids_set``,
        ``nonoccurrence_array``. Consumes the postings."""
        from bm25s.scoring import (
            _build_nonoccurrence_array,
            _select_idf_scorer,
            _select_tfc_scorer,
        )

        n_docs, n_vocab = self.n_docs, len(self.vocab)
        doc_lens = np.concatenate(self._doc_lens) if self._doc_lens else np.zeros(0, np.int32)
        self._doc_lens = []
        # bm25s: np.array([len(doc) ...]).mean(), an int64 array's mean.
        avg_doc_len = doc_lens.astype(np.int64).mean()
        df = np.zeros(n_vocab, dtype=np.int64)
        for terms in self._terms:
            df += np.bincount(terms, minlength=n_vocab)
        # idf as bm25s computes it: its function on Python ints, stored as float32; one call
        # per distinct document frequency.
        idf_fn = _select_idf_scorer(bm25.idf_method)
        idf = np.zeros(n_vocab, dtype=bm25.dtype)
        uniq, inverse = np.unique(df, return_inverse=True)
        per_df = np.array(
            [idf_fn(int(d), N=n_docs) if d != 0 else 0.0 for d in uniq], dtype=np.float64
        )
        idf[:] = per_df[inverse]
        nonocc = None
        if bm25.method in bm25.methods_requiring_nonoccurrence:
            nonocc = _build_nonoccurrence_array(
                doc_frequencies={i: int(d) for i, d in enumerate(df)},
                n_docs=n_docs,
                compute_idf_fn=idf_fn,
                calculate_tfc_fn=_select_tfc_scorer(bm25.method),
                l_d=avg_doc_len,
                l_avg=avg_doc_len,
                k1=bm25.k1,
                b=bm25.b,
                delta=bm25.delta,
                dtype=bm25.dtype,
            )
        tfc_fn = _select_tfc_scorer(bm25.method)
        nnz = int(df.sum())
        indptr = np.zeros(n_vocab + 1, dtype=np.int64)
        np.cumsum(df, out=indptr[1:])
        del df
        data = np.empty(nnz, dtype=bm25.dtype)
        indices = np.empty(nnz, dtype=bm25.int_dtype)
        fill = indptr[:-1].copy()  # next free slot of each term's column
        first_doc = 0
        while self._terms:
            terms, tf, per_doc = self._terms.pop(0), self._tfs.pop(0), self._per_doc.pop(0)
            docs = np.repeat(np.arange(first_doc, first_doc + len(per_doc)), per_doc)
            first_doc += len(per_doc)
            scores = _scores(terms, tf, doc_lens[docs], idf, nonocc, tfc_fn, avg_doc_len, bm25)
            # Counting sort into the columns: stable, so documents stay ascending in each.
            order = np.argsort(terms, kind="stable")
            ts = terms[order]
            cols, starts, counts = np.unique(ts, return_index=True, return_counts=True)
            rank = np.arange(len(ts)) - np.repeat(starts, counts)
            pos = fill[ts] + rank
            data[pos] = scores[order]
            indices[pos] = docs[order]
            fill[cols] += counts
        bm25.scores = {"data": data, "indices": indices, "indptr": indptr, "num_docs": n_docs}
        bm25.vocab_dict = self.vocab
        if "" not in self.vocab:  # as bm25s' index(create_empty_token=True)
            self.vocab[""] = n_vocab
        bm25.unique_token_ids_set = set(self.vocab.values())
        bm25.nonoccurrence_array = nonocc


def _scores(
    terms: np.ndarray,
    tf: np.ndarray,
    l_d: np.ndarray,
    idf: np.ndarray,
    nonocc: np.ndarray | None,
    tfc_fn: Callable[..., Any],
    avg_doc_len: Any,
    bm25: Any,
) -> np.ndarray:
    """BM25 score of each posting, bit for bit bm25s': it calls ``tfc_fn`` once per document
    with ``l_d`` a Python int and a float32 tf array; here once per distinct document length
    (the same scalar, the same elementwise operations and dtypes) over all its postings."""
    out = np.empty(len(terms), dtype=bm25.dtype)
    order = np.argsort(l_d, kind="stable")
    lens, starts = np.unique(l_d[order], return_index=True)
    bounds = [*starts.tolist(), len(order)]
    for j, length in enumerate(lens.tolist()):
        sel = order[bounds[j] : bounds[j + 1]]
        tf_array = tf[sel].astype(bm25.dtype)
        tfc = tfc_fn(
            tf_array=tf_array, l_d=length, l_avg=avg_doc_len, k1=bm25.k1, b=bm25.b, delta=bm25.delta
        )
        s = idf[terms[sel]] * tfc
        if nonocc is not None:
            s -= nonocc[terms[sel]]
        out[sel] = s
    return out
