"""Property-based tests of the readers of user files: ``corpus.jsonl``, ``queries.jsonl`` and
``qrels/<split>.tsv`` (plain and gzipped), and a Hub-layout JSON Lines copy.

For generated content (valid records, records with ids of every kind, numbers spelled every
way, text and bytes that are not JSON, blank lines, byte-order marks, gzip) the loader either
returns exactly what an independent reading of the same bytes (the oracle below, from the
documented rules) says the file holds, ids as the exact text the file spells, or raises
:class:`DataError` naming the file and the line the oracle finds first. Never another
exception, never a silently different collection.
"""

from __future__ import annotations

import codecs
import gzip
import json
import os
import subprocess
import sys
import tempfile
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalkit.data import MAX_GRADE, _is_header, load_beir_dir
from evalkit.errors import DataError

SETTINGS = settings(
    max_examples=int(os.environ.get("EVALKIT_PROPERTY_EXAMPLES", "30")),  # more for a deep run
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)

# --------------------------------------------------------------------------------------------
# The oracle: the documented rules, read with the standard library alone


class Bad(Exception):
    """The input is invalid; ``line`` is the first bad line (None: the file as a whole)."""

    def __init__(self, line: int | None) -> None:
        super().__init__(line)
        self.line = line


def _num(token: str) -> tuple[str, str]:
    return ("num", token)


def _no_constants(name: str) -> Any:
    raise ValueError(name)


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if any(keys.count(k) > 1 for k in ("_id", "title", "text")):
        raise ValueError("repeated field")
    return dict(pairs)


def id_ok(s: str) -> bool:
    """Non-empty; no whitespace, control character or lone surrogate (README promise)."""
    return s != "" and not any(c.isspace() or unicodedata.category(c) in ("Cc", "Cs") for c in s)


def _has_surrogate(s: Any) -> bool:
    return isinstance(s, str) and any(unicodedata.category(c) == "Cs" for c in s)


def _decoded_lines(data: bytes) -> Iterator[tuple[int, str]]:
    """Every line as text (UTF-8, a BOM allowed on line 1); a bad one is ``Bad``."""
    raws = data.split(b"\n")
    if raws and raws[-1] == b"":
        raws.pop()
    for i, raw in enumerate(raws, 1):
        if i == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[3:]
        try:
            yield i, raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Bad(i) from None


def _records(data: bytes, utf8_first: bool) -> Iterator[tuple[int, dict[str, Any]]]:
    """Records one by one (a bad record is reported before the lines after it are parsed).
    ``utf8_first``: the whole file's UTF-8 is checked before any JSON, as the corpus loader's
    hashing scan does; the queries reader meets a bad byte in line order."""
    lines = list(_decoded_lines(data)) if utf8_first else _decoded_lines(data)
    for i, line in lines:
        if not line.strip():
            continue
        try:
            rec = json.loads(
                line,
                parse_int=_num,
                parse_float=_num,
                parse_constant=_no_constants,
                object_pairs_hook=_pairs,
                strict=False,
            )
        except (ValueError, RecursionError):
            raise Bad(i) from None
        if not isinstance(rec, dict) or any(_has_surrogate(rec.get(k)) for k in rec):
            raise Bad(i)
        yield i, rec


def _id(rec: dict[str, Any], i: int) -> str:
    if "_id" not in rec:
        raise Bad(i)
    v = rec["_id"]
    s = v[1] if isinstance(v, tuple) else v
    if not isinstance(s, str) or not id_ok(s):
        raise Bad(i)
    return s


def _text(rec: dict[str, Any], key: str, i: int) -> str | None:
    v = rec.get(key)
    if v is not None and not isinstance(v, str):
        raise Bad(i)
    return v


def oracle_corpus(data: bytes) -> list[tuple[str, str, str]]:
    """``[(id, title, text)]`` in file order, ``""`` for a missing or null title/text."""
    if not data:
        raise Bad(None)
    docs, seen = [], set()
    for i, rec in _records(data, utf8_first=True):
        doc_id = _id(rec, i)
        docs.append((i, doc_id, _text(rec, "title", i), _text(rec, "text", i)))
    if not docs or all(d[3] is None for d in docs):
        raise Bad(None)
    for i, doc_id, _, _ in docs:
        if doc_id in seen:
            raise Bad(i)
        seen.add(doc_id)
    return [(d, t or "", x or "") for _, d, t, x in docs]


def oracle_queries(data: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for i, rec in _records(data, utf8_first=False):
        if "_id" not in rec or "text" not in rec:
            raise Bad(i)
        qid, text = _id(rec, i), _text(rec, "text", i)
        if text is None or out.get(qid, text) != text:
            raise Bad(i)
        out[qid] = text
    return out


def _grade(s: str) -> int | None:
    """An ASCII integer, optionally with a fraction of zeros (``1``, ``-2``, ``1.0``)."""
    head, _, frac = s.partition(".")
    digits = head[1:] if head[:1] in "+-" else head
    if not (digits.isascii() and digits.isdigit()) or (frac and set(frac) != {"0"}):
        return None
    if "." in s and not frac:
        return None
    g = int(head)
    return g if abs(g) < MAX_GRADE else None


def oracle_qrels(data: bytes) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    first = True
    for i, line in _decoded_lines(data):
        if not line.strip():
            continue
        row = line.rstrip("\r\n").split("\t")
        if first and _is_header(row):  # the header rule is a heuristic, not under test
            first = False
            continue
        first = False
        if len(row) != 3 or not id_ok(row[0]) or not id_ok(row[1]):
            raise Bad(i)
        g = _grade(row[2])
        if g is None:
            raise Bad(i)
        out.setdefault(row[0], {})[row[1]] = g
    return out


# --------------------------------------------------------------------------------------------
# Strategies: lines that are mostly valid, with every kind of trouble mixed in

_chars = st.characters(blacklist_categories=("Cs",))
string_ids = st.one_of(
    st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=6),
    st.text(_chars, min_size=0, max_size=5),  # whitespace, controls, empty
)
number_tokens = st.one_of(
    st.integers(-(10**22), 10**22).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["1e3", "1E3", "1000", "1000.0", "-0", "0", "2.50", "18446744073709551617"]),
)
id_tokens = st.one_of(
    number_tokens,
    string_ids.map(lambda s: json.dumps(s, ensure_ascii=False)),
    string_ids.map(json.dumps),
    st.sampled_from(["null", "true", "[1]", "{}", '"\\ud800"', "NaN"]),
)
text_values = st.one_of(
    st.text(_chars, max_size=12).map(lambda s: json.dumps(s, ensure_ascii=False)),
    st.sampled_from(["null", "5", "[]", '"a\\u0000b"', '"\\udc00"', '"x\\u2028y"']),
)
metadata = st.sampled_from(["{}", '{"a": 1}', '"m"', '[1, "a"]', "null", "1.5"])


valid_string_ids = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1, max_size=6
).filter(id_ok)
valid_tokens = st.one_of(
    valid_string_ids.map(lambda s: (s, json.dumps(s, ensure_ascii=False))),
    st.integers(-(10**22), 10**22).map(lambda n: (str(n), str(n))),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: (repr(f), repr(f))),
    st.sampled_from(["1e3", "1E3", "1000.0", "-0", "2.50"]).map(lambda t: (t, t)),
)


@st.composite
def json_lines(draw: st.DrawFn, text_key: str = "text") -> str:
    kind = draw(st.integers(0, 19))
    if kind == 0:
        return ""
    if kind == 1:
        return draw(st.text(max_size=10))  # whatever it is, probably not JSON
    if kind > 4:  # most lines are valid records, so that most files are valid ones
        _, tok = draw(valid_tokens)
        title = draw(st.one_of(st.just("null"), st.text(_chars, max_size=6).map(json.dumps)))
        body = json.dumps(draw(st.text(_chars, max_size=12)), ensure_ascii=draw(st.booleans()))
        return f'{{"_id": {tok}, "title": {title}, "{text_key}": {body}}}'
    fields = [f'"_id": {draw(id_tokens)}'] if draw(st.integers(0, 15)) else []
    if draw(st.booleans()):
        fields.append(f'"title": {draw(text_values)}')
    if draw(st.integers(0, 9)):
        fields.append(f'"{text_key}": {draw(text_values)}')
    if draw(st.integers(0, 3)) == 0:
        fields.append(f'"metadata": {draw(metadata)}')
    if draw(st.integers(0, 30)) == 0 and fields:
        fields.append(fields[0])  # a field written twice
    fields = draw(st.permutations(fields))
    line = "{" + ", ".join(fields) + "}"
    if draw(st.integers(0, 30)) == 0:
        line += " " + line  # two objects on one line
    return line


@st.composite
def jsonl_bytes(draw: st.DrawFn, text_key: str = "text") -> bytes:
    lines = draw(st.lists(json_lines(text_key), min_size=1, max_size=6))
    data = "\n".join(lines).encode("utf-8")
    if draw(st.integers(0, 9)) == 0:  # a byte that is not UTF-8, somewhere
        pos = draw(st.integers(0, len(data)))
        data = data[:pos] + b"\xff" + data[pos:]
    if draw(st.integers(0, 9)) == 0:
        data = codecs.BOM_UTF8 + data
    if draw(st.booleans()):
        data += b"\n"
    if draw(st.integers(0, 9)) == 0:
        data = data.replace(b"\n", b"\r\n")
    return data


qrels_ids = st.one_of(st.sampled_from(["q1", "d1", "1", "1e3", "1000.0"]), string_ids)
grades = st.one_of(
    st.integers(-5, 5).map(str),
    st.sampled_from(["1.0", "1.5", "2147483648", "-2147483648", "nan", "1_0", " 1", "١", "", "x"]),
)


@st.composite
def qrels_bytes(draw: st.DrawFn) -> bytes:
    rows = []
    if draw(st.booleans()):
        rows.append("query-id\tcorpus-id\tscore")
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.integers(0, 12))
        if kind == 0:
            rows.append("")
        elif kind == 1:
            rows.append(draw(st.text(max_size=10)))
        elif kind == 2:
            rows.append(f"{draw(qrels_ids)} 0 {draw(qrels_ids)} 1")  # TREC-style, spaces
        else:
            cols = [draw(qrels_ids), draw(qrels_ids), draw(grades)]
            if draw(st.integers(0, 10)) == 0:
                cols.append("0")
            rows.append("\t".join(cols))
    data = "\n".join(rows).encode("utf-8") + b"\n"
    if draw(st.integers(0, 9)) == 0:
        data = data.replace(b"\n", b"\r\n")
    return data


# --------------------------------------------------------------------------------------------
# Running the real loader on a folder

GOOD_CORPUS = b'{"_id": "d1", "title": "T", "text": "x"}\n'
GOOD_QUERIES = b'{"_id": "q1", "text": "q"}\n'
GOOD_QRELS = b"q1\td1\t1\n"


def _write(path: Path, data: bytes, gz: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def _load(files: dict[str, bytes], gz: bool) -> tuple[Path, dict[str, Path], Any]:
    """Write a folder (``files``: relative name -> bytes), load it: ``(root, paths, result)``
    where the result is the collection or the :class:`DataError` raised."""
    root = Path(tempfile.mkdtemp(prefix="prop-"))
    paths = {rel: _write(root / rel, data, gz) for rel, data in files.items()}
    try:
        return root, paths, load_beir_dir(root)
    except DataError as e:  # anything else fails the test with its traceback
        return root, paths, e


def _expect_refusal(result: Any, path: Path, bad: Bad) -> None:
    assert isinstance(result, DataError), f"accepted invalid input (oracle: line {bad.line})"
    msg = str(result)
    assert "\n" not in msg and "Traceback" not in msg
    assert msg.startswith(str(path)), msg
    if bad.line is not None:
        assert msg.startswith(f"{path}:{bad.line}:"), msg


@SETTINGS
@given(data=jsonl_bytes(), gz=st.booleans())
def test_corpus_reader_matches_the_oracle(data: bytes, gz: bool) -> None:
    _, paths, result = _load(
        {"corpus.jsonl": data, "queries.jsonl": GOOD_QUERIES, "qrels/test.tsv": GOOD_QRELS}, gz
    )
    try:
        want = oracle_corpus(data)
    except Bad as bad:
        _expect_refusal(result, paths["corpus.jsonl"], bad)
        return
    assert not isinstance(result, DataError), result
    rows = result.corpus.rows(list(range(len(result.corpus))))
    assert [(r["_id"], r["title"], r["text"]) for r in rows] == want
    assert result.corpus.id_array().to_pylist() == [d for d, _, _ in want]


@SETTINGS
@given(data=jsonl_bytes(), gz=st.booleans())
def test_queries_reader_matches_the_oracle(data: bytes, gz: bool) -> None:
    _, paths, result = _load(
        {"corpus.jsonl": GOOD_CORPUS, "queries.jsonl": data, "qrels/test.tsv": GOOD_QRELS}, gz
    )
    try:
        want = oracle_queries(data)
    except Bad as bad:
        _expect_refusal(result, paths["queries.jsonl"], bad)
        return
    assert not isinstance(result, DataError), result
    assert result.queries == want
    assert list(result.queries) == list(want)


@SETTINGS
@given(data=qrels_bytes(), gz=st.booleans())
def test_qrels_reader_matches_the_oracle(data: bytes, gz: bool) -> None:
    _, paths, result = _load(
        {"corpus.jsonl": GOOD_CORPUS, "queries.jsonl": GOOD_QUERIES, "qrels/test.tsv": data}, gz
    )
    try:
        want = oracle_qrels(data)
    except Bad as bad:
        _expect_refusal(result, paths["qrels/test.tsv"], bad)
        return
    assert not isinstance(result, DataError), result
    assert result.qrels == want


# Valid collections with ids spelled every way read back exactly, judgements matching.


@SETTINGS
@given(
    docs=st.lists(valid_tokens, min_size=1, max_size=8, unique_by=lambda t: t[0]),
    queries=st.lists(valid_tokens, min_size=1, max_size=4, unique_by=lambda t: t[0]),
    text=st.text(_chars, max_size=8),
    gz=st.booleans(),
    seed=st.randoms(use_true_random=False),
)
def test_valid_collection_reads_back_exactly(
    docs: list[tuple[str, str]],
    queries: list[tuple[str, str]],
    text: str,
    gz: bool,
    seed: Any,
) -> None:
    corpus = "".join(
        f'{{"_id": {tok}, "title": {json.dumps(text)}, "text": "t{i}"}}\n'
        for i, (_, tok) in enumerate(docs)
    )
    qs = "".join(f'{{"_id": {tok}, "text": "q{i}"}}\n' for i, (_, tok) in enumerate(queries))
    judged = {
        q: {d: seed.randint(-3, 3) for d, _ in seed.sample(docs, min(2, len(docs)))}
        for q, _ in queries
    }
    qrels = "".join(f"{q}\t{d}\t{g}\n" for q, ds in judged.items() for d, g in ds.items())
    _, _, result = _load(
        {
            "corpus.jsonl": corpus.encode(),
            "queries.jsonl": qs.encode(),
            "qrels/test.tsv": qrels.encode(),
        },
        gz,
    )
    assert not isinstance(result, DataError), result
    assert result.corpus.ids == [d for d, _ in docs]
    assert list(result.queries) == [q for q, _ in queries]
    assert result.qrels == judged
    # Every judged id is found: nothing was retyped on the way in.
    assert not [w for w in result.warnings if "not in" in w]


def test_id_character_rule_is_the_same_in_python_and_arrow() -> None:
    # The corpus check runs in Arrow (RE2), the per-line one in Python: one rule, all of Unicode.
    import pyarrow as pa

    from evalkit.data import bad_id_mask, check_id

    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    python_bad = [not id_ok(c) for c in chars]
    arrow_bad = bad_id_mask(pa.array(chars)).to_pylist()
    assert arrow_bad == python_bad
    assert bad_id_mask(pa.array([""])).to_pylist() == [True]
    for c in chars[:0x3001]:  # check_id itself agrees on the whole range that has any
        try:
            check_id(c, "x")
            ok = True
        except DataError:
            ok = False
        assert ok == id_ok(c), hex(ord(c))


# --------------------------------------------------------------------------------------------
# The command: invalid folders exit 2 with one error line, no traceback, no record


CLI_CASES = [
    ("corpus.jsonl", b'{"_id": "d1", "text": "x"}\n{"_id": null, "text": "y"}\n'),
    ("corpus.jsonl", b'{"_id": 1, "text": "x"}\n{"_id": "d\\t2", "text": "y"}\n'),
    ("queries.jsonl", b'{"_id": "q1", "text": "q"}\n{"_id": "q 1", "text": "q"}\n'),
    ("qrels/test.tsv", b"q1\td1\t1\nq1\t\t1\n"),
]


def _folder(root: Path, rel: str, data: bytes) -> Path:
    files = {
        "corpus.jsonl": GOOD_CORPUS,
        "queries.jsonl": GOOD_QUERIES,
        "qrels/test.tsv": GOOD_QRELS,
    }
    files[rel] = data
    for name, content in files.items():
        _write(root / name, content, False)
    return root


@pytest.mark.parametrize("rel,data", CLI_CASES)
def test_cli_refuses_invalid_folder_with_one_line(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], rel: str, data: bytes
) -> None:
    from evalkit.cli import main

    root = _folder(tmp_path / "c", rel, data)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as e:
        main(
            [
                "run",
                "--model",
                "bm25",
                "--suite",
                str(root),
                "--output-dir",
                str(out),
                "--no-progress",
            ]
        )
    err = capfd.readouterr().err
    lines = [x for x in err.splitlines() if x.strip()]
    assert e.value.code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert f"{root / rel}:2:" in lines[0], lines[0]
    assert not (out.exists() and list(out.rglob("*.json")))


def test_cli_process_refuses_invalid_folder_without_traceback(tmp_path: Path) -> None:
    # A real process once: datasets' logger writes to the stderr of the process importing it.
    rel, data = CLI_CASES[0]
    root = _folder(tmp_path / "c", rel, data)
    out = tmp_path / "out"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    p = subprocess.run(
        [sys.executable, "-m", "evalkit", "run", "--model", "bm25", "--suite", str(root),
         "--output-dir", str(out), "--no-progress"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    lines = [x for x in p.stderr.splitlines() if x.strip()]
    assert p.returncode == 2, p.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), p.stderr
    assert f"{root / rel}:2:" in lines[0], lines[0]
    assert "Traceback" not in p.stderr + p.stdout
    assert not (out.exists() and list(out.rglob("*.json")))
