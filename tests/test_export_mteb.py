"""``evalkit export mteb``: the results-repository layout, read back by mteb's own loading
(``TaskResult.from_disk``, ``ResultCache``), and the refusal of records mteb would not accept.

The records come from real MiniLM and BM25 runs on tiny folders given as ``--data-dir`` copies
of SciFact and MIRACL (sw, yo). Such a record names its local copy as its source, which export
refuses (the revision cannot be checked); the accepted ones get the source a Hub read records
(mteb's repository and pinned revision), since tests cannot reach the Hub."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from conftest import needs_minilm
from report_fixtures import write_data_dir

from evalkit.cli import main
from evalkit.results import ResultRecord

mteb = pytest.importorskip("mteb")
HF_ID = "sentence-transformers/all-MiniLM-L6-v2"
TASKS = {"scifact": "SciFact", "miracl": "MIRACLRetrieval"}


def _as_read_from_hub(r: ResultRecord) -> ResultRecord:
    r = copy.deepcopy(r)
    meta = mteb.get_task(TASKS[r.dataset["name"]]).metadata
    r.dataset["source"] = {"layout": "mteb", "id": meta.dataset["path"], "revision": meta.revision}
    return r


@pytest.fixture(scope="module")
def local_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[ResultRecord]]:
    import evalkit

    data = write_data_dir(tmp_path_factory.mktemp("export") / "data")
    enc = evalkit.load_encoder("minilm")
    out = {
        "minilm": evalkit.evaluate(enc, "beir", datasets=["scifact"], data_dir=data)
        + evalkit.evaluate(enc, "miracl", languages=["sw", "yo"], data_dir=data),
        "bm25": evalkit.evaluate("bm25", "beir", datasets=["scifact"], data_dir=data),
        "sampled": evalkit.evaluate(
            enc, "beir", datasets=["scifact"], data_dir=data, max_queries=2
        ),
        "demo": evalkit.evaluate("bm25", "demo"),
    }
    return out


def _write(records: list[ResultRecord], root: Path) -> Path:
    for r in records:
        r.write(root)
    return root


@needs_minilm
def test_export_is_read_back_by_mteb(local_runs, tmp_path: Path, capsys) -> None:
    records = [_as_read_from_hub(r) for r in local_runs["minilm"]]
    results = tmp_path / "cache" / "results"
    main(["export", "mteb", str(_write(records, tmp_path / "runs")), "--out", str(results)])
    err = " ".join(capsys.readouterr().err.split())
    assert "incomplete: MIRACLRetrieval (dev): 2 of 18 subsets" in err
    assert "no model revision recorded" in err
    folder = results / "sentence-transformers__all-MiniLM-L6-v2" / "no_revision_available"
    assert sorted(p.name for p in folder.iterdir()) == [
        "MIRACLRetrieval.json",
        "SciFact.json",
        "model_meta.json",
        "run_settings.jsonl",
    ]
    want = {
        (TASKS[r.dataset["name"]], r.dataset["split"], r.dataset["language"] or "default"): r
        for r in records
    }
    # mteb's TaskResult reads each file: same scores, mteb's revision, languages, version
    for task in ("SciFact", "MIRACLRetrieval"):
        tr = mteb.TaskResult.from_disk(folder / f"{task}.json")
        meta = mteb.get_task(task).metadata
        assert tr.task_name == task and tr.dataset_revision == meta.revision
        assert tr.mteb_version == mteb.__version__
        for split, entries in tr.scores.items():
            for e in entries:
                r = want[(task, split, e["hf_subset"])]
                # mteb averages grade-0-only queries in as 0 (evalkit drops them)
                share = r.n_queries_scored / (r.n_queries_scored + r.n_queries_dropped)
                assert e["main_score"] == round(r.scores["ndcg_at_10"] * share, 6)
                assert e["recall_at_100"] == round(r.scores["recall_at_100"] * share, 6)
                assert e["languages"] == meta.hf_subsets_to_langscripts[e["hf_subset"]]
    # mteb's ResultCache finds the model (model_meta.json) and loads both tasks
    cache = mteb.ResultCache(tmp_path / "cache")
    loaded = cache.load_results(models=[HF_ID], include_remote=False)
    [model] = loaded.model_results
    assert model.model_name == HF_ID and model.model_revision == "no_revision_available"
    got = {t.task_name: t for t in model.task_results}
    sf = want[("SciFact", "test", "default")]
    share = sf.n_queries_scored / (sf.n_queries_scored + sf.n_queries_dropped)
    assert got["SciFact"].get_score() == round(sf.main_score * share, 6)
    meta_json = json.loads((folder / "model_meta.json").read_text())
    assert meta_json["name"] == HF_ID and meta_json["revision"] == "no_revision_available"
    # run_settings.jsonl covers every (task, split, subset) exported, read as mteb reads it
    from mteb.results.task_result import _expand_run_settings_entry, _read_run_settings_from_file

    entries = _read_run_settings_from_file(folder / "run_settings.jsonl")
    covered = {k for e in entries for k, _, _ in _expand_run_settings_entry(e)}
    assert covered == set(want)
    assert all(e["version"]["mteb"] == mteb.__version__ and e["encode_kwargs"] for e in entries)


@needs_minilm
def test_unsubmittable_records_are_refused_with_the_reason(
    local_runs, tmp_path: Path, capsys
) -> None:
    good = [_as_read_from_hub(r) for r in local_runs["minilm"]][:1]
    bad = [
        local_runs["minilm"][0],  # read from a --data-dir copy
        _as_read_from_hub(local_runs["bm25"][0]),
        _as_read_from_hub(local_runs["sampled"][0]),
        local_runs["demo"][0],
    ]
    runs = _write(good + bad, tmp_path / "runs")
    out = tmp_path / "results"
    with pytest.raises(SystemExit) as e:
        main(["export", "mteb", str(runs), "--out", str(out)])
    err = " ".join(capsys.readouterr().err.split())
    assert e.value.code == 2 and not out.exists()
    assert "a local copy" in err and "is not mteb's mteb/scifact@" in err
    assert "bm25 has no Hub id" in err
    assert "sampled queries (--max-queries 2)" in err
    assert "dataset demo (suite demo) is not an mteb task" in err
    assert "4 of 5 records cannot be submitted" in err
    main(["export", "mteb", str(runs), "--out", str(out), "--skip-refused"])
    assert [p.name for p in out.rglob("*.json") if p.name != "model_meta.json"] == ["SciFact.json"]


def test_export_needs_records(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(["export", "mteb", str(tmp_path), "--out", str(tmp_path / "o")])
    assert e.value.code == 2 and "no result records" in capsys.readouterr().err
