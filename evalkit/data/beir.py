"""BEIR-format folders: ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv`` (each
plain or gzipped), read into a :class:`~evalkit.data.collection.Collection`.

The readers here (JSON Lines with ids kept as the text the file spells, TSV qrels, UTF-8 and
gzip checks that name ``file:line``) are also what the Hub layouts (:mod:`evalkit.data.hub`)
use for the raw files they read.
"""

from __future__ import annotations

import codecs
import contextlib
import gzip
import hashlib
import json
import os
import re
import warnings as pywarnings
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

import numpy as np

from evalkit.arrow_file import ArrowFileDataset, string_array
from evalkit.data.collection import Collection, Corpus, Qrels
from evalkit.dataset_spec import beir_file
from evalkit.errors import DataError
from evalkit.paths import check_split


def fingerprint(paths: list[Path]) -> str:
    """SHA-256 over the bytes of ``paths`` (sorted), first 16 hex digits."""
    h = hashlib.sha256()
    for p in sorted(paths):
        _hash_file(h, p)
    return h.hexdigest()[:16]


def _hash_file(h: Any, path: Path) -> None:
    h.update(path.name.encode())
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)


# --------------------------------------------------------------------------------------------
# Reading files: plain or gzipped, UTF-8 with or without a BOM, errors with file and line


def _warn(sink: list[str] | None, message: str) -> None:
    """Record a data warning: in ``sink`` (a collection's list) or, for direct callers of the
    readers, as a Python warning, so it is never dropped."""
    if sink is None:
        pywarnings.warn(message, stacklevel=3)
    else:
        sink.append(message)


def _examples(items: list[str], n: int = 3) -> str:
    return ", ".join(items[:n]) + (", ..." if len(items) > n else "")


def _label(path: Path) -> str:
    """How warnings name a file: ``corpus.jsonl``, ``qrels/test.tsv``."""
    return f"qrels/{path.name}" if path.parent.name == "qrels" else path.name


@contextlib.contextmanager
def _open_binary(path: Path) -> Iterator[IO[bytes]]:
    """The file's bytes, decompressed when it ends in ``.gz``."""
    with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as f:
        yield f  # type: ignore[misc]


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, text)``: UTF-8 with an optional BOM; a bad byte or a broken gzip stream
    raises :class:`DataError` naming ``file:line``."""
    lineno = 0
    try:
        with _open_binary(path) as f:
            for lineno, raw in enumerate(f, 1):
                if lineno == 1 and raw.startswith(codecs.BOM_UTF8):
                    raw = raw[len(codecs.BOM_UTF8) :]
                try:
                    yield lineno, raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise DataError(
                        f"{path}:{lineno}: not valid UTF-8 (byte 0x{raw[e.start]:02x} at "
                        f"column {e.start + 1})"
                    ) from None
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        if path.suffix != ".gz":
            raise
        raise DataError(f"{path}:{lineno + 1}: not a readable gzip stream ({e})") from None


def _scan(path: Path, h: Any) -> int:
    """One streaming pass over a (possibly large) file: feeds its bytes to ``h``, checks
    that the content is UTF-8 (and, for ``.gz``, a complete gzip stream) and returns the
    number of lines (the last one counted whether or not it ends in a newline; blank lines at
    the very end not counted).

    ``datasets`` neither hashes contents (its cache keys a local file on path and mtime) nor
    checks UTF-8 (bad bytes become U+FFFD), so this pass is what makes the scored text the
    fingerprinted text. It reads the file once more on every load, cached or not: measured
    0.2-0.25 GB/s on two busy cores (SHA-256 in one thread, Arrow's UTF-8 check in the other),
    so about a minute for a 13 GB corpus, small next to encoding it. Lines are counted only
    when there is a bad one to name."""

    def raw() -> Iterator[bytes]:
        # Hashing runs in a second thread (hashlib releases the GIL) while the previous chunk
        # is checked: one chunk in flight keeps the order and the memory bounded.
        with open(path, "rb") as f, ThreadPoolExecutor(1) as pool:
            hashing = None
            for chunk in iter(lambda: f.read(1 << 20), b""):
                if hashing is not None:
                    hashing.result()
                hashing = pool.submit(h.update, chunk)
                yield chunk
            if hashing is not None:
                hashing.result()

    pieces = _gunzip(raw(), path) if path.suffix == ".gz" else raw()
    newlines, tail = 0, b""

    def counted(chunks: Iterator[bytes]) -> Iterator[bytes]:
        nonlocal newlines, tail
        for chunk in chunks:
            if chunk:
                newlines += chunk.count(b"\n")  # memchr speed, next to SHA-256
                tail = (tail + chunk)[-256:]
                yield chunk

    for block in _newline_blocks(counted(pieces)):
        if not _is_utf8(block):
            for _ in _lines(path):  # the slow line-by-line pass, only to name the line
                pass
            raise DataError(f"{path}: not valid UTF-8")
    # Blank lines at the end (an editor's or `echo >>`'s) hold no record: not counted, so the
    # fast read of a corpus ending in one is still recognised as one row per line.
    kept = tail.rstrip(b" \t\r\n")
    if not kept:
        return 0 if newlines == tail.count(b"\n") else newlines  # all blank, or too long to tell
    blank = tail[len(kept) :]
    trailing_blank = blank.count(b"\n") - blank.endswith(b"\n") if blank else 0
    return newlines + (not tail.endswith(b"\n")) - max(trailing_blank, 0)


def _gunzip(chunks: Iterator[bytes], path: Path) -> Iterator[bytes]:
    """Inflate gzip ``chunks`` (all members of a multi-member file); a corrupt or truncated
    stream raises :class:`DataError`."""
    inflate, started = zlib.decompressobj(wbits=31), False
    try:
        for chunk in chunks:
            while chunk:
                started = True
                # Bounded output: a small compressed chunk may inflate to gigabytes.
                yield inflate.decompress(chunk, 1 << 22)
                if inflate.eof:  # the next member, if any
                    chunk = inflate.unused_data
                    inflate, started = zlib.decompressobj(wbits=31), False
                else:
                    chunk = inflate.unconsumed_tail
    except zlib.error as e:
        raise DataError(f"{path}: not a readable gzip stream ({e})") from None
    if started:
        raise DataError(f"{path}: truncated gzip stream")


def _newline_blocks(pieces: Iterator[bytes]) -> Iterator[bytes | memoryview]:
    """The same bytes re-cut after line ends, so no UTF-8 character spans two blocks. Whole
    lines inside a piece are passed as views, not copied."""
    held: list[bytes] = []
    for piece in pieces:
        first = piece.find(b"\n") + 1
        if not first:
            held.append(piece)
            continue
        last = piece.rfind(b"\n") + 1
        yield b"".join([*held, piece[:first]])
        if last > first:
            yield memoryview(piece)[first:last]
        held = [piece[last:]]
    if held:
        yield b"".join(held)


def _is_utf8(block: bytes | memoryview) -> bool:
    """Whether ``block`` is valid UTF-8, by Arrow's vectorised check (4x faster than decoding
    it into a Python string)."""
    import pyarrow as pa

    offsets = pa.py_buffer(np.array([0, len(block)], dtype=np.int64))
    text = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(block)])
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


# --------------------------------------------------------------------------------------------
# Ids: exactly the text the file spells, and only what run files can carry


class JsonNumber(str):
    """A JSON number kept as the text of its token (``1000``, ``1e3``, ``18446744073709551617``):
    an id written as a number is that text, never a float's rendering of it (``1000.0``)."""


_READ_FIELDS = ("_id", "title", "text")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object; a field evalkit reads that is written twice is refused (which one
    counts would be the parser's choice)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen and key in _READ_FIELDS:
                raise ValueError(f"field {key!r} appears twice")
            seen.add(key)
    return obj


_DECODER = json.JSONDecoder(
    parse_int=JsonNumber,
    parse_float=JsonNumber,
    parse_constant=_refuse_constant,  # NaN, Infinity: not JSON
    object_pairs_hook=_object,
    strict=False,  # raw tabs inside strings are common in corpora; ids are checked below
)


def decode_json(line: str) -> Any:
    """One JSON value, numbers as :class:`JsonNumber`; raises ``ValueError``."""
    return _DECODER.decode(line)


# Characters an id may not contain: str.isspace() or a control character (category Cc). TREC
# run and qrels lines are split on whitespace, so such an id would shift every column after
# it; lone surrogates cannot be written as UTF-8 at all. The same set as an RE2 class for
# Arrow (tests/test_readers_property.py checks the two agree over all of Unicode).
_BAD_ID_CHAR = re.compile(r"[\s\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_BAD_ID_RE2 = (
    r"^$|[\x00-\x20\x7f-\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}"
    r"\x{205f}\x{3000}]"
)


def check_id(value: str, where: str, what: str = "id") -> str:
    """``value`` when it can be an id; else :class:`DataError` naming ``where``.

    An id must be non-empty and free of whitespace and control characters: a TREC run line
    (``--save-run``) or trec_eval could not carry it."""
    if value == "":
        raise DataError(f"{where}: empty {what}")
    bad = _BAD_ID_CHAR.search(value)
    if bad:
        raise DataError(
            f"{where}: {what} {value!r} contains U+{ord(bad.group()):04X} (whitespace or a "
            "control character), which run files cannot carry"
        )
    return value


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return "an array" if isinstance(value, list) else "an object"


def json_id(rec: dict[str, Any], where: str, what: str = "id") -> str:
    """``rec["_id"]`` as the text the file spells: a string as written, a number as its token
    text. Missing, null, boolean, array and object ids raise :class:`DataError`."""
    if "_id" not in rec:
        raise DataError(f"{where}: missing field '_id'")
    value = rec["_id"]
    if not isinstance(value, str):
        raise DataError(f"{where}: '_id' is {_json_kind(value)}; an id is a string or a number")
    return check_id(str(value), where, what)


def json_text(rec: dict[str, Any], name: str, where: str) -> str | None:
    """A text field: a JSON string, or ``None`` when missing or null. A number, boolean,
    array or object is refused (mteb and beir would fail joining it, or join its repr)."""
    value = rec.get(name)
    if value is None or type(value) is str:
        return value
    kind = "a number" if isinstance(value, str) else _json_kind(value)
    raise DataError(f"{where}: '{name}' is {kind}; expected a string or null")


def bad_id_mask(ids: Any) -> Any:
    """Arrow boolean mask of ids that :func:`check_id` refuses (nulls count as bad)."""
    import pyarrow.compute as pc

    return pc.fill_null(pc.match_substring_regex(ids, _BAD_ID_RE2), True)


def iter_jsonl(path: Path, *, exact: bool = False) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, record)`` of a JSON Lines file (plain or ``.gz``), blank lines skipped;
    the first line that is not UTF-8 or not a JSON object raises :class:`DataError` naming
    ``file:line``. ``exact`` (the BEIR readers): numbers are kept as their token text
    (:class:`JsonNumber`), NaN/Infinity and a repeated ``_id``/``title``/``text`` field are
    refused, and so are unpaired surrogate escapes in those fields; otherwise ``json.loads``."""
    for lineno, line in _lines(path):
        if not line.strip():
            continue
        try:
            rec = decode_json(line) if exact else json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None
        except (ValueError, RecursionError) as e:
            raise DataError(f"{path}:{lineno}: not valid JSON ({e})") from None
        if not isinstance(rec, dict):
            raise DataError(f"{path}:{lineno}: expected a JSON object")
        if exact:
            _refuse_lone_surrogates(rec, f"{path}:{lineno}")
        yield lineno, rec


def _refuse_lone_surrogates(rec: dict[str, Any], where: str) -> None:
    """A ``\\ud800`` escape without its pair decodes to a string no UTF-8 file can hold."""
    for name in _READ_FIELDS:
        value = rec.get(name)
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise DataError(f"{where}: '{name}' holds an unpaired surrogate escape") from None


def read_queries(path: Path, warnings: list[str] | None = None) -> dict[str, str]:
    """BEIR ``queries.jsonl``: ``{"_id", "text"}`` per line.

    A query id that repeats with a different text is refused (which text to score would be
    arbitrary); a repeat with the same text is scored once and counted in ``warnings``."""
    if not path.is_file():
        raise DataError(f"{path}: not found")
    queries: dict[str, str] = {}
    first: dict[str, int] = {}
    repeated: list[str] = []
    for lineno, rec in iter_jsonl(path, exact=True):
        where = f"{path}:{lineno}"
        if "_id" not in rec or "text" not in rec:
            raise DataError(f"{where}: expected fields '_id' and 'text'")
        qid = json_id(rec, where, "query id")
        text = json_text(rec, "text", where)
        if text is None:
            raise DataError(f"{where}: 'text' is null; a query needs a text")
        if qid in queries:
            if queries[qid] != text:
                raise DataError(
                    f"{path}:{lineno}: query id {qid!r} repeats line {first[qid]} with a "
                    "different text"
                )
            repeated.append(qid)
            continue
        queries[qid] = text
        first[qid] = lineno
    if repeated:
        _warn(
            warnings,
            f"{_label(path)}: {len(repeated)} lines repeat an earlier query with the same id "
            f"and text; each query is scored once (e.g. {_examples(repeated)})",
        )
    return queries


MAX_GRADE = 2**31
"""Grades must satisfy ``|grade| < 2**31``: pytrec_eval keeps them in a C int, and one grade
of 2**32 silently zeroed every score."""

_HEADER_WORDS = {"score", "relevance", "rel", "grade", "label", "judgement", "judgment"}


_GRADE = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?", re.ASCII)


def parse_grade(value: Any, where: str) -> int:
    """A relevance grade as an int: integral (``"1"``, ``"1.0"``, ``2``) and within
    ``|grade| < 2**31``; anything else raises :class:`DataError` naming ``where``. Text must
    be ASCII digits (Python's ``float`` would also take ``"1_0"`` as 10 and ``"١"`` as 1)."""
    if isinstance(value, str) and not _GRADE.fullmatch(value):
        raise DataError(f"{where}: relevance grade {value!r} is not an integer")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise DataError(f"{where}: relevance grade {value!r} is not an integer") from None
    if not number.is_integer():
        raise DataError(f"{where}: relevance grade {value!r} is not an integer")
    if abs(number) >= MAX_GRADE:
        raise DataError(
            f"{where}: relevance grade {value!r} is out of range (|grade| must be below 2^31, "
            "the limit of pytrec_eval's integer grades)"
        )
    return int(number)


def _is_header(row: list[str]) -> bool:
    """A first qrels line that names its columns (``query-id corpus-id score``), as opposed to
    a first judgement with a bad grade, which must be refused rather than dropped."""
    last = row[-1].strip().lower()
    first = row[0].strip().lower().replace("_", "-")
    return not _is_number(last) and (last in _HEADER_WORDS or first in {"query-id", "qid"})


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def read_qrels(path: Path, warnings: list[str] | None = None) -> Qrels:
    """BEIR ``qrels/<split>.tsv``: ``query-id corpus-id score``, tab-separated, with an
    optional header line. A (query, document) pair judged twice keeps the last grade, as
    beir's loader does, and is counted in ``warnings``."""
    if not path.is_file():
        raise DataError(f"{path}: not found")
    qrels: Qrels = {}
    repeated: list[str] = []
    first = True
    for lineno, line in _lines(path):
        if not line.strip():
            continue
        row = line.rstrip("\r\n").split("\t")
        if first and _is_header(row):
            first = False
            continue
        first = False
        if len(row) != 3:
            # A 4-column TREC qrels line (qid 0 docid grade) would silently use "0" as
            # the document id.
            raise DataError(
                f"{path}:{lineno}: expected 3 tab-separated columns (query-id, corpus-id, "
                f"score), got {len(row)}"
            )
        qid, did, grade = row
        # An id is the column's text; one a run file cannot carry is refused here, not
        # written into --save-run lines that trec_eval would split differently.
        check_id(qid, f"{path}:{lineno}", "query id")
        check_id(did, f"{path}:{lineno}", "document id")
        judged = qrels.setdefault(qid, {})
        if did in judged:
            repeated.append(f"{qid}/{did}")
        judged[did] = parse_grade(grade, f"{path}:{lineno}")
    if repeated:
        _warn(
            warnings,
            f"{_label(path)}: {len(repeated)} judgements repeat an earlier (query, document) "
            f"pair; the last grade is used (e.g. {_examples(repeated)})",
        )
    return qrels


def collection_warnings(
    corpus: Corpus,
    queries: dict[str, str],
    qrels: Qrels,
    *,
    qrels_name: str = "qrels",
    queries_name: str = "queries",
    corpus_name: str = "corpus",
) -> list[str]:
    """Judgements that cannot count as written: negative grades (non-relevant, as trec_eval
    treats them), query ids missing from the queries, document ids missing from the corpus.
    Counted rather than refused: published collections have them (a real Arabic one has 652
    judged query ids without a query) and the peers score them the same way."""
    import pyarrow.compute as pc

    out: list[str] = []
    negative = [f"{q}/{d}" for q, docs in qrels.items() for d, g in docs.items() if g < 0]
    if negative:
        out.append(
            f"{qrels_name}: {len(negative)} judgements have a negative grade, scored as "
            f"non-relevant (e.g. {_examples(negative)})"
        )
    no_query = [q for q in qrels if q not in queries]
    if no_query:
        out.append(
            f"{qrels_name}: {len(no_query)} judged query ids are not in {queries_name} "
            f"(e.g. {_examples(no_query)})"
        )
    judged = string_array(list(dict.fromkeys(d for docs in qrels.values() for d in docs)))
    if len(judged):
        # The corpus ids are probed against a hash set of the (few) judged ids, in Arrow over
        # the memory-mapped column: no set of millions of corpus ids, in Python or Arrow.
        ids = corpus.dataset.with_format("arrow").select_columns(["_id"])[:]["_id"]
        judged = judged.cast(ids.type)
        present = pc.unique(ids.filter(pc.is_in(ids, value_set=judged)))
        absent = judged.filter(pc.invert(pc.is_in(judged, value_set=present)))
        if len(absent):
            out.append(
                f"{qrels_name}: {len(absent)} judged document ids are not in {corpus_name} "
                f"(e.g. {_examples(absent.to_pylist())})"
            )
    return out


def load_corpus_jsonl(
    path: Path, *, hasher: Any = None, warnings: list[str] | None = None
) -> Corpus:
    """BEIR ``corpus.jsonl`` (or ``corpus.jsonl.gz``) read into memory-mapped Arrow.

    The file is hashed first (``hasher``, a ``hashlib`` object, receives the file name and
    bytes, so a caller can continue it into a collection fingerprint) and the Arrow copy is
    named after that hash: an edit that keeps size and mtime still gives a new Arrow table.

    An id is the text the file spells: ``"_id": 1000`` is ``"1000"``, ``1e3`` is ``"1e3"``.
    Arrow's JSON reader with a fixed schema reads the usual corpus (:func:`_read_corpus_arrow`);
    anything it cannot read as written (float ids, mixed ids, a bad line) goes to
    :func:`_read_corpus_exact`, which keeps number tokens as text and names the first bad line.
    Duplicate ids and ids a run file cannot carry (:func:`check_id`) are refused; documents
    without ``text`` (missing or null) are counted in ``warnings`` and indexed by title."""
    import pyarrow.compute as pc

    if not path.is_file():
        raise DataError(f"{path}: not found")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the corpus is empty")
    h = hasher if hasher is not None else hashlib.sha256()
    stat = _stat(path)
    h.update(path.name.encode())
    lines = _scan(path, h)
    key = h.copy().hexdigest()[:16]
    ds = _read_corpus_arrow(path, key, lines)
    if _stat(path) != stat:
        raise DataError(f"{path}: changed while it was being read; run again")
    if ds is None:
        ds = _read_corpus_exact(path, key)
    checked = _checked_marker(ds)
    known_good = checked is not None and checked.is_file()
    if len(ds) == 0:
        raise DataError(f"{path}: the corpus is empty")
    table = ds.with_format("arrow")[:]
    if table.column("text").null_count == len(table):
        raise DataError(f"{path}: corpus records have no 'text' field")
    if table.column("text").null_count:
        no_text = table.filter(pc.is_null(table.column("text"))).column("_id")[:3].to_pylist()
        _warn(
            warnings,
            f"{_label(path)}: {table.column('text').null_count} documents have no 'text' "
            f"(missing or null) and are indexed by title alone "
            f"(e.g. {_examples([str(i) for i in no_text])})",
        )
    if not known_good:
        _refuse_duplicate_ids(ds, path)
        if checked is not None:
            with contextlib.suppress(OSError):  # a read-only cache only costs the re-check
                checked.write_text("document ids checked (unique, carriable) by evalkit\n")
    return Corpus(ds)


def _checked_marker(ds: Any) -> Path | None:
    """The file that records that the ids of ``ds``'s (content-named) cache file passed."""
    return Path(ds.cache_files[0]["filename"] + ".evalkit-ids-v2") if ds.cache_files else None


def _corpus_file(key: str, kind: str) -> Path:
    """Where the Arrow copy of the corpus with content hash ``key`` is kept."""
    from evalkit.arrow_file import datasets_cache_dir

    return datasets_cache_dir() / "evalkit-corpora" / f"{key}-{kind}.arrow"


def _read_corpus_arrow(path: Path, key: str, lines: int) -> Any | None:
    """The corpus through Arrow's (multi-threaded) JSON reader with a fixed schema, written
    once to an Arrow file named after the content hash and memory-mapped; ``None`` when the
    file is not provably read as written, and the exact reader must read it.

    The schema is what makes it exact: Arrow refuses a value that does not fit it instead of
    converting it (``datasets`` infers types from the first 10 MB and casts every later chunk
    to them, so a float id there would silently become ``"1000"``). ``_id`` is tried as
    strings, then as int64 (decimal-exact; a float token, an integer past 2^63 or a string
    fails; ``0`` is refused as it may have been spelled ``-0``); ``title`` and ``text`` as
    strings or null. Also required: one row per line (no line skipped, split or merged) and
    every id one :func:`check_id` takes."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.json as paj

    out = _corpus_file(key, "arrow-v1")
    if out.is_file():
        return ArrowFileDataset(out)
    schema = pa.schema([(c, pa.string()) for c in _READ_FIELDS])
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"{out.parent}: cannot write the corpus' Arrow copy ({e})") from None
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
    for id_type in (pa.string(), pa.int64()):
        parse = paj.ParseOptions(
            explicit_schema=pa.schema([("_id", id_type), *list(schema)[1:]]),
            unexpected_field_behavior="ignore",  # extra fields (metadata) of any kind
        )
        rows = 0
        try:
            source = (
                pa.CompressedInputStream(pa.OSFile(str(path)), "gzip")
                if path.suffix == ".gz"
                else pa.OSFile(str(path))
            )
            with (
                source,
                pa.OSFile(str(tmp), "wb") as sink,
                pa.ipc.new_stream(sink, schema) as writer,
            ):
                reader = paj.open_json(
                    source, read_options=paj.ReadOptions(block_size=16 << 20), parse_options=parse
                )
                for batch in reader:
                    ids = batch.column(0)
                    if ids.null_count:
                        raise ValueError("an id is missing or null")
                    if id_type == pa.int64():
                        if pc.any(pc.equal(ids, 0)).as_py():
                            raise ValueError("0 may have been written -0")
                        ids = ids.cast(pa.string())
                    elif pc.any(bad_id_mask(ids)).as_py():
                        raise ValueError("an id a run file cannot carry")
                    rows += len(batch)
                    writer.write_batch(
                        pa.record_batch([ids, batch.column(1), batch.column(2)], schema=schema)
                    )
            if rows != lines:
                raise ValueError("rows and lines differ")
            os.replace(tmp, out)
            return ArrowFileDataset(out)
        except (pa.ArrowException, ValueError, OSError, EOFError):
            continue  # the exact reader reads it, naming the first bad line if any
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
    return None


def _read_corpus_exact(path: Path, key: str) -> Any:
    """The corpus read line by line with numbers kept as their token text, written once to
    an Arrow file in ``datasets``' cache (named after the content hash ``key``) and
    memory-mapped. The first record that cannot be read as written raises
    :class:`DataError` naming ``file:line``."""
    import pyarrow as pa

    out = _corpus_file(key, "exact-v1")
    if out.is_file():
        return ArrowFileDataset(out)
    schema = pa.schema([(c, pa.string()) for c in _READ_FIELDS])
    cols: dict[str, list[str | None]] = {c: [] for c in _READ_FIELDS}
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
    except OSError as e:
        raise DataError(f"{out.parent}: cannot write the corpus' Arrow copy ({e})") from None
    try:
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
            for lineno, rec in iter_jsonl(path, exact=True):
                where = f"{path}:{lineno}"
                cols["_id"].append(json_id(rec, where, "document id"))
                cols["title"].append(json_text(rec, "title", where))
                cols["text"].append(json_text(rec, "text", where))
                if len(cols["_id"]) == 10_000:
                    writer.write_batch(pa.record_batch(cols, schema=schema))
                    cols = {c: [] for c in _READ_FIELDS}
            if cols["_id"]:
                writer.write_batch(pa.record_batch(cols, schema=schema))
        os.replace(tmp, out)
    except OSError as e:
        raise DataError(f"{out.parent}: cannot write the corpus' Arrow copy ({e})") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return ArrowFileDataset(out)


def _stat(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def _refuse_duplicate_ids(ds: Any, path: Path) -> None:
    """Duplicate document ids would be indexed (and retrieved) twice. Counted in Arrow; the
    lines are looked up only when there is one to name."""
    import pyarrow.compute as pc

    ids = ds.with_format("arrow").select_columns(["_id"])[:]["_id"]
    if pc.count_distinct(ids).as_py() == len(ids):
        return
    counts = pc.value_counts(ids)
    dups = counts.filter(pc.greater(counts.field("counts"), 1))
    repeated = set(dups.field("values").to_pylist())
    more = f"; {len(dups)} ids occur more than once" if len(dups) > 1 else ""
    first: dict[str, int] = {}
    for n, rec in iter_jsonl(path, exact=True):  # the earliest line that repeats an id
        doc_id = rec.get("_id")
        if isinstance(doc_id, str) and doc_id in repeated:
            if doc_id in first:
                raise DataError(
                    f"{path}:{n}: duplicate document id {str(doc_id)!r} (first at line "
                    f"{first[doc_id]}){more}"
                )
            first[doc_id] = n
    raise DataError(f"{path}: duplicate document id {sorted(repeated)[0]!r}{more}")


def load_beir_dir(
    path: str | Path,
    split: str = "test",
    *,
    name: str | None = None,
    ignore_identical_ids: bool = False,
    language: str | None = None,
) -> Collection:
    """Load a BEIR-format folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``;
    each may instead be gzipped). Problems scored through are listed in
    :attr:`Collection.warnings`."""
    path = Path(path)
    check_split(split, "split")  # qrels/<split>.tsv: a path in it reads another folder's
    if not path.is_dir():
        raise DataError(f"{path}: not a directory")
    found: dict[str, Path] = {}
    for rel in ("corpus.jsonl", "queries.jsonl"):
        p = beir_file(path, rel)
        if p is None:
            raise DataError(
                f"{path / rel}: not found (a BEIR-format folder has corpus.jsonl, "
                f"queries.jsonl and qrels/{split}.tsv)"
            )
        found[rel] = p
    qrels_path = beir_file(path / "qrels", f"{split}.tsv")
    if qrels_path is None:
        have = sorted(p.name.split(".")[0] for p in (path / "qrels").glob("*.tsv*") if p.is_file())
        raise DataError(
            f"{path / 'qrels' / f'{split}.tsv'}: no qrels for split '{split}' "
            f"(found: {have or 'none'})"
        )
    warnings: list[str] = []
    for rel in ("corpus.jsonl", "queries.jsonl"):
        if found[rel].suffix != ".gz" and (path / f"{rel}.gz").is_file():
            warnings.append(f"{rel}: {rel}.gz is also present and was not read")
    h = hashlib.sha256()
    # The corpus is hashed in the same pass that guards datasets' cache, then the small files
    # continue the hash: one read of the corpus gives both (same value as fingerprint()).
    corpus = load_corpus_jsonl(found["corpus.jsonl"], hasher=h, warnings=warnings)
    queries = read_queries(found["queries.jsonl"], warnings)
    qrels = read_qrels(qrels_path, warnings)
    for p in sorted([qrels_path, found["queries.jsonl"]]):
        _hash_file(h, p)
    warnings += collection_warnings(
        corpus,
        queries,
        qrels,
        qrels_name=_label(qrels_path),
        queries_name=found["queries.jsonl"].name,
        corpus_name=found["corpus.jsonl"].name,
    )
    return Collection(
        name=name or path.name,
        corpus=corpus,
        queries=queries,
        qrels=qrels,
        split=split,
        language=language,
        ignore_identical_ids=ignore_identical_ids,
        source={"path": str(path.resolve()), "fingerprint": h.hexdigest()[:16]},
        warnings=warnings,
    )
