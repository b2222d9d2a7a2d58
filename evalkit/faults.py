"""Fault injection for the kill-and-resume tests: ``EVALKIT_FAULT=<point>`` (or
``<point>:<n>`` for the n-th time the point is reached) makes the process SIGKILL itself
there, which is the only honest way to test that a run killed at that instant resumes
correctly. Unset, each point costs one dictionary lookup.

Points: ``shard-encoded`` (a shard's vectors made, not stored), ``shard-temp`` (its temp file
written and synced, not yet renamed), ``shard-written`` (stored with its manifest),
``shard-searched`` (scored into the top-k), ``record-write`` (a dim's run file written,
its record not yet), ``encode-renamed`` (``evalkit encode``'s ``.ids.txt`` renamed into
place, its ``.npy`` not yet) and ``export-moved`` (``export mteb`` renamed one staged folder
into place)."""

from __future__ import annotations

import os
import signal

_seen: dict[str, int] = {}


def point(name: str) -> None:
    spec = os.environ.get("EVALKIT_FAULT")
    if not spec:
        return
    want, _, nth = spec.partition(":")
    if want != name:
        return
    _seen[name] = _seen.get(name, 0) + 1
    if _seen[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
