"""Models in sentence-transformers layout, run by sentence-transformers itself.

Using the library (rather than re-implementing its modules) is what makes evalkit's embeddings
equal to what ``SentenceTransformer.encode`` and mteb produce: same pooling, normalisation,
``max_seq_length`` and prompts. The library already sorts by length and pads per batch.

Similarity as mteb 2.x scores such a model: it encodes with the model as it is (no extra
normalisation) and ranks with ``model.similarity``, i.e. the model's ``similarity_fn_name``
(cosine when unset). evalkit ranks by inner product, so for cosine it L2-normalises, and for
dot it keeps the model's vectors (unit length only if the model has a ``Normalize`` module).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import numpy as np

from evalkit.errors import ModelError
from evalkit.models.base import (
    SIMILARITIES,
    ModelSpec,
    as_doc_texts,
    check_trained_dim,
    resolved_revision,
    truncate_dim,
)
from evalkit.models.weights import check_loading_info, recorded_loading_info

_DTYPES = {
    "float32": "float32",
    "fp32": "float32",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
}


def default_device(device: str | None) -> str:
    import torch

    if device:
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ModelError(f"--device {device}: CUDA is not available on this machine")
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def torch_dtype(dtype: str | None, device: str, default_cuda: str = "float32") -> Any:
    import torch

    name = dtype or (default_cuda if device.startswith("cuda") else "float32")
    if name not in _DTYPES:
        raise ModelError(f"--dtype {dtype!r}: expected one of float32, bfloat16, float16")
    return getattr(torch, _DTYPES[name])


class SentenceTransformerEncoder:
    """:class:`evalkit.models.base.Encoder` over ``sentence_transformers.SentenceTransformer``."""

    def __init__(
        self, spec: ModelSpec, device: str | None = None, dtype: str | None = None
    ) -> None:
        from sentence_transformers import SentenceTransformer

        self.device = default_device(device)
        self.dtype = torch_dtype(dtype, self.device)
        source = spec.extra.get("local_dir") or spec.hf_id
        try:
            with recorded_loading_info() as loaded:
                self.model = SentenceTransformer(
                    source,
                    device=self.device,
                    revision=None if spec.extra.get("local_dir") else spec.revision,
                    model_kwargs={"torch_dtype": self.dtype},
                )
        except Exception as e:
            raise ModelError(
                f"--model {spec.name}: cannot load {source} ({type(e).__name__}: "
                f"{str(e).splitlines()[0][:200] if str(e) else ''})"
            ) from None
        for folder, info in loaded:  # the library fills missing weights at random, silently
            check_loading_info(spec.name, folder, info)
        # A model's own prompts (config_sentence_transformers.json) apply unless the registry
        # sets prefixes: the names mteb uses for its prompt types.
        prompts = getattr(self.model, "prompts", None) or {}
        self.query_prefix = spec.query_prefix or prompts.get("query", "")
        self.doc_prefix = spec.doc_prefix or next(
            (prompts[k] for k in ("document", "passage", "corpus") if prompts.get(k)), ""
        )
        own = int(self.model.max_seq_length)
        positions = getattr(_first_config(self.model), "max_position_embeddings", None)
        # max_seq_length may be raised up to the position embeddings (MiniLM: 256 -> 512).
        self.length_limit: int = int(positions) if isinstance(positions, int) else own
        self.max_query_length: int | None = spec.max_query_length or own
        self.max_doc_length: int | None = spec.max_doc_length or own
        get_dim = (
            getattr(self.model, "get_embedding_dimension", None)
            or self.model.get_sentence_embedding_dimension
        )
        self.dim = int(get_dim() or 0) or spec.dim
        # The commit actually loaded first: a branch name would go stale.
        self.revision = resolved_revision(source, _first_config(self.model)) or spec.revision
        self.show_progress = False
        self.spec = self._effective_spec(spec)

    def _effective_spec(self, spec: ModelSpec) -> ModelSpec:
        """The spec as the model runs: its ``Pooling`` module's mode, and its similarity
        (``spec.similarity`` when set, e.g. ``--similarity``, else ``similarity_fn_name``)."""
        own = getattr(self.model, "similarity_fn_name", None) or "cosine"
        similarity = spec.similarity or model_similarity(spec.name, str(own))
        if similarity != own:
            # model.similarity is what mteb and beir score with: keep it what evalkit uses.
            self.model.similarity_fn_name = similarity
        modules = [type(m).__name__ for m in self.model]
        pooling = _pooling_mode(self.model)
        if spec.pooling and pooling and spec.pooling != pooling:
            raise ModelError(
                f"--pooling {spec.pooling}: {spec.name} is a sentence-transformers model whose "
                f"Pooling module does {pooling}; its pooling is part of the model"
            )
        return replace(
            spec,
            pooling=pooling or spec.pooling,
            similarity=similarity,  # type: ignore[arg-type]
            # A Normalize module makes unit vectors whatever the similarity: Matryoshka cuts
            # of them are re-normalised too.
            normalize=similarity == "cosine" or "Normalize" in modules,
        )

    def _encode(
        self,
        texts: list[str],
        prefix: str,
        max_len: int | None,
        batch_size: int | None,
        dim: int | None,
        progress: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        if max_len:
            self.model.max_seq_length = max_len
        size = batch_size or 32

        def encode(part: list[str]) -> np.ndarray:
            return self.model.encode(
                part,
                # "" not None: None would let the model's default_prompt_name (often the query
                # prompt) apply to documents.
                prompt=prefix,
                batch_size=size,
                convert_to_numpy=True,
                normalize_embeddings=self.spec.normalize,
                show_progress_bar=self.show_progress,
            ).astype(np.float32, copy=False)

        order = _token_order(self.model, texts, prefix, size)
        with _counted_batches(self.model, progress):
            if order is None:
                emb = encode(texts)
            else:
                # One batch a call, in token-length order: the library would batch by
                # character length, and pad 30% more tokens (MS MARCO, MiniLM, batch 32).
                parts = [
                    encode([texts[i] for i in order[s : s + size]])
                    for s in range(0, len(texts), size)
                ]
                emb = np.empty((len(texts), parts[0].shape[1]), dtype=np.float32)
                emb[order] = np.concatenate(parts)
        return truncate_dim(emb, dim, self.dim, self.spec.normalize)

    def check_dim(self, dim: int | None) -> None:
        """A Matryoshka ``dim`` must be within the model's width; whether the model was
        trained for it is :func:`check_trained_dim`'s rule (``force_dim``)."""
        if dim is not None and (dim < 1 or (self.dim and dim > self.dim)):
            raise ModelError(f"--dim {dim}: {self.spec.name} supports 1..{self.dim}")

    def encode_queries(
        self,
        texts: Sequence[str],
        dim: int | None = None,
        batch_size: int | None = None,
        *,
        max_length: int | None = None,
        force_dim: bool = False,
    ) -> np.ndarray:
        check_trained_dim(self.spec, self.dim, dim, force=force_dim, api=True)
        return self._encode(
            list(texts), self.query_prefix, max_length or self.max_query_length, batch_size, dim
        )

    def encode_documents(
        self,
        texts_or_dicts: Sequence[str] | Sequence[dict[str, str]],
        dim: int | None = None,
        batch_size: int | None = None,
        *,
        max_length: int | None = None,
        progress: Callable[[int, int], None] | None = None,
        force_dim: bool = False,
    ) -> np.ndarray:
        """``progress(n_texts, n_tokens)`` after each batch is tokenised: real tokens (prompt
        and special tokens included, padding not), as the transformers encoder counts them."""
        check_trained_dim(self.spec, self.dim, dim, force=force_dim, api=True)
        return self._encode(
            as_doc_texts(texts_or_dicts),
            self.doc_prefix,
            max_length or self.max_doc_length,
            batch_size,
            dim,
            progress,
        )


@contextmanager
def _counted_batches(model: Any, progress: Callable[[int, int], None] | None) -> Iterator[None]:
    """Calls ``progress(n_texts, n_tokens)`` for each batch ``model.encode`` encodes, from
    the batch's own attention mask: no second tokenisation. A batch is reported once the
    next is tokenised (or ``encode`` returns), i.e. after its forward pass: reported as it
    is tokenised, the first batch would read as done in no time (a rate far too high)."""
    # sentence-transformers >= 5 tokenises a batch through preprocess(), older through tokenize()
    name = "preprocess" if hasattr(model, "preprocess") else "tokenize"
    if progress is None or not hasattr(model, name):
        yield
        return
    inner = getattr(model, name)
    pending: list[tuple[int, int]] = []

    def counted(inputs: Any, *args: Any, **kwargs: Any) -> Any:
        features = inner(inputs, *args, **kwargs)
        # a dict, or transformers' BatchEncoding (a Mapping, not a dict)
        found = features if isinstance(features, Mapping) else {}
        mask = found.get("attention_mask")
        if mask is not None:
            n_tokens = int(mask.sum())
        else:  # static embeddings: every id is a token
            ids = found.get("input_ids")
            n_tokens = int(ids.numel()) if ids is not None else 0
        if pending:  # the previous batch has been through the model
            progress(*pending.pop())
        pending.append((len(inputs), n_tokens))
        return features

    setattr(model, name, counted)  # the instance's own attribute, removed after the call
    try:
        yield
    finally:
        delattr(model, name)
    if pending:  # encode returned: the last batch is done too
        progress(*pending.pop())


TOKEN_COUNT_SLICE = 4096
"""Texts tokenised at a time to count their tokens: lengths are kept, ids dropped."""


def _token_order(model: Any, texts: list[str], prefix: str, batch_size: int) -> np.ndarray | None:
    """``texts``' indices from most to fewest tokens (the model's tokenizer, prompt included,
    cut at ``max_seq_length``), ties in input order: batches of like token counts pad least.
    The linear layers cost the same for a padding position as for a token, so batches by
    character length (sentence-transformers' own order) cost ~30% more on MS MARCO passages.
    ``None`` (the library's own batching) for one batch, or a model without a text
    tokenizer."""
    tokenizer = getattr(model, "tokenizer", None)
    if len(texts) <= batch_size or not callable(tokenizer):
        return None
    limit = getattr(model, "max_seq_length", None)
    counts = np.empty(len(texts), dtype=np.int64)
    try:
        for s in range(0, len(texts), TOKEN_COUNT_SLICE):
            ids = tokenizer(
                [prefix + t for t in texts[s : s + TOKEN_COUNT_SLICE]],
                truncation=bool(limit),
                max_length=limit,
                return_attention_mask=False,
                return_token_type_ids=False,
            )["input_ids"]
            counts[s : s + len(ids)] = [len(x) for x in ids]
    except (TypeError, ValueError, KeyError):  # not a text tokenizer: the library's order
        return None
    return np.argsort(-counts, kind="stable")


def _first_config(model: Any) -> Any:
    """The transformers config of a SentenceTransformer's first module, if it has one."""
    try:
        return model[0].auto_model.config
    except (AttributeError, IndexError, KeyError, TypeError):
        return None


def model_similarity(name: str, similarity_fn_name: str) -> str:
    """A model's own ``similarity_fn_name`` when evalkit can rank by it (cosine, dot)."""
    if similarity_fn_name not in SIMILARITIES:
        raise ModelError(
            f"--model {name}: its similarity_fn_name is {similarity_fn_name!r}; evalkit ranks "
            "by cosine or dot product (pass --similarity cosine or dot to choose one)"
        )
    return similarity_fn_name


def _pooling_mode(model: Any) -> str | None:
    """The mode of a SentenceTransformer's ``Pooling`` module (``cls``, ``mean``, ``last``,
    ``max``, ``cls+mean``...); ``None`` when it has none."""
    for module in model:
        if type(module).__name__ != "Pooling":
            continue
        mode = getattr(module, "pooling_mode", None)
        if mode is None and hasattr(module, "get_pooling_mode_str"):  # sentence-transformers < 6
            mode = module.get_pooling_mode_str()
        modes = mode.split("+") if isinstance(mode, str) else list(mode or ())
        return "+".join("last" if m == "lasttoken" else m for m in modes) or None
    return None
