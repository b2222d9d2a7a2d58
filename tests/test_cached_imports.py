"""A re-run whose vectors are all cached needs no model library: it imports neither torch,
transformers, sentence-transformers, datasets nor pandas (together most of a cold start's
seconds).
The search on the CPU is numpy, a local corpus is read with pyarrow, the model is loaded only
when something must be encoded. Guarded here by what the process imported, not by a timing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
from conftest import write_beir
from hypothesis import given, settings
from hypothesis import strategies as st
from test_scale import make_corpus
from test_transformer_encoder import save_tiny_bert

# pandas too: pyarrow imports it for any conversion from or to Python/numpy objects
HEAVY = ("torch", "transformers", "sentence_transformers", "datasets", "pandas")
REPO = Path(__file__).resolve().parents[1]

# ``evalkit run ...`` in a fresh process, then the heavy modules it imported, as JSON.
PROBE = f"""
import json, sys
from evalkit.cli import main
try:
    main(sys.argv[2:])
except SystemExit as e:
    if e.code:
        raise
with open(sys.argv[1], "w") as f:
    json.dump(sorted(m for m in {HEAVY!r} if m in sys.modules), f)
"""


def _run(args: list[str], report: Path, env: dict[str, str]) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(report), "run", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(report.read_text())


def test_a_fully_cached_rerun_imports_no_model_library(tmp_path: Path) -> None:
    model = save_tiny_bert(tmp_path / "tiny")
    data = write_beir(tmp_path / "c60", *make_corpus())
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_CACHE": str(tmp_path / "hf-datasets"),
    }
    common = ["--model", str(model), "--suite", str(data), "--cache-dir", str(tmp_path / "cache")]
    common += ["--no-progress", "--shard-size", "16"]
    cold = _run([*common, "--output-dir", str(tmp_path / "out1")], tmp_path / "cold.json", env)
    assert "torch" in cold  # the probe sees imports: the cold run encodes with torch
    # A new output folder: the records are computed again (search and scoring from the cached
    # vectors), not merely found.
    warm = _run([*common, "--output-dir", str(tmp_path / "out2")], tmp_path / "warm.json", env)
    assert warm == []
    [a] = (tmp_path / "out1").rglob("*.json")
    [b] = (tmp_path / "out2").rglob("*.json")
    ra, rb = json.loads(a.read_text()), json.loads(b.read_text())
    assert rb["search"]["shards"]["computed"] == 0 and rb["search"]["shards"]["reused"] > 0
    assert ra["scores"] == rb["scores"] and ra["per_query"] == rb["per_query"]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(max_size=12), max_size=30))
def test_string_array_equals_pyarrows(values: list[str]) -> None:
    from evalkit.arrow_file import string_array

    assert string_array(values).equals(pa.array(values, pa.string()))


def _arrow_file(path: Path, ids: list[str], titles: list[str | None]) -> Path:
    schema = pa.schema([("_id", pa.string()), ("title", pa.string()), ("text", pa.string())])
    texts = [f"text of {i}" if n % 3 else None for n, i in enumerate(ids)]
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, schema) as w:
        w.write_table(pa.table([ids, titles, texts], schema=schema))
    return path


@settings(max_examples=25, deadline=None)
@given(
    st.integers(1, 40),
    st.integers(-45, 45),
    st.integers(-45, 45),
    st.lists(st.integers(0, 39), max_size=8),
)
def test_arrow_file_dataset_reads_as_datasets_does(
    n: int, start: int, stop: int, picks: list[int]
) -> None:
    import tempfile

    import datasets

    from evalkit.arrow_file import ArrowFileDataset

    with tempfile.TemporaryDirectory() as tmp:
        ids = [f"id{i}" for i in range(n)]
        titles = [None if i % 4 == 0 else f"t{i}" for i in range(n)]
        path = _arrow_file(Path(tmp) / "c.arrow", ids, titles)
        light, real = ArrowFileDataset(path), datasets.Dataset.from_file(str(path))
        assert len(light) == len(real) and light.column_names == real.column_names
        assert light.cache_files[0]["filename"] == real.cache_files[0]["filename"]
        for cols in (["_id", "title", "text"], ["title", "text"], ["_id"]):
            a, b = light.select_columns(cols), real.select_columns(cols)
            assert a[start:stop] == b[start:stop]
            rows = [p % n for p in picks]
            assert a[rows] == b[rows]
            ta = a.with_format("arrow")[:]
            tb = b.with_format("arrow")[:]
            assert ta.equals(tb)
        assert light["_id"] == real["_id"]
        assert light[n - 1] == real[n - 1]
        # anything else is the real dataset over the same file
        assert light.to_dict() == real.to_dict()
        assert np.array_equal(light.with_format("arrow")["_id"].to_numpy(), np.array(ids))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.lists(st.one_of(st.none(), st.text(max_size=8)), max_size=6), min_size=1),
    st.integers(0, 5),
)
def test_utf8_lengths_equal_arrows(chunks: list[list[str | None]], cut: int) -> None:
    import pyarrow.compute as pc

    from evalkit.arrow_file import utf8_lengths

    col = pa.chunked_array([pa.array(c, pa.string()) for c in chunks], pa.string())
    for c in (col, col.slice(min(cut, len(col)))):
        want = pc.fill_null(pc.binary_length(c), 0).to_numpy(zero_copy_only=False)
        assert np.array_equal(utf8_lengths(c), want)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.text(max_size=5), min_size=1, max_size=20), st.data())
def test_index_array_and_plain_numpy_equal_arrows(ids: list[str], data: st.DataObject) -> None:
    import pyarrow.compute as pc

    from evalkit.arrow_file import index_array, plain_numpy

    arr = pa.array(ids, pa.string())
    picks = np.array(data.draw(st.lists(st.integers(0, len(ids) - 1), max_size=10)), np.int64)
    assert arr.take(index_array(picks)).to_pylist() == [ids[i] for i in picks]
    ranks = pc.rank(arr, sort_keys="ascending", tiebreaker="first")
    assert np.array_equal(plain_numpy(ranks), ranks.to_numpy())
    assert np.array_equal(plain_numpy(ranks.slice(1)), ranks.slice(1).to_numpy())
