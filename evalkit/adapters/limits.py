"""Token limits for an encoder running inside a peer's harness, by the rule ``evalkit run`` uses.

The adapters do not choose limits of their own: they find the catalog dataset the peer is
running (an mteb task name, or the suite and dataset given to ``beir_model``) and pass its
limits through :func:`evalkit.models.base.resolve_lengths`, as the runner does. A task the
catalog does not know (a local folder) gets what ``evalkit run`` gives a local folder: the
model's own limits.
"""

from __future__ import annotations

from dataclasses import dataclass

from evalkit.errors import EvalkitError
from evalkit.models.base import Encoder, Lengths, resolve_lengths
from evalkit.suites import DatasetSpec, resolve, suites


@dataclass(frozen=True)
class LengthOptions:
    """``evalkit run``'s ``--max-length`` / ``--max-query-length``, for an adapter."""

    max_length: int | None = None
    max_query_length: int | None = None

    def __post_init__(self) -> None:
        for option, value in (
            ("max_length", self.max_length),
            ("max_query_length", self.max_query_length),
        ):
            if value is not None and value < 1:
                raise EvalkitError(f"{option}={value}: must be at least 1")


def dataset_for_mteb_task(name: str | None, hub_path: str | None = None) -> DatasetSpec | None:
    """The catalog dataset mteb calls ``name`` (else the one read from ``hub_path``)."""
    specs = [s for suite in suites().values() for s in suite.datasets]
    for s in specs:
        if name and s.mteb_task == name:
            return s
    for s in specs:
        if hub_path and s.mteb_task and s.source.get("id") == hub_path:
            return s
    return None


def dataset_for(suite: str, dataset: str | None = None) -> DatasetSpec:
    """The dataset ``evalkit run --suite SUITE [--dataset DATASET]`` would run, resolved the
    way the CLI resolves them (a local folder: a dataset without limits of its own)."""
    tasks = resolve(suite, [dataset] if dataset else None)
    specs = list({t.spec.name: t.spec for t in tasks}.values())
    limits = {(s.suite, s.max_query_length, s.max_doc_length) for s in specs}
    if len(limits) > 1:
        raise EvalkitError(
            f"suite {suite!r}: its datasets have different token limits; name one with "
            f"dataset= (e.g. {specs[0].name!r})"
        )
    return specs[0]


def lengths_for(
    encoder: Encoder, dataset: DatasetSpec | None, options: LengthOptions | None = None
) -> Lengths:
    """The query and document limits ``evalkit run`` would use for ``dataset``."""
    options = options or LengthOptions()
    return resolve_lengths(
        encoder.spec,
        suite=dataset.suite if dataset else None,
        dataset_query=dataset.max_query_length if dataset else None,
        dataset_doc=dataset.max_doc_length if dataset else None,
        own_query=getattr(encoder, "max_query_length", None),
        own_doc=getattr(encoder, "max_doc_length", None),
        max_length=options.max_length,
        max_query_length=options.max_query_length,
    )
