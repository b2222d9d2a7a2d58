"""evalkit's scores equal pytrec_eval's, mteb's and beir's on the same ranked lists.

Every peer is called through its own scoring function (see ``peers.py``). Where the peers'
conventions differ from evalkit's (queries without a positive judgement, judged queries the run
does not cover, identical ids, tie-breaking in beir's MRR, rounding), a test below states the
difference as an equation rather than hiding it.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import peers
import pytest
from conftest import SMALL_CORPUS, SMALL_QRELS, SMALL_QUERIES, needs_minilm, write_beir

from evalkit.metrics import evaluate_run

pytest.importorskip("mteb")
pytest.importorskip("beir")

MEASURES = ("ndcg_at_10", "recall_at_100", "map_at_100", "mrr_at_10", "recall_at_1000")
TREC = {
    "ndcg_at_10": "ndcg_cut_10",
    "recall_at_100": "recall_100",
    "map_at_100": "map_cut_100",
    "recall_at_1000": "recall_1000",
}
BEIR_MEASURES = ("ndcg_at_10", "recall_at_100", "map_at_100")
EXACT = 1e-12  # same pytrec_eval numbers, only the order of summation differs
ROUNDED = 5e-6 + 1e-12  # beir and mteb round means to 5 decimals

Qrels = dict[str, dict[str, int]]
Run = dict[str, dict[str, float]]


def positive_only(qrels: Qrels) -> Qrels:
    return {q: d for q, d in qrels.items() if any(g > 0 for g in d.values())}


def aligned_inputs(qrels: Qrels, run: Run) -> tuple[Qrels, Run]:
    """The same query set evalkit scores, spelled out for peers that have no such option:
    queries with a positive judgement, each present in the run (empty when the run lacks it,
    which pytrec_eval scores 0: trec_eval ``-c``)."""
    judged = positive_only(qrels)
    return judged, {q: dict(run.get(q, {})) for q in judged}


def strip_ids(run: Run) -> Run:
    return {q: {d: s for d, s in docs.items() if d != q} for q, docs in run.items()}


def untie(run: Run) -> Run:
    """The same rankings with distinct scores (trec_eval order: score, then doc id, both
    descending), so a peer that breaks ties differently (beir's MRR) sees the same lists."""
    out: Run = {}
    for q, docs in run.items():
        ranked = sorted(docs.items(), key=lambda x: (x[1], x[0]), reverse=True)
        out[q] = {d: float(len(ranked) - i) for i, (d, _) in enumerate(ranked)}
    return out


def pytrec_means(qrels: Qrels, run: Run) -> dict[str, dict[str, float]]:
    """Per-query values of MEASURES straight from pytrec_eval. MRR@10 is trec_eval's
    ``recip_rank`` over the full ranking, kept when the first hit is within rank 10."""
    spec = {"ndcg_cut.10", "recall.100,1000", "map_cut.100", "recip_rank"}
    raw = peers.pytrec_per_query(qrels, run, spec)
    out: dict[str, dict[str, float]] = {}
    for q, vals in raw.items():
        row = {name: vals[t] for name, t in TREC.items()}
        rr = vals["recip_rank"]
        row["mrr_at_10"] = rr if rr >= 1 / 10 - 1e-15 else 0.0
        out[q] = row
    return out


def check_all_peers(
    qrels: Qrels,
    run: Run,
    ignore_identical_ids: bool,
    *,
    beir_mrr: bool = True,
    peer_run: Run | None = None,
) -> dict[str, float]:
    """Assert evalkit == pytrec_eval (per query), == mteb and == beir (means). Returns
    evalkit's means. ``peer_run`` (default ``run``) exists to show the check can fail."""
    ek = evaluate_run(qrels, run, MEASURES, ignore_identical_ids=ignore_identical_ids)
    pq, prun = aligned_inputs(qrels, run if peer_run is None else peer_run)
    assert ek.n_queries_scored == len(pq)

    # (a) pytrec_eval directly, query by query.
    direct = pytrec_means(pq, strip_ids(prun) if ignore_identical_ids else prun)
    assert set(direct) == set(ek.per_query)
    for q, row in direct.items():
        for name in MEASURES:
            assert ek.per_query[q][name] == pytest.approx(row[name], abs=EXACT), (q, name)

    # (b) mteb's RetrievalEvaluator.evaluate, exact (unrounded) and as reported (rounded).
    exact = peers.mteb_scores(pq, prun, ignore_identical_ids=ignore_identical_ids, rounded=False)
    shown = peers.mteb_scores(pq, prun, ignore_identical_ids=ignore_identical_ids)
    assert exact["n_queries_averaged"] == ek.n_queries_scored
    for name in MEASURES:
        assert ek.means[name] == pytest.approx(exact[name], abs=1e-9), ("mteb", name)
        assert abs(ek.means[name] - shown[name]) <= ROUNDED, ("mteb rounded", name)

    # (c) beir's EvaluateRetrieval.evaluate (and evaluate_custom "mrr").
    exact = peers.beir_scores(pq, prun, ignore_identical_ids=ignore_identical_ids, rounded=False)
    shown = peers.beir_scores(pq, prun, ignore_identical_ids=ignore_identical_ids)
    for name in (*BEIR_MEASURES, *(("mrr_at_10",) if beir_mrr else ())):
        assert ek.means[name] == pytest.approx(exact[name], abs=1e-9), ("beir", name)
        assert abs(ek.means[name] - shown[name]) <= ROUNDED, ("beir rounded", name)
    return ek.means


# --- a small collection with every edge case, ids as in DBPedia-Entity -----------------------

OCEANIC = "<dbpedia:Oceanic_Airlines>"
LOST = "<dbpedia:Lost_(TV_series)>"


def fixture() -> tuple[Qrels, Run]:
    qrels: Qrels = {
        # graded 0..3, a judged-non-relevant row, a relevant doc tied with non-relevant ones
        "INEX_LD-2010019": {OCEANIC: 3, LOST: 1, "<dbpedia:Air_New_Zealand>": 0, "d7": 2},
        # the query's own id is judged relevant: dropping it removes a hit
        "q2": {"q2": 2, "d1": 1, "d2": 0},
        # the query's own id is retrieved first but unjudged: dropping it lifts the rest
        "q3": {"d3": 1, "d4": 3},
        # only grade-0 judgements: evalkit drops and counts it
        "q_zero": {"d4": 0, "d5": 0},
        # judged, but the run has nothing for it: evalkit scores 0
        "q_missing": {"d6": 1},
    }
    run: Run = {
        "INEX_LD-2010019": {
            "<dbpedia:Air_New_Zealand>": 0.9,
            LOST: 0.5,  # tied with the two below; trec_eval breaks ties by doc id, descending
            "d9": 0.5,
            "<dbpedia:Zzz>": 0.5,
            OCEANIC: 0.4,
            "d7": 0.1,
        },
        "q2": {"q2": 2.0, "d2": 1.5, "d1": 1.0},
        "q3": {"q3": 9.0, "d8": 5.0, "d4": 4.0, "d3": 4.0},
        "q_zero": {"d4": 1.0, "d5": 0.5},
        "q_unjudged": {"d1": 1.0},  # no qrels at all: no peer scores it
    }
    return qrels, run


@pytest.mark.parametrize("ignore", [False, True])
def test_fixture_agrees_with_every_peer(ignore: bool) -> None:
    qrels, run = fixture()
    # The fixture has ties, which beir's MRR orders differently (tested below).
    means = check_all_peers(qrels, run, ignore, beir_mrr=False)
    scores = evaluate_run(qrels, run, MEASURES, ignore_identical_ids=ignore)
    assert scores.n_queries_dropped == 1 and scores.dropped_query_ids == ["q_zero"]
    assert scores.per_query["q_missing"] == dict.fromkeys(MEASURES, 0.0)
    assert 0 < means["ndcg_at_10"] < 1


def test_identical_ids_setting_changes_scores_and_peer_defaults_differ() -> None:
    qrels, run = fixture()
    keep = evaluate_run(qrels, run, MEASURES, ignore_identical_ids=False)
    drop = evaluate_run(qrels, run, MEASURES, ignore_identical_ids=True)
    # q2: its own id was a relevant hit; q3: its own id pushed the relevant docs down.
    assert drop.per_query["q2"]["recall_at_100"] < keep.per_query["q2"]["recall_at_100"]
    assert drop.per_query["q3"]["mrr_at_10"] > keep.per_query["q3"]["mrr_at_10"]
    # Left to their defaults the peers disagree: beir drops identical ids, mteb keeps them.
    pq, prun = aligned_inputs(qrels, run)
    from beir.retrieval.evaluation import EvaluateRetrieval

    beir_default = EvaluateRetrieval.evaluate(pq, {q: dict(d) for q, d in prun.items()}, [10])
    mteb_default = peers.mteb_scores(pq, prun, ignore_identical_ids=False)
    assert beir_default[0]["NDCG@10"] == round(drop.means["ndcg_at_10"], 5)
    assert mteb_default["ndcg_at_10"] == round(keep.means["ndcg_at_10"], 5)
    assert beir_default[0]["NDCG@10"] != mteb_default["ndcg_at_10"]


def test_queries_without_a_positive_judgement() -> None:
    """evalkit drops a query whose judgements are all grade 0 (and counts it); mteb keeps it
    (its filter drops only queries with no qrels rows at all), and mteb, beir and pytrec_eval
    all average it in as 0. So peer_mean == evalkit_mean * n_positive / (n_positive + 1)."""
    qrels, run = fixture()
    run = untie(run)
    del qrels["q_missing"]  # isolate this difference
    ek = evaluate_run(qrels, run, MEASURES)
    assert ek.n_queries_dropped == 1 and ek.n_queries_scored == 3
    kept = peers.mteb_kept_queries(qrels, [*qrels, "q_unjudged"])
    assert "q_zero" in kept and "q_unjudged" not in kept
    runs = {q: run[q] for q in qrels}
    mteb = peers.mteb_scores(qrels, runs, ignore_identical_ids=False, rounded=False)
    beir = peers.beir_scores(qrels, runs, ignore_identical_ids=False, rounded=False)
    direct = peers.pytrec_per_query(qrels, runs, {"ndcg_cut.10"})
    assert direct["q_zero"] == {"ndcg_cut_10": 0.0}
    assert mteb["n_queries_averaged"] == 4
    for name in MEASURES:
        assert mteb[name] == pytest.approx(ek.means[name] * 3 / 4, abs=1e-12), name
    for name in (*BEIR_MEASURES, "mrr_at_10"):
        assert beir[name] == pytest.approx(ek.means[name] * 3 / 4, abs=1e-12), name


def test_judged_query_missing_from_the_run() -> None:
    """evalkit scores a judged query the run lacks as 0 (trec_eval -c). pytrec_eval, and so
    mteb's and beir's nDCG/Recall/MAP, average only over queries in the run; beir's MRR
    divides by len(qrels), which is -c again. (mteb's own pipeline searches every kept query,
    so there it only happens when a whole ranked list is empty.)"""
    qrels, run = fixture()
    run = untie(run)
    qrels = positive_only(qrels)
    ek = evaluate_run(qrels, run, MEASURES)
    n, covered = len(qrels), sum(q in run for q in qrels)
    assert (n, covered) == (4, 3)
    runs = {q: d for q, d in run.items() if q in qrels}
    mteb = peers.mteb_scores(qrels, runs, ignore_identical_ids=False, rounded=False)
    beir = peers.beir_scores(qrels, runs, ignore_identical_ids=False, rounded=False)
    assert mteb["n_queries_averaged"] == covered
    for name in MEASURES:
        assert mteb[name] == pytest.approx(ek.means[name] * n / covered, abs=1e-12), name
    for name in BEIR_MEASURES:
        assert beir[name] == pytest.approx(ek.means[name] * n / covered, abs=1e-12), name
    assert beir["mrr_at_10"] == pytest.approx(ek.means["mrr_at_10"], abs=1e-12)


def test_ties_follow_trec_eval_and_beir_mrr_depends_on_insertion_order() -> None:
    """trec_eval (hence evalkit, and mteb 2.26 since its fix #5092) breaks score ties by doc id,
    descending; beir's MRR sorts by score only, so dict order decides."""
    qrels: Qrels = {"q": {"a": 1}}
    forward: Run = {"q": {"a": 1.0, "b": 1.0, "c": 1.0}}
    backward: Run = {"q": {"c": 1.0, "b": 1.0, "a": 1.0}}
    for run in (forward, backward):
        ek = evaluate_run(qrels, run, ["mrr_at_10", "ndcg_at_10"])
        assert ek.means["mrr_at_10"] == pytest.approx(1 / 3)  # order c, b, a
        mteb = peers.mteb_scores(qrels, run, ignore_identical_ids=False, rounded=False)
        assert mteb["mrr_at_10"] == pytest.approx(1 / 3)
        assert mteb["ndcg_at_10"] == pytest.approx(ek.means["ndcg_at_10"], abs=EXACT)
    beir_fw = peers.beir_scores(qrels, forward, ignore_identical_ids=False, rounded=False)
    beir_bw = peers.beir_scores(qrels, backward, ignore_identical_ids=False, rounded=False)
    assert (beir_fw["mrr_at_10"], beir_bw["mrr_at_10"]) == (1.0, pytest.approx(1 / 3))
    assert beir_fw["ndcg_at_10"] == beir_bw["ndcg_at_10"]  # pytrec_eval: order-independent


# --- seeded random runs of realistic size -----------------------------------------------------


def random_collection(seed: int, n_queries: int = 200, n_docs: int = 20000) -> tuple[Qrels, Run]:
    """Graded qrels (0..3, some all-zero queries), runs of 1000-1200 docs with coarse scores
    (many ties), judged docs both inside and outside the run, and some queries' own ids."""
    rng = random.Random(seed)
    docs = [f"doc{i}" for i in range(n_docs)]
    qrels: Qrels = {}
    run: Run = {}
    for i in range(n_queries):
        q = f"q{i}"
        judged = rng.sample(docs, rng.randint(1, 30))
        grades = [rng.choice((0, 0, 1, 2, 3)) for _ in judged]
        if i % 25 == 0:
            grades = [0] * len(judged)
        qrels[q] = dict(zip(judged, grades, strict=True))
        if i % 40 == 7:
            continue  # judged but not retrieved
        pool = rng.sample(docs, rng.randint(1000, 1200))
        pool += [d for d in judged if rng.random() < 0.7]
        if i % 10 == 3:
            pool.append(q)
            if i % 20 == 3:
                qrels[q][q] = 1
        run[q] = {d: round(rng.random(), 2) for d in pool}  # 2 decimals: ties everywhere
    run["q_extra"] = {d: rng.random() for d in rng.sample(docs, 50)}
    return qrels, run


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("ignore", [False, True])
def test_random_runs_agree(seed: int, ignore: bool) -> None:
    qrels, run = random_collection(seed)
    # beir's MRR breaks ties by dict order (see the test above), not checked here.
    means = check_all_peers(qrels, run, ignore, beir_mrr=False)
    assert all(0 < v < 1 for v in means.values())


def test_tie_free_random_run_agrees_with_beir_mrr() -> None:
    qrels, run = random_collection(5, n_queries=60)
    rng = random.Random(5)
    run = {q: {d: rng.random() for d in docs} for q, docs in run.items()}
    check_all_peers(qrels, run, ignore_identical_ids=True, beir_mrr=True)


def test_a_perturbed_run_is_detected() -> None:
    """The comparisons above can fail: move each query's best-ranked relevant doc to the
    bottom and evalkit's score no longer matches what the peers give for the original run."""
    qrels, run = random_collection(3, n_queries=80)
    pq, prun = aligned_inputs(qrels, run)
    mteb = peers.mteb_scores(pq, prun, ignore_identical_ids=False, rounded=False)
    beir = peers.beir_scores(pq, prun, ignore_identical_ids=False, rounded=False)
    worse: Run = {}
    for q, docs in run.items():
        docs = dict(docs)
        rel = [d for d in docs if qrels.get(q, {}).get(d, 0) > 0]
        if rel:
            best = max(rel, key=lambda d: (docs[d], d))
            docs[best] = -1.0
        worse[q] = docs
    ek = evaluate_run(qrels, worse, MEASURES)
    for name in ("ndcg_at_10", "mrr_at_10", "map_at_100"):
        assert abs(ek.means[name] - mteb[name]) > 1e-3, name
        assert abs(ek.means[name] - beir[name]) > 1e-3, name
    with pytest.raises(AssertionError):
        check_all_peers(qrels, worse, False, beir_mrr=False, peer_run=run)


# --- the real shared collections ----------------------------------------------------------


@pytest.mark.shared_data
@pytest.mark.parametrize("name", peers.REAL_DATASETS)
def test_real_data_runs_agree(name: str) -> None:
    path = peers.shared_dataset(name)
    if path is None:
        pytest.skip(f"{peers.SHARED_DATA / name} is absent (real data lives in ../shared/data)")
    pytest.importorskip("bm25s")
    qrels, queries, bm25 = peers.bm25_run(path, k=1000)
    rng = random.Random(0)
    all_docs = sorted(
        {d for docs in bm25.values() for d in docs}
        | {d for judged in qrels.values() for d in judged}
    )
    # Random scores over judged and unjudged docs, 2 decimals so ties are frequent, plus the
    # query's own id at the top, so the identical-ids option has something to remove.
    noisy: Run = {}
    for q in queries:
        pool = set(rng.sample(all_docs, min(800, len(all_docs)))) | set(qrels.get(q, {}))
        noisy[q] = {d: round(rng.random(), 2) for d in sorted(pool)}
        noisy[q][q] = 2.0
    for run in (bm25, noisy):
        for ignore in (False, True):
            means = check_all_peers(qrels, run, ignore, beir_mrr=False)
            assert 0 < means["ndcg_at_10"] < 1
    ek = evaluate_run(qrels, bm25, MEASURES)
    assert ek.n_queries_scored == len(positive_only(qrels))
    assert ek.means["ndcg_at_10"] > 0.1  # BM25 is far better than chance on these sets


# --- the peers read the files themselves ------------------------------------------------------
# Above, every peer scores qrels and runs evalkit read. Here beir's GenericDataLoader and mteb's
# own task loader read the files on disk, the peer encodes with MiniLM and searches itself, and
# its numbers are compared with evalkit.evaluate on the same files.

AGREE = ("ndcg_at_10", "recall_at_100", "map_at_100")


def clean_folder(root: Path) -> Path:
    """The tiny collection without the cases where the peers differ by design (a query's own
    id in the corpus, a query judged only grade 0: tested above; a numeric id: tested below;
    an extra field on some records only, which mteb's batching refuses: "Found None in batch
    for key 'metadata'"), with the qrels header beir's loader needs."""
    corpus = [
        {"_id": str(d["_id"]), "title": d["title"], "text": d["text"]}
        for d in SMALL_CORPUS
        if d["_id"] != "q3"
    ]
    qrels = [r for r in SMALL_QRELS if r[1] != "q3" and r[0] != "q5"]
    return write_beir(root, corpus, SMALL_QUERIES, qrels)


def evalkit_record_and_run(suite: str, tmp: Path, **kw: Any) -> tuple[Any, Run]:
    """``evalkit.evaluate("minilm", suite, **kw)``: its record and its ranked lists (the TREC
    run file it saves)."""
    import evalkit

    [rec] = evalkit.evaluate(
        "minilm", suite, measures=list(AGREE), output_dir=tmp / "out", save_run=True, **kw
    )
    [trec] = (tmp / "out").rglob("*.trec")
    return rec, peers.read_trec_run(trec)


def assert_beir_agrees(folder: Path, rec: Any, run: Run) -> None:
    """beir end to end on ``folder`` (its loader, its MiniLM encoding, its exact search, its
    scoring) equals evalkit's record; and evalkit's own ranked lists, scored by beir with the
    qrels beir read, equal evalkit's numbers to 1e-9."""
    from evalkit.data import load_beir_dir

    beir = peers.run_beir(peers.minilm_dir(), folder)
    qrels = beir["qrels"]
    # The header line is skipped by both readers: the same judgements, the same queries.
    assert qrels == load_beir_dir(folder).qrels
    assert rec.n_queries_scored == len(positive_only(qrels)) == len(beir["queries"])
    for m in AGREE:
        assert beir["scores"][m] == pytest.approx(rec.scores[m], abs=1e-6), m
    same_lists = peers.beir_scores(qrels, run, ignore_identical_ids=False, rounded=False)
    for m in AGREE:
        assert same_lists[m] == pytest.approx(rec.scores[m], abs=1e-9), m
    for q in qrels:
        assert peers.top_ids(beir["run"][q], 10) == peers.top_ids(run[q], 10), q


def assert_mteb_agrees(task: Any, tmp: Path, rec: Any, run: Run) -> None:
    """mteb end to end (its own task loader on a local copy of the task's repository, its
    MiniLM encoding, search and scoring) equals evalkit's record and ranked lists."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(peers.minilm_dir()), device="cpu")
    scores, mteb_run = peers.run_mteb_task(model, task, tmp / "mteb")
    for m in AGREE:
        assert abs(scores[m] - rec.scores[m]) <= ROUNDED, m
    # mteb searched the queries its loader kept (here: every judged one, all with a positive).
    assert sorted(mteb_run) == sorted(run) and len(mteb_run) == rec.n_queries_scored
    for q in mteb_run:
        assert peers.top_ids(mteb_run[q], 10) == peers.top_ids(run[q], 10), q


@pytest.mark.slow
@needs_minilm
def test_peers_reading_the_files_themselves_agree(tmp_path: Path) -> None:
    """One folder, three readers: beir's GenericDataLoader (the BEIR files, header line
    included), mteb's SciFact task loader (the same data as a local copy of mteb/scifact)
    and evalkit (``--suite beir --dataset scifact --data-dir``)."""
    from evalkit.adapters.mteb_tasks import mteb_task_from_local_copy

    folder = peers.write_mteb_copy(clean_folder(tmp_path / "data" / "scifact"))
    rec, run = evalkit_record_and_run(
        "beir", tmp_path, datasets=["scifact"], data_dir=folder.parent
    )
    assert rec.dataset["source"]["layout"] == "beir-dir"  # the BEIR files, not the copy
    assert_beir_agrees(folder, rec, run)
    assert_mteb_agrees(mteb_task_from_local_copy("SciFact", folder), tmp_path, rec, run)


@pytest.mark.slow
@pytest.mark.shared_data
@needs_minilm
def test_peers_reading_the_shared_dbpedia_subset_agree(tmp_path: Path) -> None:
    """A seeded cut of the real DBPedia subset (graded 0-2, a header line, ids such as
    ``<dbpedia:Oceanic_Airlines>``), read by beir's loader as a BEIR folder, by mteb's DBPedia
    task as a local copy of mteb/dbpedia, and by evalkit as ``--dataset dbpedia-entity``."""
    from evalkit.adapters.mteb_tasks import mteb_task_from_local_copy

    src = peers.shared_dataset("dbpedia-subset")
    if src is None:
        pytest.skip(f"{peers.SHARED_DATA}/dbpedia-subset is absent")
    folder = peers.write_subset(src, tmp_path / "data" / "dbpedia-entity", n_queries=6, n_docs=40)
    assert (folder / "qrels" / "test.tsv").read_text().startswith("query-id\t")
    peers.write_mteb_copy(folder)
    rec, run = evalkit_record_and_run(
        "beir", tmp_path, datasets=["dbpedia-entity"], data_dir=folder.parent
    )
    assert 0 < rec.scores["ndcg_at_10"] < 1
    assert_beir_agrees(folder, rec, run)
    assert_mteb_agrees(mteb_task_from_local_copy("DBPedia", folder), tmp_path, rec, run)


def test_numeric_ids_are_read_differently_by_each_peer(beir_dir: Path) -> None:
    """``{"_id": 7}`` in corpus.jsonl: beir's loader keeps the int (pytrec_eval then refuses
    the run: "Unable to extract query/object scores"); mteb's loader, through ``datasets``,
    casts the mixed column to JSON text, so ``"d1"`` becomes ``'"d1"'`` and no judgement
    matches; evalkit reads every id as the string it spells."""
    from beir.datasets.data_loader import GenericDataLoader

    from evalkit.adapters.mteb_tasks import mteb_task_from_local_copy
    from evalkit.data import load_beir_dir

    corpus, _, _ = GenericDataLoader(data_folder=str(beir_dir)).load(split="test")
    assert 7 in corpus and "7" not in corpus
    task = mteb_task_from_local_copy("SciFact", peers.write_mteb_copy(beir_dir))
    task.load_data()
    mteb_ids = task.dataset["default"]["test"]["corpus"]["id"]
    assert '"d1"' in mteb_ids and "d1" not in mteb_ids
    assert load_beir_dir(beir_dir).corpus.ids == [str(d["_id"]) for d in SMALL_CORPUS]


def test_beir_loses_the_first_judgement_without_a_header(beir_dir: Path) -> None:
    """Why the folders above carry a header: beir's loader always skips line 1 (the shared
    MS MARCO subset has none), evalkit skips it only when it is not a judgement."""
    from beir.datasets.data_loader import GenericDataLoader

    from evalkit.data import load_beir_dir

    qrels_file = beir_dir / "qrels" / "test.tsv"
    qrels_file.write_text(qrels_file.read_text().split("\n", 1)[1])
    _, _, beir_qrels = GenericDataLoader(data_folder=str(beir_dir)).load(split="test")
    ours = load_beir_dir(beir_dir).qrels
    assert ours["q1"] == {"d1": 2, "d2": 0} and beir_qrels["q1"] == {"d2": 0}
    assert {q: d for q, d in ours.items() if q != "q1"} == {
        q: d for q, d in beir_qrels.items() if q != "q1"
    }
