"""The shard cache: corpus embeddings stored shard by shard, each trusted only when verified.

Layout: ``<root>/<key>/shard-<start>-<stop>.npy`` (``<key>-float16/`` for float16 shards) with
``shard-<start>-<stop>.json`` beside it (its manifest: shard index, rows, width, dtype, the
cache key and the settings it hashes, SHA-256 of the shard's document ids, of its document
texts and of the ``.npy`` bytes). The ``.npy`` is written to a temporary file (hashed as it
is written, never read back), fsynced and renamed, and the manifest is published after it, so
a process killed at any instant (``kill -9`` included) leaves either a complete, verifiable
shard or none: a resumed run loses at most the shards that were in flight.

A shard is used only when its manifest names this cache key, this shard's ids and the exact
strings this run would encode, and its bytes hash as stated: a shard copied from another
model of the same width, a cache copied from a corpus with the same ids but other texts, a
truncated or altered file, a reordered corpus or NaN/inf all fail and are encoded again.

``key`` (:func:`cache_key`) covers everything that changes the vectors: the model (id and
commit, or a content fingerprint of a local folder; kind, dtype, pooling, normalisation,
prefixes, document token limit), evalkit's encoder code version, the library versions
(tokenizers included) and attention backend, how titles are joined and which corpus it is.
Shard membership is by corpus position, so runs with the same ``--shard-size`` and
``--shard-tokens`` (any number of processes) share shards.

Beside the shards, :class:`QueryCache` keeps a collection's query vectors (``queries-*.npy``,
keyed by this key, the query token limit and the SHA-256 of the exact query strings) and
:class:`ModelProfiles` (``<root>/model-<key>.json``) what a loaded encoder said about itself,
so that a run whose vectors are all cached and verify never loads the model.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evalkit import faults
from evalkit.errors import EvalkitError

CACHE_DTYPES = ("float32", "float16")


def default_cache_dir() -> Path:
    root = os.environ.get("EVALKIT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "evalkit"
    )
    return Path(root) / "embeddings"


def cache_key(parts: dict[str, Any]) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def ids_digest(ids: list[str]) -> str:
    """SHA-256 of a shard's document ids in order: a reordered corpus never reuses vectors."""
    h = hashlib.sha256()
    for i in ids:
        h.update(i.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


class TextsDigest:
    """SHA-256 of a shard's document strings in corpus order, exactly as encoded (title
    joined), fed a slice at a time (one MLDR shard is gigabytes of text): the SHA-256 of their
    lengths (in code points) and the SHA-256 of their UTF-8 concatenation, hashed together.
    The lengths split the concatenation in one way only, so no two lists of strings share a
    digest, and how the list was sliced does not matter."""

    def __init__(self) -> None:
        self._lengths = hashlib.sha256()
        self._text = hashlib.sha256()

    def update(self, texts: list[str]) -> TextsDigest:
        self._lengths.update(np.fromiter(map(len, texts), dtype="<i8", count=len(texts)).tobytes())
        for i in range(0, len(texts), 4096):  # joined in pieces
            self._text.update("".join(texts[i : i + 4096]).encode("utf-8", "surrogatepass"))
        return self

    def hexdigest(self) -> str:
        return hashlib.sha256(self._lengths.digest() + self._text.digest()).hexdigest()


def texts_digest(texts: list[str]) -> str:
    """:class:`TextsDigest` of ``texts`` in one call."""
    return TextsDigest().update(texts).hexdigest()


def human_bytes(n: float) -> str:
    """``n`` bytes in the unit that fits (B, KB, MB, GB, TB; powers of 1000)."""
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _write_npy(path: Path, arr: np.ndarray) -> tuple[str, int]:
    """Write a C-contiguous ``arr`` as ``.npy`` to ``path`` and fsync it, hashing the bytes as
    they are written (the file is never read back): its SHA-256 and size."""
    header = _npy_header(arr)
    body = memoryview(arr).cast("B")  # the array's own bytes: no copy
    h = hashlib.sha256(header)
    h.update(body)
    with open(path, "wb") as f:
        f.write(header)
        f.write(body)
        f.flush()
        os.fsync(f.fileno())
    return h.hexdigest(), len(header) + body.nbytes


def _npy_header(arr: np.ndarray) -> bytes:
    """The ``.npy`` header ``np.save`` writes for ``arr`` (C order, no pickle)."""
    from numpy.lib import format as npy_format

    buf = io.BytesIO()
    npy_format.write_array_header_1_0(buf, npy_format.header_data_from_array_1_0(arr))
    return buf.getvalue()


def _parse_npy(data: bytearray) -> np.ndarray:
    """A view of the array in ``data`` (a whole ``.npy`` file), no copy; ``ValueError`` if
    it is not a plain C-order ``.npy`` of a numeric dtype."""
    from numpy.lib import format as npy_format

    head = io.BytesIO(memoryview(data)[: min(len(data), 65536)])
    version = npy_format.read_magic(head)
    if version == (1, 0):
        shape, fortran, dtype = npy_format.read_array_header_1_0(head)
    elif version == (2, 0):
        shape, fortran, dtype = npy_format.read_array_header_2_0(head)
    else:
        raise ValueError(f"npy version {version}")
    if fortran or dtype.hasobject:
        raise ValueError("not a C-order numeric array")
    count = int(np.prod(shape)) if shape else 1
    offset = head.tell()
    if len(data) != offset + count * dtype.itemsize:
        raise ValueError("size does not match the header")
    return np.frombuffer(data, dtype=dtype, count=count, offset=offset).reshape(shape)


@dataclass(frozen=True)
class Shard:
    """Corpus rows ``start..stop`` (by position in the corpus)."""

    index: int
    start: int
    stop: int

    @property
    def rows(self) -> int:
        return self.stop - self.start

    @property
    def name(self) -> str:
        return f"shard-{self.start:012d}-{self.stop:012d}"


def plan_shards(n_docs: int, shard_size: int) -> list[Shard]:
    """Fixed membership by position: the same for a resumed run and for every rank."""
    if shard_size < 1:
        raise EvalkitError(f"--shard-size {shard_size}: must be at least 1")
    return [
        Shard(i, start, min(start + shard_size, n_docs))
        for i, start in enumerate(range(0, n_docs, shard_size))
    ]


class ShardCache:
    """Verified shards of one (model settings, corpus) under ``root/key``."""

    def __init__(self, root: str | Path | None, key: str, dtype: str = "float32") -> None:
        if dtype not in CACHE_DTYPES:
            raise EvalkitError(f"--cache-dtype {dtype!r}: expected float32 or float16")
        self.root = Path(root) if root else default_cache_dir()
        self.key = key
        # float16 shards live beside the float32 ones: a run of one dtype would otherwise find
        # the other's shards, fail their dtype check and overwrite them, so runs alternating
        # --cache-dtype re-encoded the whole corpus every time.
        self.dir = self.root / (key if dtype == "float32" else f"{key}-{dtype}")
        self.dtype = dtype

    # ---- reading -----------------------------------------------------------------------

    def load(
        self,
        shard: Shard,
        ids_sha256: str,
        width: int | None = None,
        *,
        texts_sha256: str,
    ) -> np.ndarray | None:
        """The shard's embeddings if its manifest verifies (this cache key, these ids, these
        texts, these bytes), else ``None`` (and the bad files are removed so the shard is
        encoded again). The file is read once into one buffer, hashed there and viewed as
        the array: no second or third copy."""
        npy, man = self._paths(shard)
        if not man.is_file() or not npy.is_file():
            return None
        arr = None
        try:
            meta = json.loads(man.read_text(encoding="utf-8"))
            ok = (
                isinstance(meta, dict)
                and meta.get("key") == self.key
                and meta.get("start") == shard.start
                and meta.get("stop") == shard.stop
                and meta.get("dtype") == self.dtype
                and meta.get("ids_sha256") == ids_sha256
                and meta.get("texts_sha256") == texts_sha256
                and (width is None or meta.get("width") == width)
            )
            if ok:
                with open(npy, "rb") as f:
                    size = os.fstat(f.fileno()).st_size
                    if size == meta.get("bytes"):
                        data = bytearray(size)
                        ok = f.readinto(data) == size
                    else:
                        ok = False
            if ok and hashlib.sha256(data).hexdigest() == meta.get("sha256"):
                arr = _parse_npy(data)
        except (OSError, ValueError, json.JSONDecodeError):
            arr = None
        if (
            arr is None
            or arr.shape != (shard.rows, meta.get("width"))
            or str(arr.dtype) != self.dtype
            or not np.isfinite(arr).all()
        ):
            self.discard(shard)
            return None
        return arr

    def has(self, shard: Shard) -> bool:
        """A manifest is present (cheap; :meth:`load` still verifies)."""
        return self._paths(shard)[1].is_file()

    def discard(self, shard: Shard) -> None:
        for p in self._paths(shard):
            p.unlink(missing_ok=True)

    # ---- writing -----------------------------------------------------------------------

    def store(
        self,
        shard: Shard,
        ids_sha256: str,
        emb: np.ndarray,
        meta: dict[str, Any],
        *,
        texts_sha256: str,
    ) -> None:
        """Publish a shard atomically: data first (temp + fsync + rename), then its manifest.
        The bytes are hashed as they are written, so the file is never read back."""
        npy, man = self._paths(shard)
        arr = np.ascontiguousarray(emb, dtype=self.dtype)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._write_meta(meta)
            tmp = npy.with_name(f".{npy.name}.{_host()}.{os.getpid()}.tmp")
            try:
                digest, size = _write_npy(tmp, arr)
                faults.point("shard-temp")  # killed here: a whole temp file, never published
                os.replace(tmp, npy)
            finally:
                tmp.unlink(missing_ok=True)
            manifest = {
                "index": shard.index,
                "start": shard.start,
                "stop": shard.stop,
                "rows": shard.rows,
                "width": int(arr.shape[1]),
                "dtype": self.dtype,
                "key": self.key,
                "settings": meta,
                "ids_sha256": ids_sha256,
                "texts_sha256": texts_sha256,
                "sha256": digest,
                "bytes": size,
            }
            _atomic_text(man, json.dumps(manifest, indent=1, default=str))
        except OSError as e:
            why = e.strerror or f"disk full? {e}"  # numpy's short write has no errno
            raise EvalkitError(
                f"{self.dir}: cannot write the embedding cache ({why}); free some "
                "space, or use --cache-dir elsewhere, --cache-dtype float16 or --no-cache"
            ) from None

    def _write_meta(self, meta: dict[str, Any]) -> None:
        p = self.dir / "meta.json"
        if not p.is_file():  # for people browsing the cache; never read back for decisions
            _atomic_text(p, json.dumps(meta, indent=2, default=str))

    # ---- housekeeping ------------------------------------------------------------------

    def ensure_space(self, n_rows: int, width: int) -> None:
        """Refuse before encoding when the shards still to write cannot fit on the disk."""
        need = n_rows * width * np.dtype(self.dtype).itemsize
        probe = self.dir if self.dir.exists() else self.root
        while not probe.exists():
            probe = probe.parent
        free = shutil.disk_usage(probe).free
        if need > free:
            raise EvalkitError(
                f"{self.dir}: the embedding cache needs {human_bytes(need)} more but the "
                f"disk has {human_bytes(free)} free; use --cache-dtype float16 (half), --cache-dir "
                "on a larger disk, or --no-cache"
            )

    def remove_stale_temp(self) -> int:
        """Temp files of killed runs on this host (their pid is gone): removed, not reused."""
        if not self.dir.is_dir():
            return 0
        removed = 0
        host = _host()
        for p in self.dir.glob(".*.tmp"):
            parts = p.name.rsplit(".", 3)
            if len(parts) == 4 and parts[1] == host and parts[2].isdigit():
                if not _alive(int(parts[2])):
                    p.unlink(missing_ok=True)
                    removed += 1
        return removed

    def size_bytes(self) -> int:
        if not self.dir.is_dir():
            return 0
        return sum(p.stat().st_size for p in self.dir.glob("shard-*.npy"))

    def _paths(self, shard: Shard) -> tuple[Path, Path]:
        return self.dir / f"{shard.name}.npy", self.dir / f"{shard.name}.json"


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{_host()}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _host() -> str:
    return socket.gethostname().replace(".", "_") or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def queries_digest(texts: list[str]) -> str:
    """SHA-256 of the exact query strings in order (:class:`TextsDigest`): an edited,
    added, dropped or reordered query never reuses cached query vectors."""
    return texts_digest(texts)


class QueryCache:
    """The query embeddings of one (model settings, corpus) beside its shards, bound to the
    exact query strings and the query token limit like a shard is to its texts.

    ``<root>/<shard key>/queries-<key>.npy`` with ``queries-<key>.json`` (its manifest: the
    shard key, the query token limit, the SHA-256 of the query strings, rows, width and the
    SHA-256 of the ``.npy`` bytes), where ``key`` hashes those three. Query vectors are kept
    in float32 whatever ``--cache-dtype`` says (they are few, and a float16 copy would change
    the scores), written atomically like a shard and verified on every read; on any mismatch
    the files are removed and the caller encodes the queries again."""

    def __init__(
        self,
        root: str | Path | None,
        shard_key: str,
        max_query_length: int | None,
        texts: list[str],
    ) -> None:
        self.root = Path(root) if root else default_cache_dir()
        self.shard_key = shard_key
        self.max_query_length = max_query_length
        self.texts_sha256 = queries_digest(texts)
        self.rows = len(texts)
        self.key = cache_key(
            {
                "shard_key": shard_key,
                "max_query_length": max_query_length,
                "queries_sha256": self.texts_sha256,
            }
        )
        self.dir = self.root / shard_key
        self.npy = self.dir / f"queries-{self.key}.npy"
        self.man = self.dir / f"queries-{self.key}.json"

    def load(self) -> np.ndarray | None:
        """The cached query embeddings if the manifest and the bytes verify, else ``None``
        (bad files removed)."""
        if not self.man.is_file() or not self.npy.is_file():
            return None
        arr = None
        try:
            meta = json.loads(self.man.read_text(encoding="utf-8"))
            if (
                isinstance(meta, dict)
                and meta.get("key") == self.key
                and meta.get("shard_key") == self.shard_key
                and meta.get("max_query_length") == self.max_query_length
                and meta.get("queries_sha256") == self.texts_sha256
                and meta.get("rows") == self.rows
                and meta.get("dtype") == "float32"
            ):
                with open(self.npy, "rb") as f:  # one buffer, hashed and viewed in place
                    size = os.fstat(f.fileno()).st_size
                    data = bytearray(size if size == meta.get("bytes") else 0)
                    whole = size == meta.get("bytes") and f.readinto(data) == size
                if whole and hashlib.sha256(data).hexdigest() == meta.get("sha256"):
                    arr = _parse_npy(data)
                    if (
                        arr.shape != (self.rows, meta.get("width"))
                        or arr.dtype != np.float32
                        or not np.isfinite(arr).all()
                    ):
                        arr = None
        except (OSError, ValueError, json.JSONDecodeError):
            arr = None
        if arr is None:
            self.discard()
        return arr

    def store(self, emb: np.ndarray) -> None:
        """Publish atomically: data (temp, fsync, rename), then the manifest; a write error
        is reported as a shard's is."""
        arr = np.ascontiguousarray(emb, dtype=np.float32)
        tmp = self.npy.with_name(f".{self.npy.name}.{_host()}.{os.getpid()}.tmp")
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            digest, size = _write_npy(tmp, arr)
            os.replace(tmp, self.npy)
            manifest = {
                "key": self.key,
                "shard_key": self.shard_key,
                "max_query_length": self.max_query_length,
                "queries_sha256": self.texts_sha256,
                "rows": int(arr.shape[0]),
                "width": int(arr.shape[1]),
                "dtype": "float32",
                "sha256": digest,
                "bytes": size,
            }
            _atomic_text(self.man, json.dumps(manifest, indent=1))
        except OSError as e:
            why = e.strerror or f"disk full? {e}"
            raise EvalkitError(
                f"{self.dir}: cannot write the embedding cache ({why}); free some "
                "space, or use --cache-dir elsewhere or --no-cache"
            ) from None
        finally:
            tmp.unlink(missing_ok=True)

    def discard(self) -> None:
        for p in (self.man, self.npy):
            p.unlink(missing_ok=True)


class ModelProfiles:
    """What a loaded encoder told evalkit about itself (its spec as loaded, dim, dtype,
    device, prefixes, token limits, identity), recorded under a key computed WITHOUT loading
    it (registry spec at its commit, a content fingerprint of a local folder, load options,
    library versions), so that a run whose vectors are all cached can state the model, key
    its cache and write its records without loading it.

    ``<root>/model-<key>.json`` holds the key, the parts it hashes, the profile and the
    SHA-256 of the profile; read back only when both match (else removed and ``None``)."""

    def __init__(self, root: str | Path | None, parts: dict[str, Any]) -> None:
        self.root = Path(root) if root else default_cache_dir()
        self.parts = parts
        self.key = cache_key(parts)
        # a file in the root, not a folder: the root's folders are the caches of one key each
        self.path = self.root / f"model-{self.key}.json"

    @staticmethod
    def _digest(profile: dict[str, Any]) -> str:
        return hashlib.sha256(json.dumps(profile, sort_keys=True).encode()).hexdigest()

    def load(self) -> dict[str, Any] | None:
        if not self.path.is_file():
            return None
        try:
            meta = json.loads(self.path.read_text(encoding="utf-8"))
            if (
                isinstance(meta, dict)
                and meta.get("key") == self.key
                and isinstance(meta.get("profile"), dict)
                and meta.get("sha256") == self._digest(meta["profile"])
                and json.dumps(meta.get("parts"), sort_keys=True, default=str)
                == json.dumps(self.parts, sort_keys=True, default=str)
            ):
                return meta["profile"]
        except (OSError, ValueError):
            pass
        self.discard()
        return None

    def store(self, profile: dict[str, Any]) -> None:
        """Atomic; a write error only means the next run loads the model again."""
        meta = {
            "key": self.key,
            "parts": self.parts,
            "profile": profile,
            "sha256": self._digest(profile),
        }
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            _atomic_text(self.path, json.dumps(meta, indent=1, sort_keys=True, default=str))
        except OSError:
            pass

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
