"""evalkit: evaluation harness for dense retrievers.

Three steps, as in beir: load, retrieve, evaluate::

    import evalkit
    records = evalkit.evaluate("minilm", "demo")          # list[ResultRecord]
    enc = evalkit.load_encoder("drama-base")             # encode_queries / encode_documents
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Lazy attributes keep ``import evalkit`` (and the CLI's --help) fast: torch loads on use.
_LAZY = {
    "evaluate": "evalkit.runner",
    "evaluate_collection": "evalkit.runner",
    "RunOptions": "evalkit.runner",
    "load_encoder": "evalkit.models.registry",
    "resolve_model": "evalkit.models.registry",
    "load_beir_dir": "evalkit.data",
    "Collection": "evalkit.data",
    "Corpus": "evalkit.data",
    "ResultRecord": "evalkit.results",
    "load_results": "evalkit.results",
    "evaluate_run": "evalkit.metrics",
    "ModelSpec": "evalkit.models.base",
    "load_embeddings": "evalkit.cli.encode",
}

if TYPE_CHECKING:
    from evalkit.cli.encode import load_embeddings  # noqa: F401
    from evalkit.data import Collection, Corpus, load_beir_dir  # noqa: F401
    from evalkit.metrics import evaluate_run  # noqa: F401
    from evalkit.models.base import ModelSpec  # noqa: F401
    from evalkit.models.registry import load_encoder, resolve_model  # noqa: F401
    from evalkit.results import ResultRecord, load_results  # noqa: F401
    from evalkit.runner import RunOptions, evaluate, evaluate_collection  # noqa: F401


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'evalkit' has no attribute {name!r}")


__all__ = [*_LAZY, "__version__"]
