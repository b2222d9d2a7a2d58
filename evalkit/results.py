"""Typed result records on disk: one JSON per (model, dataset, split, language).

Reports read only these records. A record holds the scores (mteb's names, fractions in [0, 1])
and everything needed to reproduce them. Files are written atomically (temp file + rename), so
a crashed run never leaves a half-written record that looks complete.
"""

from __future__ import annotations

import errno
import glob
import json
import os
import platform
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, BinaryIO

from evalkit.errors import EvalkitError
from evalkit.paths import remove_stale_temp, safe_component, temp_prefix

SCHEMA_VERSION = 1
_PACKAGES = (
    "evalkit",
    "torch",
    "transformers",
    "sentence-transformers",
    "datasets",
    "numpy",
    "pytrec-eval-terrier",
    "bm25s",
    "faiss-cpu",
    "mteb",
    "beir",
)


@dataclass
class ResultRecord:
    """Scores of one model on one (dataset, split, language), with provenance."""

    model: dict[str, Any]
    """name, hf_id, revision, kind, dim (used), full_dim, prefixes, max lengths, dtype."""
    dataset: dict[str, Any]
    """name, suite, split, language, source (hub id + revision or path + fingerprint),
    ignore_identical_ids, n_docs, n_queries, sampled_queries."""
    scores: dict[str, float]
    n_queries_scored: int
    n_queries_dropped: int
    top_k: int
    search: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    per_query: dict[str, dict[str, float]] = field(default_factory=dict)
    created_at: str = ""
    schema_version: int = SCHEMA_VERSION

    @property
    def main_score(self) -> float:
        return self.scores.get(self.dataset.get("main_metric", "ndcg_at_10"), float("nan"))

    @property
    def is_full_run(self) -> bool:
        return not self.dataset.get("sampled_queries")

    def settings(self) -> dict[str, Any]:
        """Everything on the model and search side that changes the scores: two records of
        one (dataset, split, language) with equal settings are the same experiment."""
        m, s = self.model, self.search
        return {
            "model": {k: m.get(k) for k in _MODEL_SETTINGS if m.get(k) is not None},
            "search": {k: s.get(k) for k in _SEARCH_SETTINGS if s.get(k) is not None},
            "top_k": self.top_k,
        }

    def identity(self) -> dict[str, Any]:
        """:meth:`settings` plus the data side: the dataset, its source and fingerprint, split,
        language, query sample and identical-ids rule. Records with different identities are
        different results and never overwrite each other on disk."""
        ds = self.dataset
        src = ds.get("source") or {}
        return {
            **self.settings(),
            "dataset": {
                "name": ds.get("name"),
                "suite": ds.get("suite"),
                "split": ds.get("split"),
                "language": ds.get("language"),
                # a local folder is known by its content, not where it happens to lie
                "source": {k: v for k, v in src.items() if k != "path"},
                "sampled_queries": ds.get("sampled_queries"),
                "ignore_identical_ids": ds.get("ignore_identical_ids"),
            },
        }

    @property
    def settings_key(self) -> str:
        """Short hash of :meth:`settings`: reports group and compare records by it."""
        return _short_hash(self.settings())

    @property
    def identity_key(self) -> str:
        """Short hash of :meth:`identity`; part of the file name."""
        return _short_hash(self.identity())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ResultRecord:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})

    def relative_path(self) -> Path:
        """``<model>/<suite>/<dataset>__<split>__<language>.json``."""
        ds = self.dataset
        lang = ds.get("language") or "default"
        name = f"{ds['name']}__{ds['split']}__{lang}"
        if self.model.get("dim") and self.model.get("dim") != self.model.get("full_dim"):
            name += f"__dim{self.model['dim']}"
        if ds.get("sampled_queries"):
            name += f"__sample{ds['sampled_queries']['n']}"
        name += f"__{self.identity_key}"
        return (
            Path(slug(self.model["name"])) / slug(ds.get("suite") or "local") / f"{slug(name)}.json"
        )

    def write(self, output_dir: str | Path) -> Path:
        path = Path(output_dir) / self.relative_path()
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n")
        return path


_MODEL_SETTINGS = (
    "name",
    "hf_id",
    "revision",
    "local_fingerprint",
    "kind",
    "dtype",
    "dim",
    "full_dim",
    "max_query_length",
    "max_doc_length",
    "query_prefix",
    "doc_prefix",
    "pooling",
    "similarity",
    "normalize",
)
_SEARCH_SETTINGS = (
    "backend",
    "cache_dtype",
    "k1",
    "b",
    "method",
    "tokenizer",
    "tokenizer_versions",
    "analyzer_language",
)


def _short_hash(obj: Any) -> str:
    import hashlib

    blob = json.dumps(obj, sort_keys=True, default=str, ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def slug(s: str) -> str:
    """A name from a record or a dataset as one path component inside its folder
    (:func:`evalkit.paths.safe_component`: ``..`` or ``a/b`` never leave it)."""
    return safe_component(s)


def _umask() -> int:
    """The process umask, read without changing it where /proc allows (os.umask can only
    read it by setting it, which another thread could observe)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write through a temporary file in the same directory, then rename over ``path``: a
    reader never sees a half-written file, and a failure leaves the old one untouched."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir():  # os.replace would name the temp file, not the path asked for
        raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
    # host + pid in the name: the next write of this file removes those of a killed run
    remove_stale_temp(path.parent, f".{glob.escape(path.name)}.*.tmp")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path.name), suffix=".tmp")
    try:
        # mkstemp creates 0600; a result file gets the mode open() would give it.
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def write_trec_run(path: Path, run: dict[str, dict[str, float]], tag: str) -> Path:
    """TREC run file ``qid Q0 docid rank score tag``, ranked as trec_eval ranks them."""
    lines = []
    for q in sorted(run):
        ranked = sorted(run[q].items(), key=lambda x: (x[1], x[0]), reverse=True)
        for rank, (d, s) in enumerate(ranked, 1):
            lines.append(f"{q} Q0 {d} {rank} {s:.9g} {tag}")  # 6 decimals made new ties
    atomic_write_text(path, "\n".join(lines) + ("\n" if lines else ""))
    return path


def environment(device: str) -> dict[str, Any]:
    versions = {}
    for p in _PACKAGES:
        try:
            versions[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            pass
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "device": device,
    }
    if device.startswith("cuda"):
        import torch

        env["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return env


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def load_results(paths: str | Path | Iterable[str | Path]) -> list[ResultRecord]:
    """Read records from files or directories (recursively)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    records = []
    for p in map(Path, paths):
        files = sorted(p.rglob("*.json")) if p.is_dir() else [p]
        for f in files:
            try:
                data = json.loads(f.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as e:
                raise EvalkitError(f"{f}: not a readable result record ({e})") from None
            if not isinstance(data, dict) or "scores" not in data or "model" not in data:
                continue  # other JSON (e.g. mteb's model_meta.json) in the same tree
            records.append(ResultRecord.from_dict(data))
    return records


def require_records(paths: Sequence[Path], label: str = "") -> list[ResultRecord]:
    """Records under ``paths``, or a one-line error: a path that does not exist, or no
    record at all (``label`` names the argument, e.g. ``BASELINE``)."""
    where = f"{label} " if label else ""
    for p in paths:
        if not Path(p).exists():
            raise EvalkitError(f"{where}{p}: no such file or directory")
    records = load_results(list(paths))
    if not records:
        if label:
            raise EvalkitError(f"{where}{', '.join(map(str, paths))}: no result records")
        raise EvalkitError(f"no result records under {', '.join(map(str, paths))}")
    return records
