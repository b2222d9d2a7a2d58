"""Dense retrieval in shards: encode -> (cache) -> score at every dim -> merge into top-k.

Peak memory is one shard of embeddings, the queries and the top-k state per dim, whatever the
corpus size: MIRACL-en (32.9M passages) streams through the same loop as a 5,000-passage test.
"""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evalkit import faults
from evalkit.data import Collection, doc_text
from evalkit.errors import EvalkitError
from evalkit.models.base import Encoder, Lengths, TokenIds, as_token_ids, local_model_fingerprint
from evalkit.retrieval import distributed
from evalkit.retrieval.cache import ShardCache, cache_key, ids_digest
from evalkit.retrieval.progress import Progress, Stats
from evalkit.retrieval.search import Backend, TopK, cut_dim, score_block
from evalkit.retrieval.shards import DEFAULT_SHARD_TOKENS, cut_ranges, plan_token_shards

ENCODE_CODE_VERSION = "2"
"""Bump when evalkit's encoding code changes the vectors it makes (tokens, pooling,
normalisation): cached shards of older code are then never reused."""

DEFAULT_SHARD_SIZE = 100_000
"""About 2-5 minutes of drama-1b on one H100-class GPU at MIRACL's passage lengths; small
enough that a kill loses little, large enough that per-shard overhead is noise."""


@dataclass(frozen=True)
class RetrievalSettings:
    """Per-call settings of a retrieval (nothing is set on the model)."""

    top_k: int = 1000
    dims: tuple[int | None, ...] = (None,)
    """Matryoshka dims to search; ``None`` is the full dim."""
    lengths: Lengths = Lengths(None, None)
    batch_size: int | None = None
    shard_size: int = DEFAULT_SHARD_SIZE
    shard_tokens: int | None = DEFAULT_SHARD_TOKENS
    """Cut shards at about this many tokens too (estimated from byte lengths; ``None`` or 0:
    by documents only). See :mod:`evalkit.retrieval.shards`."""
    backend: Backend = "torch"
    cache: bool = True
    cache_dir: Path | None = None
    cache_dtype: str = "float32"
    search_device: str | None = None


Run = dict[str, dict[str, float]]


@dataclass
class RetrievalResult:
    runs: dict[int | None, Run]
    """dim (``None``: the full dim, or a sparse model) -> run."""
    full_dim: int | None
    stats: Stats
    info: dict[str, Any]
    """What the record's ``search`` section says about how the run was made."""


def model_identity(encoder: Any) -> dict[str, Any]:
    """What identifies the model that made a vector (cache key and record)."""
    spec = encoder.spec
    local = spec.extra.get("local_dir") or (
        spec.hf_id if spec.hf_id and Path(spec.hf_id).is_dir() else None
    )
    return {
        "local_fingerprint": local_model_fingerprint(local),
        "name": spec.name,
        "hf_id": spec.hf_id,
        "revision": getattr(encoder, "revision", None) or spec.revision,
        "kind": spec.kind,
        "dtype": str(getattr(encoder, "dtype", "")).replace("torch.", "") or None,
        "query_prefix": getattr(encoder, "query_prefix", spec.query_prefix),
        "doc_prefix": getattr(encoder, "doc_prefix", spec.doc_prefix),
        "pooling": spec.pooling,
        "normalize": spec.normalize,
        "similarity": spec.similarity,
    }


def _cache_key(encoder: Any, coll: Collection, lengths: Lengths) -> str | None:
    src = coll.source
    if not (src.get("fingerprint") or (src.get("id") and src.get("revision"))):
        return None  # an in-memory collection has no identity to key on
    from evalkit.results import environment

    packages = environment("cpu")["packages"]
    return cache_key(
        {
            "code": ENCODE_CODE_VERSION,
            # Vectors change with the libraries that make them (the DRAMA breakage was a
            # transformers upgrade), so their versions and the attention backend are keyed.
            "packages": {
                p: packages.get(p) for p in ("torch", "transformers", "sentence-transformers")
            },
            "attn": getattr(encoder, "attn_implementation", None),
            "model": model_identity(encoder),
            "max_doc_length": lengths.doc,
            "title_join": coll.title_join,
            "corpus": {k: v for k, v in src.items() if k != "path"},
            "name": coll.name,
            "language": coll.language,
            "n": len(coll.corpus),
        }
    )


def _takes(fn: Callable[..., Any], name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _length_kw(fn: Callable[..., Any], max_length: int | None) -> dict[str, Any]:
    """``max_length=`` for encoders that take it (a user's own encoder may not)."""
    return {"max_length": max_length} if max_length and _takes(fn, "max_length") else {}


def check_finite(emb: np.ndarray, what: str, ids: list[str], model: str) -> None:
    """NaN or inf would rank first for every query: refuse, naming the culprits."""
    bad = ~np.isfinite(emb).all(axis=1)
    if bad.any():
        where = [ids[i] for i in np.flatnonzero(bad)[:5]]
        raise EvalkitError(
            f"--model {model}: {int(bad.sum())} {what} embedding(s) contain NaN or inf "
            f"(e.g. {', '.join(where)}); try --dtype float32"
        )


def corpus_tie_ranks(ids: Any) -> np.ndarray:
    """Rank of each document id (an Arrow string array) in byte order, computed by Arrow
    with no Python list of ids; int32 below 2**31 documents (4 bytes a document: 130 MB for
    MIRACL-en), widened per block when scoring."""
    import pyarrow.compute as pc

    ranks = pc.rank(ids, sort_keys="ascending", tiebreaker="first").to_numpy()
    return (ranks - 1).astype(np.int32 if len(ids) < 2**31 else np.int64)


class DenseRetriever:
    """An :class:`~evalkit.models.base.Encoder` as a shard-streaming exact retriever."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder
        self.spec = encoder.spec

    def retrieve(
        self,
        coll: Collection,
        qids: list[str],
        settings: RetrievalSettings,
        *,
        progress: Progress | None = None,
        dist: distributed.Dist | None = None,
    ) -> RetrievalResult:
        enc = self.encoder
        dist = dist or distributed.Dist()
        progress = progress or Progress(False)
        stats = Stats()
        name = enc.spec.name
        normalize = enc.spec.normalize
        device = settings.search_device or str(getattr(enc, "device", "cpu"))

        t = time.perf_counter()
        q = enc.encode_queries(
            [coll.queries[x] for x in qids],
            batch_size=settings.batch_size,
            **_length_kw(enc.encode_queries, settings.lengths.query),
        )
        check_finite(q, "query", qids, name)
        stats.queries_s = time.perf_counter() - t
        full_dim = int(q.shape[1])
        import torch

        q_dims = {d: torch.from_numpy(cut_dim(q, d, normalize)).to(device) for d in settings.dims}
        n = len(coll.corpus)
        k = min(settings.top_k, n)
        states = {d: TopK.empty(len(qids), k, device) for d in settings.dims}
        ids = coll.corpus.id_array()
        ranks = corpus_tie_ranks(ids)
        lengths = coll.corpus.byte_lengths().astype(np.int32)  # plan, and sorts in a shard
        shards = plan_token_shards(
            lengths, settings.shard_size, settings.shard_tokens, settings.lengths.doc
        )
        mine = [s for s in shards if dist.owns(s.index)]
        stats.shards_total = len(shards)

        cache = None
        key = _cache_key(enc, coll, settings.lengths) if settings.cache else None
        if key is not None:
            cache = ShardCache(settings.cache_dir, key, settings.cache_dtype)
            cache.remove_stale_temp()
            stats.cache_dir = str(cache.dir)

        pretokenize = hasattr(enc, "tokenize_documents") and hasattr(enc, "encode_tokenized")
        with_progress = pretokenize or _takes(enc.encode_documents, "progress")
        tokenize = None
        if pretokenize:

            def tokenize(texts: list[str]) -> Any:
                return enc.tokenize_documents(texts, max_length=settings.lengths.doc)

        prefetch = _Prefetch(coll, lengths, tokenize)
        feed = None if with_progress else max(256, 8 * (settings.batch_size or 32))

        def needs_text(shard: Any) -> bool:
            return cache is None or not cache.has(shard)

        try:
            with progress.task(f"encode+search {coll.key}", sum(s.rows for s in mine)) as adv:
                if mine and needs_text(mine[0]):
                    prefetch.start(mine[0])
                for i, shard in enumerate(mine):
                    shard_ids = ids.slice(shard.start, shard.rows).to_pylist()
                    digest = ids_digest(shard_ids)
                    emb = cache.load(shard, digest, full_dim) if cache is not None else None
                    if emb is None:
                        texts, order = prefetch.take(shard)
                    if i + 1 < len(mine) and needs_text(mine[i + 1]):
                        prefetch.start(mine[i + 1])  # read the next shard's text meanwhile
                    if emb is None:
                        if cache is not None and stats.shards_computed == 0:
                            cache.ensure_space(sum(s.rows for s in mine[i:]), full_dim)
                        t = time.perf_counter()
                        emb = self._encode_shard(texts, order, settings, adv, feed, stats)
                        stats.encode_s += time.perf_counter() - t
                        stats.docs_encoded += shard.rows
                        check_finite(emb, "document", shard_ids, name)
                        faults.point("shard-encoded")
                        if cache is not None:
                            cache.store(
                                shard,
                                digest,
                                emb,
                                {"model": model_identity(enc), "collection": coll.key},
                            )
                            # Score what a warm run will read back (float16 rounds).
                            emb = emb.astype(settings.cache_dtype).astype(np.float32)
                            faults.point("shard-written")
                        stats.shards_computed += 1
                    else:
                        emb = emb.astype(np.float32)
                        stats.shards_reused += 1
                        adv(shard.rows, 0)
                    t = time.perf_counter()
                    for d in settings.dims:
                        score_block(
                            states[d],
                            q_dims[d],
                            cut_dim(emb, d, normalize),
                            shard.start,
                            ranks[shard.start : shard.stop],
                            backend=settings.backend,
                        )
                    faults.point("shard-searched")
                    stats.search_s += time.perf_counter() - t
        finally:
            prefetch.close()
        if dist.active:
            # The record speaks for the whole run, not for rank 0's share of the shards.
            counts = distributed.all_reduce(
                dist,
                [
                    stats.shards_reused,
                    stats.shards_computed,
                    stats.docs_encoded,
                    stats.tokens_encoded,
                ],
            )
            stats.shards_reused, stats.shards_computed, stats.docs_encoded = map(int, counts[:3])
            stats.tokens_encoded = int(counts[3])
            stats.encode_s, stats.search_s = distributed.all_reduce(
                dist, [stats.encode_s, stats.search_s], "max"
            )  # wall time of the slowest rank: tokens/s is then the whole run's
        runs = {}
        for d, st in states.items():
            if dist.active:
                st.keys, st.positions = distributed.gather_topk(dist, st.keys, st.positions, k)
                st.merge(st.keys[:, :0], st.positions[:, :0])  # re-cut to k
            scores, positions = st.result()
            runs[d] = {
                qid: dict(zip(ids.take(positions[row]).to_pylist(), scores[row].tolist()))
                for row, qid in enumerate(qids)
            }
        if cache is not None:
            stats.cache_bytes = cache.size_bytes()
        return RetrievalResult(runs, full_dim, stats, self.describe(coll, settings))

    def describe(self, coll: Collection, settings: RetrievalSettings) -> dict[str, Any]:
        """The search settings a record states (and its identity keys on)."""
        info: dict[str, Any] = {"backend": settings.backend, "exact": True}
        cached = settings.cache and _cache_key(self.encoder, coll, settings.lengths)
        if cached and settings.cache_dtype != "float32":
            info["cache_dtype"] = settings.cache_dtype  # float16 vectors change the scores
        return info

    def _encode_shard(
        self,
        texts: Any,
        order: np.ndarray,
        settings: RetrievalSettings,
        advance: Callable[[int, int], None],
        feed: int | None,
        stats: Stats,
    ) -> np.ndarray:
        """Embeddings of one shard in corpus order. ``texts`` (or their token ids, when the
        encoder tokenises separately) are in ``order`` (longest first), so batches are of
        like lengths; rows are put back after encoding."""
        enc = self.encoder
        kw: dict[str, Any] = {
            "batch_size": settings.batch_size,
            **_length_kw(enc.encode_documents, settings.lengths.doc),
        }
        if feed is None:

            def counted(n_docs: int, n_tokens: int) -> None:
                stats.tokens_encoded += n_tokens
                advance(n_docs, n_tokens)

            if hasattr(enc, "encode_tokenized") and hasattr(enc, "tokenize_documents"):
                sorted_emb = enc.encode_tokenized(
                    texts, batch_size=settings.batch_size, progress=counted
                )
            else:
                sorted_emb = enc.encode_documents(texts, progress=counted, **kw)
        else:
            parts = []
            for s in range(0, len(texts), feed):
                parts.append(enc.encode_documents(texts[s : s + feed], **kw))
                advance(len(parts[-1]), 0)
            sorted_emb = np.concatenate(parts) if parts else np.empty((0, 0), np.float32)
        out = np.empty_like(sorted_emb, dtype=np.float32)
        out[order] = sorted_emb
        return out


TOKENIZE_SLICE_BYTES = 4_000_000
"""Bytes of text read and tokenised at a time when pre-tokenising a shard (~1M tokens)."""


class _Prefetch:
    """Reads (and joins) the next shard's texts on a thread while the current one encodes:
    Arrow reads release the GIL, so the device is not left waiting on the disk."""

    def __init__(
        self,
        coll: Collection,
        byte_lengths: np.ndarray,
        tokenize: Callable[[list[str]], Any] | None = None,
    ) -> None:
        self.coll = coll
        self.lengths = byte_lengths
        self.tokenize = tokenize
        self._thread: threading.Thread | None = None
        self._shard: tuple[int, int] | None = None
        self._out: tuple[Any, np.ndarray] | BaseException | None = None

    def _texts(self, start: int, stop: int) -> list[str]:
        # One contiguous Arrow slice: a per-row gather is far slower.
        cols = self.coll.corpus.dataset.select_columns(["title", "text"])[start:stop]
        join = self.coll.title_join
        return [
            doc_text({"title": t or "", "text": x or ""}, join)
            for t, x in zip(cols["title"], cols["text"])
        ]

    def read(self, start: int, stop: int) -> tuple[Any, np.ndarray]:
        """Texts of rows ``start..stop``, longest first, and that order; or, when the encoder
        tokenises separately, their token ids in corpus order (``encode_tokenized`` sorts by
        token length itself) as flat int32 arrays. Fast tokenizers release the GIL, so this
        overlaps the device work of the shard before. Texts are read and tokenised a slice
        of at most :data:`TOKENIZE_SLICE_BYTES` at a time: neither the shard's texts nor a
        Python list of its ids is ever held whole (MLDR: ~3.3e8 tokens a 100k shard)."""
        if self.tokenize is not None:
            parts = []
            for a, b in cut_ranges(self.lengths[start:stop], TOKENIZE_SLICE_BYTES, 4096):
                parts.append(as_token_ids(self.tokenize(self._texts(start + a, start + b))))
            return TokenIds.concat(parts), np.arange(stop - start)
        order = np.argsort(-self.lengths[start:stop], kind="stable")
        texts = self._texts(start, stop)
        return [texts[i] for i in order], order

    def _run(self, start: int, stop: int) -> None:
        try:
            self._out = self.read(start, stop)
        except BaseException as e:  # handed to the main thread
            self._out = e

    def start(self, shard: Any) -> None:
        self.close()  # a prefetch left unused (its shard was cached meanwhile) is dropped
        self._shard = (shard.start, shard.stop)
        self._thread = threading.Thread(target=self._run, args=(shard.start, shard.stop))
        self._thread.daemon = True
        self._thread.start()

    def take(self, shard: Any) -> tuple[Any, np.ndarray]:
        """The prefetched texts of ``shard``, or read now if none was started for it."""
        if self._thread is None or self._shard != (shard.start, shard.stop):
            self.close()
            return self.read(shard.start, shard.stop)
        self._thread.join()
        self._thread = None
        out, self._out = self._out, None
        if isinstance(out, BaseException):
            raise out
        assert out is not None
        return out

    def close(self) -> None:
        if self._thread is not None:
            self._thread.join()
        self._thread, self._out = None, None
