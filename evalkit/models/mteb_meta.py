"""What evalkit knows of a model, in the fields of mteb's ``ModelMeta``.

Plain data from a :class:`~evalkit.models.base.ModelSpec`, without importing mteb: the mteb
adapter (:func:`evalkit.adapters.mteb.model_meta_for`) builds its ``ModelMeta`` from it with
its loader, and the results export (:mod:`evalkit.evaluation.export_mteb`) writes
``model_meta.json`` from it, so an export never imports the adapters.
"""

from __future__ import annotations

from typing import Any

from evalkit.models.base import Encoder, ModelSpec
from evalkit.models.catalog import DRAMA, MODELS

MTEB_LOADER = "load_for_mteb"
"""The name of the adapter's ``ModelMeta.loader`` (:func:`evalkit.adapters.mteb.load_for_mteb`),
which mteb's ``model_meta.json`` records by name."""

# ISO 639-1 (evalkit) -> ISO 639-3 + script (mteb). Scripts as each language is written in
# DRAMA's training data (MIRACL, MLDR and the MTEB tasks in drama.md).
ISO_639_3_SCRIPT: dict[str, str] = {
    "ar": "ara-Arab",
    "bn": "ben-Beng",
    "de": "deu-Latn",
    "en": "eng-Latn",
    "es": "spa-Latn",
    "fa": "fas-Arab",
    "fi": "fin-Latn",
    "fr": "fra-Latn",
    "hi": "hin-Deva",
    "id": "ind-Latn",
    "it": "ita-Latn",
    "ja": "jpn-Jpan",
    "ko": "kor-Hang",
    "pt": "por-Latn",
    "ru": "rus-Cyrl",
    "sw": "swa-Latn",
    "te": "tel-Telu",
    "th": "tha-Thai",
    "yo": "yor-Latn",
    "zh": "zho-Hans",
}


def is_hub_id(value: str) -> bool:
    """``org/name``, as mteb names models."""
    return value.count("/") == 1 and not value.startswith((".", "/", "~"))


def model_meta_fields(spec: ModelSpec, encoder: Encoder | None = None) -> dict[str, Any]:
    """The keyword arguments of mteb's ``ModelMeta`` for ``spec`` (all but ``loader``).

    mteb names need ``org/name``: Hub ids are used as they are, anything else becomes
    ``evalkit-local/<name>``. ``encoder``, when given, states the dims and limits."""
    eff = encoder.spec if encoder is not None else spec
    name = spec.hf_id if spec.hf_id and is_hub_id(spec.hf_id) else f"evalkit-local/{spec.name}"
    full = eff.dim
    dims: int | list[int] | None = full
    if eff.matryoshka_dims and full:
        dims = sorted({*eff.matryoshka_dims, full})
    max_tokens = (
        max(
            [
                x
                for x in (
                    eff.max_query_length,
                    eff.max_doc_length,
                    *eff.max_doc_length_by_suite.values(),
                )
                if x
            ]
            or [0]
        )
        or None
    )
    extra = eff.extra
    registered = {m.name for m in MODELS}
    target = spec.name if spec.name in registered else (spec.hf_id or spec.name)
    return {
        "loader_kwargs": {"evalkit_model": target, "model_type": spec.kind},
        "name": name,
        "revision": spec.revision,
        "release_date": None,
        "languages": [ISO_639_3_SCRIPT[x] for x in eff.languages if x in ISO_639_3_SCRIPT] or None,
        "n_parameters": extra.get("n_parameters"),
        "n_embedding_parameters": extra.get("n_embedding_parameters"),
        "memory_usage_mb": (
            round(extra["n_parameters"] * 4 / 2**20, 1) if extra.get("n_parameters") else None
        ),
        "max_tokens": max_tokens,
        "embed_dim": dims,
        "license": eff.license,
        "open_weights": True,
        "public_training_code": extra.get("code"),
        "public_training_data": None,
        "framework": ["PyTorch", "Transformers"],
        "reference": eff.reference,
        "similarity_fn_name": "dot" if eff.similarity == "dot" else "cosine",
        "use_instructions": bool(eff.query_prefix or eff.doc_prefix),
        "training_datasets": None,
        "citation": eff.citation,
    }


def drama_spec(hf_id: str) -> ModelSpec | None:
    """The registered DRAMA checkpoint published as ``hf_id`` (``facebook/drama-base``), whose
    ``ModelMeta`` the adapter registers (``DRAMA_MODEL_METAS``)."""
    return next((s for s in DRAMA if model_meta_fields(s)["name"] == hf_id), None)
