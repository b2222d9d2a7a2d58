"""The suite registry (evalkit.suites.catalog) against mteb's own task metadata, suite
selection, and the ``evalkit suites`` command."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from evalkit.errors import EvalkitError
from evalkit.suites import get_suite, resolve, suites

mteb = pytest.importorskip("mteb")

HUB_SUITES = ("beir", "miracl", "mldr", "mteb-fr", "mteb-zh", "mteb-de")
MTEB_SPECS = [s for name in HUB_SUITES for s in get_suite(name).datasets]
# The Table 1 columns that are mteb benchmarks: evalkit's suite = the benchmark's retrieval
# tasks with the subsets the benchmark selects.
BENCHMARKS = {"mteb-fr": "MTEB(fra, v1)", "mteb-zh": "MTEB(cmn, v1)", "mteb-de": "MTEB(deu, v1)"}


def _task(spec):
    # On a failure below, compare mteb.__version__ with catalog.MTEB_VERSION: the literals
    # were read from that release, and a newer mteb may have moved a task.
    return mteb.get_task(spec.mteb_task)


@pytest.mark.parametrize("spec", MTEB_SPECS, ids=lambda s: s.mteb_task)
def test_spec_matches_mteb_task_metadata(spec) -> None:
    task = _task(spec)
    meta = task.metadata
    assert spec.source["id"] == meta.dataset["path"]
    assert spec.source["revision"] == meta.dataset["revision"]
    assert spec.split in meta.eval_splits
    # mteb sets the rule as a class attribute (AbsTaskRetrieval.ignore_identical_ids = False,
    # overridden to True by e.g. ArguAna, FiQA2018, QuoraRetrieval, FEVER, BSARD, T2Retrieval).
    assert spec.ignore_identical_ids is bool(type(task).ignore_identical_ids)
    if meta.is_multilingual:
        assert spec.languages and set(spec.languages) <= set(task.hf_subsets)
    else:
        assert spec.languages == ()
    # mteb's main score is recorded where it is not the paper's nDCG@10.
    assert spec.main_metric == "ndcg_at_10"
    assert spec.source.get("mteb_main_score", "ndcg_at_10") == meta.main_score


@pytest.mark.parametrize("spec", MTEB_SPECS, ids=lambda s: s.mteb_task)
def test_layout_follows_how_mteb_loads_the_task(spec) -> None:
    from mteb.abstasks.retrieval import AbsTaskRetrieval

    custom = type(_task(spec)).load_data is not AbsTaskRetrieval.load_data
    # Tasks on mteb's generic loader use the "mteb" layout; tasks with their own load_data
    # need a reader written for them (and a new override in mteb must be looked at).
    assert (spec.layout != "mteb") is custom, (spec.name, spec.layout)


def _counts(stats: dict) -> dict[str, int]:
    """(queries, docs) from mteb's descriptive statistics; older entries give only text
    statistics, from which the query count follows (total length / average length)."""
    if "num_queries" in stats:
        return {"queries": stats["num_queries"], "docs": stats["num_documents"]}
    q = stats["queries_text_statistics"]
    nq = round(q["total_text_length"] / q["average_text_length"])
    return {"queries": nq, "docs": stats["num_samples"] - nq}


@pytest.mark.parametrize("spec", MTEB_SPECS, ids=lambda s: s.mteb_task)
def test_documented_sizes_match_mteb_statistics(spec) -> None:
    stats = _task(spec).metadata.descriptive_stats[spec.split]
    per = stats.get("hf_subset_descriptive_stats") or {}
    for lang in spec.languages:
        assert spec.size["per_language"][lang] == _counts(per[lang])
    if spec.languages:
        assert spec.size["queries"] == sum(_counts(per[x])["queries"] for x in spec.languages)
        assert spec.size["docs"] == sum(_counts(per[x])["docs"] for x in spec.languages)
    else:
        assert {k: spec.size[k] for k in ("queries", "docs")} == _counts(stats)


@pytest.mark.parametrize("suite", sorted(BENCHMARKS))
def test_mteb_language_suites_are_the_benchmarks_retrieval_tasks(suite: str) -> None:
    bench = mteb.get_benchmark(BENCHMARKS[suite])
    expected = {
        t.metadata.name: tuple(t.hf_subsets) if t.metadata.is_multilingual else ()
        for t in bench.tasks
        if t.metadata.type == "Retrieval"
    }
    got = {s.mteb_task: s.languages for s in get_suite(suite).datasets}
    assert got == expected


def test_beir_is_mtebs_beir_without_cqadupstack_and_msmarco() -> None:
    bench = {t.metadata.name for t in mteb.get_benchmark("BEIR").tasks}
    beir = get_suite("beir").datasets
    assert len(beir) == 13
    assert {s.mteb_task for s in beir} == bench - {"CQADupstackRetrieval", "MSMARCO"}
    assert {s.split for s in beir} == {"test"}
    # beir's own folder names, so a folder of BEIR downloads works as --data-dir.
    assert "webis-touche2020" in {s.name for s in beir}


def test_miracl_is_full_corpus_dev_split_identical_ids_kept() -> None:
    (spec,) = get_suite("miracl").datasets
    assert spec.split == "dev" and len(spec.languages) == 18
    assert spec.ignore_identical_ids is False
    # Full corpora (mteb/MIRACLRetrieval), not the pooled hard-negatives variant.
    assert spec.source["id"] == "mteb/MIRACLRetrieval"
    assert spec.size["docs"] == 106_332_152 and spec.size["queries"] == 13_495
    hard = mteb.get_task("MIRACLRetrievalHardNegatives").metadata.descriptive_stats["dev"]
    assert hard["num_documents"] < spec.size["docs"] // 10
    (alt,) = spec.source["alternates"]
    assert (alt["id"], alt["corpus_id"]) == ("miracl/miracl", "miracl/miracl-corpus")


def test_mldr_is_test_split_long_documents() -> None:
    (spec,) = get_suite("mldr").datasets
    assert spec.split == "test" and len(spec.languages) == 13
    assert spec.max_doc_length == 8192
    assert spec.size == {**spec.size, "queries": 3800, "docs": 493_709}
    assert spec.source["alternates"][0]["id"] == "Shitao/MLDR"


def test_paper_suite_is_every_table_1_column_and_mldr() -> None:
    paper = get_suite("paper").datasets
    parts = [get_suite(n).datasets for n in HUB_SUITES]
    assert paper == tuple(
        s for p in (parts[0], parts[1], parts[3], parts[4], parts[5], parts[2]) for s in p
    )
    assert len(paper) == 13 + 1 + 5 + 8 + 4 + 1
    assert len({s.name for s in paper}) == len(paper)  # names are unique keys


def test_every_revision_is_a_full_commit_hash() -> None:
    for spec in MTEB_SPECS:
        for src in (spec.source, *spec.source.get("alternates", ())):
            for key in ("revision", "corpus_revision", "qrels_revision"):
                rev = src.get(key)
                assert rev is None or (len(rev) == 40 and int(rev, 16) >= 0), (spec.name, key)


def test_resolve_datasets_aliases_and_languages() -> None:
    tasks = resolve("beir", ["scifact", "nfcorpus"])
    assert [t.label for t in tasks] == ["scifact", "nfcorpus"]
    assert [t.label for t in resolve("beir", ["SciFact", "TRECCOVID"])] == ["scifact", "trec-covid"]
    assert [t.label for t in resolve("miracl", languages=["sw", "yo"])] == [
        "miracl/sw",
        "miracl/yo",
    ]
    assert len(resolve("miracl")) == 18 and len(resolve("paper")) == 63
    with pytest.raises(EvalkitError, match="--dataset 'scifcat'"):
        resolve("beir", ["scifcat"])


def _cli(*args: str):
    from evalkit.cli import _register, app

    _register()
    return CliRunner().invoke(app, ["suites", *args], env={"COLUMNS": "250"})


def test_cli_lists_every_suite_with_sizes() -> None:
    result = _cli()
    assert result.exit_code == 0, result.output
    for name in suites():
        assert f" {name} " in result.output
    assert "106,332,152" in result.output and "13,495" in result.output  # MIRACL
    assert "dev, test" in result.output  # the paper suite mixes splits


def test_cli_show_gives_sources_revisions_and_per_language_sizes() -> None:
    result = _cli("show", "miracl")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "mteb/MIRACLRetrieval@9c09abc13478" in out
    assert "miracl/miracl@5be20db95097" in out and "miracl/miracl-corpus" in out
    assert "32,893,221" in out  # English corpus
    assert "BSARD" not in out
    fr = _cli("show", "mteb-fr").output
    assert "recall_at_100" in fr and "lyon-nlp/mteb-fr-retrieval-syntec-s2p" in fr


def test_cli_json_round_trips_the_registry() -> None:
    result = _cli("show", "mldr", "--json")
    assert result.exit_code == 0, result.output
    (suite,) = json.loads(result.output)
    assert suite["datasets"][0]["source"]["id"] == "mteb/MultiLongDocRetrieval"
    assert suite["datasets"][0]["max_doc_length"] == 8192


def test_cli_unknown_suite_is_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    from evalkit.cli import main

    with pytest.raises(SystemExit) as e:
        main(["suites", "show", "nope"])
    assert e.value.code != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nope" in err and "miracl" in err
