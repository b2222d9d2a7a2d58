"""``bm25`` (Lucene's analyzers in Python, bm25s) side by side with ``bm25-lucene`` (pyserini).

Three measurements, each printed as a table (README: "BM25 vs pyserini's Lucene BM25"):

``ndcg``    nDCG@10 and R@100 of ``bm25``, ``bm25-multilingual-nostem`` and ``bm25-lucene`` on
            every BEIR folder under ``--data`` (default ../shared/data), top-1000.
``tokens``  token agreement of each language's analyzer with pyserini's Lucene analyzer: on the
            English collections' documents and queries, and on the sample sentences of
            tests/golden/analyzer_samples.json for every language there.
``speed``   tokens/s of the earlier tokeniser and of the English analyzer (fresh stem memo) on
            the documents of one collection.

Needs the ``lucene`` extra for ``ndcg`` and ``tokens`` (run it from a venv that has it)::

    PYTHONPATH=. /path/to/lucene-venv/bin/python benchmarks/bench_bm25_lucene.py all
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
SAMPLES = ROOT / "tests" / "golden" / "analyzer_samples.json"


def _collections(data: Path) -> list[Path]:
    return sorted(p for p in data.iterdir() if (p / "corpus.jsonl").is_file())


def ndcg(data: Path, top_k: int) -> None:
    from evalkit.data import load_beir_dir
    from evalkit.metrics import evaluate_run
    from evalkit.models.registry import load_sparse, resolve_model

    models = ["bm25", "bm25-multilingual-nostem", "bm25-lucene"]
    print(f"| collection | metric | {' | '.join(models)} | bm25 - bm25-lucene |")
    print("|---|---|" + "---|" * (len(models) + 1))
    for folder in _collections(data):
        coll = load_beir_dir(folder, language="en")
        qids = sorted(coll.queries)
        scores, secs = {}, {}
        for name in models:
            retriever = load_sparse(resolve_model(name))
            t = time.perf_counter()
            run = retriever.retrieve(coll, qids, top_k)
            secs[name] = time.perf_counter() - t
            scores[name] = evaluate_run(coll.qrels, run, ("ndcg_at_10", "recall_at_100")).means
        for m, label in (("ndcg_at_10", "nDCG@10"), ("recall_at_100", "R@100")):
            vals = " | ".join(f"{scores[n][m]:.4f}" for n in models)
            diff = scores["bm25"][m] - scores["bm25-lucene"][m]
            print(f"| {folder.name} | {label} | {vals} | {diff:+.4f} |")
        print(
            f"| {folder.name} | seconds | " + " | ".join(f"{secs[n]:.1f}" for n in models) + " | |"
        )


def _agreement(pairs: list[tuple[list[str], list[str]]]) -> tuple[float, float, int]:
    """(token agreement, share of texts with identical token streams, tokens): agreement is
    twice the tokens both streams share (as multisets) over the tokens of both."""
    shared = total = same = 0
    for ours, theirs in pairs:
        shared += sum((Counter(ours) & Counter(theirs)).values())
        total += len(ours) + len(theirs)
        same += ours == theirs
    return (2 * shared / total if total else 1.0), same / max(len(pairs), 1), total // 2


def tokens(data: Path) -> None:
    from lucene_analyzers import lucene_tokens

    from evalkit.data import doc_text, load_beir_dir
    from evalkit.models.bm25_analyzers import get_analyzer

    print("| language | text | texts | tokens | token agreement | identical streams |")
    print("|---|---|---|---|---|---|")
    en = get_analyzer("en")
    for folder in _collections(data):
        coll = load_beir_dir(folder, language="en")
        texts = [doc_text(d, coll.title_join) for _, docs in coll.corpus.iter_slices(4096)
                 for d in docs] + list(coll.queries.values())  # fmt: skip
        agree, same, n = _agreement([(en(t), lucene_tokens("en", t)) for t in texts])
        print(
            f"| en | {folder.name} docs+queries | {len(texts)} | {n} | {agree:.2%} | {same:.2%} |"
        )
    samples = json.loads(SAMPLES.read_text(encoding="utf-8"))
    for lang, sentences in sorted(samples["languages"].items()):
        analyzer = get_analyzer(lang)
        pairs = [(analyzer(t), lucene_tokens(lang, t)) for t in sentences]
        agree, same, n = _agreement(pairs)
        print(f"| {lang} | samples | {len(sentences)} | {n} | {agree:.2%} | {same:.2%} |")


def speed(data: Path, repeat: int) -> None:
    """Tokens/s of both tokenisers on each collection's documents: once (the analyzer's memo
    starts empty) and as ``repeat`` copies (its memo warm after the first: as on a large
    corpus, where most words were seen before)."""
    from evalkit.data import doc_text, load_beir_dir
    from evalkit.models.bm25_analyzers import get_analyzer
    from evalkit.models.bm25_tokenize import ENGLISH_STOPWORDS, tokenize

    print("| collection | documents | tokeniser | seconds | tokens | tokens/s |")
    print("|---|---|---|---|---|---|")
    for folder in _collections(data):
        coll = load_beir_dir(folder, language="en")
        once = [doc_text(d, coll.title_join) for _, docs in coll.corpus.iter_slices(4096)
                for d in docs]  # fmt: skip
        for texts in (once, once * repeat):
            for label, fn in (
                ("evalkit-multilingual-v2", lambda t: tokenize(t, ENGLISH_STOPWORDS)),
                ("lucene-en-v1 (fresh memo)", get_analyzer("en").analyze),
            ):
                t0 = time.perf_counter()
                n = sum(len(fn(t)) for t in texts)
                s = time.perf_counter() - t0
                print(f"| {folder.name} | {len(texts):,} | {label} | {s:.2f} | {n:,} | "
                      f"{n / s:,.0f} |")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["ndcg", "tokens", "speed", "all"])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--top-k", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=4, help="speed: corpus copies to tokenise")
    a = ap.parse_args()
    if a.what in ("speed", "all"):
        speed(a.data, a.repeat)
    if a.what in ("tokens", "all"):
        tokens(a.data)
    if a.what in ("ndcg", "all"):
        ndcg(a.data, a.top_k)


if __name__ == "__main__":
    main()
