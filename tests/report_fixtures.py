"""Result records for the report, compare and export tests, made by real small runs.

BM25 runs on tiny BEIR-format folders laid out as a ``--data-dir`` for the registered suites
(all 13 BEIR datasets and two MIRACL languages), so the records carry the real suite, dataset,
split and language fields the runner writes. Each folder differs a little, so scores differ."""

from __future__ import annotations

from pathlib import Path

from conftest import SMALL_CORPUS, SMALL_QRELS, SMALL_QUERIES, write_beir

from evalkit.results import ResultRecord
from evalkit.suites import get_suite

MIRACL_LANGS = ["sw", "yo"]


def write_data_dir(root: Path) -> Path:
    """A --data-dir with every BEIR dataset and two MIRACL languages (dev split)."""
    for i, spec in enumerate(get_suite("beir").datasets):
        # Drop a different judgement per dataset: different qrels, different scores.
        qrels = [q for j, q in enumerate(SMALL_QRELS) if j != i % len(SMALL_QRELS)]
        write_beir(root / spec.name, SMALL_CORPUS, SMALL_QUERIES, qrels)
    for i, lang in enumerate(MIRACL_LANGS):
        qrels = SMALL_QRELS[: 6 + i]
        write_beir(root / "miracl" / lang, SMALL_CORPUS, SMALL_QUERIES, qrels, split="dev")
    return root


def bm25_records(data_dir: Path, out: Path | None = None) -> list[ResultRecord]:
    import evalkit

    recs = evalkit.evaluate("bm25", "beir", data_dir=data_dir, output_dir=out)
    recs += evalkit.evaluate(
        "bm25", "miracl", languages=MIRACL_LANGS, data_dir=data_dir, output_dir=out
    )
    recs += evalkit.evaluate("bm25", "demo", output_dir=out)
    return recs
