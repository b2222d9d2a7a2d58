"""A checkpoint must hold the weights of the model it is loaded as, and nothing the model
would silently leave out.

``transformers`` fills a weight missing from the checkpoint with random values (the model then
runs, and is scored, differently on every load) and drops a weight the model has no place for
(a trained projection left out of the embeddings). Both are refused, by every loader: plain
transformers (:mod:`evalkit.models.transformer`), sentence-transformers and DRAMA, from
transformers' own loading information (``output_loading_info=True``).

Two kinds of difference cannot change an embedding and are let through: a missing ``pooler``
(evalkit and sentence-transformers pool the last hidden states, never the pooler output) and
the pretraining heads that a base model loaded from a pretraining checkpoint leaves out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from evalkit.errors import ModelError

HARMLESS_MISSING = ("pooler.",)
"""Weights of outputs no embedding is made from."""
HARMLESS_UNEXPECTED = ("cls.predictions.", "cls.seq_relationship.", "lm_head.")
"""Masked-LM, next-sentence and LM heads of pretraining checkpoints (BERT, RoBERTa, decoders)."""

_SHOWN = 3


def _relevant(keys: Iterable[str], harmless: tuple[str, ...]) -> list[str]:
    # A base model loaded from a task checkpoint may see a head under its prefix
    # (``bert.pooler.dense.weight``): matched at any dotted position.
    return sorted(k for k in keys if not any(f".{h}" in f".{k}" for h in harmless))


def check_loading_info(name: str, source: str, info: dict[str, Any] | None) -> None:
    """Raise :class:`ModelError` (one line: the ``--model``, the folder or id, a few keys)
    when ``info`` (``from_pretrained(..., output_loading_info=True)``'s second value) has
    missing or unexpected weights."""
    if not info:
        return
    missing = _relevant(info.get("missing_keys") or (), HARMLESS_MISSING)
    unexpected = _relevant(info.get("unexpected_keys") or (), HARMLESS_UNEXPECTED)
    problems = []
    if missing:
        problems.append(
            f"lacks {len(missing)} weight(s) of the model ({', '.join(missing[:_SHOWN])}"
            f"{', ...' if len(missing) > _SHOWN else ''}), which would be random"
        )
    if unexpected:
        problems.append(
            f"has {len(unexpected)} weight(s) the model does not use "
            f"({', '.join(unexpected[:_SHOWN])}{', ...' if len(unexpected) > _SHOWN else ''}), "
            "which would be left out"
        )
    if problems:
        raise ModelError(
            f"--model {name}: {source} {' and '.join(problems)}; the checkpoint does not match "
            "its config (incomplete download or wrong model type?)"
        )


@contextmanager
def recorded_loading_info() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """``(source, loading info)`` of every transformers model loaded inside the block.

    For loaders that call ``from_pretrained`` themselves (sentence-transformers builds its
    ``Transformer`` modules so) and hand back only the model: ``from_pretrained`` is wrapped
    for the duration of the block to ask for the loading information too."""
    from transformers import PreTrainedModel

    seen: list[tuple[str, dict[str, Any]]] = []
    original = PreTrainedModel.__dict__["from_pretrained"]
    inner = original.__func__

    def from_pretrained(cls: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("output_loading_info"):
            return inner(cls, *args, **kwargs)
        kwargs["output_loading_info"] = True
        model, info = inner(cls, *args, **kwargs)
        source = args[0] if args else kwargs.get("pretrained_model_name_or_path")
        seen.append((str(source), info))
        return model

    PreTrainedModel.from_pretrained = classmethod(from_pretrained)  # type: ignore[method-assign,assignment]
    try:
        yield seen
    finally:
        PreTrainedModel.from_pretrained = original  # type: ignore[method-assign]
