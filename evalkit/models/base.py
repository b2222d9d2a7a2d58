"""What every model is: a :class:`ModelSpec` (registry metadata, like mteb's ``ModelMeta``)
and, for dense models, an :class:`Encoder` with ``encode_queries`` / ``encode_documents``."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from evalkit.errors import ModelError

ModelKind = Literal["bm25", "sentence-transformers", "transformers", "drama"]
Similarity = Literal["cosine", "dot"]
SIMILARITIES: tuple[str, ...] = ("cosine", "dot")
POOLINGS: tuple[str, ...] = ("cls", "mean", "last")
"""Poolings the plain-transformers encoder runs (``last``: the last real token)."""


@dataclass(frozen=True)
class ModelSpec:
    """Registry entry for a model: where it lives and how to run it."""

    name: str
    """evalkit's short name (``drama-base``) or, for ad-hoc models, the id/path given."""
    kind: ModelKind
    hf_id: str | None = None
    """Hugging Face id (``facebook/drama-base``) or local directory."""
    revision: str | None = None
    """Pinned Hub commit; ``None`` for local directories."""
    dim: int | None = None
    """Full embedding dimension."""
    matryoshka_dims: tuple[int, ...] = ()
    """Dims the model was trained to be cut to (empty: only ``dim``)."""
    max_query_length: int | None = None
    """Token limit for queries; ``None`` keeps the model's own (``max_seq_length``)."""
    max_doc_length: int | None = None
    max_doc_length_by_suite: dict[str, int] = field(default_factory=dict)
    """Overrides of ``max_doc_length`` per suite (``{"mldr": 8192}``)."""
    query_prefix: str = ""
    doc_prefix: str = ""
    pooling: str | None = None
    """Plain transformers: ``cls``, ``mean`` or ``last`` (last real token). ``None``: the
    checkpoint's sentence-transformers ``Pooling`` config, else ``mean``. A loaded encoder's
    spec holds what it uses (for sentence-transformers models, their ``Pooling`` module's mode)."""
    similarity: Similarity | None = None
    """``cosine`` or ``dot``. ``None``: the model's own (sentence-transformers'
    ``similarity_fn_name``), else ``cosine``. A loaded encoder's spec holds what it uses."""
    normalize: bool | None = None
    """Whether embeddings (and Matryoshka cuts) are L2-normalised. ``None`` derives it from
    ``similarity`` (cosine normalises, dot does not; still ``None`` while the similarity is
    the model's own, until loaded); ``True`` with dot means the model's own ``Normalize``
    module makes unit vectors. Cosine without normalisation is refused: evalkit ranks by inner
    product. Change ``similarity`` with ``normalize=None`` so that it is derived again."""
    languages: tuple[str, ...] = ()
    params: str | None = None
    license: str | None = None
    reference: str | None = None
    citation: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.similarity is not None and self.similarity not in SIMILARITIES:
            raise ModelError(
                f"--similarity {self.similarity!r} ({self.name}): expected one of "
                f"{', '.join(SIMILARITIES)}"
            )
        if self.normalize is None and self.similarity is not None:
            # frozen: __post_init__ is the one place a derived field may be set.
            object.__setattr__(self, "normalize", self.similarity == "cosine")
        elif self.normalize is False and self.similarity == "cosine":
            raise ModelError(
                f"--model {self.name}: similarity 'cosine' needs normalize=True (search ranks by "
                "inner product, which is the cosine only for unit vectors); use similarity 'dot'"
            )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["matryoshka_dims"] = list(self.matryoshka_dims)
        d["languages"] = list(self.languages)
        return d

    def doc_length_for(self, suite: str | None) -> int | None:
        if suite and suite in self.max_doc_length_by_suite:
            return self.max_doc_length_by_suite[suite]
        return self.max_doc_length


@runtime_checkable
class Encoder(Protocol):
    """A dense encoder. Both methods return float32 arrays, one row per input, in input order,
    with unit-length rows when ``spec.normalize``; search scores by inner product, which is
    ``spec.similarity`` (the cosine for unit vectors, else the raw dot product).

    ``dim`` cuts to the first ``dim`` features and re-normalises when ``spec.normalize``
    (Matryoshka); a dim the model was not trained for is refused unless ``force_dim``
    (:func:`check_trained_dim`, the rule of ``evalkit run --dim``).
    ``max_length`` is this call's token limit; ``None`` uses the encoder's default
    (``max_query_length`` / ``max_doc_length``, which callers read and never set)."""

    spec: ModelSpec
    device: str
    max_query_length: int | None
    max_doc_length: int | None

    def encode_queries(
        self,
        texts: Sequence[str],
        dim: int | None = None,
        batch_size: int | None = None,
        *,
        max_length: int | None = None,
        force_dim: bool = False,
    ) -> np.ndarray: ...

    def encode_documents(
        self,
        texts_or_dicts: Sequence[str] | Sequence[dict[str, str]],
        dim: int | None = None,
        batch_size: int | None = None,
        *,
        max_length: int | None = None,
        force_dim: bool = False,
    ) -> np.ndarray: ...


class TokenIds:
    """Token ids of many texts as one flat ``int32`` array and ``int64`` offsets: 4 bytes a
    token (plus 8 a text), where a list of Python ints costs ~36 bytes a token. Text ``i`` is
    ``flat[offsets[i]:offsets[i + 1]]``. A pre-tokenised 100k-document MLDR shard (~3.3e8
    tokens) is then ~1.3 GB, not ~12 GB."""

    __slots__ = ("flat", "offsets")

    def __init__(self, flat: np.ndarray, offsets: np.ndarray) -> None:
        self.flat = np.ascontiguousarray(flat, dtype=np.int32)
        self.offsets = np.ascontiguousarray(offsets, dtype=np.int64)
        if len(self.offsets) < 1 or self.offsets[-1] != len(self.flat):
            raise ValueError("TokenIds: offsets must end at the number of tokens")

    @classmethod
    def from_lists(cls, ids: Sequence[Sequence[int]]) -> TokenIds:
        """From per-text id lists (one slice of a tokenizer's output), converted at once."""
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        offsets = np.zeros(len(ids) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        flat = np.fromiter(chain.from_iterable(ids), dtype=np.int32, count=int(offsets[-1]))
        return cls(flat, offsets)

    @classmethod
    def concat(cls, parts: Sequence[TokenIds]) -> TokenIds:
        if not parts:
            return cls(np.empty(0, np.int32), np.zeros(1, np.int64))
        flat = np.concatenate([p.flat for p in parts]) if len(parts) > 1 else parts[0].flat
        shifts = np.cumsum([0] + [len(p.flat) for p in parts[:-1]])
        offsets = np.concatenate(
            [parts[0].offsets[:1]] + [p.offsets[1:] + s for p, s in zip(parts, shifts)]
        )
        return cls(flat, offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> np.ndarray:
        return self.flat[self.offsets[i] : self.offsets[i + 1]]

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def nbytes(self) -> int:
        return int(self.flat.nbytes + self.offsets.nbytes)

    def tolists(self) -> list[list[int]]:
        return [self[i].tolist() for i in range(len(self))]


def as_token_ids(ids: TokenIds | Sequence[Sequence[int]]) -> TokenIds:
    """``ids`` as :class:`TokenIds` (lists of ints from a caller's own tokenizer accepted)."""
    return ids if isinstance(ids, TokenIds) else TokenIds.from_lists(ids)


def pad_batch(ids: TokenIds, idx: np.ndarray, pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Right-padded ``(rows, longest)`` int64 ids and 0/1 mask of texts ``idx``, built from
    the flat array (real tokens keep positions 0..n-1, as when encoded alone)."""
    starts = ids.offsets[idx]
    lengths = ids.offsets[np.asarray(idx) + 1] - starts
    width = int(lengths.max()) if len(idx) else 0
    cols = np.arange(width, dtype=np.int64)
    mask = cols[None, :] < lengths[:, None]
    gather = np.where(mask, starts[:, None] + cols[None, :], 0)
    out = np.where(mask, ids.flat[gather] if len(ids.flat) else 0, pad_id).astype(np.int64)
    return out, mask.astype(np.int64)


@dataclass(frozen=True)
class Lengths:
    """Token limits for one collection: queries and documents."""

    query: int | None
    doc: int | None


def resolve_lengths(
    spec: ModelSpec,
    *,
    suite: str | None,
    dataset_query: int | None,
    dataset_doc: int | None,
    own_query: int | None,
    own_doc: int | None,
    max_length: int | None = None,
    max_query_length: int | None = None,
) -> Lengths:
    """The limits ``evalkit run`` uses, so every entry point (run, the mteb adapter) agrees.

    Queries: ``--max-query-length`` > ``--max-length`` > the model's registered query limit >
    the dataset's (capped by what the model takes) > the model's own. Documents:
    ``--max-length`` > the model's per-suite limit (MLDR: 8192) > the dataset's (capped) >
    the model's own."""

    def pick(first: int | None, registered: int | None, dataset: int | None, own: int | None):
        if first:
            return first
        if registered:
            return registered
        if dataset:
            return min(dataset, own) if own else dataset
        return own

    return Lengths(
        query=pick(max_query_length or max_length, spec.max_query_length, dataset_query, own_query),
        doc=pick(max_length, spec.doc_length_for(suite), dataset_doc, own_doc),
    )


def check_trained_dim(
    spec: ModelSpec, full: int | None, dim: int | None, *, force: bool, api: bool = False
) -> None:
    """Refuse a Matryoshka ``dim`` the model was not trained to be cut to (the cut quietly
    lowers scores) unless ``force``, and one wider than the model. The one rule for
    ``evalkit run --dim`` (``api=False``: names ``--force-dim``) and ``encode_queries`` /
    ``encode_documents`` (``api=True``: names ``force_dim=True``)."""
    if dim is None or dim == full or full is None:
        return
    what = f"dim={dim}" if api else f"--dim {dim}"
    if dim > full or dim < 1:
        if api:  # the encoder's own check names its valid range
            return
        raise ModelError(f"{what}: {spec.name} has {full} dims")
    trained = sorted(set(spec.matryoshka_dims) | {full})
    if dim not in trained and not force:
        remedy = "pass force_dim=True" if api else "add --force-dim"
        raise ModelError(
            f"{what}: {spec.name} was not trained to be cut to {dim} dims (its dims: "
            f"{', '.join(map(str, trained))}), so the cut lowers scores; {remedy} "
            "if you mean it"
        )


def truncate_dim(
    emb: np.ndarray, dim: int | None, full_dim: int | None, normalize: bool = True
) -> np.ndarray:
    """Matryoshka cut: first ``dim`` features, L2-normalised again when ``normalize``."""
    if dim is None or dim == emb.shape[1]:
        return emb
    if dim <= 0 or dim > emb.shape[1]:
        raise ValueError(f"dim={dim} is outside 1..{full_dim or emb.shape[1]}")
    cut = np.ascontiguousarray(emb[:, :dim], dtype=np.float32)
    if normalize:
        norms = np.linalg.norm(cut, axis=1, keepdims=True)
        cut /= np.maximum(norms, 1e-12)
    return cut


def as_doc_texts(
    texts_or_dicts: Sequence[str] | Sequence[dict[str, str]], join: str = " "
) -> list[str]:
    """Documents given as strings or ``{"title", "text"}`` dicts, as the strings to encode."""
    from evalkit.data import doc_text

    return [t if isinstance(t, str) else doc_text(t, join) for t in texts_or_dicts]


def resolved_revision(source: str | None, config: Any = None) -> str | None:
    """The Hub commit the weights came from: transformers records it on the config
    (``_commit_hash``) when it resolves a Hub id or cached snapshot; else a snapshot path's
    ``.../snapshots/<sha>``; ``None`` for a plain local directory."""
    commit = getattr(config, "_commit_hash", None) if config is not None else None
    if commit:
        return str(commit)
    if not source:
        return None
    parts = str(source).replace("\\", "/").split("/")
    if "snapshots" in parts and parts.index("snapshots") + 1 < len(parts):
        return parts[parts.index("snapshots") + 1]
    return None


VECTOR_FILE_SUFFIXES: tuple[str, ...] = (
    ".safetensors",
    ".bin",
    ".pt",
    ".pth",
    ".json",
    ".txt",
    ".model",
    ".tiktoken",
)
"""Files of a model folder that change its vectors: weights, configs (model, tokenizer,
sentence-transformers modules such as ``1_Pooling/config.json``), vocabularies."""
_NOT_LOADED_DIRS = frozenset({"onnx", "openvino", "__pycache__"})
"""Exports evalkit never loads (it runs the torch weights); dot-folders are skipped too."""
RACY_NS = 2_000_000_000
"""A file changed this recently (by ctime) when it was hashed is not memoised: a later
change within the same timestamp tick would otherwise look unchanged (git's racy-clean rule)."""


def model_files(path: str | Path) -> list[Path]:
    """The files of a local model folder its fingerprint covers, sorted (see
    :data:`VECTOR_FILE_SUFFIXES`): README files, ONNX exports and the like change no vector."""
    root = Path(path)
    out = []
    for f in root.rglob("*"):
        rel = f.relative_to(root)
        if any(p in _NOT_LOADED_DIRS or p.startswith(".") for p in rel.parts[:-1]):
            continue
        if f.suffix in VECTOR_FILE_SUFFIXES and not f.name.startswith(".") and f.is_file():
            out.append(f)
    return sorted(out, key=lambda f: f.relative_to(root).as_posix())


def local_model_fingerprint(path: str | None) -> str | None:
    """Identity of a local model directory (cache key and record): SHA-256 over the relative
    names and the SHA-256 of the *contents* of :func:`model_files`. The same bytes installed
    again (a fresh venv, ``cp`` without ``-p``) give the same fingerprint; other bytes, even
    with the size and mtime of the old ones restored, give another.

    Each file's digest is memoised in ``<evalkit cache>/fingerprints.json`` under its path,
    size, mtime, ctime, inode and device, so a 5 GB checkpoint is read once, not every run.
    The ctime is what makes the memo safe: writing a file, or restoring its mtime with
    ``touch``/``os.utime``, sets the ctime to now, and no user call can set it back; a file
    copied over another has a new inode. A file whose ctime is within :data:`RACY_NS` of the
    moment it was hashed is not memoised (a change within the same clock tick)."""
    if not path or not Path(path).is_dir():
        return None
    root = Path(path)
    memo = _FileDigestMemo.open()
    h = hashlib.sha256()
    for f in model_files(root):
        h.update(f.relative_to(root).as_posix().encode("utf-8", "surrogatepass"))
        h.update(b"\0")
        h.update(memo.digest(f).encode())
        h.update(b"\n")
    memo.save()
    return h.hexdigest()[:16]


class _FileDigestMemo:
    """``path -> (size, mtime_ns, ctime_ns, inode, device, sha256)``: an optimisation only; a
    missing, unreadable or unwritable memo means the files are hashed again."""

    def __init__(self, path: Any) -> None:
        self.path = path
        self.entries: dict[str, list[Any]] = {}
        self.changed = False

    @classmethod
    def open(cls) -> _FileDigestMemo:
        root = os.environ.get("EVALKIT_CACHE") or os.path.join(
            os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "evalkit"
        )
        memo = cls(Path(root) / "fingerprints.json")
        try:
            data = json.loads(memo.path.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                memo.entries = {
                    k: v for k, v in data.items() if isinstance(v, list) and len(v) == 6
                }
        except (OSError, ValueError):
            pass
        return memo

    @staticmethod
    def _stamp(st: Any) -> list[int]:
        return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]

    def digest(self, f: Any) -> str:
        key = os.path.realpath(f)  # a Hub snapshot's files are links to its blobs
        before = os.stat(key)
        entry = self.entries.get(key)
        if entry is not None and entry[:5] == self._stamp(before):
            return str(entry[5])
        started = time.time_ns()
        with open(key, "rb") as fh:
            digest = hashlib.file_digest(fh, "sha256").hexdigest()
        after = os.stat(key)
        stable = self._stamp(after) == self._stamp(before)
        if stable and after.st_ctime_ns < started - RACY_NS:
            self.entries[key] = [*self._stamp(after), digest]
            self.changed = True
        elif key in self.entries:
            del self.entries[key]
            self.changed = True
        return digest

    def save(self) -> None:
        if not self.changed:
            return
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(self.entries), encoding="utf-8")
            os.replace(tmp, self.path)  # concurrent runs: the last writer wins, none is torn
        except OSError:
            tmp.unlink(missing_ok=True)
