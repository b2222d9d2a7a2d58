"""Readers for the Hugging Face Hub layouts the peers use, read through ``datasets``.

:func:`load_hub_dataset` reads every layout a :class:`~evalkit.dataset_spec.DatasetSpec` may
name here (:data:`READERS`; :func:`evalkit.data.load` sends those specs to it) and returns a
:class:`~evalkit.data.Collection` whose corpus is the memory-mapped Arrow table ``datasets``
built (columns renamed and cast with Arrow operations: no Python list of passages, no second
copy). Also the Hub access the model loaders share: :func:`hub_mode`, :func:`resolve_commit`.
This module was ``evalkit.hub``, a name that still imports it.

Layouts:

``mteb``
    mteb 2.x retrieval repositories: configs ``corpus``, ``queries`` and ``default`` (or
    ``qrels``) with qrels columns ``query-id, corpus-id, score``; multilingual tasks prefix the
    subset: ``{lang}-corpus``, ``{lang}-queries``, ``{lang}-qrels``. A config's split is the
    requested one, or its only split (mteb's ``RetrievalDatasetLoader`` rule); queries without
    qrels are dropped, as mteb does.
``beir-hub``
    ``BeIR/<name>`` (configs ``corpus`` and ``queries``, one split each) with qrels in
    ``BeIR/<name>-qrels`` (split = evaluation split). mteb's GermanQuAD-Retrieval reads the
    same layout and drops titles (``use_title: False``).
``miracl``
    ``miracl/miracl`` (``miracl-v1.0-{lang}/topics/topics.miracl-v1.0-{lang}-{split}.tsv``:
    ``qid<TAB>query``; ``.../qrels/qrels.miracl-v1.0-{lang}-{split}.tsv``: TREC qrels) with
    ``miracl/miracl-corpus`` (``miracl-corpus-v1.0-{lang}/docs-*.jsonl.gz``: ``docid, title,
    text``). Raw files, so no loading script runs.
``mldr``
    ``Shitao/MLDR``: config ``{lang}`` (``query_id, query, positive_passages,
    negative_passages``) and ``corpus-{lang}`` (split ``corpus``: ``docid, text``).
``syntec``
    mteb's SyntecRetrieval: configs ``documents`` (``id, content[, title]``) and ``queries``
    (``Question, Article``); query ids are row numbers, as in mteb's loader.

Where the data comes from (the README's "Datasets" section):

- without ``data_dir``: the spec's Hub repository at its pinned revision, through the Hugging
  Face cache. ``HF_HUB_OFFLINE=1`` is honoured; when the Hub cannot be reached at all, the read
  runs in offline mode so a cached dataset still loads and an uncached one fails in seconds.
- with ``data_dir``: only local files, never the Hub. For dataset ``NAME`` (and language
  ``LANG``) evalkit uses the first of

  1. ``data_dir/NAME/LANG`` (multilingual) or ``data_dir/NAME``: a BEIR-format folder
     (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``);
  2. ``data_dir/REPO`` or ``data_dir/ORG/REPO``: a copy of a Hub repository the spec names
     (its primary source, then its alternates), e.g. made with ``git clone`` or
     ``hf download --repo-type dataset ORG/REPO --local-dir data_dir/REPO``. Two-repository
     layouts need both copies side by side (``scifact`` and ``scifact-qrels``; ``miracl`` and
     ``miracl-corpus``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from evalkit.data.beir import (
    _lines,
    bad_id_mask,
    check_id,
    collection_warnings,
    iter_jsonl,
    load_beir_dir,
    parse_grade,
)
from evalkit.data.collection import Collection, Corpus, Qrels
from evalkit.dataset_spec import DatasetSpec, is_beir_dir
from evalkit.errors import DataError

PROBE_TIMEOUT_S = 3.0
"""How long to wait for a TCP connection to the Hub before treating it as unreachable."""


class _Unavailable(Exception):
    """The source is neither cached nor reachable (internal; becomes a DataError)."""


class _NoConfig(Exception):
    """The repository has no such config (internal)."""


# --------------------------------------------------------------------------------------------
# Sources and where their files are


@dataclass(frozen=True)
class Source:
    """One way to obtain a dataset: a layout and the Hub repositories it reads."""

    layout: str
    id: str
    revision: str | None = None
    options: tuple[tuple[str, Any], ...] = ()

    def opt(self, key: str, default: Any = None) -> Any:
        return dict(self.options).get(key, default)

    @property
    def label(self) -> str:
        rev = f"@{self.revision[:12]}" if self.revision else "@main (unpinned)"
        return f"{self.id}{rev}"

    @classmethod
    def from_dict(cls, layout: str, d: dict[str, Any]) -> Source:
        extra = tuple(
            sorted(
                (k, v) for k, v in d.items() if k not in {"id", "revision", "layout", "alternates"}
            )
        )
        return cls(
            layout=d.get("layout", layout), id=d["id"], revision=d.get("revision"), options=extra
        )


def sources(spec: DatasetSpec) -> list[Source]:
    """The spec's primary source, then its alternates, in the order they are tried."""
    out = [Source.from_dict(spec.layout, spec.source)]
    out += [Source.from_dict(a["layout"], a) for a in spec.source.get("alternates", ())]
    return out


class Locator:
    """Turns a Hub repository id into what ``datasets`` / the readers open: the id and revision
    (Hub and cache), or a local copy under ``data_dir``."""

    def __init__(self, data_dir: Path | None) -> None:
        self.data_dir = data_dir
        self.local_paths: list[Path] = []

    def candidates(self, repo_id: str) -> list[Path]:
        assert self.data_dir is not None
        return [self.data_dir / repo_id.split("/")[-1], self.data_dir / repo_id]

    def dataset_arg(self, repo_id: str, revision: str | None) -> tuple[str, str | None]:
        """``(path, revision)`` for ``datasets.load_dataset``."""
        if self.data_dir is None:
            return repo_id, revision
        for path in self.candidates(repo_id):
            if path.is_dir():
                self.local_paths.append(path)
                return str(versioned_link(path, manifest_fingerprint([path]))), None
        raise _Unavailable(" or ".join(str(p) for p in self.candidates(repo_id)))

    def folder(self, repo_id: str, revision: str | None, patterns: list[str]) -> Path:
        """A folder holding (at least) the repository files matching ``patterns``."""
        if self.data_dir is not None:
            return Path(self.dataset_arg(repo_id, revision)[0])
        from huggingface_hub import snapshot_download

        return Path(
            snapshot_download(
                repo_id, repo_type="dataset", revision=revision, allow_patterns=patterns
            )
        )


# --------------------------------------------------------------------------------------------
# Hub access: offline mode, reachability, error classification


def _truthy(value: str | None) -> bool:
    return (value or "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def hub_offline_requested() -> bool:
    """``HF_HUB_OFFLINE`` (or the older ``HF_DATASETS_OFFLINE``/``TRANSFORMERS_OFFLINE``) set,
    read at call time so a change after import counts."""
    import huggingface_hub.constants as hc

    return hc.HF_HUB_OFFLINE or any(
        _truthy(os.environ.get(v))
        for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


@lru_cache(maxsize=4)
def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


def hub_reachable() -> bool:
    """Whether a TCP connection to the Hub endpoint (or the HTTPS proxy) opens quickly.

    ``datasets`` retries an unreachable Hub for tens of seconds per file; one short probe
    lets evalkit switch to offline mode instead (cached data still loads)."""
    import huggingface_hub.constants as hc

    proxy = next(
        (
            os.environ[v]
            for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
            if os.environ.get(v)
        ),
        None,
    )
    url = urlparse(proxy if proxy else hc.ENDPOINT)
    if not url.hostname:
        return True  # cannot tell; let the libraries decide
    return _reachable(url.hostname, url.port or (443 if url.scheme == "https" else 80))


@contextlib.contextmanager
def hub_mode() -> Iterator[str | None]:
    """Run Hub reads online, or in offline mode (cache only) when requested or unreachable.

    Yields why offline mode is on (``None`` when online). The library flags are restored
    afterwards."""
    import datasets.config as dc
    import huggingface_hub.constants as hc

    why = None
    if hub_offline_requested():
        why = "offline mode is on (HF_HUB_OFFLINE=1)"
    elif not hub_reachable():
        why = f"the Hub is unreachable ({hc.ENDPOINT})"
    saved = (dc.HF_HUB_OFFLINE, hc.HF_HUB_OFFLINE)
    if why:
        dc.HF_HUB_OFFLINE = hc.HF_HUB_OFFLINE = True
    try:
        yield why
    finally:
        dc.HF_HUB_OFFLINE, hc.HF_HUB_OFFLINE = saved


_COMMIT = re.compile(r"[0-9a-f]{40}")


def is_commit(revision: str | None) -> bool:
    """A full Hub commit hash (what a cache key and a record may name: a branch moves)."""
    return bool(revision) and _COMMIT.fullmatch(str(revision)) is not None


def resolve_commit(repo_id: str, revision: str | None, repo_type: str = "model") -> str | None:
    """The commit that ``revision`` (a branch, tag, full or abbreviated commit; ``None`` is
    ``main``) of ``repo_id`` names now, or ``None`` when it cannot be known.

    Online, the Hub says (``huggingface_hub``'s ``repo_info``); offline, or when the Hub
    cannot answer, the Hugging Face cache does: ``refs/<revision>`` holds the commit a branch
    or tag last resolved to (what ``transformers`` and ``datasets`` then load), and an
    abbreviated commit names the one ``snapshots/<commit>`` it starts. Call it inside
    :func:`hub_mode`, which decides online or offline."""
    rev = (revision or "main").strip()
    if is_commit(rev.lower()):
        return rev.lower()
    if Path(repo_id).is_dir():
        return None  # a local folder, not a Hub id: nothing to resolve against
    if not hub_offline_requested():
        try:
            from huggingface_hub import HfApi

            sha = HfApi().repo_info(repo_id, repo_type=repo_type, revision=rev).sha
            if is_commit(sha):
                return str(sha)
        except Exception as e:
            if not _is_unavailable(e):
                raise
            from huggingface_hub import errors as hf_errors

            if isinstance(e, (hf_errors.RepositoryNotFoundError, hf_errors.RevisionNotFoundError)):
                return None  # the Hub answered: there is no such revision
    return cached_commit(repo_id, rev, repo_type)


def cached_commit(repo_id: str, revision: str, repo_type: str = "model") -> str | None:
    """``revision`` of ``repo_id`` as the local Hugging Face cache (``HF_HUB_CACHE``) last
    resolved it, or ``None``."""
    import huggingface_hub.constants as hc
    from huggingface_hub.file_download import repo_folder_name

    if not revision or ".." in revision.split("/") or revision.startswith("/"):
        return None
    folder = Path(hc.HF_HUB_CACHE) / repo_folder_name(repo_id=repo_id, repo_type=repo_type)
    try:
        commit = (folder / "refs" / revision).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        commit = ""
    if is_commit(commit):
        return commit
    if re.fullmatch(r"[0-9a-f]{7,39}", revision):
        found = [p.name for p in (folder / "snapshots").glob(f"{revision}*") if is_commit(p.name)]
        if len(found) == 1:
            return found[0]
    return None


def _is_unavailable(exc: BaseException) -> bool:
    """Missing, unreachable, gated or not cached, as opposed to present but malformed."""
    from datasets.exceptions import DatasetNotFoundError
    from huggingface_hub import errors as hf_errors

    kinds: tuple[type[BaseException], ...] = (
        ConnectionError,
        TimeoutError,
        DatasetNotFoundError,
        hf_errors.LocalEntryNotFoundError,
        hf_errors.RepositoryNotFoundError,
        hf_errors.RevisionNotFoundError,
        hf_errors.GatedRepoError,
        hf_errors.OfflineModeIsEnabled,
    )
    if isinstance(exc, (*kinds, _Unavailable)):
        return True
    name = type(exc).__name__
    return name in {"ConnectError", "ConnectTimeout", "ReadTimeout", "HfHubHTTPError"}


def _one_line(exc: BaseException, limit: int = 240) -> str:
    # datasets wraps the informative error ("Could not convert 'high' ...") in a generic
    # DatasetGenerationError; show the innermost cause instead.
    seen = {id(exc)}
    while exc.__cause__ is not None and id(exc.__cause__) not in seen:
        exc = exc.__cause__
        seen.add(id(exc))
    text = " ".join(str(exc).split())
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _cache_dirs() -> str:
    import datasets.config as dc
    import huggingface_hub.constants as hc

    return f"{hc.HF_HUB_CACHE} and {dc.HF_DATASETS_CACHE}"


# --------------------------------------------------------------------------------------------
# datasets helpers: configs, splits, Arrow-side column handling


def load_config(path: str, config: str | None, revision: str | None) -> Any:
    """``load_dataset(path, config)`` as a DatasetDict; a missing config raises ``_NoConfig``.

    JSON files whose columns ``datasets`` could only type by rounding (a float among integer
    ids, an integer above 2^63, mixed strings and numbers) are read again with every number
    kept as the text the file spells (:func:`_reread_json`)."""
    import datasets

    try:
        dd = datasets.load_dataset(path, config, revision=revision)
    except Exception as e:
        # datasets: "BuilderConfig 'x' not found. Available: [...]"
        if isinstance(e, ValueError) and "BuilderConfig" in str(e) and "not found" in str(e):
            raise _NoConfig(f"{path}: no config {config!r} ({_one_line(e, 160)})") from None
        if _is_unavailable(e):
            raise
        dd = _reread_config(path, config, revision)  # e.g. ujson: "Value is too small"
        if dd is None:
            raise
        return dd
    # CSV/TSV goes through pandas, whose typing is never the text ("0042" -> 42): always
    # read again. JSON when the typing could not be exact, or when the files do not all fit
    # the schema datasets inferred from their first 10 MB (it casts later chunks to it, and a
    # chunk of mixed ids comes back as JSON text: '"d1"').
    if all(
        ds.info.builder_name != "csv"
        and _exact(ds.features)
        and not _has_int_zero(ds)
        and (ds.info.builder_name != "json" or _json_fits(ds, _data_files(path, config, revision)))
        for ds in dd.values()
    ):
        return dd
    return _reread_config(path, config, revision) or dd


def _data_files(path: str, config: str | None, revision: str | None) -> list[str] | None:
    """The files behind a config (all splits), or None when datasets cannot say."""
    import datasets

    try:
        builder = datasets.load_dataset_builder(path, config, revision=revision)
    except Exception:  # noqa: BLE001 -- cannot tell: the caller reads again, exactly
        return None
    return [str(f) for fs in dict(builder.config.data_files or {}).values() for f in fs]


def _json_fits(ds: Any, data_files: list[str] | None) -> bool:
    """Whether every record of the JSON ``data_files`` behind ``ds`` fits ``ds``'s schema as
    it is, by Arrow's reader with that schema fixed (it refuses a value of another type
    instead of converting it). Remembered per cache file (named by datasets after the copy's
    version); files that are not local (Hub downloads) are taken as read."""
    import pyarrow as pa
    import pyarrow.json as paj

    if data_files is None:
        return False
    marker = Path(ds.cache_files[0]["filename"] + ".evalkit-fits-v1") if ds.cache_files else None
    if marker is not None and marker.is_file():
        return True
    files = [Path(f) for f in data_files]
    if not all(f.is_file() for f in files):
        return True
    parse = paj.ParseOptions(
        explicit_schema=ds.features.arrow_schema, unexpected_field_behavior="error"
    )
    for f in files:
        if f.suffix not in (".json", ".jsonl", ".gz"):
            return False
        try:
            source = (
                pa.CompressedInputStream(pa.OSFile(str(f)), "gzip")
                if f.suffix == ".gz"
                else pa.OSFile(str(f))
            )
            with source:
                reader = paj.open_json(
                    source, read_options=paj.ReadOptions(block_size=16 << 20), parse_options=parse
                )
                for _ in reader:
                    pass
        except (pa.ArrowException, OSError, EOFError, ValueError):
            return False
    if marker is not None:
        with contextlib.suppress(OSError):
            marker.write_text("every record fits the inferred schema (evalkit)\n")
    return True


def _has_int_zero(ds: Any) -> bool:
    """An integer column holding 0, which JSON may have spelled ``-0`` (read again, rarely)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    table = ds.with_format("arrow")[:]
    return any(
        pa.types.is_integer(col.type) and pc.any(pc.equal(col, 0)).as_py() for col in table.columns
    )


def _reread_config(path: str, config: str | None, revision: str | None) -> Any | None:
    """The config read again by :func:`_reread_json` when it is local JSON Lines, else None."""
    import datasets

    try:
        builder = datasets.load_dataset_builder(path, config, revision=revision)
    except Exception:  # noqa: BLE001 -- the load's own error is the one to report
        return None
    files = dict(builder.config.data_files or {})
    if builder.name == "csv":
        sep = builder.config.delimiter or builder.config.sep or ","
        return _reread_csv(files, sep, builder.config.quotechar or '"')
    return _reread_json(builder.name, files)


def _reread_csv(data_files: dict[str, Any], sep: str, quotechar: str) -> Any | None:
    """A DatasetDict of CSV/TSV files (header line first) with every cell as its text,
    quotes removed as beir's ``csv.reader`` removes them; ``None`` unless the files are local.
    A row of the wrong width raises :class:`DataError` naming ``file:line``."""
    import csv

    import datasets
    import pyarrow as pa

    out = {}
    for split, files in data_files.items():
        paths = [Path(f) for f in files]
        if not all(p.is_file() for p in paths):
            return None
        header: list[str] | None = None
        columns: list[list[str]] = []
        for p in paths:
            numbered = list(_lines(p))  # UTF-8 checked, file:line on a bad byte
            rows = csv.reader((line for _, line in numbered), delimiter=sep, quotechar=quotechar)
            for (lineno, _), row in zip(numbered, rows):
                if header is None:
                    header, columns = row, [[] for _ in row]
                    continue
                if not row or row == header:  # blank lines; each file repeats the header
                    continue
                if len(row) != len(header):
                    raise DataError(
                        f"{p}:{lineno}: expected {len(header)} columns ({', '.join(header)}), "
                        f"got {len(row)}"
                    )
                for col, value in zip(columns, row):
                    col.append(value)
        if header is None:
            return None
        table = pa.table({name: pa.array(col, pa.string()) for name, col in zip(header, columns)})
        out[split] = datasets.Dataset(table)
    return datasets.DatasetDict(out)


_EXACT_DTYPES = {
    "string", "large_string", "bool", "null",
    "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
}  # fmt: skip


def _exact(feature: Any) -> bool:
    """Whether every value of ``feature`` is what the file holds: strings, integers (decimal
    exact), booleans, and lists or structs of them; not floats, not ``datasets``' JSON-text
    columns (mixed types), whose strings keep their quotes."""
    from datasets import LargeList, List, Value

    if isinstance(feature, dict):
        return all(_exact(f) for f in feature.values())
    if isinstance(feature, (List, LargeList)):
        return _exact(feature.feature)
    return isinstance(feature, Value) and feature.dtype in _EXACT_DTYPES


def _reread_json(builder: str, data_files: dict[str, Any]) -> Any | None:
    """A DatasetDict read from local JSON Lines ``data_files`` ({split: paths}) with numbers
    as their token text (``1000``, ``1e3``); a bad line raises :class:`DataError` naming it.
    ``None`` for anything else (Parquet, remote files, fields of mixed kinds): the id readers
    then refuse a float or mixed id column rather than guess its digits."""
    import datasets
    import pyarrow as pa

    if builder != "json" or not data_files:
        return None
    out = {}
    for split, files in data_files.items():
        paths = [Path(f) for f in files]
        if not all(p.is_file() for p in paths):
            return None
        rows = [rec for p in paths for _, rec in iter_jsonl(p, exact=True)]
        try:
            table = pa.Table.from_pylist(rows)
        except (pa.ArrowException, TypeError, ValueError):
            return None
        out[split] = datasets.Dataset(table)
    return datasets.DatasetDict(out)


def load_first_config(path: str, configs: list[str], revision: str | None) -> tuple[str, Any]:
    """The first of ``configs`` the repository has (mteb: ``default``, else ``qrels``)."""
    for config in configs:
        with contextlib.suppress(_NoConfig):
            return config, load_config(path, config, revision)
    raise DataError(f"{path}: none of the configs {configs} exist")


def pick_split(dd: Any, split: str, where: str) -> Any:
    """mteb's rule: the requested split, else the config's only split."""
    if split in dd:
        return dd[split]
    if len(dd) == 1:
        return next(iter(dd.values()))
    raise DataError(f"{where}: no split {split!r} (has {', '.join(dd)})")


def _id_strings(values: Any, feature: Any, where: str, col: str) -> Any:
    """An Arrow id column as strings exactly as stored: strings as they are, integers as
    their decimal digits. A float column (``1000.0`` may have been ``1000`` or ``1e3``), a
    column of JSON text or nulls, and an id :func:`~evalkit.data.check_id` refuses raise
    :class:`DataError` naming the column and row."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from datasets import Value

    dtype = feature.dtype if isinstance(feature, Value) else None
    if dtype in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"):
        values = values.cast(pa.string())
    elif dtype not in ("string", "large_string"):
        kind = dtype or type(feature).__name__.lower()
        raise DataError(
            f"{where}: column {col!r} holds {kind} values; an id must be a string or an "
            "integer (a float does not keep the digits the source wrote)"
        )
    bad = bad_id_mask(values)
    if pc.any(bad).as_py():
        row = pc.index(bad, True).as_py()
        value = values[row].as_py()
        if value is None:
            raise DataError(f"{where}: row {row + 1}: column {col!r} has no id (null)")
        check_id(value, f"{where}: row {row + 1}", f"{col!r}")
    return values


def _string_col(ds: Any, col: str) -> Any:
    """Cast ``col`` to string unless it is one already (ids are sometimes ints). A cast
    rewrites the column in memory, so text columns, always strings, are never cast."""
    from datasets import Value

    feature = ds.features[col]
    if not (isinstance(feature, Value) and feature.dtype in ("string", "large_string")):
        ds = ds.cast_column(col, Value("string"))
    return ds


def arrow_corpus(
    ds: Any,
    *,
    id_col: str,
    text_col: str = "text",
    title_col: str | None = "title",
    where: str = "corpus",
) -> Corpus:
    """A :class:`Corpus` over ``ds`` with Arrow-side renames: ``id_col -> _id``,
    ``text_col -> text``, ``title_col -> title`` (an empty-string title column if absent)."""

    cols = ds.column_names
    for need in (id_col, text_col):
        if need not in cols:
            raise DataError(f"{where}: no column {need!r} (columns: {', '.join(cols)})")
    keep = [id_col, text_col] + ([title_col] if title_col and title_col in cols else [])
    ds = ds.select_columns(keep)
    renames = {id_col: "_id", text_col: "text"}
    if title_col and title_col in cols:
        renames[title_col] = "title"
    ds = ds.rename_columns({k: v for k, v in renames.items() if k != v})
    ids = ds.with_format("arrow").select_columns(["_id"])[:]["_id"]
    _id_strings(ids, ds.features["_id"], where, id_col)  # refuses floats and bad ids
    ds = _string_col(ds, "_id")  # integers: Arrow's cast, decimal exact
    if "title" in ds.column_names:
        ds = _string_col(ds, "title")
    ds = _string_col(ds, "text")
    return Corpus(ds)  # adds an empty title column where the layout has none


def _fp(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:16]


def _columns(
    ds: Any, names: list[str], where: str, ids: tuple[str, ...] = ()
) -> dict[str, list[Any]]:
    """Small tables (queries, qrels) as Python lists, read column-wise from Arrow; the
    ``ids`` columns as exact strings (:func:`_id_strings`)."""
    missing = [n for n in names if n not in ds.column_names]
    if missing:
        raise DataError(f"{where}: no column(s) {missing} (columns: {', '.join(ds.column_names)})")
    table = ds.select_columns(names).with_format("arrow")[:]
    return {
        n: (
            _id_strings(table.column(n), ds.features[n], where, n) if n in ids else table.column(n)
        ).to_pylist()
        for n in names
    }


def qrels_from(
    ds: Any, where: str, q: str = "query-id", d: str = "corpus-id", s: str = "score"
) -> Qrels:
    cols = _columns(ds, [q, d, s], where, ids=(q, d))
    qrels: Qrels = {}
    for qid, did, grade in zip(cols[q], cols[d], cols[s]):
        # mteb casts scores to int32; a grade beyond it would zero pytrec_eval's scores.
        g = parse_grade(grade, f"{where}: judgement ({qid}, {did})")
        qrels.setdefault(qid, {})[did] = g
    return qrels


def queries_from(
    ds: Any, where: str, id_col: str | None = None, text_col: str = "text"
) -> dict[str, str]:
    id_col = id_col or ("_id" if "_id" in ds.column_names else "id")
    cols = _columns(ds, [id_col, text_col], where, ids=(id_col,))
    return {i: "" if t is None else str(t) for i, t in zip(cols[id_col], cols[text_col])}


def _judged_only(queries: dict[str, str], qrels: Qrels) -> dict[str, str]:
    # mteb keeps only queries that have qrels; unjudged queries would only cost encoding.
    return {q: t for q, t in queries.items() if q in qrels}


# --------------------------------------------------------------------------------------------
# Readers: one per layout. ``read(src, spec, language, locator) -> Collection``


Reader = Callable[[Source, DatasetSpec, "str | None", Locator], Collection]


def _collection(
    spec: DatasetSpec,
    language: str | None,
    corpus: Corpus,
    queries: dict[str, str],
    qrels: Qrels,
    src: Source,
    locator: Locator,
    **extra: Any,
) -> Collection:
    source: dict[str, Any] = {"layout": src.layout, "id": src.id, "revision": src.revision, **extra}
    if locator.data_dir is not None:
        paths = sorted(set(locator.local_paths))
        source.update(
            path=[str(p.resolve()) for p in paths],
            revision=None,
            fingerprint=manifest_fingerprint(paths),
        )
    if src.opt("qrels_id"):
        source["qrels_id"] = src.opt("qrels_id")
        if locator.data_dir is None:
            source["qrels_revision"] = src.opt("qrels_revision")
    return Collection(
        name=spec.name,
        corpus=corpus,
        queries=queries,
        qrels=qrels,
        split=spec.split,
        language=language,
        ignore_identical_ids=spec.ignore_identical_ids,
        source=source,
        warnings=collection_warnings(
            corpus,
            queries,
            qrels,
            qrels_name=f"{src.id} qrels",
            queries_name="its queries",
            corpus_name="its corpus",
        ),
    )


def read_mteb(src: Source, spec: DatasetSpec, language: str | None, locator: Locator) -> Collection:
    path, rev = locator.dataset_arg(src.id, src.revision)
    prefix = f"{language}-" if language else ""
    qrels_configs = [f"{prefix}qrels"] if language else ["default", "qrels"]
    qcfg, qdd = load_first_config(path, qrels_configs, rev)
    qrels = qrels_from(pick_split(qdd, spec.split, f"{path} [{qcfg}]"), f"{path} [{qcfg}]")
    ccfg = f"{prefix}corpus"
    corpus_ds = pick_split(load_config(path, ccfg, rev), spec.split, f"{path} [{ccfg}]")
    id_col = "_id" if "_id" in corpus_ds.column_names else "id"
    corpus = arrow_corpus(corpus_ds, id_col=id_col, where=f"{path} [{ccfg}]")
    qcfgs = [f"{prefix}queries"] + ([] if language else ["query"])
    name, dd = load_first_config(path, qcfgs, rev)
    queries = queries_from(pick_split(dd, spec.split, f"{path} [{name}]"), f"{path} [{name}]")
    return _collection(
        spec,
        language,
        corpus,
        _judged_only(queries, qrels),
        qrels,
        src,
        locator,
        config=prefix.rstrip("-") or "default",
    )


def read_beir_hub(
    src: Source, spec: DatasetSpec, language: str | None, locator: Locator
) -> Collection:
    path, rev = locator.dataset_arg(src.id, src.revision)
    qrels_id = src.opt("qrels_id") or f"{src.id}-qrels"
    qpath, qrev = locator.dataset_arg(qrels_id, src.opt("qrels_revision"))
    qrels_dd = load_config(qpath, None, qrev)
    qrels = qrels_from(pick_split(qrels_dd, spec.split, qpath), qpath)
    corpus_ds = pick_split(load_config(path, "corpus", rev), "corpus", f"{path} [corpus]")
    title = "title" if src.opt("use_title", True) else None
    corpus = arrow_corpus(corpus_ds, id_col="_id", title_col=title, where=f"{path} [corpus]")
    qds = pick_split(load_config(path, "queries", rev), "queries", f"{path} [queries]")
    queries = queries_from(qds, f"{path} [queries]", id_col="_id")
    return _collection(spec, language, corpus, _judged_only(queries, qrels), qrels, src, locator)


def _read_tsv_pairs(path: Path) -> dict[str, str]:
    """MIRACL topics: ``qid<TAB>query`` per line, no header."""
    out: dict[str, str] = {}
    for lineno, line in _lines(path):  # UTF-8 checked, naming file:line
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        if "\t" not in line:
            raise DataError(f"{path}:{lineno}: expected 'query id<TAB>query text'")
        qid, text = line.split("\t", 1)
        out[check_id(qid.strip(), f"{path}:{lineno}", "query id")] = text
    return out


def _read_trec_qrels(path: Path) -> Qrels:
    """TREC qrels: ``qid Q0 docid grade`` (tab or space separated)."""
    qrels: Qrels = {}
    for lineno, line in _lines(path):  # UTF-8 checked, naming file:line
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 4 or not re.fullmatch(r"-?[0-9]+", parts[3]):
            raise DataError(f"{path}:{lineno}: expected 'query-id Q0 doc-id grade'")
        qid = check_id(parts[0], f"{path}:{lineno}", "query id")
        did = check_id(parts[2], f"{path}:{lineno}", "document id")
        qrels.setdefault(qid, {})[did] = parse_grade(parts[3], f"{path}:{lineno}")
    return qrels


def read_miracl(
    src: Source, spec: DatasetSpec, language: str | None, locator: Locator
) -> Collection:
    import datasets

    if not language:
        raise DataError(f"{spec.name}: the miracl layout needs a language")
    base = f"miracl-v1.0-{language}"
    stem = f"miracl-v1.0-{language}-{spec.split}"
    topics_rel = f"{base}/topics/topics.{stem}.tsv"
    qrels_rel = f"{base}/qrels/qrels.{stem}.tsv"
    root = locator.folder(src.id, src.revision, [topics_rel, qrels_rel])
    for rel in (topics_rel, qrels_rel):
        if not (root / rel).is_file():
            raise DataError(f"{root}: no {rel} (a copy of {src.id} is expected here)")
    queries = _read_tsv_pairs(root / topics_rel)
    qrels = _read_trec_qrels(root / qrels_rel)
    corpus_id = src.opt("corpus_id", "miracl/miracl-corpus")
    cdir = f"miracl-corpus-v1.0-{language}"
    croot = locator.folder(corpus_id, src.opt("corpus_revision"), [f"{cdir}/*"])
    files = sorted(str(p) for p in (croot / cdir).glob("docs-*.jsonl*"))
    if not files:
        raise DataError(f"{croot / cdir}: no docs-*.jsonl.gz files (a copy of {corpus_id})")
    # No string Features: datasets would only cast what pyarrow inferred (1e3 -> "1000.0").
    try:
        dd = datasets.load_dataset("json", data_files={"train": files})
    except Exception:
        dd = _reread_json("json", {"train": files})
        if dd is None:
            raise
    ds = dd["train"]
    if not _exact(ds.features) or _has_int_zero(ds) or not _json_fits(ds, files):
        dd = _reread_json("json", {"train": files}) or dd
    corpus = arrow_corpus(dd["train"], id_col="docid", where=str(croot / cdir))
    return _collection(
        spec,
        language,
        corpus,
        _judged_only(queries, qrels),
        qrels,
        src,
        locator,
        corpus_id=corpus_id,
        corpus_revision=src.opt("corpus_revision"),
    )


def read_mldr(src: Source, spec: DatasetSpec, language: str | None, locator: Locator) -> Collection:
    import pyarrow.compute as pc

    if not language:
        raise DataError(f"{spec.name}: the mldr layout needs a language")
    path, rev = locator.dataset_arg(src.id, src.revision)
    where = f"{path} [{language}]"
    qds = pick_split(load_config(path, language, rev), spec.split, where)
    missing = {"query_id", "query", "positive_passages"} - set(qds.column_names)
    if missing:
        raise DataError(f"{where}: no column(s) {sorted(missing)}")
    queries = queries_from(qds, where, id_col="query_id", text_col="query")
    # Positive doc ids straight from the Arrow list<struct<docid, text>> column, so the
    # passage texts inside it are never turned into Python strings.
    table = qds.select_columns(["query_id", "positive_passages"]).with_format("arrow")[:]
    qids = _columns(qds, ["query_id"], where, ids=("query_id",))["query_id"]
    passages = qds.features["positive_passages"]
    docid_feature = getattr(passages, "feature", {})
    docid_feature = docid_feature.get("docid") if isinstance(docid_feature, dict) else None
    qrels: Qrels = {}
    offset = 0
    for chunk in table.column("positive_passages").chunks:
        parents = pc.list_parent_indices(chunk).to_pylist()
        docids = pc.struct_field(pc.list_flatten(chunk), "docid")
        docids = _id_strings(docids, docid_feature, where, "positive_passages.docid").to_pylist()
        for parent, did in zip(parents, docids):
            qrels.setdefault(qids[offset + parent], {})[did] = 1
        offset += len(chunk)
    ccfg = f"corpus-{language}"
    cds = pick_split(load_config(path, ccfg, rev), "corpus", f"{path} [{ccfg}]")
    corpus = arrow_corpus(cds, id_col="docid", where=f"{path} [{ccfg}]")
    return _collection(
        spec, language, corpus, _judged_only(queries, qrels), qrels, src, locator, config=language
    )


def read_syntec(
    src: Source, spec: DatasetSpec, language: str | None, locator: Locator
) -> Collection:
    path, rev = locator.dataset_arg(src.id, src.revision)
    docs = pick_split(load_config(path, "documents", rev), spec.split, f"{path} [documents]")
    text_col = "content" if "content" in docs.column_names else "text"
    corpus = arrow_corpus(docs, id_col="id", text_col=text_col, where=f"{path} [documents]")
    qds = pick_split(load_config(path, "queries", rev), spec.split, f"{path} [queries]")
    cols = _columns(qds, ["Question", "Article"], f"{path} [queries]", ids=("Article",))
    # mteb: query id = row number, one relevant article per query.
    queries = {str(i): str(q) for i, q in enumerate(cols["Question"])}
    qrels: Qrels = {str(i): {a: 1} for i, a in enumerate(cols["Article"])}
    return _collection(spec, language, corpus, queries, qrels, src, locator)


READERS: dict[str, Reader] = {
    "mteb": read_mteb,
    "beir-hub": read_beir_hub,
    "miracl": read_miracl,
    "mldr": read_mldr,
    "syntec": read_syntec,
}


# --------------------------------------------------------------------------------------------
# The reader of every Hub layout (evalkit.data.load sends the specs of READERS' layouts here)


def versioned_link(path: Path, version: str) -> Path:
    """A link to ``path`` whose name includes its location and ``version``.

    ``datasets`` caches a local folder's configs under the folder's *name* and config name,
    not its location or contents: a second folder called ``scifact`` (or this one, edited)
    would be served the first one's Arrow copy. A link named ``scifact-<hash>`` gives each
    version of each copy its own cache entry."""
    target = path.resolve()
    key = hashlib.sha256(f"{target}\0{version}".encode()).hexdigest()[:16]
    root = os.environ.get("EVALKIT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "evalkit"
    )
    link = Path(root) / "local-copies" / f"{path.name}-{key}"
    try:
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():
            link.symlink_to(target, target_is_directory=True)
    except OSError as e:
        raise DataError(f"{path}: cannot link it as {link} for the datasets loader ({e})") from None
    return link


def manifest_fingerprint(paths: list[Path]) -> str:
    """SHA-256 over relative names, sizes and modification times of the files under ``paths``
    (cheap: a local copy of MIRACL is tens of GB, so contents are not hashed; a re-copied or
    edited file changes the fingerprint, so cached embeddings are never reused wrongly)."""
    h = hashlib.sha256()
    for root in sorted(paths):
        for p in sorted(root.rglob("*")):
            if p.is_file() and ".git" not in p.parts and ".cache" not in p.parts:
                st = p.stat()
                h.update(f"{p.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def _label(spec: DatasetSpec, language: str | None) -> str:
    task = f" (mteb {spec.mteb_task})" if spec.mteb_task else ""
    return f"dataset {spec.name}{'/' + language if language else ''}{task}"


def _from_data_dir(spec: DatasetSpec, language: str | None, data_dir: Path) -> Collection:
    beir = data_dir / spec.name / language if language else data_dir / spec.name
    # An old-style mteb repository copy also has corpus.jsonl and queries.jsonl at its root
    # (with a README.md) but may keep its qrels elsewhere: read it as a BEIR folder only when
    # the split's qrels file is there. Without a README it is a BEIR folder either way, and
    # load_beir_dir names the missing qrels file.
    split_qrels = beir / "qrels" / f"{spec.split}.tsv"
    if is_beir_dir(beir) and (split_qrels.is_file() or not (beir / "README.md").is_file()):
        coll = load_beir_dir(
            beir,
            spec.split,
            name=spec.name,
            language=language,
            ignore_identical_ids=spec.ignore_identical_ids,
        )
        coll.source["layout"] = "beir-dir"
        return coll
    tried = [f"{beir} (BEIR folder)"]
    problems: list[str] = []
    for src in sources(spec):
        locator = Locator(data_dir)
        try:
            return READERS[src.layout](src, spec, language, locator)
        except _Unavailable as e:
            tried.append(f"{e} (copy of {src.id}, layout {src.layout})")
        except (_NoConfig, DataError) as e:
            problems.append(f"{src.id} copy: {e}")
        except Exception as e:  # malformed local copy: report it, try the next source
            problems.append(f"{src.id} copy: {_one_line(e)}")
    if problems:
        raise DataError(
            f"{_label(spec, language)}: cannot read the local copy under "
            f"--data-dir {data_dir}: {'; '.join(problems)}"
        )
    raise DataError(
        f"{_label(spec, language)}: not found under --data-dir {data_dir}; tried "
        f"{'; '.join(tried)}. Put a BEIR-format folder at {beir} or a copy of "
        f"{sources(spec)[0].id} at {data_dir / sources(spec)[0].id.split('/')[-1]}"
    )


def _pinned(src: Source) -> Source:
    """``src`` with each repository it reads at a commit (a branch such as ``main``, or no
    revision, is resolved now): the record and the cache key then name the data that was
    read, and a moved branch is another dataset version, never the old one's results."""

    def commit(repo_id: str, revision: str | None) -> str | None:
        if Path(repo_id).is_dir():
            return revision  # a folder given as the repository: no Hub commit to resolve
        found = resolve_commit(repo_id, revision, "dataset")
        if found is None:
            raise _Unavailable(f"{repo_id}@{revision or 'main'}: no commit known for it")
        return found

    opts = dict(src.options)
    if src.layout == "beir-hub":
        qrels_id = src.opt("qrels_id") or f"{src.id}-qrels"
        opts.update(qrels_id=qrels_id, qrels_revision=commit(qrels_id, src.opt("qrels_revision")))
    if src.layout == "miracl":
        corpus_id = src.opt("corpus_id", "miracl/miracl-corpus")
        opts.update(
            corpus_id=corpus_id, corpus_revision=commit(corpus_id, src.opt("corpus_revision"))
        )
    return Source(
        layout=src.layout,
        id=src.id,
        revision=commit(src.id, src.revision),
        options=tuple(sorted(opts.items())),
    )


def _from_hub(spec: DatasetSpec, language: str | None) -> Collection:
    src = sources(spec)[0]
    with hub_mode() as offline_why:
        try:
            return READERS[src.layout](_pinned(src), spec, language, Locator(None))
        except (DataError, _NoConfig) as e:
            raise DataError(f"{_label(spec, language)}: {src.label}: {e}") from None
        except Exception as e:
            if not _is_unavailable(e):
                raise DataError(
                    f"{_label(spec, language)}: cannot read {src.label} ({_one_line(e)})"
                ) from None
            why = offline_why or _one_line(e, 160)
            raise DataError(
                f"{_label(spec, language)}: {src.label} is not in the local cache "
                f"({_cache_dirs()}) and {why}. Supply it with --data-dir DIR "
                f"(DIR/{spec.name}{'/' + language if language else ''} as a BEIR folder, or "
                f"DIR/{src.id.split('/')[-1]} as a copy of the Hub repository), or run once "
                "online to fill the cache"
            ) from None


def load_hub_dataset(spec: DatasetSpec, language: str | None, data_dir: Path | None) -> Collection:
    """The reader of every Hub layout (see the module docstring)."""
    if spec.languages and language is None:
        raise DataError(f"{_label(spec, None)}: choose a language ({', '.join(spec.languages)})")
    if data_dir is not None:
        data_dir = Path(data_dir).expanduser()
        if not data_dir.is_dir():
            raise DataError(f"--data-dir {data_dir}: not a directory")
        return _from_data_dir(spec, language, data_dir)
    return _from_hub(spec, language)
