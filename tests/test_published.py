"""Published numbers: the committed data, its regeneration, and the reproduction verdicts.

``results/published/published.csv`` is read by :mod:`evalkit.evaluation.published`;
``results/published/regenerate.py`` rebuilds it from git repositories laid out as
embeddings-benchmark/results and castorini/pyserini (here: tiny fixtures in a tmp dir)."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import math
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalkit.errors import DataError
from evalkit.evaluation import published as pub
from evalkit.models.catalog import MODELS
from evalkit.results import ResultRecord
from evalkit.suites import get_suite

REPO = Path(__file__).resolve().parents[1]
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_REV = "8b3219a92973c328a8e22fadcfa821b5dc75636a"
SPECS = {s.name: s for s in get_suite("paper").datasets}


def _regenerate_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "published_regenerate", REPO / "results" / "published" / "regenerate.py"
    )
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def record(
    *,
    dataset: str = "trec-covid",
    split: str = "test",
    language: str | None = None,
    scores: dict[str, float] | None = None,
    name: str = "minilm",
    hf_id: str | None = MINILM,
    kind: str = "sentence-transformers",
    revision: str | None = MINILM_REV,
    dataset_revision: str | None = "catalog",
    dim: int | None = 384,
    full_dim: int | None = 384,
    sampled: dict[str, Any] | None = None,
    top_k: int = 1000,
    n_scored: int = 50,
    n_dropped: int = 0,
    ignore_identical_ids: bool | None = None,
    query_prefix: str | None = "",
    search: dict[str, Any] | None = None,
) -> ResultRecord:
    """A record as the runner writes one, for the fields the comparison reads."""
    spec = SPECS.get(dataset)
    if dataset_revision == "catalog":
        dataset_revision = spec.source["revision"] if spec else None
    source = {"layout": "mteb", "id": spec.source["id"] if spec else None}
    if dataset_revision:
        source["revision"] = dataset_revision
    else:
        source = {"layout": "beir-dir", "path": "/data/x", "fingerprint": "abc"}
    return ResultRecord(
        model={
            "name": name,
            "hf_id": hf_id,
            "revision": revision,
            "kind": kind,
            "dim": dim,
            "full_dim": full_dim,
            "query_prefix": query_prefix,
        },
        dataset={
            "name": dataset,
            "suite": spec.suite if spec else None,
            "split": split,
            "language": language,
            "source": source,
            "ignore_identical_ids": spec.ignore_identical_ids
            if ignore_identical_ids is None and spec
            else bool(ignore_identical_ids),
            "sampled_queries": sampled,
        },
        scores=scores or {"ndcg_at_10": 0.47232},
        n_queries_scored=n_scored,
        n_queries_dropped=n_dropped,
        top_k=top_k,
        search=search or {"backend": "faiss-flat"},
    )


def only(comparisons: list[pub.Comparison], kind: str = "mteb-results") -> pub.Comparison:
    picked = [c for c in comparisons if c.published.source_kind == kind]
    assert len(picked) == 1, [c.describe() for c in comparisons]
    return picked[0]


# ---- the committed data -----------------------------------------------------------------------


def test_committed_data_loads_and_every_row_names_its_source() -> None:
    rows = pub.load_published()
    assert len(rows) > 300
    hf_ids = {m.hf_id for m in MODELS if m.hf_id}
    names = {m.name for m in MODELS}
    kinds = set()
    for r in rows:
        kinds.add(r.source_kind)
        assert r.source_repo and r.source_path and len(r.source_commit) == 40, r
        assert r.model in hf_ids or r.model == "bm25", r
        assert r.evalkit_model in names, r
        spec = SPECS[r.dataset]  # every row is about a dataset evalkit runs
        assert (r.language in spec.languages) if spec.languages else r.language == "", r
        assert 0.0 <= r.value <= 1.0, r
        assert r.decimals >= 4, r  # mteb: 5 (or unrounded), pyserini: 4
    assert kinds == {"mteb-results", "pyserini-2cr"}
    # the BEIR-13 tasks mteb names as evalkit does (Touche2020, not Touche2020Retrieval.v3)
    minilm = {(r.dataset, r.source_task) for r in rows if r.model == MINILM}
    assert ("webis-touche2020", "Touche2020") in minilm
    assert {s.name for s in get_suite("beir").datasets} <= {d for d, _ in minilm}
    # one row per (source, model, revision, dataset, split, language, metric)
    keys = [
        (r.source_path, r.model, r.model_revision, r.dataset, r.split, r.language, r.metric)
        + ((r.conditions_json,) if r.source_kind == "pyserini-2cr" else ())
        for r in rows
    ]
    assert len(keys) == len(set(keys))


# What evalkit run with the offline all-MiniLM-L6-v2 measured on the shared DBPedia-Entity
# subset (5,000 documents, 40 judged queries; benchmarks/README.md, compare_mteb.py).
SUBSET_DBPEDIA_MINILM = {"ndcg_at_10": 0.51140, "recall_at_100": 0.94242}


def test_committed_minilm_dbpedia_numbers_are_plausible() -> None:
    """The shared data covers DBPedia-Entity (a 5,000-document subset of it) with MiniLM. The
    published full-collection numbers must lie below the subset's (the full corpus adds 4.6M
    distractors; nDCG@10 and Recall@100 can only fall in expectation), stay in the range
    BEIR-era dense retrievers reach there, and come from mteb's DBPedia at the revision
    evalkit's catalog pins."""
    rows = [
        r
        for r in pub.load_published()
        if r.model == MINILM and r.dataset == "dbpedia-entity" and r.split == "test"
    ]
    by_metric = {r.metric: r for r in rows}
    assert set(by_metric) == {"ndcg_at_10", "recall_at_100"}
    for metric, subset in SUBSET_DBPEDIA_MINILM.items():
        r = by_metric[metric]
        assert 0.2 < r.value < subset, (metric, r.value)
        assert r.model_revision == MINILM_REV
        assert r.dataset_revision == SPECS["dbpedia-entity"].source["revision"]
        assert r.source_path.endswith(f"{MINILM_REV}/DBPedia.json")
    assert by_metric["ndcg_at_10"].is_main_score
    assert by_metric["ndcg_at_10"].value < by_metric["recall_at_100"].value


def test_committed_data_matches_an_evalkit_record_of_the_same_conditions() -> None:
    """A MiniLM record at the published model and dataset revision reproduces the committed
    TREC-COVID number; one off by a published unit differs."""
    rows = pub.load_published()
    assert only(pub.compare_record(record(scores={"ndcg_at_10": 0.4723218}), rows)).verdict == (
        pub.REPRODUCED
    )
    assert only(pub.compare_record(record(scores={"ndcg_at_10": 0.47242}), rows)).verdict == (
        pub.DIFFERS
    )


# ---- verdicts -----------------------------------------------------------------------------------


def row(**kw: Any) -> pub.PublishedRow:
    base: dict[str, Any] = {
        "source_kind": "mteb-results",
        "model": MINILM,
        "model_revision": MINILM_REV,
        "evalkit_model": "minilm",
        "dataset": "trec-covid",
        "source_task": "TRECCOVID",
        "dataset_revision": SPECS["trec-covid"].source["revision"],
        "split": "test",
        "language": "",
        "metric": "ndcg_at_10",
        "is_main_score": True,
        "value_text": "0.47232",
        "source_repo": "embeddings-benchmark/results",
        "source_commit": "f" * 40,
        "source_path": "results/x/TRECCOVID.json",
        "mteb_version": "1.12.75",
        "conditions_json": "{}",
    }
    base.update(kw)
    return pub.PublishedRow(**base)


@pytest.mark.parametrize(
    ("value", "verdict"),
    [
        (0.47232, pub.REPRODUCED),
        (0.472324999, pub.REPRODUCED),  # rounds to the published 0.47232
        (0.472315, pub.REPRODUCED),  # the rounding interval's edge
        (0.4723251, pub.DIFFERS),
        (0.47242, pub.DIFFERS),
        (0.3, pub.DIFFERS),
    ],
)
def test_reproduced_means_equal_at_the_published_precision(value: float, verdict: str) -> None:
    [c] = pub.compare_record(record(scores={"ndcg_at_10": value}), [row()])
    assert c.verdict == verdict
    assert c.difference == pytest.approx(value - 0.47232)
    assert not c.mismatches
    assert verdict in c.describe() and "0.47232" in c.describe()


def test_four_published_decimals_are_compared_at_four() -> None:
    r = row(value_text="0.3970", source_kind="pyserini-2cr")
    assert pub.compare_record(record(scores={"ndcg_at_10": 0.39704}), [r])[0].verdict == (
        pub.REPRODUCED
    )
    assert pub.compare_record(record(scores={"ndcg_at_10": 0.39706}), [r])[0].verdict == (
        pub.DIFFERS
    )


def test_unrounded_published_values_are_compared_at_six_decimals() -> None:
    r = row(metric="mrr_at_5", value_text="0.6371823956442826", is_main_score=False)
    rec = record(scores={"mrr_at_5": 0.6371821})
    assert pub.compare_record(rec, [r])[0].verdict == pub.REPRODUCED
    rec = record(scores={"mrr_at_5": 0.637185})
    assert pub.compare_record(rec, [r])[0].verdict == pub.DIFFERS


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"revision": "0" * 40}, "model revision"),
        ({"dataset_revision": "1" * 40}, "dataset revision"),
        ({"sampled": {"n": 10, "seed": 0}}, "sample of the queries"),
        ({"dim": 256}, "Matryoshka dim 256 of 384"),
        ({"split": "dev"}, "split: published on test, this run dev"),
        ({"top_k": 5}, "top_k 5"),
    ],
)
def test_other_conditions_are_never_a_failed_reproduction(
    changes: dict[str, Any], why: str
) -> None:
    # The value is far off: under other conditions that is no failure, but it is shown.
    [c] = pub.compare_record(record(scores={"ndcg_at_10": 0.2}, **changes), [row()])
    assert c.verdict == pub.CONDITIONS_DIFFER
    assert any(why in m for m in c.mismatches), c.mismatches
    assert c.difference == pytest.approx(0.2 - 0.47232)
    # The same conditions and the same value: reproduced.
    [c] = pub.compare_record(record(scores={"ndcg_at_10": 0.47232}), [row()])
    assert c.verdict == pub.REPRODUCED


def test_a_local_folder_that_is_not_the_whole_collection_is_another_condition() -> None:
    """The shared DBPedia subset (5,000 documents) read from a local folder named like the
    dataset is not the published 4.6M-document collection; the whole collection is."""
    rows = [row(dataset="dbpedia-entity", value_text="0.32330")]
    subset = record(dataset="dbpedia-entity", dataset_revision=None, scores={"ndcg_at_10": 0.5114})
    subset.dataset["n_docs"] = 5000
    [c] = pub.compare_record(subset, rows)
    assert c.verdict == pub.CONDITIONS_DIFFER
    assert "5,000 documents; the published collection has 4,635,922" in c.mismatches
    whole = record(dataset="dbpedia-entity", dataset_revision=None, scores={"ndcg_at_10": 0.3233})
    whole.dataset["n_docs"] = 4_635_922
    [c] = pub.compare_record(whole, rows)
    assert c.verdict == pub.REPRODUCED
    assert "dataset revision not checked (this run read a local copy)" in c.notes
    # per language: MIRACL sw has 131,924 passages
    sw = record(dataset="miracl", split="dev", language="sw", scores={"ndcg_at_10": 0.1})
    sw.dataset["n_docs"] = 131_924
    r = row(dataset="miracl", split="dev", language="sw", value_text="0.10000")
    r = pub.PublishedRow(**{**r.__dict__, "dataset_revision": "main"})
    assert pub.compare_record(sw, [r])[0].verdict == pub.REPRODUCED
    sw.dataset["n_docs"] = 1000
    assert pub.compare_record(sw, [r])[0].verdict == pub.CONDITIONS_DIFFER


def test_same_split_is_preferred_over_others() -> None:
    rows = [row(split="dev", value_text="0.10000"), row()]
    [c] = pub.compare_record(record(), rows)
    assert c.published.split == "test" and c.verdict == pub.REPRODUCED


def test_unknown_revisions_are_noted_not_held_against_the_run() -> None:
    rec = record(revision=None, dataset_revision=None)
    [c] = pub.compare_record(rec, [row(model_revision="", dataset_revision="main")])
    assert c.verdict == pub.REPRODUCED
    assert any("model revision not checked" in n for n in c.notes)
    assert any("dataset revision not checked" in n for n in c.notes)


def test_dropped_queries_are_averaged_in_as_mteb_does() -> None:
    """evalkit drops queries whose judgements are all 0; mteb scores them 0. With 40 scored
    and 10 dropped, mteb's mean is evalkit's x 40/50."""
    rec = record(scores={"ndcg_at_10": 0.5904, "recall_at_100": 0.5}, n_scored=40, n_dropped=10)
    rows = [row(), row(metric="recall_at_100", value_text="0.40000", is_main_score=False)]
    out = {c.published.metric: c for c in pub.compare_record(rec, rows)}
    assert out["ndcg_at_10"].verdict == pub.REPRODUCED
    assert out["ndcg_at_10"].compared == pytest.approx(0.5904 * 0.8)
    assert out["ndcg_at_10"].measured == 0.5904
    assert any("x 40/50" in n for n in out["ndcg_at_10"].notes)
    assert out["recall_at_100"].verdict == pub.REPRODUCED
    # Without dropped queries, the same mean is compared as it is, and differs.
    [c] = pub.compare_record(record(scores={"ndcg_at_10": 0.5904}), [row()])
    assert c.verdict == pub.DIFFERS and c.compared == 0.5904


def test_nothing_published_gives_no_comparison() -> None:
    rows = [row()]
    assert pub.compare_record(record(dataset="nfcorpus"), rows) == []
    assert pub.compare_record(record(name="e5-base-v2", hf_id="intfloat/e5-base-v2"), rows) == []
    assert pub.compare_record(record(scores={"map_at_100": 0.3}), rows) == []
    assert pub.compare_record(record(language="en"), rows) == []


def _bm25_row(field: str, value: str, dataset: str = "arguana") -> pub.PublishedRow:
    cond = {"bm25": field, "k1": 0.9, "b": 0.4, "remove_query": True}
    return row(
        source_kind="pyserini-2cr",
        model="bm25",
        model_revision="",
        evalkit_model="bm25-lucene",
        dataset=dataset,
        source_task=f"beir-v1.0.0-{dataset}",
        dataset_revision="",
        value_text=value,
        conditions_json=json.dumps(cond),
    )


def _bm25_record(dataset: str, value: float, backend: str = "pyserini-lucene") -> ResultRecord:
    name = "bm25-lucene" if backend == "pyserini-lucene" else "bm25"
    return record(
        dataset=dataset,
        scores={"ndcg_at_10": value},
        name=name,
        hf_id=None,
        kind="bm25",
        revision=None,
        dim=None,
        full_dim=None,
        query_prefix=None,
        search={"backend": backend, "k1": 0.9, "b": 0.4},
    )


def test_bm25_against_pyserini_flat_multifield_and_engines() -> None:
    rows = [_bm25_row("flat", "0.3970"), _bm25_row("multifield", "0.4142")]
    # arguana: evalkit removes identical ids as pyserini's --remove-query does
    out = {
        c.published.conditions["bm25"]: c
        for c in pub.compare_record(_bm25_record("arguana", 0.39701), rows)
    }
    assert out["flat"].verdict == pub.REPRODUCED
    assert any("pyserini's own copy" in n for n in out["flat"].notes)
    assert out["multifield"].verdict == pub.CONDITIONS_DIFFER
    assert any("multifield" in m for m in out["multifield"].mismatches)
    # bm25s is another engine
    [flat, _] = pub.compare_record(_bm25_record("arguana", 0.39701, backend="bm25s"), rows)
    assert flat.verdict == pub.CONDITIONS_DIFFER and "engine" in flat.mismatches[0]
    # scifact: evalkit keeps a hit whose id is the query's, pyserini removes it
    [c] = pub.compare_record(
        _bm25_record("scifact", 0.6789), [_bm25_row("flat", "0.6789", dataset="scifact")]
    )
    assert c.verdict == pub.CONDITIONS_DIFFER
    assert any("--remove-query" in m for m in c.mismatches)


def test_query_prefix_condition() -> None:
    cond = json.dumps({"query_prefix": "", "remove_query": True})
    r = row(source_kind="pyserini-2cr", dataset="arguana", conditions_json=cond)
    rec = record(dataset="arguana", query_prefix="Represent this: ")
    [c] = pub.compare_record(rec, [r])
    assert c.verdict == pub.CONDITIONS_DIFFER and "query prefix" in c.mismatches[0]
    [c] = pub.compare_record(record(dataset="arguana", query_prefix=""), [r])
    assert c.verdict == pub.REPRODUCED


def test_table_rows_and_summary() -> None:
    recs = [record(), record(scores={"ndcg_at_10": 0.1}), record(dim=128)]
    pairs = pub.compare_records(recs, [row()])
    assert pub.summary(c for _, c in pairs) == {
        pub.REPRODUCED: 1,
        pub.DIFFERS: 1,
        pub.CONDITIONS_DIFFER: 1,
    }
    rep = pub.report_table(pairs)
    assert [r[7] for r in rep.rows] == [pub.REPRODUCED, pub.DIFFERS, pub.CONDITIONS_DIFFER]
    assert rep.rows[0][4:7] == ["47.232", "47.232", "+0.000"]
    assert len(rep.headers) == len(rep.numeric) == len(rep.rows[0])
    lines = pub.describe_records(recs, [row()])
    assert len(lines) == 3 and "reproduced" in lines[0] and "Matryoshka dim 128" in lines[2]
    table = pub.table_rows(pairs)
    assert [t["verdict"] for t in table] == [pub.REPRODUCED, pub.DIFFERS, pub.CONDITIONS_DIFFER]
    assert table[0]["source"].startswith("embeddings-benchmark/results@ffffffffffff:")


# ---- the reader -------------------------------------------------------------------------------


def _write(path: Path, rows: list[dict[str, str]], header: str = "# comment\n") -> Path:
    buf = io.StringIO()
    buf.write(header)
    w = csv.DictWriter(buf, fieldnames=pub.COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def _raw(**kw: str) -> dict[str, str]:
    r = row()
    base = {c: str(getattr(r, c, "")) for c in pub.COLUMNS}
    base.update(value=r.value_text, is_main_score="true", conditions="{}")
    base.update(kw)
    return base


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"source_commit": ""}, "source_commit is empty"),
        ({"source_path": ""}, "source_path is empty"),
        ({"value": "n/a"}, "is not a number"),
        ({"value": "nan"}, "not a finite number"),
        ({"source_kind": "blog"}, "source_kind 'blog'"),
        ({"is_main_score": "yes"}, "is_main_score"),
        ({"conditions": "{bm25"}, "conditions is not JSON"),
        ({"conditions": "[1]"}, "JSON object"),
    ],
)
def test_a_bad_row_stops_the_read_with_file_and_line(
    tmp_path: Path, bad: dict[str, str], message: str
) -> None:
    path = _write(tmp_path / "p.csv", [_raw(), _raw(**bad)])
    with pytest.raises(DataError) as e:
        pub.load_published(path)
    assert str(e.value).startswith(f"{path}:4:") and message in str(e.value)
    assert "\n" not in str(e.value)


def test_missing_columns_and_files(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("# c\nsource_kind,model\nmteb-results,x\n")
    with pytest.raises(DataError, match=r"p.csv:2: header lacks column\(s\) model_revision"):
        pub.load_published(path)
    with pytest.raises(DataError, match="cannot read the published numbers"):
        pub.load_published(tmp_path / "absent.csv")
    path.write_text(path.read_text().replace("source_kind,model\n", ",".join(pub.COLUMNS) + "\n"))
    with pytest.raises(DataError, match=r"p.csv:3: expected 17 fields"):
        pub.load_published(path)


_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12).filter(
    lambda s: s.strip() == s
)


@settings(max_examples=40, deadline=None)
@given(
    model=_text,
    dataset=_text,
    language=st.one_of(st.just(""), _text),
    value=st.decimals(min_value=0, max_value=1, places=5, allow_nan=False),
    cond=st.dictionaries(_text, st.one_of(st.booleans(), _text, st.integers()), max_size=3),
)
def test_reader_round_trips_any_row(
    tmp_path_factory: pytest.TempPathFactory,
    model: str,
    dataset: str,
    language: str,
    value: Any,
    cond: dict[str, Any],
) -> None:
    path = tmp_path_factory.mktemp("rt") / "p.csv"
    raw = _raw(
        model=model,
        dataset=dataset,
        language=language,
        value=str(value),
        conditions=json.dumps(cond),
    )
    _write(path, [raw, _raw()])
    [got, _] = pub.load_published(path)
    assert (got.model, got.dataset, got.language) == (model, dataset, language)
    assert got.value_text == str(value) and got.conditions == cond
    assert got.decimals == max(0, -value.as_tuple().exponent)


# ---- regeneration -----------------------------------------------------------------------------


def _git_repo(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "fixture"], check=True)
    return root


def _task_json(rev: str | None, mteb: str | None, scores: dict[str, list[dict]]) -> str:
    body = {"dataset_revision": rev, "mteb_version": mteb, "scores": scores}
    # json.dumps writes floats as Python does; the fixture needs the results repo's literals
    return json.dumps(body, indent=2)


def _fixture_mteb(root: Path) -> Path:
    scifact = _task_json(
        "0228b52cf27578f30900b9e5271d331663a030d7",
        "1.12.75",
        {
            "test": [
                {"hf_subset": "default", "main_score": 0.64508, "ndcg_at_10": 0.64508,
                 "recall_at_100": 0.925, "map_at_10": 0.59593}
            ],
            "train": [{"hf_subset": "default", "ndcg_at_10": 0.6602, "recall_at_100": 1.0}],
        },
    )  # fmt: skip
    mintaka = _task_json(
        "efa78cc2f74bbcd21eff2261f9e13aebe40b814e",
        "1.12.75",
        {
            "test": [
                {"hf_subset": "ar", "ndcg_at_10": 0.01, "recall_at_100": 0.1},
                {"hf_subset": "fr", "ndcg_at_10": 0.02216, "recall_at_100": 0.16069},
            ]
        },
    )
    germanquad = _task_json(
        "f5c87ae5a2e7a5106606314eef45255f03151bb3",
        "1.12.75",
        {
            "test": [
                {"hf_subset": "default", "main_score": 0.6371823956442826,
                 "mrr_at_5": 0.6371823956442826, "ndcg_at_10": 0.68818,
                 "recall_at_100": 0.95236}
            ]
        },
    )  # fmt: skip
    external = (
        '{"dataset_revision": "None", "task_name": "NQ", "mteb_version": null, "scores": '
        '{"test": [{"hf_subset": "default", "ndcg_at_10": 0.42225999999999997, '
        '"recall_at_100": 0.9415299999999999}]}}'
    )
    base = "results/sentence-transformers__all-MiniLM-L6-v2"
    return _git_repo(
        root,
        {
            f"{base}/{MINILM_REV}/SciFact.json": scifact,
            f"{base}/{MINILM_REV}/MintakaRetrieval.json": mintaka,
            f"{base}/{MINILM_REV}/GermanQuAD-Retrieval.json": germanquad,
            f"{base}/{MINILM_REV}/Banking77Classification.json": '{"scores": {}}',
            f"{base}/no_revision_available/SciFact.json": scifact,
            "results/intfloat__e5-base-v2/external/NQ.json": external,
            "results/someone__else/abc/SciFact.json": scifact,
            "README.md": "fixture\n",
        },
    )


_BEIR_YAML = """\
conditions:
  - name: bm25-flat
    command: pyserini.search.lucene --index beir-v1.0.0-${dataset}.flat --bm25 --remove-query
    datasets:
      - dataset: scifact
        scores:
          - nDCG@10: 0.6789
            R@100: 0.9253
            R@1000: 0.9767
      - dataset: bioasq
        scores:
          - nDCG@10: 0.5225
            R@100: 0.7687
  - name: bm25-multifield
    command: lucene --index beir-v1.0.0-${dataset}.multifield --remove-query --fields
    datasets:
      - dataset: arguana
        scores:
          - nDCG@10: 0.4142
            R@100: 0.9431
  - name: splade-pp-ed
    command: python -m pyserini.search.lucene --index beir-v1.0.0-${dataset}.splade-pp-ed --impact
    datasets:
      - dataset: arguana
        scores:
          - nDCG@10: 0.5200
  - name: bge-base-en-v1.5.faiss
    command: faiss --query-prefix ${query_prefix} --index beir-${dataset}.bge --remove-query
    datasets:
      - dataset: arguana
        scores:
          - nDCG@10: 0.6362
            R@100: 0.9915
      - dataset: scifact
        scores:
          - nDCG@10: 0.7408
            R@100: 0.9667
"""

_BEIR_PY = """\
            for datasets in condition['datasets']:
                dataset = datasets['dataset']
                query_prefix = '""'
                if name == 'bge-base-en-v1.5.faiss' and dataset not in ['quora', 'arguana']:
                    query_prefix = '"Represent this sentence for searching relevant passages:"'
"""

_MIRACL_YAML = """\
conditions:
  - name: bm25.sw
    eval_key: miracl-v1.0-sw
    command: pyserini.search.lucene --language sw --index miracl-v1.0-sw --bm25 --hits 1000
    splits:
      - split: train
        scores:
          - nDCG@10: 0.4000
            R@100: 0.8000
      - split: dev
        scores:
          - nDCG@10: 0.3830
            R@100: 0.7010
  - name: bm25.yo
    eval_key: miracl-v1.0-yo
    command: pyserini.search.lucene --pretokenized --index miracl-v1.0-yo --bm25
    splits:
      - split: dev
        scores:
          - nDCG@10: 0.4059
            R@100: 0.7325
  - name: mdpr-tied-pft-msmarco.sw
    command: python -m pyserini.search.faiss --topics miracl-v1.0-sw-${split}
    splits:
      - split: dev
        scores:
          - nDCG@10: 0.3000
"""


def _fixture_pyserini(root: Path) -> Path:
    return _git_repo(
        root,
        {
            "pyserini/2cr/beir.yaml": _BEIR_YAML,
            "pyserini/2cr/beir.py": _BEIR_PY,
            "pyserini/2cr/miracl.yaml": _MIRACL_YAML,
        },
    )


def _head(repo: Path) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_regenerate_reproduces_rows_from_fixture_checkouts(tmp_path: Path) -> None:
    regen = _regenerate_module()
    mteb_repo = _fixture_mteb(tmp_path / "results")
    pys = _fixture_pyserini(tmp_path / "pyserini")
    out = tmp_path / "published.csv"
    assert (
        regen.main(["--mteb-results", str(mteb_repo), "--pyserini", str(pys), "--out", str(out)])
        == 0
    )
    assert out.read_text().startswith("# Published numbers")
    rows = pub.load_published(out)
    got = {
        (r.source_kind, r.model, r.model_revision, r.dataset, r.split, r.language, r.metric,
         r.conditions.get("bm25", "")): r
        for r in rows
    }  # fmt: skip
    assert len(got) == len(rows)

    m = got[("mteb-results", MINILM, MINILM_REV, "scifact", "test", "", "ndcg_at_10", "")]
    assert (m.value_text, m.is_main_score, m.source_task) == ("0.64508", True, "SciFact")
    assert m.dataset_revision == "0228b52cf27578f30900b9e5271d331663a030d7"
    assert m.mteb_version == "1.12.75" and m.source_repo == "embeddings-benchmark/results"
    assert m.source_commit == _head(mteb_repo)
    assert (
        m.source_path
        == f"results/sentence-transformers__all-MiniLM-L6-v2/{MINILM_REV}/SciFact.json"
    )
    # JSON dropped mteb's trailing zeros; the CSV writes its 5 decimals back
    key = ("mteb-results", MINILM, MINILM_REV, "scifact", "{}", "", "recall_at_100", "")
    assert got[key[:4] + ("test",) + key[5:]].value_text == "0.92500"
    assert got[key[:4] + ("train",) + key[5:]].value_text == "1.00000"
    # no revision folder: revision empty; metrics other than the kept ones are left out
    assert ("mteb-results", MINILM, "", "scifact", "test", "", "ndcg_at_10", "") in got
    assert not any(r.metric == "map_at_10" for r in rows)
    # only the languages evalkit runs (Mintaka: fr), unrounded main score kept whole
    assert {r.language for r in rows if r.dataset == "MintakaRetrieval"} == {"fr"}
    mrr = got[
        ("mteb-results", MINILM, MINILM_REV, "GermanQuAD-Retrieval", "test", "", "mrr_at_5", "")
    ]
    assert mrr.value_text == "0.6371823956442826" and mrr.is_main_score
    assert not got[
        ("mteb-results", MINILM, MINILM_REV, "GermanQuAD-Retrieval", "test", "", "ndcg_at_10", "")
    ].is_main_score
    # external: percentages' float noise removed, no revisions
    ext = got[("mteb-results", "intfloat/e5-base-v2", "", "nq", "test", "", "ndcg_at_10", "")]
    assert ext.value_text == "0.42226" and ext.dataset_revision == ""
    assert ext.conditions == {"origin": "external"}
    # a model evalkit does not register is not read
    assert not any("someone" in r.source_path for r in rows)

    # pyserini: BEIR-13 only (no bioasq), BM25 flat and multifield, bge; MIRACL dev only
    flat = got[("pyserini-2cr", "bm25", "", "scifact", "test", "", "ndcg_at_10", "flat")]
    assert flat.value_text == "0.6789" and flat.evalkit_model == "bm25-lucene"
    assert flat.conditions["index"] == "beir-v1.0.0-scifact.flat"
    assert flat.conditions["remove_query"] is True
    assert flat.source_commit == _head(pys) and flat.source_path == "pyserini/2cr/beir.yaml"
    multi = got[("pyserini-2cr", "bm25", "", "arguana", "test", "", "recall_at_100", "multifield")]
    assert multi.value_text == "0.9431"
    assert not any(r.dataset == "bioasq" for r in rows)
    assert not any(r.metric == "recall_at_1000" for r in rows)
    bge = {
        r.dataset: r
        for r in rows
        if r.model == "BAAI/bge-base-en-v1.5" and r.metric == "ndcg_at_10"
    }
    assert bge["arguana"].conditions["query_prefix"] == ""
    assert bge["scifact"].conditions["query_prefix"].startswith("Represent this sentence")
    sw = got[("pyserini-2cr", "bm25", "", "miracl", "dev", "sw", "ndcg_at_10", "flat")]
    assert sw.value_text == "0.3830" and sw.source_task == "miracl-v1.0-sw"
    assert sw.conditions["analyzer"] == "lucene-sw"
    yo = got[("pyserini-2cr", "bm25", "", "miracl", "dev", "yo", "recall_at_100", "flat")]
    assert yo.conditions["analyzer"] == "whitespace"
    assert not any(r.dataset == "miracl" and r.split == "train" for r in rows)
    assert not any("splade" in r.conditions_json or r.value_text == "0.3000" for r in rows)

    # regenerating from the same commits gives the same file
    again = tmp_path / "again.csv"
    regen.main(["--mteb-results", str(mteb_repo), "--pyserini", str(pys), "--out", str(again)])
    assert again.read_bytes() == out.read_bytes()


def test_regenerate_refuses_a_repository_without_the_2cr_files(tmp_path: Path) -> None:
    regen = _regenerate_module()
    empty = _git_repo(tmp_path / "empty", {"README.md": "x\n"})
    with pytest.raises(SystemExit, match="no pyserini/2cr/beir.yaml at HEAD"):
        regen.main(["--pyserini", str(empty), "--out", str(tmp_path / "o.csv")])
    with pytest.raises(SystemExit, match="git rev-parse failed"):
        regen.main(["--mteb-results", str(tmp_path / "nothing"), "--out", str(tmp_path / "o.csv")])


def test_published_text_keeps_the_published_precision() -> None:
    regen = _regenerate_module()
    assert regen.published_text("0.64508") == "0.64508"
    assert regen.published_text("0.925") == "0.92500"
    assert regen.published_text("1.0") == "1.00000"
    assert regen.published_text("0") == "0.00000"
    assert regen.published_text("0.42225999999999997") == "0.42226"
    assert regen.published_text("0.6371823956442826") == "0.6371823956442826"
    assert math.isclose(float(regen.published_text("0.9415299999999999")), 0.94153)


def test_run_prints_the_published_number_and_a_conditions_verdict(tmp_path: Path, capsys) -> None:
    """`evalkit run` names the published counterpart of a score; a 2-document folder called
    scifact is another collection, so the verdict is a conditions mismatch, never a failure."""
    from conftest import write_beir

    from evalkit.cli import main

    folder = write_beir(
        tmp_path / "scifact",
        [{"_id": "d1", "text": "moon light"}, {"_id": "d2", "text": "sun heat"}],
        [{"_id": "q1", "text": "moon"}],
        [("q1", "d1", 1)],
    )
    main(["run", "-m", "bm25", "--suite", str(folder), "-o", str(tmp_path / "o"), "--no-progress"])
    out = " ".join(capsys.readouterr().out.split())
    assert "published: bm25 on scifact test ndcg_at_10: evalkit 1.00000 vs pyserini-2cr" in out
    assert "conditions differ" in out and "reproduced" not in out and "differs" not in out
