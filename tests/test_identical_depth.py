"""Identical ids at depth: mteb takes its top 1000 and then drops the query's own id (999
left); evalkit must do the same wherever it says it follows mteb. The old evalkit searched 1001
and kept 1000, which counted a relevant document at rank 1001 that mteb never sees."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import peers
import pytest

import evalkit
from evalkit.models.base import ModelSpec

N_DOCS = 1100
K = 1000


class AngleEncoder:
    """Document i sits at angle i * step from the query, so the ranking is exactly the
    corpus order; the query's own id ("q1") is also the best document."""

    def __init__(self) -> None:
        self.spec = ModelSpec(name="angles", kind="transformers", dim=2, revision="r")
        self.device = "cpu"
        self.dim = 2
        self.max_query_length = self.max_doc_length = None

    @staticmethod
    def _vec(angle: float) -> np.ndarray:
        return np.array([math.cos(angle), math.sin(angle)], dtype=np.float32)

    def encode_queries(self, texts, dim=None, batch_size=None, **kw):
        return np.stack([self._vec(0.0) for _ in texts])

    def encode_documents(self, texts_or_dicts, dim=None, batch_size=None, **kw):
        texts = [t if isinstance(t, str) else t["text"] for t in texts_or_dicts]
        return np.stack([self._vec(int(t.split()[-1]) * 1e-3) for t in texts])


@pytest.fixture()
def deep_dir(tmp_path: Path) -> Path:
    root = tmp_path / "deep"
    (root / "qrels").mkdir(parents=True)
    ids = ["q1"] + [f"d{i:04d}" for i in range(1, N_DOCS)]
    with open(root / "corpus.jsonl", "w") as f:
        for i, did in enumerate(ids):
            f.write(json.dumps({"_id": did, "title": "", "text": f"doc {i}"}) + "\n")
    (root / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "query"}) + "\n")
    # Relevant: rank 5 and rank 1001 (0-based 1000) of the unstripped ranking.
    (root / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td0004\t1\nq1\td1000\t1\n"
    )
    return root


def test_identical_ids_at_depth_equal_mteb(deep_dir: Path) -> None:
    from evalkit.data import load_beir_dir
    from evalkit.retrieval import RetrievalSettings
    from evalkit.runner import evaluate_collection

    coll = load_beir_dir(deep_dir, ignore_identical_ids=True)
    measures = ["recall_at_1000", "map_at_1000", "ndcg_at_1000", "ndcg_at_10"]
    [(rec, run)] = evaluate_collection(
        AngleEncoder(), coll, RetrievalSettings(top_k=K, cache=False), measures=measures
    )
    assert len(run["q1"]) == K - 1 and "q1" not in run["q1"]
    assert "d1000" not in run["q1"]  # rank 1001 of the search: beyond mteb's top 1000
    # mteb's own evaluator on its own search output (the top 1000, own id included).
    coll.ignore_identical_ids = False
    [(_, unstripped)] = evaluate_collection(
        AngleEncoder(), coll, RetrievalSettings(top_k=K, cache=False), measures=measures
    )
    assert len(unstripped["q1"]) == K
    theirs = peers.mteb_scores(
        coll.qrels,
        unstripped,
        ignore_identical_ids=True,
        k_values=(1, 3, 5, 10, 100, 1000),
        rounded=False,
    )
    for m in measures:
        assert rec.scores[m] == pytest.approx(theirs[m], abs=1e-12), m
    assert rec.scores["recall_at_1000"] == pytest.approx(0.5)  # one of two found


def test_cli_and_api_agree_on_depth(deep_dir: Path, tmp_path: Path) -> None:
    """Through evaluate() too (identical ids off for a local folder by default)."""
    [rec] = evalkit.evaluate(
        AngleEncoder(), str(deep_dir), measures=["recall_at_1000"], cache=False
    )
    assert rec.scores["recall_at_1000"] == pytest.approx(0.5)
