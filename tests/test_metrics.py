"""evalkit's metrics against values computed by hand from trec_eval's definitions."""

from __future__ import annotations

import math

import pytest

from evalkit.errors import EvalkitError
from evalkit.metrics import canonical, evaluate_run, label

QRELS = {"q1": {"d1": 2, "d2": 1, "d3": 0}, "q2": {"d9": 0}}
RUN = {"q1": {"d3": 0.9, "d1": 0.8, "d2": 0.7, "d4": 0.6}}


def test_graded_ndcg_recall_rr_ap_by_hand() -> None:
    s = evaluate_run(
        QRELS,
        RUN,
        [
            "ndcg_at_10",
            "recall_at_100",
            "recall_at_2",
            "mrr_at_10",
            "mrr_at_1",
            "map_at_100",
            "precision_at_2",
        ],
    )
    # trec_eval: gain = grade, discount log2(rank + 1); d3 (grade 0) is judged non-relevant.
    dcg = 0 + 2 / math.log2(3) + 1 / math.log2(4)
    idcg = 2 + 1 / math.log2(3)
    assert s.means["ndcg_at_10"] == pytest.approx(dcg / idcg, abs=1e-12)
    assert s.means["recall_at_100"] == 1.0
    assert s.means["recall_at_2"] == 0.5
    assert s.means["mrr_at_10"] == 0.5
    assert s.means["mrr_at_1"] == 0.0
    assert s.means["map_at_100"] == pytest.approx((1 / 2 + 2 / 3) / 2, abs=1e-12)
    assert s.means["precision_at_2"] == 0.5
    # q2 has only a grade-0 judgement: dropped and counted.
    assert (s.n_queries_scored, s.n_queries_dropped, s.dropped_query_ids) == (1, 1, ["q2"])


def test_judged_query_missing_from_run_scores_zero() -> None:
    qrels = {"a": {"x": 1}, "b": {"y": 1}}
    s = evaluate_run(qrels, {"a": {"x": 1.0}}, ["ndcg_at_10"])
    assert s.per_query["b"]["ndcg_at_10"] == 0.0
    assert s.means["ndcg_at_10"] == 0.5  # trec_eval -c: averaged over both judged queries


def test_ignore_identical_ids() -> None:
    qrels = {"q": {"q": 1, "d": 1}}
    run = {"q": {"q": 0.9, "d": 0.5}}
    with_self = evaluate_run(qrels, run, ["mrr_at_10", "recall_at_100"])
    without = evaluate_run(qrels, run, ["mrr_at_10", "recall_at_100"], ignore_identical_ids=True)
    assert with_self.means["mrr_at_10"] == 1.0
    assert without.means["mrr_at_10"] == 1.0  # 'd' moves to rank 1
    assert without.means["recall_at_100"] == 0.5  # the self-judgement can no longer be found


def test_mrr_cutoff_uses_trec_tie_order() -> None:
    # Equal scores: trec_eval ranks the larger doc id first, so 'b' is rank 1 and 'a' rank 2.
    s = evaluate_run({"q": {"a": 1}}, {"q": {"a": 0.5, "b": 0.5}}, ["mrr_at_1", "mrr_at_2"])
    assert s.means == {"mrr_at_1": 0.0, "mrr_at_2": 0.5}


def test_queries_restriction() -> None:
    s = evaluate_run(
        {"a": {"x": 1}, "b": {"y": 1}}, {"a": {"x": 1.0}}, ["ndcg_at_10"], queries=["a"]
    )
    assert s.n_queries_scored == 1 and s.means["ndcg_at_10"] == 1.0


def test_measure_names() -> None:
    assert canonical("nDCG@10") == "ndcg_at_10"
    assert canonical("R@100") == "recall_at_100"
    assert canonical("RR@10") == "mrr_at_10"
    assert label("map_at_100") == "AP@100"
    with pytest.raises(EvalkitError, match="--metric 'ndcg'"):
        canonical("ndcg")
    with pytest.raises(EvalkitError):
        canonical("recall_at_0")


def test_queries_may_be_any_iterable() -> None:
    qrels = {"a": {"x": 1}, "b": {"y": 1}, "c": {"z": 1}}
    run = {"a": {"x": 1.0}, "b": {"y": 1.0}, "c": {"z": 1.0}}
    s = evaluate_run(qrels, run, ["ndcg_at_10"], queries=iter(["a", "b"]))
    assert s.n_queries_scored == 2
