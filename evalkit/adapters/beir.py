"""Run any evalkit encoder inside beir 2.x (``DenseRetrievalExactSearch(adapter)``).

beir calls ``encode_queries(list[str], batch_size, **kw)`` and ``encode_corpus(corpus,
batch_size, **kw)`` with the corpus as a list of ``{"title", "text"}`` dicts (what
``DenseRetrievalExactSearch`` passes), a dict of lists (``{"title": [...], "text": [...]}``,
beir's other callers) or plain strings. Titles are joined with a single space, as beir does.
``convert_to_tensor=True`` (beir's default) returns a torch tensor, else a numpy array.

beir does not say which dataset it is running, so ``beir_model(..., suite=, dataset=)`` names
it; the token limits are then the ones ``evalkit run --suite SUITE --dataset DATASET`` uses
(DRAMA on ``mldr``: 8192-token documents). Without them, the model's own limits apply, as
for a local folder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from evalkit.adapters.limits import LengthOptions, dataset_for, lengths_for
from evalkit.errors import EvalkitError
from evalkit.models.base import Encoder, Lengths, ModelSpec, check_trained_dim
from evalkit.suites import DatasetSpec


class EvalkitBeirModel:
    """beir's dense-model interface over an evalkit :class:`~evalkit.models.base.Encoder`.

    ``dataset`` (a catalog entry) and ``lengths`` (``--max-length`` and
    ``--max-query-length``) set the token limits as ``evalkit run`` would."""

    def __init__(
        self,
        encoder: Encoder,
        dim: int | None = None,
        *,
        dataset: DatasetSpec | None = None,
        lengths: LengthOptions | None = None,
        force_dim: bool = False,
    ) -> None:
        self.model = encoder
        self.dim = dim
        self.dataset = dataset
        self.lengths = lengths or LengthOptions()
        check = getattr(encoder, "check_dim", None)
        if dim is not None and callable(check):
            check(dim)
        # encode_queries' rule, refused here (at once) rather than at the first batch
        check_trained_dim(
            encoder.spec, getattr(encoder, "dim", None), dim, force=force_dim, api=True
        )

    @property
    def limits(self) -> Lengths:
        """Read per call: the encoder's own limits are its defaults, which it may change."""
        return lengths_for(self.model, self.dataset, self.lengths)

    def encode_queries(self, queries: Sequence[str], batch_size: int = 32, **kwargs: Any) -> Any:
        emb = self.model.encode_queries(
            list(queries),
            dim=self.dim,
            force_dim=True,
            batch_size=batch_size,
            max_length=self.limits.query,
        )
        return _output(emb, kwargs)

    def encode_corpus(
        self,
        corpus: Sequence[Mapping[str, str]] | Mapping[str, Sequence[str]] | Sequence[str],
        batch_size: int = 32,
        **kwargs: Any,
    ) -> Any:
        emb = self.model.encode_documents(
            corpus_docs(corpus),
            dim=self.dim,
            force_dim=True,
            batch_size=batch_size,
            max_length=self.limits.doc,
        )
        return _output(emb, kwargs)


def corpus_docs(
    corpus: Sequence[Mapping[str, str]] | Mapping[str, Sequence[str]] | Sequence[str],
) -> list[dict[str, str]] | list[str]:
    """beir's corpus forms as a list of ``{"title", "text"}`` dicts (or the strings as given)."""
    if isinstance(corpus, Mapping):
        if "text" not in corpus:
            raise EvalkitError("beir corpus as a dict of lists needs a 'text' list")
        texts = list(corpus["text"])
        titles = list(corpus.get("title") or [""] * len(texts))
        if len(titles) != len(texts):
            raise EvalkitError(f"beir corpus: {len(titles)} titles for {len(texts)} texts")
        return [{"title": t or "", "text": x or ""} for t, x in zip(titles, texts)]
    docs = list(corpus)
    if docs and isinstance(docs[0], str):
        return [str(d) for d in docs]
    return [{"title": d.get("title") or "", "text": d.get("text") or ""} for d in docs]


def _output(emb: np.ndarray, kwargs: Mapping[str, Any]) -> Any:
    if kwargs.get("convert_to_tensor", False):
        import torch

        return torch.from_numpy(np.ascontiguousarray(emb))
    return emb


def beir_model(
    model: str | ModelSpec | Encoder,
    *,
    dim: int | None = None,
    model_type: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    suite: str | None = None,
    dataset: str | None = None,
    max_length: int | None = None,
    max_query_length: int | None = None,
    force_dim: bool = False,
) -> EvalkitBeirModel:
    """A beir model for any evalkit model: name, Hub id, directory, spec or loaded encoder.

    ``suite`` / ``dataset`` name what beir runs (``suite="mldr"``, or ``suite="beir",
    dataset="scifact"``; a suite whose datasets share limits needs no dataset), so the token
    limits are ``evalkit run``'s for it; ``max_length`` / ``max_query_length`` override them
    as the options of that name do."""
    from evalkit.models.registry import load_encoder, resolve_model

    if dataset is not None and suite is None:
        raise EvalkitError(f"beir_model(dataset={dataset!r}) needs the suite it belongs to")
    # Resolved before loading: a wrong name fails in a second, not after the model loads.
    spec_of_data = dataset_for(suite, dataset) if suite is not None else None
    lengths = LengthOptions(max_length, max_query_length)
    if isinstance(model, (str, ModelSpec)):
        spec = model if isinstance(model, ModelSpec) else resolve_model(model, model_type)
        model = load_encoder(spec, device=device, dtype=dtype)
    return EvalkitBeirModel(
        model, dim=dim, dataset=spec_of_data, lengths=lengths, force_dim=force_dim
    )
