"""Run any evalkit encoder inside beir 2.x (``DenseRetrievalExactSearch(adapter)``).

beir calls ``encode_queries(list[str], batch_size, **kw)`` and ``encode_corpus(corpus,
batch_size, **kw)`` with the corpus as a list of ``{"title", "text"}`` dicts (what
``DenseRetrievalExactSearch`` passes), a dict of lists (``{"title": [...], "text": [...]}``,
beir's other callers) or plain strings. Titles are joined with a single space, as beir does.
``convert_to_tensor=True`` (beir's default) returns a torch tensor, else a numpy array.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from evalkit.errors import EvalkitError
from evalkit.models.base import Encoder, ModelSpec


class EvalkitBeirModel:
    """beir's dense-model interface over an evalkit :class:`~evalkit.models.base.Encoder`."""

    def __init__(self, encoder: Encoder, dim: int | None = None) -> None:
        self.model = encoder
        self.dim = dim
        check = getattr(encoder, "check_dim", None)
        if dim is not None and callable(check):
            check(dim)

    def encode_queries(self, queries: Sequence[str], batch_size: int = 32, **kwargs: Any) -> Any:
        emb = self.model.encode_queries(list(queries), dim=self.dim, batch_size=batch_size)
        return _output(emb, kwargs)

    def encode_corpus(
        self,
        corpus: Sequence[Mapping[str, str]] | Mapping[str, Sequence[str]] | Sequence[str],
        batch_size: int = 32,
        **kwargs: Any,
    ) -> Any:
        emb = self.model.encode_documents(corpus_docs(corpus), dim=self.dim, batch_size=batch_size)
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
) -> EvalkitBeirModel:
    """A beir model for any evalkit model: name, Hub id, directory, spec or loaded encoder."""
    from evalkit.models.registry import load_encoder, resolve_model

    if isinstance(model, (str, ModelSpec)):
        spec = model if isinstance(model, ModelSpec) else resolve_model(model, model_type)
        model = load_encoder(spec, device=device, dtype=dtype)
    return EvalkitBeirModel(model, dim=dim)
