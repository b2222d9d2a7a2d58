"""Typed result records on disk: one JSON per (model, dataset, split, language).

Reports read only these records. A record holds the scores (mteb's names, fractions in [0, 1])
and everything needed to reproduce them. Files are written atomically (temp file + rename), so
a crashed run never leaves a half-written record that looks complete.

A record states its own integrity, and every reader checks it (:func:`read_record`): ``digest``
is the SHA-256 of its canonical JSON (everything but the digest), its fields have the types
readers rely on, and each mean in ``scores`` is the mean of its per-query scores. A record that
fails any of these is refused with one line naming the file, never believed.
"""

from __future__ import annotations

import errno
import functools
import glob
import hashlib
import json
import math
import os
import platform
import re
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, BinaryIO

from evalkit.errors import EvalkitError
from evalkit.paths import remove_stale_temp, safe_component, temp_prefix

SCHEMA_VERSION = 2
"""2: ``digest`` (SHA-256 of the canonical content) and ``run_file`` (the TREC run file's
SHA-256). Records of schema 1 carry no digest and are refused: they cannot show that they were
not edited (``evalkit run`` recomputes them)."""
DIGEST_FIELD = "digest"
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
    run_file: dict[str, str] | None = None
    """``{"name": <file name beside the record>, "sha256": <hex>}`` when a TREC run file was
    written with the record (``--save-run``): it binds the run file to these scores."""
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

    def check(self, where: str = "record") -> None:
        """Raise a one-line :class:`EvalkitError` (prefixed ``where``) unless the record's
        fields have the types readers rely on and its means are those of its per-query
        scores. In-memory records have no digest to check; files do (:func:`read_record`)."""
        check_record_content(_json_roundtrip(self.to_dict(), where), where)

    def write(self, output_dir: str | Path) -> Path:
        """Write the record with its digest. An invalid record is refused, not written: every
        reader would refuse it."""
        path = Path(output_dir) / self.relative_path()
        content = _json_roundtrip(self.to_dict(), str(path))
        check_record_content(content, f"{path}: cannot write the record")
        content[DIGEST_FIELD] = record_digest(content)
        atomic_write_text(path, json.dumps(content, indent=2, ensure_ascii=False) + "\n")
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


def trec_run_bytes(run: dict[str, dict[str, float]], tag: str) -> bytes:
    """TREC run file ``qid Q0 docid rank score tag``, ranked as trec_eval ranks them."""
    lines = []
    for q in sorted(run):
        ranked = sorted(run[q].items(), key=lambda x: (x[1], x[0]), reverse=True)
        for rank, (d, s) in enumerate(ranked, 1):
            lines.append(f"{q} Q0 {d} {rank} {s:.9g} {tag}")  # 6 decimals made new ties
    return ("\n".join(lines) + ("\n" if lines else "")).encode("utf-8")


def write_trec_run(path: Path, run: dict[str, dict[str, float]], tag: str) -> Path:
    atomic_write(path, lambda f: f.write(trec_run_bytes(run, tag)))
    return path


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in blocks (run files can be hundreds of MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@functools.cache
def package_version(name: str) -> str | None:
    """The installed version of a distribution, ``None`` if absent. Memoised: each lookup
    scans every folder of sys.path (~20 ms), and a run asks for the same few many times
    (cache keys, the model profile, the environment of each record)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def environment(device: str) -> dict[str, Any]:
    versions = {p: v for p in _PACKAGES if (v := package_version(p)) is not None}
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


def canonical_json(content: dict[str, Any]) -> bytes:
    """The bytes a digest is taken over: sorted keys, no spaces, ASCII only (so that no text
    encoding question arises), floats as Python's shortest round-trip repr."""
    return json.dumps(
        content, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=True
    ).encode("ascii")


def record_digest(content: dict[str, Any]) -> str:
    """``sha256:<hex>`` over the canonical JSON of everything in ``content`` but the digest."""
    body = {k: v for k, v in content.items() if k != DIGEST_FIELD}
    return "sha256:" + hashlib.sha256(canonical_json(body)).hexdigest()


def _json_roundtrip(d: dict[str, Any], where: str) -> dict[str, Any]:
    """``d`` as a reader will see it (tuples as lists, keys as strings): the digest of a
    record written is the digest of the record read back."""
    try:
        return json.loads(json.dumps(d, ensure_ascii=False))
    except (TypeError, ValueError) as e:
        raise EvalkitError(f"{where}: not JSON-serialisable ({e})") from None


# ---- reading and checking ------------------------------------------------------------------

_MEASURE = re.compile(r"(ndcg|recall|map|mrr|precision)_at_[1-9][0-9]*")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_FIELDS = {f for f in ResultRecord.__dataclass_fields__}
# How far a stated mean may be from the mean of its per-query scores: float summation in
# another order (numpy's pairwise sum vs an exact sum) differs by a few ulps, an edit by more.
MEAN_RTOL = 1e-12
MEAN_ATOL = 1e-15
# Keys that make a JSON object an evalkit record; other JSON (mteb's model_meta.json or task
# results beside the records) is not one and is passed over in a directory.
_RECORD_MARKS = ("schema_version", DIGEST_FIELD, "per_query", "n_queries_scored")


class RecordError(EvalkitError):
    """A record file that cannot be believed. ``where`` and ``reason`` apart, for a caller
    that acts on it rather than stops (``run`` recomputes the record)."""

    def __init__(self, where: str, reason: str, hint: str = "") -> None:
        super().__init__(f"{where}: {reason}" + (f"; {hint}" if hint else ""))
        self.where = where
        self.reason = reason


_RERUN = "run it again with `evalkit run` to write a checked record"


def looks_like_record(data: Any) -> bool:
    return isinstance(data, dict) and (
        any(k in data for k in _RECORD_MARKS) or ("scores" in data and "model" in data)
    )


def _kind(v: Any) -> str:
    """A value's JSON kind as a user reads it (never a Python class name)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return "a number"
    if isinstance(v, str):
        return "text"
    if isinstance(v, list):
        return "a list"
    return "an object"


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _short(v: Any) -> str:
    text = json.dumps(v, ensure_ascii=True, allow_nan=True) if not isinstance(v, str) else repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _score_problem(v: Any) -> str | None:
    """Why ``v`` is not a score (a finite number), or ``None``. The range is not checked: a
    score is a mean of measures evalkit computed, and the digest and means vouch for it."""
    if not _is_number(v):
        return f"is {_kind(v)}, not a score"
    if not math.isfinite(v):
        return f"is {v!r}, not a finite score"
    return None


def check_record_content(d: dict[str, Any], where: str) -> None:
    """Raise ``EvalkitError("<where>: <problem>")`` unless ``d`` (a record as JSON) has every
    field readers rely on, of the right type, and means equal to those of its per-query
    scores. Downstream code (report, compare, export, reuse) may then index it freely."""

    def bad(msg: str) -> EvalkitError:
        return RecordError(where, msg)

    unknown = sorted(set(d) - _FIELDS - {DIGEST_FIELD})
    if unknown:
        raise bad(f"unknown field {_short(unknown[0])} (not an evalkit record of this version)")
    for name in ("model", "dataset", "scores", "n_queries_scored", "n_queries_dropped", "top_k"):
        if name not in d:
            raise bad(f"no {name!r} field")
    for name in ("model", "dataset", "scores", "search", "environment", "timings", "per_query"):
        if name in d and not isinstance(d[name], dict):
            raise bad(f"{name} is {_kind(d[name])}, expected an object")

    def text(obj: dict, owner: str, key: str, required: bool) -> None:
        v = obj.get(key)
        if v is None and not required:
            return
        if not isinstance(v, str) or (required and not v):
            raise bad(f"{owner}.{key} is {_kind(v)}, expected non-empty text")

    def count(obj: dict, owner: str, key: str, least: int, required: bool = True) -> None:
        v = obj.get(key)
        if v is None and not required:
            return
        if not _is_int(v) or v < least:
            got = _short(v) if _is_number(v) else _kind(v)
            raise bad(f"{owner}{key} is {got}, expected a whole number >= {least}")

    model, ds = d["model"], d["dataset"]
    text(model, "model", "name", True)
    for key in ("hf_id", "revision"):
        text(model, "model", key, False)
    for key in ("dim", "full_dim"):
        count(model, "model.", key, 1, required=False)
    for key in ("name", "split"):
        text(ds, "dataset", key, True)
    for key in ("suite", "language"):
        text(ds, "dataset", key, False)
    if ds.get("main_metric") is not None and not (
        isinstance(ds["main_metric"], str) and _MEASURE.fullmatch(ds["main_metric"])
    ):
        raise bad(f"dataset.main_metric {_short(ds['main_metric'])} is not a measure name")
    for key in ("source", "sampled_queries"):
        if ds.get(key) is not None and not isinstance(ds[key], dict):
            raise bad(f"dataset.{key} is {_kind(ds[key])}, expected an object")
    if ds.get("sampled_queries"):
        count(ds["sampled_queries"], "dataset.sampled_queries.", "n", 1)
    if ds.get("ignore_identical_ids") is not None and not isinstance(
        ds["ignore_identical_ids"], bool
    ):
        raise bad(f"dataset.ignore_identical_ids is {_kind(ds['ignore_identical_ids'])}")
    warnings = ds.get("warnings")
    if warnings is not None and not (
        isinstance(warnings, list) and all(isinstance(w, str) for w in warnings)
    ):
        raise bad("dataset.warnings is not a list of text")
    count(d, "", "n_queries_scored", 1)
    count(d, "", "n_queries_dropped", 0)
    count(d, "", "top_k", 1)
    if "environment" in d and d["environment"].get("packages") is not None:
        if not isinstance(d["environment"]["packages"], dict):
            raise bad("environment.packages is not an object")
    for key, v in (d.get("timings") or {}).items():
        if not _is_number(v) or not math.isfinite(v):
            raise bad(f"timings.{key} is {_kind(v) if not _is_number(v) else v}, not a duration")
    for key in ("created_at",):
        if key in d and not isinstance(d[key], str):
            raise bad(f"{key} is {_kind(d[key])}, expected text")
    if "schema_version" in d and not _is_int(d["schema_version"]):
        raise bad(f"schema_version is {_kind(d['schema_version'])}, expected a whole number")
    run_file = d.get("run_file")
    if run_file is not None and not (
        isinstance(run_file, dict)
        and set(run_file) == {"name", "sha256"}
        and isinstance(run_file["name"], str)
        and run_file["name"]
        and "/" not in run_file["name"]
        and isinstance(run_file["sha256"], str)
        and _HEX64.fullmatch(run_file["sha256"])
    ):
        raise bad("run_file is not {name, sha256} of a file beside the record")
    _check_scores(d, bad)


def _check_scores(d: dict[str, Any], bad: Callable[[str], EvalkitError]) -> None:
    """Every score a finite fraction, every per-query entry holding exactly the record's
    measures, and each mean the mean of the per-query scores (queries without a positive
    judgement were dropped before scoring: they are in neither)."""
    scores, per_query = d["scores"], d.get("per_query") or {}
    if not scores:
        raise bad("scores is empty")
    for m, v in scores.items():
        if not _MEASURE.fullmatch(m):
            raise bad(f"scores holds {_short(m)}, not a measure name")
        problem = _score_problem(v)
        if problem:
            raise bad(f"scores.{m} {problem}")
    if len(per_query) != d["n_queries_scored"]:
        raise bad(
            f"{len(per_query)} per-query entries for n_queries_scored = {d['n_queries_scored']}"
        )
    measures = set(scores)
    sums: dict[str, list[float]] = {m: [] for m in scores}
    for q, row in per_query.items():
        if not isinstance(row, dict):
            raise bad(f"per_query[{_short(q)}] is {_kind(row)}, expected an object")
        if set(row) != measures:
            extra, lacking = sorted(set(row) - measures), sorted(measures - set(row))
            what = f"lacks {lacking[0]}" if lacking else f"has {_short(extra[0])}, not in scores"
            raise bad(f"per_query[{_short(q)}] {what}")
        for m, v in row.items():
            problem = _score_problem(v)
            if problem:
                raise bad(f"per_query[{_short(q)}].{m} {problem}")
            sums[m].append(v)
    for m, values in sums.items():
        mean = math.fsum(values) / len(values)
        if not math.isclose(scores[m], mean, rel_tol=MEAN_RTOL, abs_tol=MEAN_ATOL):
            raise bad(
                f"scores.{m} = {scores[m]!r} is not the mean of its {len(values)} per-query "
                f"scores ({mean!r})"
            )


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {_short(k)}")
        out[k] = v
    return out


def _parse(path: Path) -> Any:
    """The file's JSON, or a one-line error naming it (bad bytes, bad JSON, too deep)."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise RecordError(str(path), f"cannot read it ({e.strerror or e})") from None
    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except UnicodeDecodeError as e:
        reason = f"not UTF-8 text at byte {e.start}"
    except json.JSONDecodeError as e:
        reason = f"not JSON: {e.msg}, line {e.lineno} column {e.colno}"
    except RecursionError:
        reason = "nested too deeply"
    except ValueError as e:  # a duplicate key, an integer of thousands of digits
        reason = str(e).split("\n")[0]
    raise RecordError(str(path), f"not a result record ({reason})")


def check_record_file(data: dict[str, Any], where: str) -> ResultRecord:
    """A record from the JSON of a record file: its version, digest and content checked."""
    version = data.get("schema_version")
    if _is_int(version) and version > SCHEMA_VERSION:
        raise RecordError(
            where,
            f"written by a newer evalkit (record schema {version}; this one reads "
            f"{SCHEMA_VERSION})",
        )
    digest = data.get(DIGEST_FIELD)
    if digest is None:
        raise RecordError(
            where,
            f"no digest (written before record schema {SCHEMA_VERSION}, or edited)",
            _RERUN,
        )
    if digest != record_digest(data):
        raise RecordError(
            where, "its content does not match its digest (edited after it was written?)", _RERUN
        )
    check_record_content(data, where)
    if version != SCHEMA_VERSION:
        raise RecordError(where, f"record schema {_short(version)}, expected {SCHEMA_VERSION}")
    return ResultRecord.from_dict({k: v for k, v in data.items() if k != DIGEST_FIELD})


def read_record(path: str | Path) -> ResultRecord:
    """One record file, checked (:func:`check_record_file`); any failure is one line
    naming the file."""
    path = Path(path)
    data = _parse(path)
    if not looks_like_record(data):
        raise RecordError(str(path), "not an evalkit result record")
    return check_record_file(data, str(path))


def load_results(paths: str | Path | Iterable[str | Path]) -> list[ResultRecord]:
    """Read records from files or directories (recursively), each checked by
    :func:`read_record`. In a directory, JSON that is not an evalkit record at all (mteb's
    files, say) is passed over; a file named directly must be a record."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    records = []
    for p in map(Path, paths):
        if not p.is_dir():
            records.append(read_record(p))
            continue
        for f in sorted(p.rglob("*.json")):
            if not f.is_file():
                continue
            data = _parse(f)
            if looks_like_record(data):
                records.append(check_record_file(data, str(f)))
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
