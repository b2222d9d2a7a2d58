"""Resolving --model: registered names, their Hub ids, local layouts; --dim; cache identity."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from drama_fixtures import make_drama_checkpoint

import evalkit
from evalkit.errors import EvalkitError, ModelError
from evalkit.models.base import local_model_fingerprint
from evalkit.models.registry import resolve_model


@pytest.fixture(scope="module")
def drama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_drama_checkpoint(tmp_path_factory.mktemp("drama") / "ckpt")


def test_registered_hub_id_means_the_registered_model() -> None:
    spec = resolve_model("facebook/drama-base")
    assert spec.name == "drama-base" and spec.kind == "drama"
    assert spec.query_prefix == "Query: "


def test_drama_dir_with_modules_json_is_drama(drama_dir: Path, tmp_path: Path) -> None:
    # The real DRAMA repositories ship sentence-transformers files too; as such they would
    # run causally. The config's remote-code class names decide.
    (drama_dir / "modules.json").write_text(json.dumps([]))
    try:
        assert resolve_model(str(drama_dir)).kind == "drama"
    finally:
        (drama_dir / "modules.json").unlink()


def test_dim_is_validated_before_any_work(drama_dir: Path, beir_dir: Path) -> None:
    with pytest.raises(EvalkitError, match="dim"):
        evalkit.evaluate(str(drama_dir), str(beir_dir), model_type="drama", dim=10_000)
    with pytest.raises(EvalkitError, match="--dim: bm25"):
        evalkit.evaluate("bm25", str(beir_dir), dim=8)


def test_local_fingerprint_tracks_rewrites(drama_dir: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(drama_dir, copy)
    before = local_model_fingerprint(str(copy))
    assert before == local_model_fingerprint(str(copy))
    cfg = json.loads((copy / "config.json").read_text())
    cfg["rms_norm_eps"] = 1e-6
    (copy / "config.json").write_text(json.dumps(cfg))
    assert local_model_fingerprint(str(copy)) != before
    assert local_model_fingerprint(str(tmp_path / "missing")) is None


def test_unknown_hub_model_offline_fails_fast_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "evalkit", "check-model", "drama-base"],
                       capture_output=True, text=True, env=env, timeout=120)
    elapsed = time.perf_counter() - t
    assert p.returncode not in (0, 1)  # neither PASS nor FAIL: could not run
    lines = [x for x in p.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "drama-base" in lines[0] and "Traceback" not in p.stderr
    assert elapsed < 60


def test_uncached_hub_id_offline_is_one_line() -> None:
    # conftest sets HF_HUB_OFFLINE=1: nothing cached under this id, so a clear ModelError.
    with pytest.raises(ModelError, match="someone/no-such-model.*local directory"):
        resolve_model("someone/no-such-model")
