"""Corpus-embedding cache: encoding a corpus is the expensive step, so a second run with the
same model, settings and corpus reads the embeddings back instead (memory-mapped ``.npy``).

The key covers everything that changes the vectors: model id and revision, kind, dtype, document
prefix and token limit, how titles are joined, and the corpus identity (Hub id + revision +
language, or a fingerprint of local files). Collections without such identity are not cached.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np


def default_cache_dir() -> Path:
    root = os.environ.get("EVALKIT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "evalkit"
    )
    return Path(root) / "embeddings"


def cache_key(parts: dict[str, Any]) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


class EmbeddingCache:
    def __init__(self, root: str | Path | None) -> None:
        self.root = Path(root) if root else default_cache_dir()

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npy"

    def get(self, key: str, n_rows: int) -> np.ndarray | None:
        p = self.path(key)
        if not p.is_file():
            return None
        try:
            arr = np.load(p, mmap_mode="r")
        except (OSError, ValueError):
            return None  # a damaged entry is simply re-encoded
        return arr if arr.ndim == 2 and arr.shape[0] == n_rows else None

    def open_for_write(self, key: str, shape: tuple[int, int]) -> tuple[np.ndarray, Path]:
        """A memory-mapped array at a temporary path; :meth:`commit` publishes it."""
        p = self.path(key)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.stem}.{os.getpid()}.tmp.npy")
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
        return arr, tmp

    def commit(self, key: str, arr: np.ndarray, tmp: Path, meta: dict[str, Any]) -> None:
        if isinstance(arr, np.memmap):
            arr.flush()
        p = self.path(key)
        os.replace(tmp, p)
        p.with_suffix(".json").write_text(json.dumps(meta, indent=2, default=str))
