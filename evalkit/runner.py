"""The runner: load -> encode (cached) -> exact search -> score -> result records.

``evaluate`` is the Python API under ``evalkit run``::

    records = evalkit.evaluate("minilm", "demo")
    records = evalkit.evaluate("drama-base", "beir", datasets=["scifact"], output_dir="runs")
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from evalkit import suites as suites_mod
from evalkit.cache import EmbeddingCache, cache_key
from evalkit.data import Collection, doc_text
from evalkit.errors import DataError, EvalkitError
from evalkit.metrics import (
    DEFAULT_MEASURES,
    canonical,
    evaluate_run,
    parse_measure,
    strip_identical_ids,
)
from evalkit.models.base import (
    Encoder,
    ModelSpec,
    local_model_fingerprint,
    resolve_lengths,
    truncate_dim,
)
from evalkit.models.bm25 import BM25Retriever
from evalkit.models.registry import load_encoder, resolve_model
from evalkit.results import ResultRecord, environment, now, slug, write_trec_run
from evalkit.search import exact_search

Run = dict[str, dict[str, float]]


@dataclass
class RunOptions:
    """Settings shared by every collection of one ``evaluate`` call."""

    measures: tuple[str, ...] = DEFAULT_MEASURES
    top_k: int = 1000
    batch_size: int | None = None
    max_query_length: int | None = None
    max_doc_length: int | None = None
    dim: int | None = None
    search_backend: str = "torch"
    output_dir: Path | None = None
    save_run: bool = False
    cache: bool = True
    cache_dir: Path | None = None
    progress: bool = True
    suite: str | None = None
    corpus_chunk: int = 16384
    extra: dict[str, Any] = field(default_factory=dict)


class _Progress:
    """Rich progress bars for the long steps, or nothing when disabled."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                transient=True,
            )
            self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)

    @contextmanager
    def task(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        if self._bar is None:
            yield lambda n: None
            return
        tid = self._bar.add_task(description, total=total)
        try:
            yield lambda n: self._bar.advance(tid, n)  # type: ignore[union-attr]
        finally:
            self._bar.remove_task(tid)


def _judged_query_ids(coll: Collection) -> list[str]:
    """Queries that will be scored: present in the queries file with a positive judgement."""
    return [q for q in coll.queries if any(g > 0 for g in coll.qrels.get(q, {}).values())]


def _model_identity(encoder: Any, spec: ModelSpec) -> dict[str, Any]:
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
    }


def encode_corpus(
    encoder: Encoder,
    coll: Collection,
    opts: RunOptions,
    bar: _Progress,
) -> tuple[np.ndarray, bool]:
    """Full-dimension document embeddings in corpus order; ``(array, from_cache)``.

    Documents go to the encoder longest first, in chunks, so padding per batch is small and
    only one chunk of text is in Python memory at a time."""
    corpus = coll.corpus
    n = len(corpus)
    key = None
    cache = EmbeddingCache(opts.cache_dir) if opts.cache else None
    src = coll.source
    if cache is not None and (src.get("fingerprint") or (src.get("id") and src.get("revision"))):
        key = cache_key(
            {
                # Vectors change with the code that makes them (the DRAMA breakage was a
                # transformers upgrade), so versions and the attention backend are keyed too.
                "code": {
                    p: environment("cpu")["packages"].get(p)
                    for p in ("evalkit", "torch", "transformers", "sentence-transformers")
                },
                "attn": getattr(encoder, "attn_implementation", None),
                "model": _model_identity(encoder, encoder.spec),
                "max_doc_length": encoder.max_doc_length,
                "title_join": coll.title_join,
                "corpus": {k: v for k, v in src.items() if k != "path"},
                "name": coll.name,
                "language": coll.language,
                "n": n,
            }
        )
        hit = cache.get(key, n)
        if hit is not None:
            return hit, True
    order = np.argsort(-coll.corpus.byte_lengths(), kind="stable")
    out: np.ndarray | None = None
    tmp = None
    try:
        with bar.task(f"encode {coll.key}", n) as advance:
            for start in range(0, n, opts.corpus_chunk):
                idx = np.sort(order[start : start + opts.corpus_chunk])
                texts = [doc_text(d, coll.title_join) for d in corpus.rows(idx)]
                emb = encoder.encode_documents(texts, batch_size=opts.batch_size)
                if out is None:
                    shape = (n, emb.shape[1])
                    if key is not None and cache is not None:
                        out, tmp = cache.open_for_write(key, shape)
                    else:
                        out = np.empty(shape, dtype=np.float32)
                out[idx] = emb
                advance(len(idx))
    except BaseException:
        if tmp is not None:  # an interrupted encode must not leave a corpus-sized temp file
            del out
            tmp.unlink(missing_ok=True)
        raise
    assert out is not None  # evaluate_collection refuses an empty corpus
    if key is not None and cache is not None and tmp is not None:
        cache.commit(
            key,
            out,
            tmp,
            {
                "model": _model_identity(encoder, encoder.spec),
                "collection": coll.key,
                "source": src,
            },
        )
        out = cache.get(key, n)  # type: ignore[assignment]
    return out, False


def _dense_run(
    encoder: Encoder,
    coll: Collection,
    qids: list[str],
    opts: RunOptions,
    bar: _Progress,
    timings: dict[str, float],
) -> tuple[Run, dict[str, Any]]:
    t = time.perf_counter()
    q_emb = encoder.encode_queries([coll.queries[q] for q in qids], batch_size=opts.batch_size)
    timings["encode_queries_s"] = time.perf_counter() - t
    t = time.perf_counter()
    d_emb, cached = encode_corpus(encoder, coll, opts, bar)
    timings["encode_corpus_s"] = time.perf_counter() - t
    full_dim = d_emb.shape[1]
    if opts.dim:
        # Queries are few: cut them here. Documents are cut chunk by chunk inside the search,
        # so a Matryoshka run never copies the whole (memory-mapped) corpus matrix.
        q_emb = truncate_dim(q_emb, opts.dim, full_dim, encoder.spec.normalize)
    # beir drops a hit whose id is the query's while searching: ask for one more to keep k.
    k = opts.top_k + (1 if coll.ignore_identical_ids else 0)
    t = time.perf_counter()
    device = getattr(encoder, "device", "cpu")
    with bar.task(f"search {coll.key}", d_emb.shape[0]) as advance:
        scores, idx = exact_search(
            q_emb,
            d_emb,
            k,
            dim=opts.dim,
            normalize=encoder.spec.normalize,
            backend=opts.search_backend,  # type: ignore[arg-type]
            device=str(device),
            progress=advance,
        )
    timings["search_s"] = time.perf_counter() - t
    ids = coll.corpus.id_array()
    run: Run = {}
    for row, q in enumerate(qids):
        hits = ids.take(idx[row]).to_pylist()
        ranked = [
            (d, float(s))
            for d, s in zip(hits, scores[row].tolist())
            if not (coll.ignore_identical_ids and d == q)
        ]
        run[q] = dict(ranked[: opts.top_k])
    info = {
        "backend": opts.search_backend,
        "exact": True,
        "similarity": encoder.spec.similarity,
        "corpus_from_cache": cached,
        "dim": opts.dim or full_dim,
        "full_dim": full_dim,
    }
    return run, info


def evaluate_collection(
    model: Encoder | BM25Retriever,
    coll: Collection,
    opts: RunOptions | None = None,
    *,
    bar: _Progress | None = None,
) -> tuple[ResultRecord, Run]:
    """Evaluate one loaded model on one collection; returns the record and the run."""
    opts = opts or RunOptions()
    bar = bar or _Progress(False)
    measures = tuple(canonical(m) for m in opts.measures)
    qids = _judged_query_ids(coll)
    if not qids:
        raise DataError(
            f"{coll.key}: no query has a judgement > 0 in the {coll.split} qrels "
            f"({len(coll.queries)} queries, {len(coll.qrels)} judged query ids); check that "
            "the query ids of queries and qrels match"
        )
    if len(coll.corpus) == 0:
        raise DataError(f"{coll.key}: the corpus is empty")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    spec = model.spec
    if isinstance(model, BM25Retriever):
        with bar.task(f"bm25 index {coll.key}", len(coll.corpus)) as advance:
            run = model.retrieve(
                coll, qids, opts.top_k + (1 if coll.ignore_identical_ids else 0), progress=advance
            )
        if coll.ignore_identical_ids:
            run = {
                q: dict(list(r.items())[: opts.top_k]) for q, r in strip_identical_ids(run).items()
            }
        timings["retrieve_s"] = time.perf_counter() - t0
        search_info: dict[str, Any] = {
            "backend": "bm25s",
            "exact": True,
            "k1": model.k1,
            "b": model.b,
            "method": model.method,
        }
        model_info: dict[str, Any] = {
            "name": spec.name,
            "kind": "bm25",
            "hf_id": None,
            "revision": None,
            "dim": None,
            "full_dim": None,
        }
    else:
        run, search_info = _dense_run(model, coll, qids, opts, bar, timings)
        model_info = {
            **_model_identity(model, spec),
            "dim": search_info["dim"],
            "full_dim": search_info["full_dim"],
            "max_query_length": model.max_query_length,
            "max_doc_length": model.max_doc_length,
        }
    t = time.perf_counter()
    scores = evaluate_run(
        coll.qrels, run, measures, coll.ignore_identical_ids, queries=coll.queries.keys()
    )
    timings["score_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0
    record = ResultRecord(
        model=model_info,
        dataset={
            "name": coll.name,
            "suite": opts.suite,
            "split": coll.split,
            "language": coll.language,
            "source": coll.source,
            "ignore_identical_ids": coll.ignore_identical_ids,
            "title_join": coll.title_join,
            "main_metric": coll.main_metric,
            "n_docs": len(coll.corpus),
            "n_queries": len(coll.queries),
            "sampled_queries": coll.sampled_queries,
        },
        scores=scores.means,
        n_queries_scored=scores.n_queries_scored,
        n_queries_dropped=scores.n_queries_dropped,
        top_k=opts.top_k,
        search=search_info,
        environment=environment(str(getattr(model, "device", "cpu"))),
        timings={k: round(v, 4) for k, v in timings.items()},
        per_query=scores.per_query,
        created_at=now(),
    )
    return record, run


def _writable_dir(path: Path, option: str) -> None:
    """Fail before any work when results could not be written at the end."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".evalkit-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise EvalkitError(f"{option} {path}: not writable ({e.strerror or e})") from None


def _check_dim(loaded: Encoder | BM25Retriever, dim: int | None) -> None:
    if dim is None:
        return
    if isinstance(loaded, BM25Retriever):
        raise EvalkitError("--dim: bm25 has no embedding dimension")
    check = getattr(loaded, "check_dim", None)
    if callable(check):
        check(dim)  # the encoder knows its full and Matryoshka dims
    elif dim < 1 or (loaded.spec.dim and dim > loaded.spec.dim):
        raise EvalkitError(f"--dim {dim}: outside 1..{loaded.spec.dim}")


def _quiet_libraries() -> None:
    """No progress bars from transformers/datasets when evalkit's own are off (CI logs)."""
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()


def load_model(
    model: str | ModelSpec | Encoder | BM25Retriever,
    *,
    model_type: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    revision: str | None = None,
) -> Encoder | BM25Retriever:
    """A ready model from a name, id, path, spec or an already-loaded encoder.
    ``revision`` pins the Hub commit (overriding the registry's)."""
    if isinstance(model, (BM25Retriever,)) or (
        not isinstance(model, (str, ModelSpec)) and hasattr(model, "encode_documents")
    ):
        return model  # type: ignore[return-value]
    spec = model if isinstance(model, ModelSpec) else resolve_model(str(model), model_type)
    if spec.kind == "bm25":
        return BM25Retriever(spec)
    if revision:
        local = spec.extra.get("local_dir") or (spec.hf_id and Path(spec.hf_id).is_dir())
        if local:
            raise EvalkitError(
                f"--revision {revision}: {spec.name} is loaded from a local directory, "
                "which has no Hub revision"
            )
        spec = replace(spec, revision=revision)
    return load_encoder(spec, device=device, dtype=dtype)


def evaluate(
    model: str | ModelSpec | Encoder | BM25Retriever,
    suite: str = "demo",
    *,
    datasets: Sequence[str] | None = None,
    languages: Sequence[str] | None = None,
    split: str | None = None,
    measures: Sequence[str] | None = None,
    top_k: int = 1000,
    batch_size: int | None = None,
    max_length: int | None = None,
    max_query_length: int | None = None,
    dim: int | None = None,
    device: str | None = None,
    dtype: str | None = None,
    model_type: str | None = None,
    revision: str | None = None,
    output_dir: str | Path | None = None,
    data_dir: str | Path | None = None,
    max_queries: int | None = None,
    seed: int = 0,
    search_backend: str = "torch",
    save_run: bool = False,
    cache: bool = True,
    cache_dir: str | Path | None = None,
    progress: bool = False,
    on_record: Callable[[ResultRecord, Path | None], None] | None = None,
) -> list[ResultRecord]:
    """Evaluate ``model`` on every (dataset, language) of ``suite``; one record each.

    ``suite`` is a registered suite name or a BEIR-format directory (or a folder of them).
    Records are written to ``output_dir`` when given (plus TREC run files with ``save_run``).
    """
    if top_k < 1:
        raise EvalkitError(f"--top-k {top_k}: must be at least 1")
    if search_backend not in ("torch", "faiss"):
        raise EvalkitError(f"--search-backend {search_backend!r}: expected 'torch' or 'faiss'")
    if max_queries is not None and max_queries < 1:
        raise EvalkitError(f"--max-queries {max_queries}: must be at least 1")
    # The defaults are always scored: every record carries the main metric, so a run with
    # --metric mrr_at_10 does not replace a record's nDCG@10 with nothing.
    measures = tuple(dict.fromkeys([*DEFAULT_MEASURES, *(canonical(m) for m in measures or ())]))
    need = max(parse_measure(m)[1] for m in measures)
    if top_k < need:
        raise EvalkitError(
            f"--top-k {top_k}: smaller than the deepest cutoff scored ({need}); "
            f"{'/'.join(m for m in measures if parse_measure(m)[1] > top_k)} would be wrong"
        )
    for option, value in (
        ("--batch-size", batch_size),
        ("--max-length", max_length),
        ("--max-query-length", max_query_length),
        ("--dim", dim),
    ):
        if value is not None and value < 1:
            raise EvalkitError(f"{option} {value}: must be at least 1")
    if output_dir is not None:
        _writable_dir(Path(output_dir), "--output-dir")
    tasks = suites_mod.resolve(suite, list(datasets or []), list(languages or []), split)
    if not progress:
        _quiet_libraries()
    if isinstance(model, str):
        model = resolve_model(model, model_type)  # a bad --model fails before any loading
    loaded: Encoder | BM25Retriever | None = None
    own_q = own_d = None

    def ready() -> Encoder | BM25Retriever:
        # The model loads after the first collection: missing data (the common failure
        # offline) is reported in seconds, not after loading a billion-parameter model.
        nonlocal loaded, own_q, own_d
        if loaded is None:
            loaded = load_model(
                model, model_type=model_type, device=device, dtype=dtype, revision=revision
            )
            _check_dim(loaded, dim)
            own_q = getattr(loaded, "max_query_length", None)
            own_d = getattr(loaded, "max_doc_length", None)
        return loaded

    opts = RunOptions(
        measures=measures,
        top_k=top_k,
        batch_size=batch_size,
        dim=dim,
        search_backend=search_backend,
        output_dir=Path(output_dir) if output_dir else None,
        save_run=save_run,
        cache=cache,
        cache_dir=Path(cache_dir) if cache_dir else None,
        progress=progress,
    )
    records: list[ResultRecord] = []
    try:
        with _Progress(progress) as bar:
            for task in tasks:
                coll = suites_mod.load(task, Path(data_dir) if data_dir else None)
                if max_queries:
                    coll = coll.sample_queries(max_queries, seed)
                opts.suite = task.spec.suite
                loaded = ready()
                spec = loaded.spec
                if not isinstance(loaded, BM25Retriever):
                    lengths = resolve_lengths(
                        spec,
                        suite=task.spec.suite,
                        dataset_query=coll.max_query_length,
                        dataset_doc=coll.max_doc_length,
                        own_query=own_q,
                        own_doc=own_d,
                        max_length=max_length,
                        max_query_length=max_query_length,
                    )
                    loaded.max_query_length, loaded.max_doc_length = lengths.query, lengths.doc
                record, run = evaluate_collection(loaded, coll, opts, bar=bar)
                path = None
                if opts.output_dir is not None:
                    path = record.write(opts.output_dir)
                    if save_run:
                        write_trec_run(path.with_suffix(".trec"), run, tag=slug(spec.name))
                records.append(record)
                if on_record is not None:
                    on_record(record, path)
    finally:
        # An encoder passed in keeps its own limits for the caller's next use.
        if loaded is not None and not isinstance(loaded, BM25Retriever):
            loaded.max_query_length, loaded.max_doc_length = own_q, own_d
    return records
