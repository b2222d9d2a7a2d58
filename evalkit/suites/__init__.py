"""Suites and their datasets (what to run). See :mod:`evalkit.suites.base`."""

from evalkit.suites.base import (
    DatasetSpec,
    LoadTask,
    Suite,
    get_suite,
    load,
    register_loader,
    register_suite,
    resolve,
    suites,
)

__all__ = [
    "DatasetSpec",
    "LoadTask",
    "Suite",
    "get_suite",
    "load",
    "register_loader",
    "register_suite",
    "resolve",
    "suites",
]
