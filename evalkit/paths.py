"""Paths built from data: one rule for every path component that comes from a record, a
dataset or a name, the split check, and the naming and clean-up of temp files.

A record field, a dataset name or a revision is data, not a path: ``..`` or ``a/b`` must never
make evalkit write outside the folder it was given. :func:`safe_component` turns any string
into one file name that stays inside its folder, and distinct strings into distinct names.

Temp files carry the host and the process id (``.NAME.HOST.PID-RANDOM.tmp``), as the
embedding cache's do, so that the next run can remove those of a process that died
(``kill -9``) without touching a live one's."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
from pathlib import Path

from evalkit.errors import EvalkitError

_CLEAN = re.compile(r"[A-Za-z0-9_=-][A-Za-z0-9._=-]*")
_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9._=-]+")
MAX_COMPONENT = 150
"""Longest component kept as it is; file systems allow 255 bytes, and suffixes are added."""


def safe_component(name: object) -> str:
    """``name`` as a single path component that stays inside its folder.

    A name of ASCII letters, digits and ``._=-`` that does not start with a dot (so never
    ``.`` or ``..``, nor a hidden or temp file) is kept as it is. Any other is made readable
    (unsafe runs become ``__``) and gets ``~`` and a hash of the original: a ``~`` never occurs
    in a kept name, so two different names never share a component."""
    s = str(name)
    if len(s) <= MAX_COMPONENT and _CLEAN.fullmatch(s):
        return s
    digest = hashlib.sha256(s.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    base = _UNSAFE_RUN.sub("__", s).strip("._")[:MAX_COMPONENT] or "_"
    return f"{base}~{digest}"


def check_split(split: str, option: str = "--split") -> str:
    """A split is a name (``test``, ``dev``): it becomes part of file names (``qrels/SPLIT.tsv``),
    so one with a path in it would score another folder's judgements."""
    if (
        not split
        or split in (".", "..")
        or ".." in split
        or any(c in split for c in "/\\\0")
        or any(ord(c) < 32 for c in split)
    ):
        raise EvalkitError(
            f"{option} {split!r}: a split is a name such as test or dev, not a path "
            "(no '/', '\\', '..' or control characters)"
        )
    return split


# ---- temp files ------------------------------------------------------------------------------


def host() -> str:
    return socket.gethostname().replace(".", "_").replace("/", "_") or "host"


def temp_prefix(name: str) -> str:
    """Prefix of a temp file for ``name`` owned by this process (a random part and ``.tmp``
    follow): ``.NAME.HOST.PID-``."""
    return f".{name}.{host()}.{os.getpid()}-"


_TEMP = re.compile(r"^\..*\.(?P<host>[^.]+)\.(?P<pid>\d+)-[A-Za-z0-9_]+\.tmp$")


def temp_owner(path: Path) -> tuple[str, int] | None:
    """(host, pid) of an evalkit temp file or folder, or ``None`` for any other name."""
    m = _TEMP.match(path.name)
    return (m.group("host"), int(m.group("pid"))) if m else None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    except OverflowError:
        return False
    return True


def is_stale(path: Path) -> bool:
    """An evalkit temp of a dead process on this host (another host's cannot be checked)."""
    owner = temp_owner(path)
    return owner is not None and owner[0] == host() and not alive(owner[1])


def remove_stale_temp(folder: Path, pattern: str = ".*.tmp") -> int:
    """Remove the temp files and folders that killed evalkit processes left under ``folder``
    (matching ``pattern``); a live process's are kept. Returns how many were removed."""
    if not folder.is_dir():
        return 0
    removed = 0
    for p in sorted(folder.glob(pattern)):
        if not is_stale(p):
            continue
        try:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
            removed += 1
        except FileNotFoundError:  # another run removed it first
            pass
    return removed


# ---- output options --------------------------------------------------------------------------


def check_output_file(path: Path, option: str) -> Path:
    """Refuse, before any work, an output file that cannot be written as a file: a directory,
    or one under something that is not a directory."""
    if path.is_dir():
        raise EvalkitError(f"{option} {path}: is a directory; give a file name")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise EvalkitError(f"{option} {path}: {parent} is not a directory")
            break
    return path


def check_output_dir(path: Path, option: str) -> Path:
    """Refuse, before any work, an output folder that is a file (or lies under one)."""
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                what = "is a file" if p == path else f"{p} is not a directory"
                raise EvalkitError(f"{option} {path}: {what}; give a folder")
            break
    return path
