"""Run any evalkit encoder inside mteb 2.x (``mteb.evaluate(adapter, tasks)``).

mteb calls ``encode(DataLoader, task_metadata=..., prompt_type=...)``; the adapter sends
``PromptType.query`` to the evalkit encoder's query path (its query prefix, e.g. DRAMA's
``"Query: "``) and everything else (documents, symmetric tasks) to the document path. mteb has
already joined ``title + " " + text`` for documents.

Token limits follow the task, as in ``evalkit run``: the mteb task name is looked up in
evalkit's suite catalog and the limits come from :func:`evalkit.models.base.resolve_lengths`
(DRAMA on ``MultiLongDocRetrieval``: 8192-token documents; on SciFact: 512). A task the
catalog does not know gets the model's own limits, as a local folder does in ``evalkit run``.

:data:`DRAMA_MODEL_METAS` holds ``ModelMeta`` entries for the three DRAMA checkpoints, in the
form mteb's model registry takes (DRAMA has none yet: mteb issue #2261); their loader builds
the adapter through evalkit, so ``meta.load_model()`` runs DRAMA without remote code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from mteb.models.abs_encoder import AbsEncoder
from mteb.models.model_meta import ModelMeta
from mteb.types import PromptType

from evalkit.adapters.limits import LengthOptions, dataset_for_mteb_task, lengths_for
from evalkit.models.base import Encoder, Lengths, ModelSpec, check_trained_dim
from evalkit.models.catalog import DRAMA
from evalkit.models.mteb_meta import ISO_639_3_SCRIPT as ISO_639_3_SCRIPT  # the old name
from evalkit.models.mteb_meta import model_meta_fields

if TYPE_CHECKING:
    from mteb.abstasks.task_metadata import TaskMetadata
    from torch.utils.data import DataLoader


class EvalkitMtebEncoder(AbsEncoder):
    """mteb's ``EncoderProtocol`` over an evalkit :class:`~evalkit.models.base.Encoder`.

    ``dim`` cuts every embedding to a Matryoshka dimension (validated by the encoder);
    ``lengths`` are ``evalkit run``'s ``--max-length`` / ``--max-query-length``."""

    def __init__(
        self,
        encoder: Encoder,
        meta: ModelMeta | None = None,
        dim: int | None = None,
        lengths: LengthOptions | None = None,
        force_dim: bool = False,
    ) -> None:
        self.model = encoder
        self.mteb_model_meta = meta or model_meta_for(encoder.spec, encoder)
        self.dim = dim
        self.lengths = lengths or LengthOptions()
        check = getattr(encoder, "check_dim", None)
        if dim is not None and callable(check):
            check(dim)
        # encode_queries' rule, refused here (at once) rather than at the first batch
        check_trained_dim(
            encoder.spec, getattr(encoder, "dim", None), dim, force=force_dim, api=True
        )

    def encode(
        self,
        inputs: DataLoader[Any],
        *,
        task_metadata: TaskMetadata,
        hf_split: str,
        hf_subset: str,
        prompt_type: PromptType | None = None,
        **kwargs: Any,
    ) -> np.ndarray:
        texts: list[str] = [t for batch in inputs for t in batch["text"]]
        batch_size = kwargs.get("batch_size")
        limits = self.lengths_for_task(task_metadata)
        if prompt_type == PromptType.query:
            return self.model.encode_queries(
                texts, dim=self.dim, force_dim=True, batch_size=batch_size, max_length=limits.query
            )
        return self.model.encode_documents(
            texts, dim=self.dim, force_dim=True, batch_size=batch_size, max_length=limits.doc
        )

    def lengths_for_task(self, task_metadata: TaskMetadata | None) -> Lengths:
        """The limits ``evalkit run`` uses on the catalog dataset behind this mteb task."""
        name = getattr(task_metadata, "name", None)
        hub = (getattr(task_metadata, "dataset", None) or {}).get("path")
        return lengths_for(self.model, dataset_for_mteb_task(name, hub), self.lengths)


def model_meta_for(spec: ModelSpec, encoder: Encoder | None = None) -> ModelMeta:
    """A ``ModelMeta`` describing ``spec`` (for ad-hoc models: what evalkit knows of them,
    :func:`evalkit.models.mteb_meta.model_meta_fields`), loaded by :func:`load_for_mteb`.

    mteb names need ``org/name``: Hub ids are used as they are, anything else becomes
    ``evalkit-local/<name>``."""
    return ModelMeta(loader=load_for_mteb, **model_meta_fields(spec, encoder))


def load_for_mteb(
    model_name: str,
    revision: str | None = None,
    *,
    device: str | None = None,
    evalkit_model: str | None = None,
    model_type: str | None = None,
    embed_dim: int | None = None,
    dtype: str | None = None,
    **kwargs: Any,
) -> EvalkitMtebEncoder:
    """``ModelMeta.loader``: load through evalkit (no remote code) and wrap for mteb.
    ``embed_dim`` (``meta.load_model(embed_dim=256)``) is a Matryoshka cut."""
    from dataclasses import replace

    from evalkit.models.registry import load_encoder, resolve_model

    spec = resolve_model(evalkit_model or model_name, model_type)
    if revision and revision != spec.revision:
        spec = replace(spec, revision=revision)
    return EvalkitMtebEncoder(load_encoder(spec, device=device, dtype=dtype), dim=embed_dim)


def mteb_model(
    model: str | ModelSpec | Encoder,
    *,
    dim: int | None = None,
    model_type: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    max_length: int | None = None,
    max_query_length: int | None = None,
    force_dim: bool = False,
) -> EvalkitMtebEncoder:
    """An mteb model for any evalkit model: registered name, Hub id, local directory,
    :class:`ModelSpec` or an already-loaded encoder. Registered DRAMA models get their
    :data:`DRAMA_MODEL_METAS` entry. ``max_length`` / ``max_query_length`` override the
    per-task limits as ``evalkit run --max-length`` does."""
    from evalkit.models.registry import load_encoder, resolve_model

    if isinstance(model, (str, ModelSpec)):
        spec = model if isinstance(model, ModelSpec) else resolve_model(model, model_type)
        encoder: Encoder = load_encoder(spec, device=device, dtype=dtype)
    else:
        encoder, spec = model, model.spec
    meta = DRAMA_MODEL_METAS.get(spec.hf_id or "") if spec.kind == "drama" else None
    if meta is not None and meta.name != spec.hf_id:
        meta = None
    return EvalkitMtebEncoder(
        encoder,
        meta=meta,
        dim=dim,
        lengths=LengthOptions(max_length, max_query_length),
        force_dim=force_dim,
    )


def _drama_metas(specs: Sequence[ModelSpec]) -> dict[str, ModelMeta]:
    metas = [model_meta_for(spec) for spec in specs]
    return {str(m.name): m for m in metas}


DRAMA_MODEL_METAS: dict[str, ModelMeta] = _drama_metas(DRAMA)
"""``facebook/drama-base|large|1b`` -> ``ModelMeta`` (embed_dim lists the Matryoshka dims)."""
