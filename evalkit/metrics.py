"""Scoring with trec_eval semantics through ``pytrec_eval`` (package pytrec-eval-terrier).

Measures are named as mteb names its scores (``ndcg_at_10``, ``recall_at_100``, ``mrr_at_10``,
``map_at_100``, ``recall_at_1000``, ``precision_at_10``) and are fractions in [0, 1].

Conventions (README, "Scoring"): graded relevance; grade <= 0 is judged non-relevant;
queries without a positive judgement are dropped and counted; a judged query that the run does
not cover scores 0 (trec_eval ``-c``); documents whose id equals the query id are removed first
when ``ignore_identical_ids`` is set.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pytrec_eval

from evalkit.data import Qrels
from evalkit.errors import EvalkitError

Run = dict[str, dict[str, float]]
"""query id -> {doc id -> score}. trec_eval ranks by score, ties broken by doc id (descending)."""

DEFAULT_MEASURES: tuple[str, ...] = ("ndcg_at_10", "recall_at_100")
_PATTERN = re.compile(r"^(ndcg|recall|map|mrr|precision)_at_(\d+)$")
_TREC = {"ndcg": "ndcg_cut", "recall": "recall", "map": "map_cut", "precision": "P"}


@dataclass
class Scores:
    """Mean scores plus per-query values and the bookkeeping a result record needs."""

    means: dict[str, float]
    per_query: dict[str, dict[str, float]]
    n_queries_scored: int
    n_queries_dropped: int
    dropped_query_ids: list[str] = field(default_factory=list)


def parse_measure(name: str) -> tuple[str, int]:
    """``ndcg_at_10`` -> (``ndcg``, 10). Also accepts ir_measures style ``nDCG@10``."""
    norm = name.strip()
    m = re.match(r"^(ndcg|recall|r|map|ap|mrr|rr|p|precision)@(\d+)$", norm, re.IGNORECASE)
    if m:
        fam = {"rr": "mrr", "p": "precision", "r": "recall", "ap": "map"}.get(
            m.group(1).lower(), m.group(1).lower()
        )
        norm = f"{fam}_at_{m.group(2)}"
    m = _PATTERN.match(norm.lower())
    if not m or int(m.group(2)) < 1:
        raise EvalkitError(
            f"--metric {name!r}: expected ndcg_at_K, recall_at_K, map_at_K, mrr_at_K or "
            "precision_at_K (or nDCG@K style)"
        )
    return m.group(1), int(m.group(2))


def canonical(name: str) -> str:
    fam, k = parse_measure(name)
    return f"{fam}_at_{k}"


def strip_identical_ids(run: Run) -> Run:
    """Drop retrieved documents whose id equals the query id (beir's and mteb's option)."""
    return {q: {d: s for d, s in docs.items() if d != q} for q, docs in run.items()}


def positive_qrels(qrels: Qrels) -> tuple[Qrels, list[str]]:
    """Keep queries with at least one judgement > 0; also return the dropped ids."""
    kept = {q: dict(d) for q, d in qrels.items() if any(g > 0 for g in d.values())}
    dropped = sorted(q for q in qrels if q not in kept)
    return kept, dropped


def _truncate(run: Run, k: int) -> Run:
    """Top ``k`` per query in trec_eval order (score desc, doc id desc)."""
    out: Run = {}
    for q, docs in run.items():
        ranked = sorted(docs.items(), key=lambda x: (x[1], x[0]), reverse=True)[:k]
        out[q] = dict(ranked)
    return out


def evaluate_run(
    qrels: Qrels,
    run: Run,
    measures: Iterable[str] = DEFAULT_MEASURES,
    ignore_identical_ids: bool = False,
    queries: Iterable[str] | None = None,
) -> Scores:
    """Score ``run`` against ``qrels``.

    ``queries`` restricts scoring to these query ids (those that were asked); judged queries
    outside it are neither scored nor counted as dropped."""
    names = [canonical(m) for m in measures]
    wanted = None if queries is None else set(queries)
    qrels = {q: d for q, d in qrels.items() if wanted is None or q in wanted}
    judged, dropped = positive_qrels(qrels)
    if ignore_identical_ids:
        run = strip_identical_ids(run)
    run = {q: {str(d): float(s) for d, s in run.get(q, {}).items()} for q in judged}

    per_query: dict[str, dict[str, float]] = {q: {} for q in judged}
    trec_names: dict[str, str] = {}
    mrr_cuts: set[int] = set()
    for name in names:
        fam, k = parse_measure(name)
        if fam == "mrr":
            mrr_cuts.add(k)
        else:
            trec_names[name] = f"{_TREC[fam]}_{k}"
    if trec_names and judged:
        cuts: dict[str, set[str]] = {}
        for t in trec_names.values():
            base, k = t.rsplit("_", 1)
            cuts.setdefault(base, set()).add(k)
        spec = {f"{base}.{','.join(sorted(ks, key=int))}" for base, ks in cuts.items()}
        evaluator = pytrec_eval.RelevanceEvaluator(judged, spec)
        result = evaluator.evaluate(run)
        for q in judged:
            for name, t in trec_names.items():
                per_query[q][name] = float(result.get(q, {}).get(t, 0.0))
    for k in sorted(mrr_cuts):
        # trec_eval's recip_rank has no cutoff: score the top-k list instead.
        if not judged:
            break
        evaluator = pytrec_eval.RelevanceEvaluator(judged, {"recip_rank"})
        result = evaluator.evaluate(_truncate(run, k))
        for q in judged:
            per_query[q][f"mrr_at_{k}"] = float(result.get(q, {}).get("recip_rank", 0.0))
    means = {
        name: float(np.mean([per_query[q][name] for q in judged])) if judged else float("nan")
        for name in names
    }
    return Scores(
        means=means,
        per_query=per_query,
        n_queries_scored=len(judged),
        n_queries_dropped=len(dropped),
        dropped_query_ids=dropped,
    )


_LABELS = {"ndcg": "nDCG", "recall": "R", "map": "AP", "mrr": "RR", "precision": "P"}


def label(name: str) -> str:
    """ir_measures-style short name: ``ndcg_at_10`` -> ``nDCG@10``."""
    fam, k = parse_measure(name)
    return f"{_LABELS[fam]}@{k}"
