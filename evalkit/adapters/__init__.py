"""Adapters that run evalkit encoders inside the peers' own harnesses.

* :mod:`evalkit.adapters.mteb`: ``mteb_model(...)`` for ``mteb.evaluate(model, tasks)``, and
  ``ModelMeta`` entries for the DRAMA checkpoints (``DRAMA_MODEL_METAS``).
* :mod:`evalkit.adapters.beir`: ``beir_model(...)`` for beir's ``DenseRetrievalExactSearch``.
* :mod:`evalkit.adapters.mteb_tasks`: ``local_retrieval_task(path)`` runs mteb on a local
  BEIR-format folder (read by evalkit's reader); ``mteb_task_from_local_copy(name, path)`` is
  mteb's own task reading a local copy of its Hub repository with mteb's own loader.
* :mod:`evalkit.adapters.limits`: the per-task token limits both adapters take from the
  catalog, by ``evalkit run``'s rule.

Each imports its peer (optional dependencies, ``pip install evalkit[peers]``) only when used.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "mteb_model": "evalkit.adapters.mteb",
    "EvalkitMtebEncoder": "evalkit.adapters.mteb",
    "DRAMA_MODEL_METAS": "evalkit.adapters.mteb",
    "beir_model": "evalkit.adapters.beir",
    "EvalkitBeirModel": "evalkit.adapters.beir",
    "local_retrieval_task": "evalkit.adapters.mteb_tasks",
    "mteb_task_from_local_copy": "evalkit.adapters.mteb_tasks",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'evalkit.adapters' has no attribute {name!r}")


__all__ = list(_LAZY)
