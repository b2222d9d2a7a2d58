"""``evaluate``: a short orchestration of load -> retrieve -> score -> record.

    records = evalkit.evaluate("minilm", "demo")
    records = evalkit.evaluate("drama-base", "beir", datasets=["scifact"], output_dir="runs")
    records = evalkit.evaluate("drama-1b", "miracl", dim="256,768,all")

What to run lives in :mod:`evalkit.suites`, reading it in :mod:`evalkit.data`, retrieval
(shards, cache, exact search, BM25, torchrun) in :mod:`evalkit.retrieval`, scoring in
:mod:`evalkit.metrics` and the records in :mod:`evalkit.results`.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import evalkit.data as data_mod
from evalkit import faults
from evalkit import suites as suites_mod
from evalkit.data import Collection
from evalkit.errors import DataError, EvalkitError
from evalkit.metrics import DEFAULT_MEASURES, canonical, evaluate_run, parse_measure
from evalkit.models.base import (
    Encoder,
    Lengths,
    ModelSpec,
    check_trained_dim,
    local_model_fingerprint,
    resolve_lengths,
)
from evalkit.models.registry import load_encoder, resolve_model
from evalkit.paths import check_split, remove_stale_temp, temp_prefix
from evalkit.results import (
    RecordError,
    ResultRecord,
    environment,
    file_sha256,
    now,
    read_record,
    slug,
    write_trec_run,
)
from evalkit.retrieval import (
    DEFAULT_SHARD_SIZE,
    DEFAULT_SHARD_TOKENS,
    DenseRetriever,
    Dist,
    Progress,
    RetrievalSettings,
    Retriever,
    SparseRetriever,
    retriever_for,
)
from evalkit.retrieval import distributed as dist_mod
from evalkit.retrieval.cache import ModelProfiles
from evalkit.retrieval.dense import (
    ENCODE_CODE_VERSION,
    LazyEncoder,
    _local_dir,
    _package_versions,
    encoder_profile,
    lazy_matches,
    model_identity,
)

Run = dict[str, dict[str, float]]


@dataclass(frozen=True)
class Failure:
    """A dataset that could not be scored (the others still are)."""

    label: str
    message: str


def judged_query_ids(coll: Collection) -> list[str]:
    """Queries that will be scored: present in the queries file with a positive judgement."""
    return [q for q in coll.queries if any(g > 0 for g in coll.qrels.get(q, {}).values())]


def check_scorable(coll: Collection) -> list[str]:
    """The judged query ids, or a :class:`DataError` when the collection cannot be scored (no
    positive judgement, an empty corpus): found right after loading, so a folder of folders
    reports such a folder as one failure and scores the others."""
    qids = judged_query_ids(coll)
    if not qids:
        raise DataError(
            f"{coll.key}: no query has a judgement > 0 in the {coll.split} qrels "
            f"({len(coll.queries)} queries, {len(coll.qrels)} judged query ids); check that "
            "the query ids of queries and qrels match"
        )
    if len(coll.corpus) == 0:
        raise DataError(f"{coll.key}: the corpus is empty")
    return qids


def strip_identical(run: Run, top_k: int) -> Run:
    """mteb's rule: keep the top ``top_k``, then drop a hit whose id is the query's own (so
    ``top_k - 1`` may remain, exactly as mteb scores Recall@1000 on ArguAna or Quora)."""
    return {q: {d: s for d, s in list(hits.items())[:top_k] if d != q} for q, hits in run.items()}


def _model_info(retriever: Any, lengths: Lengths, dim: int | None, full: int | None) -> dict:
    if not hasattr(retriever, "encoder"):
        spec = retriever.spec
        return {
            "name": spec.name,
            "kind": spec.kind,
            "hf_id": None,
            "revision": None,
            "dim": None,
            "full_dim": None,
        }
    return {
        **model_identity(retriever.encoder),
        "dim": dim or full,
        "full_dim": full,
        "max_query_length": lengths.query,
        "max_doc_length": lengths.doc,
    }


def _dataset_info(coll: Collection, suite: str | None) -> dict[str, Any]:
    return {
        "name": coll.name,
        "suite": suite,
        "split": coll.split,
        "language": coll.language,
        "source": coll.source,
        "ignore_identical_ids": coll.ignore_identical_ids,
        "title_join": coll.title_join,
        "main_metric": coll.main_metric,
        "n_docs": len(coll.corpus),
        "n_queries": len(coll.queries),
        "sampled_queries": coll.sampled_queries,
        "warnings": list(getattr(coll, "warnings", []) or []),
    }


def _skeleton(model: dict, dataset: dict, search: dict, top_k: int) -> ResultRecord:
    """A record without scores: enough to know its identity (and so its file) before work."""
    return ResultRecord(
        model=model,
        dataset=dataset,
        scores={},
        n_queries_scored=0,
        n_queries_dropped=0,
        top_k=top_k,
        search=search,
    )


def evaluate_collection(
    model: Any,
    coll: Collection,
    settings: RetrievalSettings | None = None,
    *,
    measures: Sequence[str] = DEFAULT_MEASURES,
    suite: str | None = None,
    progress: Progress | None = None,
    dist: Dist | None = None,
) -> list[tuple[ResultRecord, Run]]:
    """Evaluate one loaded model on one collection: one ``(record, run)`` per dim searched
    (``settings.dims``), all from a single pass over the corpus."""
    settings = settings or RetrievalSettings()
    retriever = (
        model if isinstance(model, (DenseRetriever, SparseRetriever)) else (retriever_for(model))
    )
    dist = dist or Dist()
    measures = tuple(canonical(m) for m in measures)
    qids = check_scorable(coll)
    t0 = time.perf_counter()
    result = retriever.retrieve(coll, qids, settings, progress=progress, dist=dist)
    retrieve_s = time.perf_counter() - t0
    stats = result.stats
    out = []
    for dim, raw in result.runs.items():
        run = strip_identical(raw, settings.top_k) if coll.ignore_identical_ids else raw
        if not dist.is_main:
            out.append((None, run))
            continue
        t = time.perf_counter()
        scores = evaluate_run(
            coll.qrels, run, measures, coll.ignore_identical_ids, queries=coll.queries.keys()
        )
        timings = {
            "encode_queries_s": stats.queries_s,
            "encode_corpus_s": stats.encode_s,
            "search_s": stats.search_s,
            "retrieve_s": retrieve_s,
            "score_s": time.perf_counter() - t,
        }
        timings["total_s"] = retrieve_s + timings["score_s"]
        search = {
            **result.info,
            "shard_size": settings.shard_size if result.full_dim else None,
            "shard_tokens": settings.shard_tokens if result.full_dim else None,
            "shards": {
                "total": stats.shards_total,
                "reused": stats.shards_reused,
                "computed": stats.shards_computed,
            },
            "corpus_from_cache": stats.shards_total > 0 and stats.shards_computed == 0,
            "processes": dist.world,
            "dim": dim or result.full_dim,
            "similarity": retriever.spec.similarity if result.full_dim else None,
            "tokens_encoded": stats.tokens_encoded,
            # rows whose text occurred earlier: searched as that row (only when there are any)
            **({"duplicate_texts": stats.duplicate_texts} if stats.duplicate_texts else {}),
            "cache": {"dir": stats.cache_dir, "bytes": stats.cache_bytes}
            if stats.cache_dir
            else None,
        }
        record = ResultRecord(
            model=_model_info(retriever, settings.lengths, dim, result.full_dim),
            dataset=_dataset_info(coll, suite),
            scores=scores.means,
            n_queries_scored=scores.n_queries_scored,
            n_queries_dropped=scores.n_queries_dropped,
            top_k=settings.top_k,
            search=search,
            environment=environment(
                str(getattr(getattr(retriever, "encoder", None), "device", "cpu"))
            ),
            timings={k: round(v, 4) for k, v in timings.items()},
            per_query=scores.per_query,
            created_at=now(),
        )
        out.append((record, run))
    return out


def publish(record: ResultRecord, run: Run | None, output_dir: Path, tag: str) -> Path:
    """Write a record (and its TREC run file) so that both are there or neither: the run
    file goes first; the record, which readers take as "done", is renamed into place last
    and holds the run file's SHA-256 (``run_file``), which binds the two."""
    path = output_dir / record.relative_path()
    try:
        record.run_file = None
        if run is not None:
            rows = sum(len(h) for h in run.values())
            _ensure_free(path.parent, rows * 64, "--save-run")
            trec = write_trec_run(path.with_suffix(".trec"), run, tag=tag)
            record.run_file = {"name": trec.name, "sha256": file_sha256(trec)}
        faults.point("record-write")
        return record.write(output_dir)
    except OSError as e:
        raise EvalkitError(
            f"{e.filename or path}: cannot write the result ({e.strerror or e}); "
            "nothing was published for this dataset"
        ) from None


def _ensure_free(path: Path, need: int, option: str) -> None:
    probe = path
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < need:
        raise EvalkitError(
            f"{option} {path}: needs about {need / 1e6:.0f} MB, the disk has {free / 1e6:.0f} MB"
        )


def _writable_dir(path: Path, option: str) -> None:
    """Fail before any work when results could not be written at the end."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        # named as a temp file, so one left by a kill at this instant is removed next time
        probe = path / f"{temp_prefix('evalkit-write-test')}probe.tmp"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise EvalkitError(f"{option} {path}: not writable ({e.strerror or e})") from None
    _ensure_free(path, 10_000_000, option)
    # Temp files of runs killed while publishing (kill -9 leaves them): the cache's rule,
    # this host's dead processes only. Records lie at most at <model>/<suite>/: no deeper
    # walk, so an --output-dir holding other things is not searched through.
    for pattern in (".*.tmp", "*/.*.tmp", "*/*/.*.tmp"):
        remove_stale_temp(path, pattern)


def parse_dims(dim: int | str | Sequence[int | str] | None) -> tuple[int | str | None, ...]:
    """``--dim``: ``256``, ``"256,512"``, ``"all"`` (every Matryoshka dim and the full one)
    or a list of these. ``None`` is the full dim."""
    if dim is None:
        return (None,)
    items = [dim] if isinstance(dim, (int, str)) else list(dim)
    out: list[int | str | None] = []
    for item in items:
        for part in str(item).split(","):
            part = part.strip().lower()
            if part == "all":
                out.append("all")
            elif part in ("full", "0"):
                out.append(None)
            else:
                try:
                    value = int(part)
                except ValueError:
                    raise EvalkitError(
                        f"--dim {item!r}: expected a number, a comma-separated list or 'all'"
                    ) from None
                if value < 1:
                    raise EvalkitError(f"--dim {value}: must be at least 1")
                out.append(value)
    return tuple(dict.fromkeys(out))


def resolve_dims(
    asked: tuple[int | str | None, ...], spec: ModelSpec, full: int | None, force: bool
) -> tuple[int | None, ...]:
    """Concrete dims for a model: ``all`` expands; a dim the model was not trained to be cut
    to is refused (it quietly lowers scores) unless ``force``; the full dim is ``None``."""
    if asked == (None,):
        return (None,)
    if full is None:
        raise EvalkitError(f"--dim: {spec.name} has no embedding dimension")
    trained = sorted(set(spec.matryoshka_dims) | {full})
    dims: list[int | None] = []
    for d in asked:
        if d == "all":
            dims.extend(x if x != full else None for x in trained)
            continue
        if d is None or d == full:
            dims.append(None)
            continue
        assert isinstance(d, int)
        check_trained_dim(spec, full, d, force=force)
        dims.append(d)
    return tuple(dict.fromkeys(dims))


def _check_lengths(
    enc: Any, lengths: Lengths, max_length: int | None, max_query_length: int | None
) -> None:
    """A limit past the model's position embeddings would end in an index error deep in
    torch; refuse it with the model's real limit instead."""
    limit = getattr(enc, "length_limit", None)
    if enc is None or not limit:
        return
    for option, asked in (("--max-query-length", max_query_length), ("--max-length", max_length)):
        if asked and asked > limit:
            raise EvalkitError(f"{option} {asked}: {enc.spec.name} takes at most {limit} tokens")
    for what, value in (("query", lengths.query), ("document", lengths.doc)):
        if value and value > limit:
            raise EvalkitError(
                f"{enc.spec.name}: the {what} limit {value} is past what the model takes "
                f"({limit} tokens); pass --max-length {limit}"
            )


def _quiet_libraries() -> None:
    """No progress bars from datasets when evalkit's own are off (CI logs); transformers is
    quieted when a model is loaded (:func:`_quiet_transformers`), as a run whose vectors are
    all cached does not import it. Nor datasets: where it is not imported yet, its own
    switch (the environment variable it reads at import) does the same when a loader does
    import it; a user's explicit setting of that variable is kept."""
    datasets = sys.modules.get("datasets")
    if datasets is not None:
        datasets.disable_progress_bars()
    else:
        os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")


def _quiet_transformers() -> None:
    import transformers

    transformers.utils.logging.disable_progress_bar()


def _profile_parts(
    spec: ModelSpec,
    device: str | None,
    dtype: str | None,
    revision: str | None,
    max_batch_tokens: int | None,
) -> tuple[dict[str, Any], dict[tuple[Any, ...], Any]] | None:
    """The key of the profile of the encoder :func:`load_model` would give for ``spec``,
    computed without loading it: the spec at the commit its revision names now (or a
    content fingerprint of a local folder), the load options, the CUDA devices (which pick
    the default device and dtype) and the library versions. Also the fingerprint memo a
    :class:`LazyEncoder` starts with. ``None`` when it cannot be known (then the model loads,
    and says why if it cannot)."""
    local = _local_dir(spec)
    if local:
        if revision:
            return None  # load_model refuses it, in its words
        fingerprint = local_model_fingerprint(local)
        if fingerprint is None:
            return None
    else:
        if not spec.hf_id:
            return None
        from evalkit.data.hub import hub_mode
        from evalkit.models.registry import pinned

        try:
            with hub_mode():
                spec = pinned(replace(spec, revision=revision) if revision else spec)
        except EvalkitError:
            return None
        fingerprint = None
    from evalkit.results import package_version

    flash = package_version("flash-attn")
    parts = {
        "profile": 1,
        "code": ENCODE_CODE_VERSION,
        "packages": {**_package_versions(), "flash-attn": flash},
        "spec": json.loads(json.dumps(asdict(spec), default=str)),
        "local_fingerprint": fingerprint,
        "device": device,
        "dtype": dtype,
        "max_batch_tokens": max_batch_tokens,
        "cuda_devices": cuda_device_count(),
    }
    return parts, {("fingerprint", local): fingerprint}


# Device nodes a GPU that torch.cuda can use needs on Linux: NVIDIA's driver, ROCm's, WSL's.
_GPU_NODES = ("/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd", "/dev/dxg")


def cuda_device_count() -> int:
    """``torch.cuda.device_count()`` (0 when CUDA is not available), without importing torch
    (1.5 s) where the answer is 0 for certain: on Linux with no GPU driver's device node. A
    run whose vectors are all cached then never imports torch."""
    if "torch" not in sys.modules and sys.platform.startswith("linux"):
        if not any(os.path.exists(node) for node in _GPU_NODES):
            return 0
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def load_model(
    model: str | ModelSpec | Any,
    *,
    model_type: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    revision: str | None = None,
    max_batch_tokens: int | None = None,
) -> Any:
    """A ready model from a name, id, path, spec or an already-loaded model.
    ``revision`` pins the Hub commit (overriding the registry's)."""
    if not isinstance(model, (str, ModelSpec)):
        return model
    spec = model if isinstance(model, ModelSpec) else resolve_model(str(model), model_type)
    if spec.kind == "bm25":
        from evalkit.models.registry import load_sparse

        return load_sparse(spec)
    if revision:
        local = spec.extra.get("local_dir") or (spec.hf_id and Path(spec.hf_id).is_dir())
        if local:
            raise EvalkitError(
                f"--revision {revision}: {spec.name} is loaded from a local directory, "
                "which has no Hub revision"
            )
        spec = replace(spec, revision=revision)
    kwargs = {"max_batch_tokens": max_batch_tokens} if max_batch_tokens else {}
    return load_encoder(spec, device=device, dtype=dtype, **kwargs)


def _check_device(device: str | None) -> None:
    if device and device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise EvalkitError(f"--device {device}: CUDA is not available on this machine")
    elif device and device != "cpu" and not device.startswith(("mps", "xpu")):
        raise EvalkitError(f"--device {device!r}: expected cpu or cuda[:N]")


@dataclass(frozen=True)
class RunOptions:
    """Every setting of :func:`evaluate` but the model and the suite, as one value: the CLI
    (``evalkit run``) builds it from its options; the Python API builds it from keywords
    (``evaluate(model, suite, top_k=100)``) or takes one (``options=RunOptions(...)``).
    Frozen: a variant is ``dataclasses.replace(options, dim=None)``, never an edit.

    ``datasets`` / ``languages``: only these (names, mteb task names; languages or subsets).
    ``split``: instead of each dataset's. ``measures``: scored besides nDCG@10 and
    Recall@100. ``dim``: Matryoshka dims (``256``, ``"256,512"``, ``"all"``). Records go to
    ``output_dir`` when given (plus TREC run files with ``save_run``); records already there
    with the same identity are reused unless ``overwrite``. ``data_dir``: local copies of the
    suite's datasets. ``dist_timeout`` (seconds) bounds a torchrun collective once every rank
    is in it. The ``on_*`` callbacks are told of each record written or reused, each dataset
    that failed, a summary line per dataset, and why a record on disk is recomputed."""

    datasets: Sequence[str] | None = None
    languages: Sequence[str] | None = None
    split: str | None = None
    measures: Sequence[str] | None = None
    top_k: int = 1000
    batch_size: int | None = None
    max_batch_tokens: int | None = None
    max_length: int | None = None
    max_query_length: int | None = None
    dim: int | str | Sequence[int | str] | None = None
    force_dim: bool = False
    device: str | None = None
    dtype: str | None = None
    model_type: str | None = None
    pooling: str | None = None
    similarity: str | None = None
    revision: str | None = None
    output_dir: str | Path | None = None
    overwrite: bool = False
    data_dir: str | Path | None = None
    max_queries: int | None = None
    seed: int = 0
    search_backend: str = "torch"
    save_run: bool = False
    cache: bool = True
    cache_dir: str | Path | None = None
    cache_dtype: str = "float32"
    shard_size: int = DEFAULT_SHARD_SIZE
    shard_tokens: int | None = DEFAULT_SHARD_TOKENS
    progress: bool = False
    dist_timeout: float | None = None
    on_record: Callable[[ResultRecord, Path | None, bool], None] | None = None
    on_failure: Callable[[Failure], None] | None = None
    on_summary: Callable[[str], None] | None = None
    on_notice: Callable[[str], None] | None = None


def _options(options: RunOptions | None, overrides: dict[str, Any]) -> RunOptions:
    """``options`` (or the defaults) with the keyword ``overrides``; an unknown keyword is
    the TypeError a misspelt keyword argument always was."""
    known = {f.name for f in fields(RunOptions)}
    for key in overrides:
        if key not in known:
            raise TypeError(f"evaluate() got an unexpected keyword argument {key!r}")
    return replace(options or RunOptions(), **overrides)


def evaluate(
    model: str | ModelSpec | Encoder | Any,
    suite: str = "demo",
    *,
    options: RunOptions | None = None,
    **overrides: Any,
) -> list[ResultRecord]:
    """Evaluate ``model`` on every (dataset, language) of ``suite``: one record per
    (dataset, language, dim). The settings are ``options`` (a :class:`RunOptions`) with any
    keyword ``overrides`` of its fields: ``evaluate("minilm", "beir", datasets=["scifact"])``.

    ``suite`` is a registered suite name or a BEIR-format directory (or a folder of them).
    Records go to ``output_dir`` when given (plus TREC run files with ``save_run``); records
    already there with the same identity are reused unless ``overwrite``. A dataset that fails
    to load is passed to ``on_failure`` and the others are still scored; without
    ``on_failure`` the first failure raises. Under ``torchrun`` the ranks share the corpus and
    rank 0 returns the records (the others return ``[]``); ``dist_timeout`` (seconds) bounds a
    collective once every rank is in it, never the wait for a slow rank.

    A record on disk is reused only when it verifies (digest, fields, means) and holds what
    is asked (every measure; with ``save_run`` a run file whose SHA-256 it states); otherwise
    it is recomputed and ``on_notice`` gets one line saying why."""
    o = _options(options, overrides)
    measures = _checked_options(
        top_k=o.top_k,
        split=o.split,
        search_backend=o.search_backend,
        max_queries=o.max_queries,
        cache_dtype=o.cache_dtype,
        measures=o.measures,
        counts={
            "--batch-size": o.batch_size,
            "--max-batch-tokens": o.max_batch_tokens,
            "--max-length": o.max_length,
            "--max-query-length": o.max_query_length,
            "--shard-size": o.shard_size,
        },
    )
    if o.shard_tokens is not None and o.shard_tokens < 0:
        raise EvalkitError(f"--shard-tokens {o.shard_tokens}: must be at least 1 (0: no limit)")
    asked_dims = parse_dims(o.dim)
    _check_device(o.device)
    out_dir = Path(o.output_dir) if o.output_dir else None
    if out_dir is not None:
        _writable_dir(out_dir, "--output-dir")
    tasks = suites_mod.resolve(suite, list(o.datasets or []), list(o.languages or []), o.split)
    if not o.progress:
        _quiet_libraries()
    if isinstance(model, str):
        # a bad --model, --pooling or --similarity fails before any loading
        model = resolve_model(model, o.model_type, pooling=o.pooling, similarity=o.similarity)
    elif o.pooling or o.similarity:
        raise EvalkitError("--pooling/--similarity: give the model by name or path")
    if isinstance(model, ModelSpec):
        if model.kind == "bm25" and asked_dims != (None,):
            raise EvalkitError("--dim: bm25 has no embedding dimension")
        if model.dim:  # registered dims: refuse a wrong --dim before loading the model
            resolve_dims(asked_dims, model, model.dim, o.force_dim)
    dist = dist_mod.from_env(o.device, o.dist_timeout)
    device = dist_mod.device_for(dist, o.device)
    retriever: Retriever | None = None
    dims: tuple[int | None, ...] = (None,)

    def load_now() -> Any:
        if not o.progress:
            _quiet_transformers()
        return load_model(
            model,
            model_type=o.model_type,
            device=device,
            dtype=o.dtype,
            revision=o.revision,
            max_batch_tokens=o.max_batch_tokens,
        )

    def _lazy_or_loaded() -> Any:
        """The encoder, loaded; or, when its profile was recorded by an earlier run (and,
        under torchrun, on every rank: rank 0 decides), a :class:`LazyEncoder` that loads it
        only when something must be encoded."""
        found = None
        if o.cache and isinstance(model, ModelSpec) and model.kind != "bm25":
            found = _profile_parts(model, device, o.dtype, o.revision, o.max_batch_tokens)
        profiles = ModelProfiles(o.cache_dir, found[0]) if found else None
        profile = profiles.load() if profiles is not None else None
        if dist.active:
            everywhere = dist_mod.gather_to_main(dist, "model profile", profile is not None)
            use = dist_mod.share(dist, "model profile used", bool(everywhere and all(everywhere)))
        else:
            use = profile is not None
        if use and profile is not None and profiles is not None and found is not None:
            lazy: LazyEncoder

            def checked() -> Any:
                real = load_now()
                if not lazy_matches(lazy, real):
                    profiles.discard()
                    raise EvalkitError(
                        f"--model {real.spec.name}: the model loaded is not the one recorded "
                        f"in {profiles.path} (removed); run again"
                    )
                return real

            lazy = LazyEncoder(profile, checked, found[1])
            return lazy
        loaded = load_now()
        if profiles is not None and found is not None and hasattr(loaded, "encode_documents"):
            # Recorded only when a stand-in rebuilt from it states exactly what the encoder
            # does (spec, attributes, identity): else the next run loads the model again.
            recorded = encoder_profile(loaded)
            if lazy_matches(LazyEncoder(recorded, load_now, found[1]), loaded):
                profiles.store(recorded)
        return loaded

    def ready() -> Retriever:
        # The model loads after the first collection: missing data (the common failure
        # offline) is reported in seconds, not after loading a billion-parameter model.
        nonlocal retriever, dims
        if retriever is None:
            loaded = _lazy_or_loaded()
            retriever = (
                DenseRetriever(loaded)
                if isinstance(loaded, LazyEncoder)
                else (retriever_for(loaded))
            )
            full = getattr(loaded, "dim", None) or loaded.spec.dim
            if not isinstance(loaded, LazyEncoder) and not hasattr(loaded, "encode_documents"):
                if asked_dims != (None,):
                    raise EvalkitError(f"--dim: {loaded.spec.name} has no embedding dimension")
                full = None
            dims = resolve_dims(asked_dims, getattr(loaded, "spec", None), full, o.force_dim)
        return retriever

    base = RetrievalSettings(
        top_k=o.top_k,
        batch_size=o.batch_size,
        shard_size=o.shard_size,
        shard_tokens=o.shard_tokens or None,
        backend=o.search_backend,  # type: ignore[arg-type]
        cache=o.cache,
        cache_dir=Path(o.cache_dir) if o.cache_dir else None,
        cache_dtype=o.cache_dtype,
    )
    records: list[ResultRecord] = []
    show = o.progress and dist.is_main
    with Progress(show) as bar:
        for task in tasks:
            error: DataError | None = None
            try:
                coll = data_mod.load(task, Path(o.data_dir) if o.data_dir else None)
                if o.max_queries:
                    coll = coll.sample_queries(o.max_queries, o.seed)
                check_scorable(coll)
                faults.point("dataset-loaded")
            except DataError as e:
                error = e
            problem = None if error is None else str(error)
            if dist.active:
                # Ranks that went different ways would pair up collectives wrongly: rank 0
                # decides for all, from every rank's account of the load.
                problem = _shared_failure(dist, problem)
            if problem is not None:
                if o.on_failure is None or len(tasks) == 1:
                    raise error if str(error) == problem else DataError(problem)
                if dist.is_main:
                    o.on_failure(Failure(task.label, problem))
                continue
            r = ready()
            settings = _settings_for(
                r, task.spec.suite, coll, base, o.max_length, o.max_query_length
            )
            settings = replace(settings, dims=dims)
            kept: list[tuple[ResultRecord, Path]] = []
            scored = measures
            if not o.overwrite and dist.is_main:  # rank 0 writes the records: it alone looks
                kept, scored = _existing(
                    r, coll, settings, task.spec.suite, out_dir, measures, o.save_run, o.on_notice
                )
            if dist_mod.share(dist, "records exist", bool(kept)):
                for rec, path in kept:
                    records.append(rec)
                    if o.on_record is not None:
                        o.on_record(rec, path, True)
                continue
            results = evaluate_collection(
                r,
                coll,
                settings,
                measures=scored,
                suite=task.spec.suite,
                progress=bar,
                dist=dist,
            )
            if not dist.is_main:
                continue
            for record, run in results:
                path = None
                if out_dir is not None:
                    # A run file left by an earlier run is rewritten, not left beside a
                    # record whose scores it no longer gives.
                    trec = (out_dir / record.relative_path()).with_suffix(".trec")
                    keep_run = o.save_run or trec.is_file()
                    path = publish(
                        record, run if keep_run else None, out_dir, tag=slug(r.spec.name)
                    )
                records.append(record)
                if o.on_record is not None:
                    o.on_record(record, path, False)
            if o.on_summary is not None and results and results[0][0] is not None:
                o.on_summary(_summary(results[0][0], coll.key))
    dist_mod.barrier(dist)  # waits (without a watchdog) for rank 0's last records
    return records


def _shared_failure(dist: Dist, problem: str | None) -> str | None:
    """Whether this dataset failed, as rank 0 decides for every rank: it did if it failed to
    load on any rank (the first such rank's message, naming the rank)."""
    problems = dist_mod.gather_to_main(dist, "dataset loaded", problem)
    failed = [(r, p) for r, p in enumerate(problems or []) if p is not None]
    decided = None
    if failed:
        r, p = failed[0]
        decided = p if r == 0 else f"{p} (on rank {r} of {dist.world})"
    return dist_mod.share(dist, "dataset failed", decided)


def _checked_options(
    *,
    top_k: int,
    split: str | None = None,
    search_backend: str,
    max_queries: int | None,
    cache_dtype: str,
    measures: Sequence[str] | None,
    counts: dict[str, int | None],
) -> tuple[str, ...]:
    """Every option that can be checked before any loading; returns the measures to score
    (the defaults are always scored: every record carries the main metric)."""
    if top_k < 1:
        raise EvalkitError(f"--top-k {top_k}: must be at least 1")
    if split is not None:
        check_split(split)
    if search_backend not in ("torch", "faiss"):
        raise EvalkitError(f"--search-backend {search_backend!r}: expected 'torch' or 'faiss'")
    if max_queries is not None and max_queries < 1:
        raise EvalkitError(f"--max-queries {max_queries}: must be at least 1")
    if cache_dtype not in ("float32", "float16"):
        raise EvalkitError(f"--cache-dtype {cache_dtype!r}: expected float32 or float16")
    for option, value in counts.items():
        if value is not None and value < 1:
            raise EvalkitError(f"{option} {value}: must be at least 1")
    wanted = tuple(dict.fromkeys([*DEFAULT_MEASURES, *(canonical(m) for m in measures or ())]))
    need = max(parse_measure(m)[1] for m in wanted)
    if top_k < need:
        raise EvalkitError(
            f"--top-k {top_k}: smaller than the deepest cutoff scored ({need}); "
            f"{'/'.join(m for m in wanted if parse_measure(m)[1] > top_k)} would be wrong"
        )
    return wanted


def _settings_for(
    retriever: Any,
    suite: str | None,
    coll: Collection,
    base: RetrievalSettings,
    max_length: int | None,
    max_query_length: int | None,
) -> RetrievalSettings:
    """``base`` with this collection's token limits (the one rule :func:`resolve_lengths`)."""
    enc = getattr(retriever, "encoder", None)
    if enc is None:
        return base
    lengths = resolve_lengths(
        retriever.spec,
        suite=suite,
        dataset_query=coll.max_query_length,
        dataset_doc=coll.max_doc_length,
        own_query=getattr(enc, "max_query_length", None),
        own_doc=getattr(enc, "max_doc_length", None),
        max_length=max_length,
        max_query_length=max_query_length,
    )
    _check_lengths(enc, lengths, max_length, max_query_length)
    return replace(base, lengths=lengths)


def _existing(
    retriever: Any,
    coll: Collection,
    settings: RetrievalSettings,
    suite: str | None,
    out_dir: Path | None,
    measures: tuple[str, ...],
    save_run: bool,
    notice: Callable[[str], None] | None = None,
) -> tuple[list[tuple[ResultRecord, Path]], tuple[str, ...]]:
    """The records of this (model, collection, settings) already on disk, one per dim, when
    every one verifies and satisfies the request (mteb's "only missing" behaviour); else
    ``[]``, each reason told to ``notice`` in one line. Also the measures to score when
    recomputing: those asked plus those the records on disk hold, so that recomputing for a
    new --metric does not drop an earlier one."""
    if out_dir is None:
        return [], measures
    enc = getattr(retriever, "encoder", None)
    # As ready() reads it: an encoder of one's own may state its dim only in its spec.
    full = getattr(enc, "dim", None) or (enc.spec.dim if enc is not None else None)
    info = retriever.describe(coll, settings)
    found = []
    scored = list(measures)
    reasons = []
    for d in settings.dims:
        skel = _skeleton(
            _model_info(retriever, settings.lengths, d, full),
            _dataset_info(coll, suite),
            info,
            settings.top_k,
        )
        path = out_dir / skel.relative_path()
        if not path.is_file():
            continue
        try:
            rec = read_record(path)
        except RecordError as e:
            reasons.append(f"{path}: {e.reason}")
            continue
        if rec.identity_key != skel.identity_key:
            reasons.append(f"{path}: holds another experiment (identity {rec.identity_key})")
            continue
        scored += [m for m in rec.scores if m not in scored]
        lacking = [m for m in measures if m not in rec.scores]
        if lacking:
            reasons.append(f"{path}: lacks {', '.join(lacking)}, which this run asks for")
            continue
        problem = _run_file_problem(rec, path) if save_run else None
        if problem:
            reasons.append(f"{path}: {problem}")
            continue
        found.append((rec, path))
    if len(found) == len(settings.dims):
        return found, measures
    for reason in reasons:
        if notice is not None:
            notice(f"{reason}; recomputing it")
    return [], tuple(scored)


def _run_file_problem(rec: ResultRecord, path: Path) -> str | None:
    """Why the record's TREC run file cannot stand for --save-run, or ``None``."""
    trec = path.with_suffix(".trec")
    if rec.run_file is None or rec.run_file.get("name") != trec.name:
        return "has no run file, which --save-run asks for"
    try:
        digest = file_sha256(trec)
    except OSError as e:
        return f"its run file {trec.name} cannot be read ({e.strerror or e})"
    if digest != rec.run_file.get("sha256"):
        return f"its run file {trec.name} is not the one written with it (SHA-256 differs)"
    return None


def _summary(rec: ResultRecord, label: str) -> str:
    s = rec.search
    t = rec.timings
    enc = t.get("encode_corpus_s", 0.0)
    tokens = s.get("tokens_encoded") or 0
    shards = s.get("shards") or {}
    parts = [f"{label}: encode {enc:.1f} s"]
    if tokens and enc > 0:
        parts.append(f"({tokens / enc:,.0f} tokens/s)")
    parts.append(f"search {t.get('search_s', 0.0):.1f} s")
    if shards.get("total"):
        parts.append(f"shards {shards['reused']} reused / {shards['computed']} computed")
    cache = s.get("cache")
    parts.append(f"cache {cache['bytes'] / 1e6:.1f} MB in {cache['dir']}" if cache else "no cache")
    return ", ".join(parts)
