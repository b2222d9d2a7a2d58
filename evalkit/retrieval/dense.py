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
from evalkit.retrieval.cache import (
    HASH_BYTES,
    QueryCache,
    StoreIndex,
    VectorStore,
    cache_key,
    text_hashes,
)
from evalkit.retrieval.progress import Advance, Progress, Stats
from evalkit.retrieval.search import (
    Backend,
    Duplicates,
    TopK,
    cut_dim,
    score_block,
    search_queries,
)
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
    """Everything about the encoder that changes a document's vector, and nothing about the
    corpus: the model identity and encoding settings and library versions. Vectors are
    addressed by the exact string encoded (title joined, :func:`~evalkit.retrieval.cache.
    text_hashes`), so the corpus's name, size, order, ids and shard plan are not in the key:
    another ``--shard-size``, the same files under another name, or a corpus sharing
    documents with another, reuse what was encoded."""
    src = coll.source
    if not (src.get("fingerprint") or (src.get("id") and src.get("revision"))):
        return None  # an in-memory collection: not cached, as before
    return {
        "code": ENCODE_CODE_VERSION,
        "packages": _package_versions(),
        "attn": getattr(encoder, "attn_implementation", None),
        "model": model_identity(encoder),
        "max_doc_length": lengths.doc,
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
        store = None
        prefetch = _Prefetch(coll, lengths, None)
        ids = coll.corpus.id_array()
        ranks = corpus_tie_ranks(ids)
        # Every rank hashes every text (cache or not): a text that occurred earlier in the
        # corpus is neither encoded nor searched, its first row stands for it (same vector,
        # same score), so neither batch mates nor the number of ranks can change its score.
        hashes = np.empty((len(coll.corpus), HASH_BYTES), np.uint8)
        for shard in shards:
            hashes[shard.start : shard.stop] = prefetch.hashes(shard)
        dups = Duplicates.find(hashes.view(f"V{HASH_BYTES}").ravel(), ranks)
        stats.duplicate_texts = 0 if dups is None else dups.count
        plan = None
        if parts is not None:
            store = VectorStore(settings.cache_dir, cache_key(parts), settings.cache_dtype)
            store.remove_stale_temp()
            stats.cache_dir = str(store.dir)
            plan = _ReusePlan(store, hashes, mine, dups)
        del hashes  # the plan keeps what it needs

        writer = _ShardWriter()
        t = time.perf_counter()
        q = None
        warm = False
        if dist.is_main:  # once, on rank 0: every rank searches with the same vectors
            texts = [coll.queries[x] for x in qids]
            qcache = None
            if store is not None:
                qcache = QueryCache(settings.cache_dir, store.key, settings.lengths.query, texts)
                q = qcache.load()
        lazy = isinstance(enc, LazyEncoder)
        if lazy:
            # Every rank counts the documents of its shards that no block holds; rank 0
            # decides for all whether anything is to be encoded.
            counts = distributed.gather_to_main(
                dist, "vectors to encode", plan.missing if plan is not None else 1
            )
            warm = dist.is_main and q is not None and not any(counts or [1])
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

        # Every text of the corpus was read and hashed above (its vector's address, and how
        # duplicates are found); only the texts to encode are read again, ordered and tokenised
        # (on the prefetch thread). How the encoder takes texts is asked only once something
        # is to be encoded: asking an encoder that is not loaded would load it.
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

        def to_encode(i: int) -> np.ndarray | None:
            """Rows of ``mine[i]`` (offsets in the shard) to encode; ``None``: all of them."""
            if plan is not None:
                rows = plan.encode[i] - mine[i].start
            else:
                rows = None if dups is None else dups.keep(mine[i].start, mine[i].stop)
            if rows is None or len(rows):
                encoder_ready()
            return rows

        try:
            planned = float(sum(cost[s.start : s.stop].sum() for s in mine))
            with progress.task(
                f"encode+search {coll.key}", sum(s.rows for s in mine), planned
            ) as adv:
                if mine:
                    prefetch.start(mine[0], to_encode(0))
                for i, shard in enumerate(mine):
                    emb = None
                    if plan is not None:  # the stored vectors (a failed block: replanned)
                        emb = plan.gather(i, full_dim, writer)
                    rows = to_encode(i)
                    fresh = shard.rows if rows is None else len(rows)
                    if fresh:
                        texts, order = prefetch.take(shard, rows)
                    if i + 1 < len(mine):  # read the next shard's text meanwhile
                        prefetch.start(mine[i + 1], to_encode(i + 1))
                    if fresh < shard.rows:
                        reused = np.ones(shard.rows, bool)
                        if rows is not None:
                            reused[rows] = False
                        work = float(cost[shard.start : shard.stop][reused].sum())
                        adv(shard.rows - fresh, 0, reused=True, work=work)  # not in the rate
                    if fresh:
                        if plan is not None and stats.shards_computed == 0:
                            plan.ensure_space(i, full_dim)
                        at = np.arange(shard.rows) if rows is None else rows
                        t = time.perf_counter()
                        new = self._encode_shard(
                            texts,
                            order,
                            settings,
                            adv,
                            how["feed"],
                            stats,
                            cost[shard.start + at][order],
                        )
                        stats.encode_s += time.perf_counter() - t
                        stats.docs_encoded += fresh
                        check_finite(new, "document", ids.take(shard.start + at).to_pylist(), name)
                        faults.point("shard-encoded")
                        if plan is None:
                            emb = new
                        else:
                            # Scored as stored (float16 rounds), as a warm run will read it;
                            # written and hashed on the writer thread while the next encodes.
                            new = np.ascontiguousarray(new, dtype=settings.cache_dtype)
                            plan.fill_new(i, emb, new)
                            writer.submit(plan.publish, i, new, parts)
                        stats.shards_computed += 1
                    else:
                        stats.shards_reused += 1
                        if emb is None:  # no cache, every text of the shard seen before
                            emb = np.empty((0, full_dim), np.float32)
                    t = time.perf_counter()
                    tie = ranks[shard.start : shard.stop]
                    keep = None
                    if dups is not None:  # only first occurrences; a group's best tie rank
                        tie = dups.search_ranks(shard.start, tie)
                        keep = dups.keep(shard.start, shard.stop)
                        if keep is not None:
                            tie = tie[keep]
                            if plan is not None:  # else only these rows were encoded
                                emb = emb[keep]
                    for d in settings.dims:
                        score_block(  # cut_dim makes the one float32 copy scored
                            states[d],
                            q_dims[d],
                            cut_dim(emb, d, normalize),
                            shard.start,
                            tie,
                            backend=settings.backend,
                            positions=None if keep is None else shard.start + keep,
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
            if dups is not None:  # every group found becomes all its members, cut to k
                scores, positions = dups.expand(scores, positions, ranks, k)
            flat = positions.reshape(-1)
            hits = ids.take(index_array(np.maximum(flat, 0))).to_pylist()  # one take
            w = positions.shape[1]
            runs[d] = {
                qid: {
                    h: s
                    for h, s, p in zip(
                        hits[row * w : (row + 1) * w],
                        scores[row].tolist(),
                        flat[row * w : (row + 1) * w],
                    )
                    if p >= 0
                }
                if dups is not None
                else dict(zip(hits[row * w : (row + 1) * w], scores[row].tolist()))
                for row, qid in enumerate(qids)
            }
        if store is not None:
            stats.cache_bytes = store.size_bytes()
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
    Arrow reads release the GIL, so the device is not left waiting on the disk. Only the
    rows to encode are kept (a shard whose other vectors are cached)."""

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
        self._key: tuple[int, int, bytes | None] | None = None
        self._out: Any = None

    def _texts(self, start: int, stop: int) -> list[str]:
        """The document strings of rows ``start..stop`` in corpus order, as encoded."""
        # One contiguous Arrow slice: a per-row gather is far slower.
        cols = self.coll.corpus.dataset.select_columns(["title", "text"])[start:stop]
        join = self.coll.title_join
        return [
            doc_text({"title": t or "", "text": x or ""}, join)
            for t, x in zip(cols["title"], cols["text"])
        ]

    def _slices(self, start: int, stop: int) -> list[tuple[int, int]]:
        """Row ranges (offsets from ``start``) of at most :data:`TOKENIZE_SLICE_BYTES` text."""
        return cut_ranges(self.lengths[start:stop], TOKENIZE_SLICE_BYTES, 4096)

    def hashes(self, shard: Any) -> np.ndarray:
        """:func:`~evalkit.retrieval.cache.text_hashes` of the shard's texts, read a slice at
        a time (one MLDR shard is gigabytes of text)."""
        out = np.empty((shard.rows, HASH_BYTES), np.uint8)
        for a, b in self._slices(shard.start, shard.stop):
            out[a:b] = text_hashes(self._texts(shard.start + a, shard.start + b))
        return out

    def read(self, start: int, stop: int, rows: np.ndarray | None = None) -> tuple[Any, np.ndarray]:
        """Texts of rows ``start..stop`` (only ``rows``, offsets from ``start``, when given),
        longest first, and that order; or, when the encoder tokenises separately, their token
        ids in that row order (``encode_tokenized`` sorts by token length itself) as flat
        int32 arrays. Texts are read and tokenised a slice of at most
        :data:`TOKENIZE_SLICE_BYTES` at a time: neither the shard's texts nor a Python list
        of its ids is held whole; only an encoder without a separate tokenizer takes the
        strings whole."""
        if self.tokenize is None:
            texts = self._texts(start, stop)
            lengths = self.lengths[start:stop]
            if rows is not None:
                texts = [texts[j] for j in rows]
                lengths = lengths[rows]
            order = np.argsort(-lengths, kind="stable")
            return [texts[i] for i in order], order
        parts = []
        for a, b in self._slices(start, stop):
            texts = self._texts(start + a, start + b)
            if rows is not None:
                texts = [texts[j - a] for j in rows[(rows >= a) & (rows < b)]]
            if texts:
                parts.append(as_token_ids(self.tokenize(texts)))
        n = stop - start if rows is None else len(rows)
        return TokenIds.concat(parts), np.arange(n)

    @staticmethod
    def _key_of(shard: Any, rows: np.ndarray | None) -> tuple[int, int, bytes | None]:
        return shard.start, shard.stop, None if rows is None else rows.tobytes()

    def _run(self, start: int, stop: int, rows: np.ndarray | None) -> None:
        try:
            self._out = self.read(start, stop, rows)
        except BaseException as e:  # handed to the main thread
            self._out = e

    def start(self, shard: Any, rows: np.ndarray | None) -> None:
        """Read ``shard``'s ``rows`` (``None``: all) on a thread; nothing when ``rows`` is
        empty."""
        self.close()  # a prefetch left unused is dropped
        if rows is not None and not len(rows):
            return
        self._key = self._key_of(shard, rows)
        self._thread = threading.Thread(
            target=self._run, args=(shard.start, shard.stop, rows), daemon=True
        )
        self._thread.start()

    def take(self, shard: Any, rows: np.ndarray | None) -> tuple[Any, np.ndarray]:
        """The prefetched texts of ``shard``'s ``rows``, or read now if none was started for
        them (the rows changed: a cached block failed to verify)."""
        if self._key != self._key_of(shard, rows):
            self.close()
            return self.read(shard.start, shard.stop, rows)
        if self._thread is not None:
            self._thread.join()
        out = self._out
        self._thread, self._key, self._out = None, None, None
        if isinstance(out, BaseException):
            raise out
        return out

    def close(self) -> None:
        if self._thread is not None:
            self._thread.join()
        self._thread, self._key, self._out = None, None, None


class _ReusePlan:
    """Where each document of this rank's shards gets its vector. Built once from every
    document's text hash (read and hashed up front: 16 bytes a document) and the store's
    index: a block stored before (by any run, corpus, name or shard plan), or a block this
    run writes, one per shard, holding the texts not stored yet, each unique text once, in
    the shard of its first occurrence. A row whose text occurred earlier in the corpus
    (``dups``) needs no vector: it is not searched (block :data:`_SKIP`)."""

    def __init__(
        self, store: VectorStore, hashes: np.ndarray, mine: list[Any], dups: Duplicates | None
    ) -> None:
        self.store = store
        self.mine = mine
        index: StoreIndex = store.index()
        self.names: dict[int, str] = dict(enumerate(index.names))
        self.n_old = len(index.names)
        n_docs = len(hashes)
        self.hashes = hashes
        self.block = np.full(n_docs, -1, np.int32)
        self.row = np.full(n_docs, -1, np.int32)
        for shard in mine:
            h = hashes[shard.start : shard.stop]
            self.block[shard.start : shard.stop], self.row[shard.start : shard.stop] = index.lookup(
                h
            )
        del index
        if dups is not None:
            self.block[dups.rows] = _SKIP
            self.row[dups.rows] = -1
        self.missing = sum(int((self.block[s.start : s.stop] == -1).sum()) for s in mine)
        self.encode: list[np.ndarray] = [np.empty(0, np.int64) for _ in mine]
        self._memo: tuple[int, np.ndarray] | None = None
        self._replan(0)

    def _replan(self, i: int) -> None:
        """Assign every document of ``mine[i:]`` that no usable block holds to the new block
        of the shard where its text first occurs (rows in corpus order)."""
        if i >= len(self.mine):
            return
        unwritten = self.n_old + i  # blocks of shards from i on are not written yet

        def missing(s: Any) -> np.ndarray:
            b = self.block[s.start : s.stop]
            return s.start + np.flatnonzero((b == -1) | (b >= unwritten))

        todo = np.concatenate([missing(s) for s in self.mine[i:]])  # only these rows held
        for o in range(i, len(self.mine)):
            self.encode[o] = np.empty(0, np.int64)
        if not len(todo):
            return
        keys = np.ascontiguousarray(self.hashes[todo]).view(f"V{HASH_BYTES}").ravel()
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        owner = todo[first]  # the first occurrence: ``todo`` ascends
        starts = np.array([s.start for s in self.mine[i:]])
        ordinal = np.searchsorted(starts, owner, side="right") - 1 + i
        by_row = np.argsort(owner, kind="stable")
        owner_sorted, ord_sorted = owner[by_row], ordinal[by_row]
        rank = np.empty(len(owner), np.int32)
        rank[by_row] = np.arange(len(owner)) - np.searchsorted(ord_sorted, ord_sorted)
        inverse = inverse.ravel()
        self.block[todo] = self.n_old + ordinal[inverse]
        self.row[todo] = rank[inverse]
        cuts = np.flatnonzero(np.diff(ord_sorted)) + 1
        for at, group in zip([0, *cuts.tolist()], np.split(owner_sorted, cuts)):
            self.encode[int(ord_sorted[at])] = group

    def _read(self, b: int, width: int, writer: _ShardWriter) -> np.ndarray | None:
        """Block ``b``'s verified vectors (the last one read is kept: consecutive shards of
        a smaller plan read it once)."""
        if self._memo is not None and self._memo[0] == b:
            return self._memo[1]
        self._memo = None
        if b >= self.n_old:
            writer.finish()  # a block of this run: published before it is read
        arr = self.store.load(self.names[b], width)
        if arr is not None:
            self._memo = (b, arr)
        return arr

    def gather(self, i: int, width: int, writer: _ShardWriter) -> np.ndarray:
        """``mine[i]``'s vectors from blocks written before it (the cache dtype); the rows of
        its own new block are left for :meth:`fill_new`. A block that fails to verify is
        removed and its texts are planned for encoding again."""
        shard = self.mine[i]
        block = self.block[shard.start : shard.stop]
        row = self.row[shard.start : shard.stop]
        emb = None
        for b in np.unique(block[(block >= 0) & (block < self.n_old + i)]):
            arr = self._read(int(b), width, writer)
            if arr is None:
                self._memo = None
                self.block[self.block == b] = -1
                self._replan(i)
                return self.gather(i, width, writer)
            if len(arr) == shard.rows and (block == b).all() and _is_range(row):
                return arr  # the block this shard made under the same plan: used as read
            if emb is None:
                emb = np.empty((shard.rows, width), arr.dtype)
            at = block == b
            emb[at] = arr[row[at]]
        if emb is None:
            emb = np.empty((shard.rows, width), self.store.dtype)
        return emb

    def fill_new(self, i: int, emb: np.ndarray, new: np.ndarray) -> None:
        """Put ``mine[i]``'s freshly encoded vectors (rows of :attr:`encode`) in place."""
        shard = self.mine[i]
        block = self.block[shard.start : shard.stop]
        at = block == self.n_old + i
        emb[at] = new[self.row[shard.start : shard.stop][at]]

    def publish(self, i: int, new: np.ndarray, parts: dict[str, Any]) -> None:
        """Store ``mine[i]``'s new block (on the writer thread)."""
        name = self.store.store(self.hashes[self.encode[i]], new, parts)
        self.names[self.n_old + i] = name

    def ensure_space(self, i: int, width: int) -> None:
        self.store.ensure_space(sum(len(e) for e in self.encode[i:]), width)


_SKIP = -2
"""The block of a row that needs no vector (its text occurred earlier in the corpus)."""


def _is_range(row: np.ndarray) -> bool:
    """``row`` is ``0, 1, ..., len - 1``."""
    return bool((row == np.arange(len(row))).all())
