"""Property-based tests of every reader of records: ``load_results`` and the commands that read
records (report, compare, export). Arbitrary bytes and arbitrary JSON never give a traceback
or a Python class name: one line naming the file, exit 2. Nothing is ever built from them
with exit 0 unless they are a valid record. A valid record round-trips through write/read."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import evalkit
from evalkit.cli import main
from evalkit.errors import EvalkitError
from evalkit.results import ResultRecord, load_results

CLASS_NAME = re.compile(r"\b[A-Z]\w*(Error|Exception)\b|Traceback")
FAST = settings(
    # more for a longer hunt: EVALKIT_HYPOTHESIS_EXAMPLES=500
    max_examples=int(os.environ.get("EVALKIT_HYPOTHESIS_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def digest(content: dict[str, Any]) -> str:
    body = {k: v for k, v in content.items() if k != "digest"}
    blob = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(blob.encode("ascii")).hexdigest()


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as e:
            code = int(e.code or 0)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def valid(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A real record (BM25 on the demo) as a directory and as its JSON."""
    out = tmp_path_factory.mktemp("prop") / "baseline"
    evalkit.evaluate("bm25", "demo", output_dir=out)
    [path] = out.rglob("*.json")
    return out, json.loads(path.read_text(encoding="utf-8"))


FEW = ("--resamples", "200")  # the test's p-value is not what is checked here


def readers(target: Path, baseline: Path, out: Path) -> dict[str, tuple[int, str, str]]:
    """Every command that reads records, on ``target`` (compare on both sides)."""
    return {
        "report": run_cli("report", str(target), "--no-reference"),
        "compare-current": run_cli("compare", str(baseline), str(target), *FEW),
        "compare-baseline": run_cli("compare", str(target), str(baseline), *FEW),
        "export": run_cli("export", "mteb", str(target), "--out", str(out / "mteb")),
    }


def assert_refused_all(results: dict[str, tuple[int, str, str]], name: Path) -> None:
    for cmd, (code, stdout, err) in results.items():
        lines = [x for x in err.splitlines() if x.strip()]
        assert code == 2, (cmd, stdout, err)
        assert len(lines) == 1 and lines[0].startswith("error: "), (cmd, err)
        assert str(name) in err, (cmd, err)
        assert not CLASS_NAME.search(err), (cmd, err)
        assert "no regression" not in stdout, (cmd, stdout)


def assert_no_crash(results: dict[str, tuple[int, str, str]]) -> None:
    for cmd, (code, _, err) in results.items():
        assert code in (0, 1, 2), (cmd, code, err)
        assert not CLASS_NAME.search(err), (cmd, err)


json_leaf = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = [*ResultRecord.__dataclass_fields__, "digest"]
# objects with the fields readers index (so they are taken for records), of any JSON value
record_like = st.fixed_dictionaries(
    {"model": json_value, "dataset": json_value, "scores": json_value},
    optional={k: json_value for k in FIELDS if k not in ("model", "dataset", "scores")},
)


@FAST
@given(raw=st.binary(max_size=600) | st.sampled_from([b"", b"\xff\xfe{", b"[" * 3000, b"1" * 5000]))
def test_arbitrary_bytes_are_one_line_exit_2(valid, raw: bytes) -> None:
    baseline, _ = valid
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        f = root / "runs" / "x.json"
        f.parent.mkdir()
        f.write_bytes(raw)
        try:
            got = load_results(f.parent)
        except EvalkitError as e:
            assert str(f) in str(e) and "\n" not in str(e)
        else:
            assert got == []  # JSON that is no record at all: passed over in a directory
        assert_refused_all(readers(f.parent, baseline, root), f.parent)
        # named directly, the file itself must be a record
        with pytest.raises(EvalkitError, match=re.escape(str(f))):
            load_results(f)


@FAST
@given(data=json_value | record_like)
def test_arbitrary_json_is_one_line_exit_2(valid, data: Any) -> None:
    baseline, _ = valid
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        f = root / "runs" / "x.json"
        f.parent.mkdir()
        f.write_text(json.dumps(data), encoding="utf-8")
        assert_refused_all(readers(f.parent, baseline, root), f.parent)
        assert_refused_all(readers(f, baseline, root), f)


def _paths(d: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path into a JSON value (lists by index)."""
    out = [prefix] if prefix else []
    if isinstance(d, dict):
        for k, v in d.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(d, list):
        for i, v in enumerate(d):
            out += _paths(v, (*prefix, i))
    return out


def _mutate(d: dict[str, Any], path: tuple, value: Any, delete: bool) -> dict[str, Any]:
    d = copy.deepcopy(d)
    parent = d
    for k in path[:-1]:
        parent = parent[k]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return d


@FAST
@given(data=st.data(), value=json_value, delete=st.booleans(), reseal=st.booleans())
def test_a_changed_record_is_refused_or_valid_never_a_crash(
    valid, data: st.DataObject, value: Any, delete: bool, reseal: bool
) -> None:
    """Any one field of a real record replaced by any JSON (or removed). Without a new digest
    it is always refused. With one (a forger who knows the format) it is refused by the field
    and means checks, or it is a valid record; either way no reader crashes."""
    baseline, original = valid
    # per_query is thousands of paths; weigh the top-level fields as much as the rest
    paths = [p for p in _paths(original) if p[0] != "digest"]
    path = data.draw(st.sampled_from([p for p in paths if len(p) <= 2] + paths))
    changed = _mutate(original, path, value, delete)
    if reseal:
        changed["digest"] = digest(changed)
    same = json.dumps(changed, sort_keys=True) == json.dumps(original, sort_keys=True)
    assume(not same)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        f = root / "runs" / "x.json"
        f.parent.mkdir()
        f.write_text(json.dumps(changed), encoding="utf-8")
        try:
            [rec] = load_results(f.parent)
        except EvalkitError as e:
            assert str(f) in str(e) and "\n" not in str(e) and not CLASS_NAME.search(str(e))
            assert_refused_all(readers(f.parent, baseline, root), f)
            return
        assert reseal, "an edit without a new digest was believed"
        rec.check()
        assert_no_crash(readers(f.parent, baseline, root))


# ---- valid records round-trip --------------------------------------------------------------

text = st.text(min_size=1, max_size=10)
measures = st.lists(
    st.sampled_from(["ndcg_at_10", "recall_at_100", "mrr_at_10", "map_at_100", "precision_at_5"]),
    min_size=1,
    max_size=5,
    unique=True,
)
score = st.floats(min_value=0, max_value=1)
plain_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def records(draw: st.DrawFn) -> ResultRecord:
    names = draw(measures)
    qids = draw(st.lists(st.text(max_size=8), min_size=1, max_size=12, unique=True))
    per_query = {q: {m: draw(score) for m in names} for q in qids}
    scores = {m: math.fsum(per_query[q][m] for q in qids) / len(qids) for m in names}
    dim = draw(st.none() | st.integers(1, 4096))
    sampled = draw(
        st.none() | st.builds(lambda n, s: {"n": n, "seed": s}, st.integers(1, 99), st.integers())
    )
    run_file = draw(
        st.none()
        | st.builds(
            lambda h: {"name": "x.trec", "sha256": h},
            st.text("0123456789abcdef", min_size=64, max_size=64),
        )
    )
    return ResultRecord(
        model={"name": draw(text), "dim": dim, "full_dim": dim, "extra": draw(plain_json)},
        dataset={
            "name": draw(text),
            "split": draw(text),
            "suite": draw(st.none() | text),
            "language": draw(st.none() | text),
            "main_metric": names[0],
            "sampled_queries": sampled,
            "source": draw(st.dictionaries(st.text(max_size=5), plain_json, max_size=3)),
            "ignore_identical_ids": draw(st.booleans()),
        },
        scores=scores,
        n_queries_scored=len(qids),
        n_queries_dropped=draw(st.integers(0, 10**6)),
        top_k=draw(st.integers(1, 10**6)),
        search=draw(st.dictionaries(st.text(max_size=5), plain_json, max_size=3)),
        environment={"packages": draw(st.dictionaries(text, text, max_size=3))},
        timings=draw(
            st.dictionaries(text, st.floats(allow_nan=False, allow_infinity=False), max_size=3)
        ),
        per_query=per_query,
        run_file=run_file,
        created_at=draw(st.text(max_size=25)),
    )


@FAST
@given(rec=records())
def test_a_valid_record_round_trips(rec: ResultRecord) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = rec.write(tmp)
        assert load_results(path) == [rec]
        assert load_results(tmp) == [rec]
        raw = json.loads(path.read_text(encoding="utf-8"))
        assert raw["digest"] == digest(raw) and raw["schema_version"] == 2
