"""The embedding cache: document vectors addressed by the content of the text each was made
from, so that a corpus cut into other shards, read under another name, or sharing documents
with another reuses every vector it can.

Layout: ``<root>/v2/<key>/`` (``<key>-float16/`` for float16 vectors) holds blocks
(:class:`VectorStore`): ``block-<name>.npy`` (vectors), ``block-<name>.hashes.npy`` (the
16-byte SHA-256 prefix of each vector's exact document string, row for row) and
``block-<name>.json`` (the manifest: key, settings, dtype, rows, width, SHA-256 and size of
both files). ``key`` (:func:`cache_key`) covers everything about the encoder that changes a
vector (model id and commit or a content fingerprint of a local folder, kind, dtype, pooling,
normalisation, prefixes, document token limit, evalkit's encoder code version, library
versions, attention backend) and nothing about the corpus: no name, size, order, ids or
shard plan. What text a vector belongs to is its address, checked against the text a run
would encode, so no other corpus fact needs to be in the key.

Files are written to temp files (hashed as written, never read back), fsynced and renamed,
and the manifest is published last, so a process killed at any instant (``kill -9``
included) leaves whole, verifiable blocks or none. A block is used only when its manifest
names this key and dtype and its bytes hash as stated; a block copied from another model's
folder, a truncated or altered file or NaN/inf is removed and its texts are encoded again.

The caches of layout v1 (``<root>/<key>/shard-*``) are left where they are and never read.

Beside the blocks, :class:`QueryCache` keeps query vectors (``queries-*.npy``, keyed by the
encoder key, the query token limit and the SHA-256 of the exact query strings) and
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
import threading
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


LAYOUT = "v2"
"""The cache layout's folder under the cache root. ``v1`` caches (``<root>/<key>/shard-*``,
bound to one corpus and one shard plan) sit beside it, ignored: never read, never misread."""

HASH_BYTES = 16
"""Bytes of SHA-256 kept per document text: 128 bits, 16 bytes a document in the index."""


def text_hashes(texts: list[str]) -> np.ndarray:
    """The address of each text's vector: the first :data:`HASH_BYTES` bytes of the SHA-256
    of its exact UTF-8 bytes (lone surrogates kept), as a ``(len(texts), 16)`` uint8 array.
    Two strings share an address only if they are the same string."""
    sha = hashlib.sha256
    blob = b"".join([sha(t.encode("utf-8", "surrogatepass")).digest()[:HASH_BYTES] for t in texts])
    return np.frombuffer(blob, dtype=np.uint8).reshape(len(texts), HASH_BYTES)


def _hash_words(hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A ``(n, 16)`` hash array as two uint64 words (high, low), for sorting and search."""
    words = np.ascontiguousarray(hashes).view(">u8").reshape(-1, 2)
    return words[:, 0].astype(np.uint64), words[:, 1].astype(np.uint64)


class StoreIndex:
    """Text hash -> (block, row) over every block published under one key, built from the
    blocks' hash files (16 bytes a vector, not JSON per document): two sorted uint64 arrays
    and two int32 arrays, 24 bytes a stored vector; a lookup of n hashes is a binary search."""

    def __init__(self, names: list[str], hashes: list[np.ndarray]) -> None:
        self.names = names
        rows = [len(h) for h in hashes]
        block = np.repeat(np.arange(len(names), dtype=np.int32), rows)
        row = np.concatenate([np.arange(r, dtype=np.int32) for r in rows] or [np.empty(0, "i4")])
        flat = np.concatenate(hashes) if hashes else np.empty((0, HASH_BYTES), np.uint8)
        hi, lo = _hash_words(flat)
        order = np.argsort(hi, kind="stable")
        self.hi, self.lo = hi[order], lo[order]
        self.block, self.row = block[order], row[order]

    def __len__(self) -> int:
        return len(self.hi)

    def lookup(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(block, row)`` of each hash, ``-1`` where no block holds it."""
        n = len(hashes)
        block = np.full(n, -1, np.int32)
        row = np.full(n, -1, np.int32)
        if not n or not len(self.hi):
            return block, row
        qhi, qlo = _hash_words(hashes)
        pos = np.searchsorted(self.hi, qhi)
        at = np.minimum(pos, len(self.hi) - 1)
        same_hi = (pos < len(self.hi)) & (self.hi[at] == qhi)
        hit = same_hi & (self.lo[at] == qlo)
        # Hashes sharing their first 8 bytes (about 1 in 2**64 pairs): look further along.
        for j in np.flatnonzero(same_hi & ~hit):
            p = int(pos[j]) + 1
            while p < len(self.hi) and self.hi[p] == qhi[j]:
                if self.lo[p] == qlo[j]:
                    at[j], hit[j] = p, True
                    break
                p += 1
        block[hit], row[hit] = self.block[at[hit]], self.row[at[hit]]
        return block, row


class VectorStore:
    """Document vectors of one encoder setting, addressed by the content of the text each was
    made from: ``<root>/v2/<key>/`` (``<key>-float16/`` for float16), where ``key`` covers the
    model and encoding settings and nothing about the corpus (no name, size, order or shard
    plan). Vectors are kept in blocks, one per shard that had texts not stored yet:

    - ``block-<name>.npy``: the vectors, ``(rows, width)`` in the cache dtype;
    - ``block-<name>.hashes.npy``: the :func:`text_hashes` of the texts, row for row;
    - ``block-<name>.json``: the manifest (key, settings, dtype, rows, width, SHA-256 and size
      of both files), published last.

    ``name`` is a hash of both files' SHA-256, so two processes that encode the same texts to
    the same bytes write the same files, and others never overwrite a block. Files are
    written to temp files (hashed as written, never read back), fsynced and renamed, then the
    manifest: a kill at any instant leaves whole blocks or none. A block is used only when its
    manifest names this key and dtype and both files hash as stated (its hashes when the
    index is built, its vectors each time they are read); anything else is removed, and its
    texts are encoded again."""

    def __init__(self, root: str | Path | None, key: str, dtype: str = "float32") -> None:
        if dtype not in CACHE_DTYPES:
            raise EvalkitError(f"--cache-dtype {dtype!r}: expected float32 or float16")
        self.root = Path(root) if root else default_cache_dir()
        self.key = key
        # float16 blocks live beside the float32 ones: runs alternating --cache-dtype would
        # otherwise refuse and overwrite each other's vectors.
        self.dir = store_dir(self.root, key if dtype == "float32" else f"{key}-{dtype}")
        self.dtype = dtype

    # ---- reading -----------------------------------------------------------------------

    def index(self) -> StoreIndex:
        """The index of every block whose manifest and hash file verify (others removed)."""
        names, hashes = [], []
        for man in sorted(self.dir.glob("block-*.json")) if self.dir.is_dir() else []:
            name = man.name[len("block-") : -len(".json")]
            meta = self._manifest(name)
            h = None
            if meta is not None:
                data = _read_verified(self._path(name, ".hashes.npy"), meta, "hashes_")
                try:
                    h = None if data is None else _parse_npy(data)
                except ValueError:
                    h = None
                if h is not None and (h.dtype != np.uint8 or h.shape != (meta["rows"], 16)):
                    h = None
            if h is None:
                self.discard(name)
                continue
            names.append(name)
            hashes.append(h)
        return StoreIndex(names, hashes)

    def load(self, name: str, width: int | None = None) -> np.ndarray | None:
        """The vectors of block ``name`` if its manifest and bytes verify (and the width is
        ``width``), else ``None`` (and the block is removed, so its texts are encoded again).
        The file is read once into one buffer, hashed there and viewed as the array."""
        meta = self._manifest(name)
        arr = None
        if meta is not None and (width is None or meta["width"] == width):
            data = _read_verified(self._path(name, ".npy"), meta, "")
            try:
                arr = None if data is None else _parse_npy(data)
            except ValueError:
                arr = None
            if arr is not None and (
                arr.shape != (meta["rows"], meta["width"])
                or str(arr.dtype) != self.dtype
                or not np.isfinite(arr).all()
            ):
                arr = None
        if arr is None:
            self.discard(name)
        return arr

    def _manifest(self, name: str) -> dict[str, Any] | None:
        try:
            meta = json.loads(self._path(name, ".json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        ok = (
            isinstance(meta, dict)
            and meta.get("layout") == LAYOUT
            and meta.get("key") == self.key
            and meta.get("dtype") == self.dtype
            and meta.get("name") == name
            and isinstance(meta.get("rows"), int)
            and isinstance(meta.get("width"), int)
        )
        return meta if ok else None

    def discard(self, name: str) -> None:
        for suffix in (".json", ".npy", ".hashes.npy"):  # the manifest first: never half-used
            self._path(name, suffix).unlink(missing_ok=True)

    # ---- writing -----------------------------------------------------------------------

    def store(self, hashes: np.ndarray, emb: np.ndarray, meta: dict[str, Any]) -> str:
        """Publish a block of ``emb`` (rows in the order of ``hashes``) atomically: both
        files first (temp + fsync + rename), then the manifest. Bytes are hashed as they are
        written, so no file is read back. Returns the block's name."""
        arr = np.ascontiguousarray(emb, dtype=self.dtype)
        keys = np.ascontiguousarray(hashes, dtype=np.uint8)
        if keys.shape != (len(arr), HASH_BYTES):
            raise ValueError("one 16-byte text hash per vector")
        tag = f"{_host()}.{os.getpid()}.tmp"
        tmp_v = self.dir / f".block-new-{threading.get_ident()}.npy.{tag}"
        tmp_h = self.dir / f".block-new-{threading.get_ident()}.hashes.npy.{tag}"
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._write_meta(meta)
            try:
                digest, size = _write_npy(tmp_v, arr)
                h_digest, h_size = _write_npy(tmp_h, keys)
                faults.point("shard-temp")  # killed here: whole temp files, never published
                name = hashlib.sha256(f"{digest}/{h_digest}".encode()).hexdigest()[:32]
                os.replace(tmp_h, self._path(name, ".hashes.npy"))
                os.replace(tmp_v, self._path(name, ".npy"))
            finally:
                tmp_v.unlink(missing_ok=True)
                tmp_h.unlink(missing_ok=True)
            manifest = {
                "layout": LAYOUT,
                "name": name,
                "key": self.key,
                "settings": meta,
                "dtype": self.dtype,
                "rows": int(arr.shape[0]),
                "width": int(arr.shape[1]),
                "sha256": digest,
                "bytes": size,
                "hashes_sha256": h_digest,
                "hashes_bytes": h_size,
            }
            _atomic_text(self._path(name, ".json"), json.dumps(manifest, indent=1, default=str))
        except OSError as e:
            why = e.strerror or f"disk full? {e}"  # numpy's short write has no errno
            raise EvalkitError(
                f"{self.dir}: cannot write the embedding cache ({why}); free some "
                "space, or use --cache-dir elsewhere, --cache-dtype float16 or --no-cache"
            ) from None
        return name

    def _write_meta(self, meta: dict[str, Any]) -> None:
        p = self.dir / "meta.json"
        if not p.is_file():  # for people browsing the cache; never read back for decisions
            _atomic_text(p, json.dumps(meta, indent=2, default=str))

    # ---- housekeeping ------------------------------------------------------------------

    def ensure_space(self, n_rows: int, width: int) -> None:
        """Refuse before encoding when the vectors still to write cannot fit on the disk."""
        need = n_rows * (width * np.dtype(self.dtype).itemsize + HASH_BYTES)
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
        return sum(p.stat().st_size for p in self.dir.glob("block-*.npy"))

    def _path(self, name: str, suffix: str) -> Path:
        return self.dir / f"block-{name}{suffix}"


def store_dir(root: Path, key: str) -> Path:
    """The folder of one key's vectors (and query vectors) in the current layout."""
    return root / LAYOUT / key


def _read_verified(path: Path, meta: dict[str, Any], prefix: str) -> bytearray | None:
    """The bytes of ``path`` if their size and SHA-256 are ``meta[prefix + "bytes"]`` and
    ``meta[prefix + "sha256"]``, read once into one buffer; else ``None``."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size != meta.get(prefix + "bytes"):
                return None
            data = bytearray(size)
            if f.readinto(data) != size:
                return None
    except OSError:
        return None
    return data if hashlib.sha256(data).hexdigest() == meta.get(prefix + "sha256") else None


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
    """The query embeddings of one encoder setting beside its document vectors, bound to the
    exact query strings and the query token limit (not to the collection's name: the same
    queries under another name reuse them).

    ``<root>/v2/<encoder key>/queries-<key>.npy`` with ``queries-<key>.json`` (its manifest: the
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
        self.dir = store_dir(self.root, shard_key)  # beside the document vectors of the key
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
