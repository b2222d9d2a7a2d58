"""Suites and their datasets (what to run), as data. See :mod:`evalkit.suites.base`; the
datasets they name are read by :func:`evalkit.data.load`."""

from evalkit.suites.base import (
    DatasetSpec,
    LoadTask,
    Suite,
    get_suite,
    register_suite,
    resolve,
    suites,
)

__all__ = [
    "DatasetSpec",
    "LoadTask",
    "Suite",
    "get_suite",
    "register_suite",
    "resolve",
    "suites",
]
