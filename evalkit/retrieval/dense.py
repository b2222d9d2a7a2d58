"""Dense retrieval in shards: encode -> (cache) -> score at every dim -> merge into top-k.

Peak memory is one shard of embeddings, the queries and the top-k state per dim, whatever the
corpus size: MIRACL-en (32.9M passages) streams through the same loop as a 5,000-passage test.
"""

from __future__ import annotations

import inspect
import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evalkit import faults
from evalkit.arrow_file import index_array, plain_numpy
from evalkit.data import Collection, doc_text
from evalkit.errors import EvalkitError
from evalkit.models.base import (
    Encoder,
    Lengths,
    ModelSpec,
    TokenIds,
    as_token_ids,
    local_model_fingerprint,
)
from evalkit.retrieval import distributed
from evalkit.retrieval.cache import QueryCache, ShardCache, TextsDigest, cache_key, ids_digest
from evalkit.retrieval.progress import Advance, Progress, Stats
from evalkit.retrieval.search import Backend, TopK, cut_dim, score_block, search_queries
from evalkit.retrieval.shards import (
    DEFAULT_SHARD_TOKENS,
    cut_ranges,
    estimated_tokens,
    plan_token_shards,
)

ENCODE_CODE_VERSION = "4"
"""Bump when evalkit's encoding code changes the vectors it makes (document strings, tokens,
pooling, normalisation): cached shards of older code are then never reused. 3: documents are
``(title + " " + text).strip()`` as mteb builds them, not title and text stripped apart.
4: sentence-transformers models batch by token count (other batch mates: last bits move)."""

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


def _once(encoder: Any, what: tuple[Any, ...], make: Callable[[], Any]) -> Any:
    """``make()`` computed once per encoder and ``what`` (a 5 GB checkpoint is hashed once a
    run, not once per collection, record and shard), kept on the encoder when it allows."""
    memo = getattr(encoder, "_evalkit_once", None)
    if not isinstance(memo, dict):
        memo = {}
        try:
            encoder._evalkit_once = memo
        except (AttributeError, TypeError):
            pass  # an encoder with __slots__ or frozen: computed each time (memo file helps)
    if what not in memo:
        memo[what] = make()
    return memo[what]


def _local_dir(spec: Any) -> str | None:
    return spec.extra.get("local_dir") or (
        spec.hf_id if spec.hf_id and Path(spec.hf_id).is_dir() else None
    )


def _commit(encoder: Any, spec: Any, local: str | None) -> str | None:
    """The revision a cache key and a record name: a Hub model's commit, never a branch.
    Encoders evalkit loads hold the commit they loaded; an encoder of one's own whose spec
    names a branch or tag gets it resolved (Hub, else the Hugging Face cache) or refused."""
    rev = getattr(encoder, "revision", None) or spec.revision
    if not rev or local or not spec.hf_id:
        return rev  # a local folder is known by its fingerprint; no Hub id: a plain label
    from evalkit.hub import hub_mode, is_commit, resolve_commit

    if is_commit(rev):
        return rev

    def resolve() -> str | None:
        with hub_mode():
            return resolve_commit(spec.hf_id, rev)

    commit = _once(encoder, ("commit", spec.hf_id, rev), resolve)
    if commit is None:
        raise EvalkitError(
            f"--model {spec.name}: revision {rev!r} of {spec.hf_id} cannot be resolved to a "
            "commit (not on the Hub, or not in the Hugging Face cache while offline); a "
            "branch moves, so results and cached vectors are keyed by commit only"
        )
    return commit


def model_identity(encoder: Any) -> dict[str, Any]:
    """What identifies the model that made a vector (cache key and record): for a Hub model
    the commit, for a local folder a fingerprint of the contents of its weight, config and
    tokenizer files (computed once per encoder)."""
    spec = encoder.spec
    local = _local_dir(spec)
    return {
        "local_fingerprint": _once(
            encoder, ("fingerprint", local), lambda: local_model_fingerprint(local)
        ),
        "name": spec.name,
        "hf_id": spec.hf_id,
        "revision": _commit(encoder, spec, local),
        "kind": spec.kind,
        "dtype": str(getattr(encoder, "dtype", "")).replace("torch.", "") or None,
        "query_prefix": getattr(encoder, "query_prefix", spec.query_prefix),
        "doc_prefix": getattr(encoder, "doc_prefix", spec.doc_prefix),
        "pooling": spec.pooling,
        "normalize": spec.normalize,
        "similarity": spec.similarity,
    }


PROFILE_ATTRS = (
    "dim",
    "revision",
    "dtype",
    "device",
    "query_prefix",
    "doc_prefix",
    "attn_implementation",
    "max_query_length",
    "max_doc_length",
    "length_limit",
)
"""What evalkit reads from a loaded encoder without encoding anything (records, cache key,
token limits, dims, search device): all a run whose vectors are cached needs of it."""


def _plain(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


def encoder_profile(encoder: Any) -> dict[str, Any]:
    """The JSON :class:`LazyEncoder` is rebuilt from: the loaded spec, :data:`PROFILE_ATTRS`
    (and which of them the encoder lacks) and its :func:`model_identity`."""
    attrs = {a: _plain(getattr(encoder, a)) for a in PROFILE_ATTRS if hasattr(encoder, a)}
    return {
        "spec": json.loads(json.dumps(asdict(encoder.spec), default=str)),
        "attrs": attrs,
        "absent": [a for a in PROFILE_ATTRS if a not in attrs],
        "identity": model_identity(encoder),
    }


class LazyEncoder:
    """Stands for an encoder that has not been loaded: what :data:`PROFILE_ATTRS` and
    ``spec`` say comes from a recorded profile; anything else (``encode_queries``,
    ``tokenize_documents``...) loads the encoder through ``load`` first and is its own.
    So a run whose query and corpus vectors are all cached never loads the model."""

    def __init__(
        self,
        profile: dict[str, Any],
        load: Callable[[], Any],
        once: dict[tuple[Any, ...], Any] | None = None,
    ) -> None:
        spec = {k: tuple(v) if isinstance(v, list) else v for k, v in profile["spec"].items()}
        self.spec = ModelSpec(**spec)
        self.__dict__.update(profile["attrs"])
        self._absent = frozenset(profile["absent"])
        self._loader = load
        self._real: Any = None
        self._evalkit_once = dict(once or {})  # the fingerprint computed for the key

    def __getattr__(self, name: str) -> Any:
        # Only for names not set above: a recorded absence stays absent without a load.
        if name.startswith("__") or name in self.__dict__.get("_absent", ()):
            raise AttributeError(name)
        return getattr(self.load(), name)

    @property
    def loaded(self) -> bool:
        return self._real is not None

    def load(self) -> Any:
        if self._real is None:
            self._real = self._loader()
        return self._real


def lazy_matches(lazy: LazyEncoder, encoder: Any) -> bool:
    """Whether ``lazy`` states exactly what ``encoder`` would: spec, attributes, identity."""
    return asdict(lazy.spec) == asdict(encoder.spec) and encoder_profile(lazy) == encoder_profile(
        encoder
    )


KEYED_PACKAGES = ("torch", "transformers", "sentence-transformers", "tokenizers")
"""Libraries whose versions change the vectors (the DRAMA breakage was a transformers
upgrade; a tokenizers upgrade can change token ids)."""


def _package_versions() -> dict[str, str | None]:
    from evalkit.results import package_version

    return {p: package_version(p) for p in KEYED_PACKAGES}


def cache_parts(encoder: Any, coll: Collection, lengths: Lengths) -> dict[str, Any] | None:
    """Everything that changes a document's vector, and nothing else: the model identity
    and encoding settings, library versions, and which corpus (Hub id, commit and config, or
    the name of a local one). A local corpus's file fingerprint is left out: it also covers
    queries, qrels and, for a repository copy, every other language, none of which changes a
    vector; each shard's manifest binds it to the exact texts it encoded instead."""
    src = coll.source
    if not (src.get("fingerprint") or (src.get("id") and src.get("revision"))):
        return None  # an in-memory collection has no identity to key on
    return {
        "code": ENCODE_CODE_VERSION,
        "packages": _package_versions(),
        "attn": getattr(encoder, "attn_implementation", None),
        "model": model_identity(encoder),
        "max_doc_length": lengths.doc,
        "title_join": coll.title_join,
        "corpus": {k: v for k, v in src.items() if k not in ("path", "fingerprint")},
        "name": coll.name,
        "language": coll.language,
        "n": len(coll.corpus),
    }


def _cache_key(encoder: Any, coll: Collection, lengths: Lengths) -> str | None:
    parts = cache_parts(encoder, coll, lengths)
    return None if parts is None else cache_key(parts)


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

    ranks = plain_numpy(pc.rank(ids, sort_keys="ascending", tiebreaker="first"))
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

        parts = cache_parts(enc, coll, settings.lengths) if settings.cache else None
        lengths = coll.corpus.byte_lengths().astype(np.int32)  # plan, and sorts in a shard
        shards = plan_token_shards(
            lengths, settings.shard_size, settings.shard_tokens, settings.lengths.doc
        )
        mine = [s for s in shards if dist.owns(s.index)]
        stats.shards_total = len(shards)
        # Planned cost per document: the ETA weighs work by it (shards run longest first).
        cost = estimated_tokens(lengths, settings.lengths.doc)
        cache = None
        if parts is not None:
            cache = ShardCache(settings.cache_dir, cache_key(parts), settings.cache_dtype)
            cache.remove_stale_temp()
            stats.cache_dir = str(cache.dir)

        writer = _ShardWriter()
        t = time.perf_counter()
        q = None
        warm = False
        if dist.is_main:  # once, on rank 0: every rank searches with the same vectors
            texts = [coll.queries[x] for x in qids]
            qcache = None
            if parts is not None and cache is not None:
                qcache = QueryCache(
                    settings.cache_dir, cache_key(parts), settings.lengths.query, texts
                )
                q = qcache.load()
                warm = q is not None and all(cache.has(s) for s in shards)
        lazy = isinstance(enc, LazyEncoder)
        if lazy and not distributed.share(dist, "vectors cached", warm):
            # Something must be encoded: every rank loads now, as a cold run does (rank 0
            # decided for all). A cached shard that then fails to verify loads it too.
            enc.load()
        if dist.is_main:
            if q is None:
                q = enc.encode_queries(
                    texts,
                    batch_size=settings.batch_size,
                    **_length_kw(enc.encode_queries, settings.lengths.query),
                )
                check_finite(q, "query", qids, name)
                # float32 as the search uses it (cut_dim copies to float32): a warm run then
                # scores with exactly the vectors a cold one did.
                q = np.ascontiguousarray(q, dtype=np.float32)
                if qcache is not None:  # on the writer thread, like a shard
                    writer.submit(qcache.store, q, fault=None)
        q = distributed.broadcast_array(dist, "queries", q)
        stats.queries_s = time.perf_counter() - t
        full_dim = int(q.shape[1])
        q_dims = {d: search_queries(cut_dim(q, d, normalize), device) for d in settings.dims}
        n = len(coll.corpus)
        k = min(settings.top_k, n)
        states = {d: TopK.empty(len(qids), k, device) for d in settings.dims}
        ids = coll.corpus.id_array()
        ranks = corpus_tie_ranks(ids)

        # With a cache, every shard's texts are read and hashed (on the prefetch thread) to
        # verify its manifest; only shards to encode are also ordered and tokenised. How the
        # encoder takes texts is asked only once something is to be encoded: asking an
        # encoder that is not loaded would load it.
        prefetch = _Prefetch(coll, lengths, None, digest=cache is not None)
        how: dict[str, Any] = {}

        def encoder_ready() -> None:
            if how:
                return
            pretokenize = hasattr(enc, "tokenize_documents") and hasattr(enc, "encode_tokenized")
            with_progress = pretokenize or _takes(enc.encode_documents, "progress")
            if pretokenize:

                def tokenize(texts: list[str]) -> Any:
                    return enc.tokenize_documents(texts, max_length=settings.lengths.doc)

                prefetch.tokenize = tokenize
            how["feed"] = None if with_progress else max(256, 8 * (settings.batch_size or 32))

        def needs_text(shard: Any) -> bool:
            if cache is None or not cache.has(shard):
                encoder_ready()
                return True
            return False

        try:
            planned = float(sum(cost[s.start : s.stop].sum() for s in mine))
            with progress.task(
                f"encode+search {coll.key}", sum(s.rows for s in mine), planned
            ) as adv:
                if mine:
                    prefetch.start(mine[0], encode=needs_text(mine[0]))
                for i, shard in enumerate(mine):
                    shard_ids = ids.slice(shard.start, shard.rows).to_pylist()
                    digest = ids_digest(shard_ids)
                    emb = None
                    texts_sha = ""
                    if cache is not None:
                        texts_sha = prefetch.texts_digest(shard)
                        emb = cache.load(shard, digest, full_dim, texts_sha256=texts_sha)
                    if emb is None:
                        encoder_ready()
                        texts, order = prefetch.take(shard)
                    if i + 1 < len(mine):  # read the next shard's text meanwhile
                        prefetch.start(mine[i + 1], encode=needs_text(mine[i + 1]))
                    if emb is None:
                        if cache is not None and stats.shards_computed == 0:
                            cache.ensure_space(sum(s.rows for s in mine[i:]), full_dim)
                        t = time.perf_counter()
                        emb = self._encode_shard(
                            texts,
                            order,
                            settings,
                            adv,
                            how["feed"],
                            stats,
                            cost[shard.start :][order],
                        )
                        stats.encode_s += time.perf_counter() - t
                        stats.docs_encoded += shard.rows
                        check_finite(emb, "document", shard_ids, name)
                        faults.point("shard-encoded")
                        if cache is not None:
                            # Scored as stored (float16 rounds), as a warm run will read it;
                            # written and hashed on the writer thread while the next encodes.
                            emb = np.ascontiguousarray(emb, dtype=settings.cache_dtype)
                            writer.submit(
                                cache.store, shard, digest, emb, parts, texts_sha256=texts_sha
                            )
                        stats.shards_computed += 1
                    else:
                        stats.shards_reused += 1
                        work = float(cost[shard.start : shard.stop].sum())
                        adv(shard.rows, 0, reused=True, work=work)  # not in the rate
                    t = time.perf_counter()
                    for d in settings.dims:
                        score_block(  # cut_dim makes the one float32 copy scored
                            states[d],
                            q_dims[d],
                            cut_dim(emb, d, normalize),
                            shard.start,
                            ranks[shard.start : shard.stop],
                            backend=settings.backend,
                        )
                    faults.point("shard-searched")
                    stats.search_s += time.perf_counter() - t
                    del emb
            writer.finish()  # the last shard published; a write error is raised here
        finally:
            prefetch.close()
            writer.close()
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
            hits = ids.take(index_array(positions.reshape(-1))).to_pylist()  # one take
            w = positions.shape[1]
            runs[d] = {
                qid: dict(zip(hits[row * w : (row + 1) * w], scores[row].tolist()))
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
        advance: Advance,
        feed: int | None,
        stats: Stats,
        cost: np.ndarray,
    ) -> np.ndarray:
        """Embeddings of one shard in corpus order. ``texts`` (or their token ids, when the
        encoder tokenises separately) are in ``order`` (longest first), so batches are of
        like lengths; rows are put back after encoding. ``cost``: each document's planned
        cost, in ``order``, reported as each batch's ``work``."""
        enc = self.encoder
        done = [0]
        cum = np.concatenate([[0], np.cumsum(cost, dtype=np.float64)])

        def work(n: int) -> float:
            start, done[0] = done[0], min(done[0] + n, len(cost))
            return float(cum[done[0]] - cum[start])

        kw: dict[str, Any] = {
            "batch_size": settings.batch_size,
            **_length_kw(enc.encode_documents, settings.lengths.doc),
        }
        if feed is None:

            def counted(n_docs: int, n_tokens: int) -> None:
                stats.tokens_encoded += n_tokens
                advance(n_docs, n_tokens, work=work(n_docs))

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
                advance(len(parts[-1]), 0, work=work(len(parts[-1])))
            sorted_emb = np.concatenate(parts) if parts else np.empty((0, 0), np.float32)
        out = np.empty_like(sorted_emb, dtype=np.float32)
        out[order] = sorted_emb
        return out


TOKENIZE_SLICE_BYTES = 4_000_000
"""Bytes of text read and tokenised at a time when pre-tokenising a shard (~1M tokens)."""


class _ShardWriter:
    """Stores shards on a background thread while the next shard encodes, so the device
    does not wait on the disk. At most one shard is in flight (a second submit first waits
    for the first), so memory holds at most one extra shard; a write error is raised in the
    caller's thread at the next :meth:`submit` or at :meth:`finish`. Atomicity is the
    store's own (temp file, fsync, rename, then manifest), so a kill mid-write leaves that
    shard unpublished, as before."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def submit(
        self,
        store: Callable[..., None],
        *args: Any,
        fault: str | None = "shard-written",
        **kwargs: Any,
    ) -> None:
        self.finish()

        def run() -> None:
            try:
                store(*args, **kwargs)
                if fault:
                    faults.point(fault)
            except BaseException as e:  # handed to the main thread
                self._error = e

        self._thread = threading.Thread(target=run, name="evalkit-shard-writer", daemon=True)
        self._thread.start()

    def finish(self) -> None:
        """Wait for the shard in flight; raise its error, if any."""
        self.close()
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def close(self) -> None:
        """Wait for the shard in flight (its error, if any, is kept for :meth:`finish`)."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None


class _Prefetch:
    """Reads (and joins) the next shard's texts on a thread while the current one encodes:
    Arrow reads release the GIL, so the device is not left waiting on the disk. With
    ``digest``, it also hashes the texts (:func:`~evalkit.retrieval.cache.texts_digest`),
    which a cached shard's manifest must match."""

    def __init__(
        self,
        coll: Collection,
        byte_lengths: np.ndarray,
        tokenize: Callable[[list[str]], Any] | None = None,
        *,
        digest: bool = False,
    ) -> None:
        self.coll = coll
        self.lengths = byte_lengths
        self.tokenize = tokenize
        self.digest = digest
        self._thread: threading.Thread | None = None
        self._shard: tuple[int, int] | None = None
        self._out: tuple[str | None, Any] | BaseException | None = None

    def _texts(self, start: int, stop: int) -> list[str]:
        """The document strings of rows ``start..stop`` in corpus order, as encoded."""
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
        token length itself) as flat int32 arrays."""
        return self._read(start, stop, True)[1]

    def _read(self, start: int, stop: int, encode: bool) -> tuple[str | None, Any]:
        """One pass over the shard's texts: their digest (with ``digest``) and, with
        ``encode``, what :meth:`read` returns. Fast tokenizers release the GIL, so this
        overlaps the device work of the shard before. Texts are read, hashed and tokenised a
        slice of at most :data:`TOKENIZE_SLICE_BYTES` at a time: neither the shard's texts nor
        a Python list of its ids is held whole (MLDR: ~3.3e8 tokens a 100k shard); only an
        encoder without a separate tokenizer takes the shard's strings whole."""
        hasher = TextsDigest() if self.digest else None
        out: Any = None
        if encode and self.tokenize is None:
            texts = self._texts(start, stop)
            if hasher is not None:
                hasher.update(texts)
            order = np.argsort(-self.lengths[start:stop], kind="stable")
            out = ([texts[i] for i in order], order)
        elif encode or hasher is not None:
            parts = []
            for a, b in cut_ranges(self.lengths[start:stop], TOKENIZE_SLICE_BYTES, 4096):
                texts = self._texts(start + a, start + b)
                if hasher is not None:
                    hasher.update(texts)
                if encode:
                    parts.append(as_token_ids(self.tokenize(texts)))
            if encode:
                out = (TokenIds.concat(parts), np.arange(stop - start))
        return (hasher.hexdigest() if hasher is not None else None), out

    def _run(self, start: int, stop: int, encode: bool) -> None:
        try:
            self._out = self._read(start, stop, encode)
        except BaseException as e:  # handed to the main thread
            self._out = e

    def start(self, shard: Any, encode: bool = True) -> None:
        """Read ``shard`` on a thread: its digest, and (``encode``) its ordered texts."""
        self.close()  # a prefetch left unused (its shard was cached meanwhile) is dropped
        self._shard = (shard.start, shard.stop)
        self._thread = threading.Thread(
            target=self._run, args=(shard.start, shard.stop, encode), daemon=True
        )
        self._thread.start()

    def _done(self, shard: Any) -> tuple[str | None, Any] | None:
        """The finished prefetch of ``shard``, or ``None`` if none was started for it."""
        if self._shard != (shard.start, shard.stop):
            return None
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        out = self._out
        if isinstance(out, BaseException):
            self._shard, self._out = None, None
            raise out
        return out

    def texts_digest(self, shard: Any) -> str:
        """The digest of ``shard``'s texts (prefetched, or read now)."""
        out = self._done(shard)
        if out is None or out[0] is None:
            self.close()
            digest = self._read(shard.start, shard.stop, encode=False)[0]
            self._shard, self._out = (shard.start, shard.stop), (digest, None)
            return str(digest)
        return out[0]

    def take(self, shard: Any) -> tuple[Any, np.ndarray]:
        """The prefetched texts of ``shard``, or read now if none was started for it."""
        out = self._done(shard)
        self._shard, self._out = None, None
        if out is None or out[1] is None:
            self.close()
            return self.read(shard.start, shard.stop)
        return out[1]

    def close(self) -> None:
        if self._thread is not None:
            self._thread.join()
        self._thread, self._shard, self._out = None, None, None
