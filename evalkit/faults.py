"""Fault injection for the kill-and-resume tests: ``EVALKIT_FAULT=<point>`` (or
``<point>:<n>`` for the n-th time the point is reached) makes the process SIGKILL itself
there, which is the only honest way to test that a run killed at that instant resumes
correctly. Unset, each point costs one dictionary lookup.

For torchrun tests a fault may name a rank and another action, several joined by commas:
``<point>[:<n>][@<rank>][=sleep<seconds>|=error]``; ``sleep`` makes that rank slow there,
``error`` raises a :class:`~evalkit.errors.DataError` (at ``dataset-loaded``: the dataset
fails to load on that rank only).

Points: ``shard-encoded`` (a shard's vectors made, not stored), ``shard-temp`` (its temp file
written and synced, not yet renamed), ``shard-written`` (stored with its manifest),
``shard-searched`` (scored into the top-k), ``record-write`` (a dim's run file written,
its record not yet), ``encode-renamed`` (``evalkit encode``'s ``.ids.txt`` renamed into
place, its ``.npy`` not yet), ``export-moved`` (``export mteb`` renamed one staged folder
into place) and ``dataset-loaded`` (a collection loaded, nothing done with it)."""

from __future__ import annotations

import os
import signal
import time

from evalkit.errors import DataError

_seen: dict[str, int] = {}


def point(name: str) -> None:
    spec = os.environ.get("EVALKIT_FAULT")
    if not spec:
        return
    for fault in spec.split(","):
        where, _, action = fault.partition("=")
        where, _, rank = where.partition("@")
        want, _, nth = where.partition(":")
        if want != name or (rank and rank != os.environ.get("RANK", "0")):
            continue
        _seen[fault] = _seen.get(fault, 0) + 1
        if _seen[fault] != int(nth or 1):
            continue
        if action.startswith("sleep"):
            time.sleep(float(action[len("sleep") :]))
        elif action == "error":
            raise DataError(f"fault injected at {name}")
        else:
            os.kill(os.getpid(), signal.SIGKILL)
