"""The default ``bm25``'s analyzers: Lucene's language analyzers (as pyserini picks them) in
Python. Golden tokens per language (Lucene 9.9.1's own output where the analyzer matches it),
Lucene's Porter stemmer on Porter's published vocabulary and Lucene's departures, properties
of the pipeline on generated text, the record, retrieval with stemming, and (where pyserini
and Java are installed) the token streams against Lucene itself."""

from __future__ import annotations

import importlib.util
import json
import string
import sys
from pathlib import Path

import pytest
from conftest import write_beir
from hypothesis import given, settings
from hypothesis import strategies as st

from evalkit.data import load_beir_dir
from evalkit.models import bm25_analyzers as ba
from evalkit.models.bm25 import BM25Retriever
from evalkit.models.bm25_stemmers import porter_stem
from evalkit.models.registry import resolve_model
from evalkit.suites.catalog import MIRACL, MLDR

SAMPLES = Path(__file__).parent / "golden" / "analyzer_samples.json"

# Text -> the tokens Lucene 9.9.1's analyzer (pyserini 1.6) gives, for every language whose
# analyzer evalkit matches; checked against Lucene by test_token_streams_equal_lucenes.
GOLDEN: dict[str, tuple[str, list[str]]] = {
    # possessive 's, apostrophe kept inside a word, U.S -> u.s -> Porter "u.", numbers whole,
    # underscore joins, e-mail split at @ (UAX#29), stop words gone, Porter stems
    "en": (
        "The Children's books weren't cheap: U.S. prices rose 3.5% in 2019, "
        "e-mail john_doe@example.com!",
        [
            "children",
            "book",
            "weren't",
            "cheap",
            "u.",
            "price",
            "rose",
            "3.5",
            "2019",
            "e",
            "mail",
            "john_do",
            "example.com",
        ],
    ),  # fmt: skip
    # harakat, al- and li- prefixes, teh marbuta; Arabic-Indic digits as ASCII; stop word في
    "ar": ("وَالكتاب المدرسيّة للطلاب في القاهرة ٢٠٢٤", ["كتاب", "مدرس", "طلاب", "قاهر", "2024"]),
    "da": ("Børnene legede i haverne med deres venner", ["børn", "leged", "hav", "ven"]),
    # German normalisation (ä -> a, ß -> ss) and the light stemmer
    "de": (
        "Die Häuser der Bürger müssen schöner werden, sagte Müßiggänger",
        ["haus", "burg", "muss", "schon", "sagt", "mussiggang"],
    ),
    "es": (
        "Las canciones populares fueron compuestas por músicos desconocidos",
        ["cancion", "popular", "compuest", "music", "desconocid"],
    ),
    # ZWNJ as a space, Farsi yeh and keheh folded to Arabic letters
    "fa": (
        "کتاب‌های زیادی در کتابخانه‌های دانشگاه نگهداری می‌شوند",
        ["كتاب", "زيادي", "كتابخانه", "دانشگاه", "نگهداري"],
    ),
    "fi": ("Opiskelijat lukivat kirjoja kirjastoissa", ["opiskelij", "lukiv", "kirj", "kirjasto"]),
    # elision (L'), light stemmer (doubled letters collapse: accueille -> acueil)
    "fr": (
        "L'université accueille les étudiantes internationales chaque année",
        ["universit", "acueil", "etudiant", "international", "chaqu", "ane"],
    ),
    "hu": (
        "A diákok a könyvtárakban olvasták a könyveket",
        ["diák", "könyvtár", "olvasta", "könyv"],
    ),
    "it": (
        "Gli studenti hanno letto i libri nelle biblioteche dell'università",
        ["student", "letto", "libri", "bibliotec", "universit"],
    ),
    # Anserini maps ko to CJKAnalyzer: Hangul bigrams
    "ko": (
        "학생들은 도서관에서 책을",
        ["학생", "생들", "들은", "도서", "서관", "관에", "에서", "책을"],
    ),
    # DutchAnalyzer's stem overrides keep fiets
    "nl": (
        "De kinderen fietsen elke dag naar school met hun fiets",
        ["kinder", "fiets", "elk", "dag", "schol", "fiets"],
    ),
    "no": (
        "Barna lekte i hagene mens foreldrene arbeidet",
        ["barn", "lekt", "hag", "men", "foreldr", "arbeid"],
    ),
    "ru": (
        "Студенты читали книги в библиотеках университета",
        ["студент", "чита", "книг", "библиотек", "университет"],
    ),
    "sv": (
        "Barnen lekte i trädgårdarna medan föräldrarna arbetade",
        ["barn", "lekt", "trädgård", "medan", "föräldr", "arbet"],
    ),
    # pyserini's MIRACL sw/yo indexes: white space only, case and punctuation kept
    "sw": (
        "Wanafunzi walisoma vitabu, katika Maktaba.",
        ["Wanafunzi", "walisoma", "vitabu,", "katika", "Maktaba."],
    ),
    # apostrophe filter, Turkish lower case (İ -> i), Snowball Turkish
    "tr": (
        "Türkiye'nin başkenti Ankara, İstanbul'dan küçüktür",
        ["türki", "başke", "ankar", "istanbul", "küçük"],
    ),
    "yo": (
        "Àwọn akẹ́kọ̀ọ́ ka ìwé ní ilé-ìkàwé.",
        ["Àwọn", "akẹ́kọ̀ọ́", "ka", "ìwé", "ní", "ilé-ìkàwé."],
    ),
    # CJK bigrams across adjacent characters, full-width Latin folded
    "zh": (
        "北京是中国的首都，ＡＢＣ公司在这里。",
        [
            "北京",
            "京是",
            "是中",
            "中国",
            "国的",
            "的首",
            "首都",
            "abc",
            "公司",
            "司在",
            "在这",
            "这里",
        ],
    ),  # fmt: skip
}

GOLDEN.update(
    {
        # Lucene's Indonesian stemmer: particles, possessives, first- and second-order prefixes
        # (meny- -> s-, peng-), suffixes
        "id": (
            "Pemerintah memberikan bantuan kepada masyarakat yang terkena bencana, menyapu dan "
            "pengetahuan",
            ["erintah", "beri", "bantu", "masyarakat", "kena", "bencana", "sapu", "etahu"],
        ),
        # Portuguese light stemmer: plural, final vowel
        "pt": (
            "Os estudantes leram os livros nas bibliotecas",
            ["estudant", "leram", "livr", "bibliotec"],
        ),
        # Hindi normaliser (virama dropped, long vowels short) and light stemmer
        "hi": ("बच्चों ने स्कूल में किताबें पढ़ीं", ["बचच", "सकुल", "किताब", "पढिं"]),
        "bn": ("ছেলেরা মাঠে ফুটবল খেলছে", ["ছেল", "মাঠ", "ফুটবল", "খেল"]),
        "te": (
            "విద్యార్థులు గ్రంథాలయంలో పుస్తకాలు చదివారు",
            ["విద్యార్థు", "గ్రంథాలయంల", "పుస్తకా", "చదివార"],
        ),
    }
)

# Where evalkit's analyzer differs from Lucene's (said in the record's "differs"): its own
# tokens, with Lucene's alongside for the reader.
APPROXIMATE: dict[str, tuple[str, list[str], list[str]]] = {
    # PyThaiNLP's dictionary keeps compounds ICU's splits; Lucene's Thai stop words apply
    "th": ("นักเรียนอ่านหนังสือในห้องสมุดทุกวัน",
           ["นักเรียน", "อ่านหนังสือ", "ห้องสมุด", "ทุกวัน"],
           ["นักเรียน", "อ่าน", "หนังสือ", "ห้องสมุด"]),
    # Janome's morphemes (IPADIC, as Kuromoji's) with Lucene's base forms, stop tags, width
    # folding and katakana stemming; Kuromoji's search mode also splits long compounds
    "ja": ("関西国際空港からコンピューターを持ってサーバーへ行きました。",
           ["関西国際空港", "コンピュータ", "持つ", "サーバ", "行く"],
           ["関西", "国際", "空港", "コンピュータ", "持つ", "サーバ", "行く"]),
    # Morfologik's dictionary lemmas vs Snowball's Polish stemmer / no stemmer
    "pl": ("Studenci czytali książki w bibliotekach",
           ["studenc", "czyt", "książk", "w", "bibliotek"],
           ["student", "czytać", "książka", "w", "wiek", "biblioteka"]),
    "uk": ("Студенти читали книжки в бібліотеках",
           ["студенти", "читали", "книжки", "в", "бібліотеках"],
           ["студент", "читати", "книжка", "бібліотека"]),
}  # fmt: skip


@pytest.mark.parametrize("lang", sorted(GOLDEN))
def test_golden_tokens_per_language(lang: str) -> None:
    text, expected = GOLDEN[lang]
    assert ba.get_analyzer(lang)(text) == expected


@pytest.mark.parametrize("lang", sorted(APPROXIMATE))
def test_approximate_languages_say_how_they_differ(lang: str) -> None:
    text, ours, _lucene = APPROXIMATE[lang]
    analyzer = ba.get_analyzer(lang)
    assert analyzer(text) == ours
    assert analyzer.describe()["differs"]  # the record says where it is not Lucene's


def test_every_miracl_and_mldr_language_has_its_analyzer() -> None:
    langs = {lang for spec in (*MIRACL, *MLDR) for lang in spec.languages}
    assert langs <= set(ba.LANGUAGES)
    for lang in langs:
        a = ba.get_analyzer(lang)
        assert a.language == lang and a.lucene and a.name.endswith(ba.ANALYZER_VERSION)
    assert ba.get_analyzer(None).name == ba.get_analyzer("en").name == "lucene-en-v1"
    # Anserini's default for a language it has no analyzer for: English, and the record says so
    assert "English default" in ba.get_analyzer("cs").describe()["differs"]


# Porter's published examples (Porter 1980, as Lucene stems them) and Lucene's departures
# from the paper, where Snowball's "porter" answers differently (archaeologi, possibli, revv).
PORTER = {
    "caresses": "caress", "ponies": "poni", "ties": "ti", "cats": "cat", "feed": "feed",
    "agreed": "agre", "plastered": "plaster", "bled": "bled", "motoring": "motor",
    "sing": "sing", "conflated": "conflat", "troubled": "troubl", "sized": "size",
    "hopping": "hop", "tanned": "tan", "falling": "fall", "hissing": "hiss", "fizzed": "fizz",
    "failing": "fail", "filing": "file", "happy": "happi", "sky": "sky",
    "relational": "relat", "conditional": "condit", "rational": "ration",
    "digitizer": "digit", "vietnamization": "vietnam", "predication": "predic",
    "operator": "oper", "feudalism": "feudal", "decisiveness": "decis",
    "hopefulness": "hope", "callousness": "callous", "sensibiliti": "sensibl",
    "archaeology": "archaeolog", "possibly": "possibl", "revving": "rev", "us": "us",
    "generalizations": "gener",
}  # fmt: skip


def test_porter_stemmer_is_lucenes() -> None:
    assert {w: porter_stem(w) for w in PORTER} == PORTER


# --- properties on generated text -------------------------------------------------------------

_ASCII_TEXT = st.text(alphabet=string.ascii_letters + string.digits + "_.,:;'- !?@#", max_size=60)


@settings(max_examples=200, deadline=None)
@given(_ASCII_TEXT)
def test_ascii_fast_path_equals_the_unicode_path(text: str) -> None:
    """The ASCII regex is UAX#29 restricted to ASCII: same tokens as the word-boundary path."""
    general = [s for s in ba._WORD_BOUNDARY.split(text) if s and ba._HAS_ALNUM.search(s)]
    assert ba.standard_tokenize(text) == general


_MIXED = st.text(
    alphabet=st.sampled_from(
        list("abcXYZ019'.,_- ") + list("éßİΣ東京大学のカタカナ한국ภาษาไทย٣४") + ["\u200c", "😀"]
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(_MIXED)
def test_standard_tokenizer_is_idempotent(text: str) -> None:
    """Tokens joined by spaces tokenise to themselves: no token holds a boundary."""
    tokens = ba.standard_tokenize(text)
    assert ba.standard_tokenize(" ".join(tokens)) == tokens


@settings(max_examples=100, deadline=None)
@given(_MIXED, _MIXED, st.sampled_from(["en", "zh", "de", "ar", "fa", "th", "tr", "sw"]))
def test_a_space_separates_texts(a: str, b: str, lang: str) -> None:
    """Analysing two texts joined by a space gives the two token streams one after the other
    (nothing crosses a space: no bigram, no word)."""
    analyzer = ba.get_analyzer(lang)
    assert analyzer(a + " " + b) == analyzer(a) + analyzer(b)


_WORD = st.text(alphabet=string.ascii_letters, min_size=1, max_size=12)
_PIECE = st.one_of(
    _WORD,
    _WORD.map(lambda w: w + "'s"),
    _WORD.map(lambda w: w + "'S"),
    st.sampled_from(sorted(ba.ENGLISH_STOP_WORDS)).map(str.upper),
    st.sampled_from(sorted(ba.ENGLISH_STOP_WORDS)),
)


def _english_reference(pieces: list[str]) -> list[str]:
    """DefaultEnglishAnalyzer spelled out for words, possessives and stop words."""
    out = []
    for p in pieces:
        if p[-2:] in ("'s", "'S"):
            p = p[:-2]
        p = p.lower()
        if p not in ba.ENGLISH_STOP_WORDS:
            out.append(porter_stem(p))
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(_PIECE, max_size=12), st.sampled_from([" ", ", ", "; ", " - ", "\n"]))
def test_english_analyzer_equals_the_reference(pieces: list[str], sep: str) -> None:
    text = sep.join(pieces)
    assert ba.get_analyzer("en")(text) == _english_reference(pieces)


def test_long_tokens_are_cut_as_lucene_cuts_them() -> None:
    assert ba.standard_tokenize("a" * 600) == ["a" * 255, "a" * 255, "a" * 90]


# --- the retriever and its record -------------------------------------------------------------


def test_the_record_states_analyzer_stemmer_and_versions(tmp_path: Path) -> None:
    root = write_beir(tmp_path / "de", [{"_id": "d", "text": "Häuser"}], [{"_id": "q",
                      "text": "Haus"}], [("q", "d", 1)])  # fmt: skip
    r = BM25Retriever(resolve_model("bm25"))
    info = r.describe(load_beir_dir(root, language="de"))
    assert info["tokenizer"] == ba.TOKENIZER_NAME == "evalkit-lucene-v1"  # every language
    assert info["analyzer"]["name"] == "lucene-de-v1"
    assert info["analyzer"]["mimics"] == "GermanAnalyzer"
    assert info["analyzer"]["stemmer"].startswith("evalkit:GermanLightStemmer")
    assert info["tokenizer_versions"]["PyStemmer"] != "not installed"
    assert {"bm25s", "regex", "unicode"} <= set(info["tokenizer_versions"])
    assert (info["k1"], info["b"]) == (0.9, 0.4)
    assert BM25Retriever(resolve_model("bm25")).describe()["analyzer"]["name"] == "lucene-en-v1"


CORPUS = [
    {"_id": "en1", "title": "", "text": "She runs every morning in the park."},
    {"_id": "en2", "title": "", "text": "A quiet library with old books."},
    {"_id": "de1", "title": "", "text": "Die Häuser der Stadt sind alt."},
    {"_id": "de2", "title": "", "text": "Der Zug fährt nach Berlin."},
]


@pytest.mark.parametrize(
    ("lang", "query", "want"),
    [("en", "running", "en1"), ("en", "book's", "en2"), ("de", "Haus", "de1")],
)
def test_bm25_matches_inflected_forms(tmp_path: Path, lang: str, query: str, want: str) -> None:
    """Stemming: the query's word finds the document's other form of it (the earlier
    tokeniser found nothing for these)."""
    root = write_beir(tmp_path / lang, CORPUS, [{"_id": "q", "text": query}], [("q", want, 1)])
    coll = load_beir_dir(root, language=lang)
    run = BM25Retriever(resolve_model("bm25")).retrieve(coll, ["q"], top_k=10)
    assert list(run["q"]) == [want]


# --- against Lucene itself --------------------------------------------------------------------


def _lucene_ready() -> bool:
    if importlib.util.find_spec("pyserini") is None:
        return False
    from evalkit.models.bm25_lucene import find_java_home

    return find_java_home()[0] is not None


@pytest.mark.skipif(not _lucene_ready(), reason="pyserini or Java 21+ not installed")
def test_token_streams_equal_lucenes() -> None:
    """Every golden text, every sample sentence of the languages evalkit matches, and Porter's
    vocabulary: the same tokens as pyserini's Lucene analyzer."""
    sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))
    from lucene_analyzers import lucene_tokens

    for lang, (text, expected) in GOLDEN.items():
        assert lucene_tokens(lang, text) == expected, lang
    for lang, (text, _ours, theirs) in APPROXIMATE.items():
        assert lucene_tokens(lang, text) == theirs, lang
    samples = json.loads(SAMPLES.read_text(encoding="utf-8"))["languages"]
    for lang in GOLDEN:
        for text in samples.get(lang, []):
            assert ba.get_analyzer(lang)(text) == lucene_tokens(lang, text), (lang, text)
    words = sorted(PORTER)
    assert lucene_tokens("en", " ".join(words)) == [PORTER[w] for w in words]


def test_published_bm25_rows_never_call_bm25s_a_reproduction() -> None:
    """The default bm25 follows Lucene's analyzer but is bm25s: beside pyserini's BM25 flat
    row it is 'conditions differ', naming its tokenizer, even at the published value."""
    from test_published import _bm25_record, _bm25_row

    from evalkit.evaluation import published as pub

    rec = _bm25_record("arguana", 0.39701, backend="bm25s")
    rec.search["tokenizer"] = "evalkit-lucene-v1"
    [flat] = pub.compare_record(rec, [_bm25_row("flat", "0.3970")])
    assert flat.verdict == pub.CONDITIONS_DIFFER
    assert any("bm25s (tokenizer evalkit-lucene-v1)" in m for m in flat.mismatches)


def test_the_analyzer_language_of_a_collection(tmp_path: Path) -> None:
    """A language code picks its analyzer: regions dropped, mteb's ISO 639-3 subset names
    read on their documents' side; a collection without a language takes its suite's (an
    MTEB-ZH dataset is Chinese), else English."""
    from evalkit.models.bm25 import collection_language

    assert [ba.analysis_language(c) for c in ("pt-BR", "fra-fra", "eng-fra", "fra-eng")] == [
        "pt", "fr", "fr", "en"]  # fmt: skip
    assert ba.analysis_language(None) == "en"
    assert ba.get_analyzer("zho").lucene == "CJKAnalyzer"
    from evalkit.data import load
    from evalkit.dataset_spec import DatasetSpec, LoadTask
    from evalkit.suites import resolve

    # The suite says what its datasets' texts are in (pure data); the loader puts it on the
    # collection, and the analyzer reads it there: models never look suites up.
    [task] = resolve("mteb-zh", datasets=["T2Retrieval"])
    assert task.language is None and task.text_language == "zh"
    root = write_beir(tmp_path / "T2Retrieval", [{"_id": "d", "text": "北京是首都"}],
                      [{"_id": "q", "text": "首都"}], [("q", "d", 1)])  # fmt: skip
    spec = DatasetSpec(name="T2Retrieval", suite="local", layout="beir-dir",
                       source={"path": str(root)})  # fmt: skip
    coll = load(LoadTask(spec, None, task.text_language))
    assert coll.language is None and collection_language(coll) == "zh"
    assert coll.key == load_beir_dir(root).key  # not part of its identity
    # A local folder's language is not guessed from its name.
    assert collection_language(load_beir_dir(root)) is None
    info = BM25Retriever(resolve_model("bm25")).describe(coll)
    assert info["analyzer"]["mimics"] == "CJKAnalyzer"
    local = load_beir_dir(write_beir(tmp_path / "mine", [{"_id": "d", "text": "x"}],
                                     [{"_id": "q", "text": "x"}], [("q", "d", 1)]))  # fmt: skip
    assert collection_language(local) is None


def test_bm25_lucene_indexes_with_the_same_language_choice(tmp_path: Path) -> None:
    """bm25-lucene's -language follows the same rule as bm25's analyzer (no Java needed)."""
    from evalkit.models.bm25_lucene import LuceneBM25Retriever

    root = write_beir(tmp_path / "T2Retrieval", [{"_id": "d", "text": "北京"}],
                      [{"_id": "q", "text": "北京"}], [("q", "d", 1)])  # fmt: skip
    coll = load_beir_dir(root)
    assert LuceneBM25Retriever.language(coll) == "en"
    coll.text_language = "zh"  # as evalkit.data.load sets it from the suite
    assert LuceneBM25Retriever.language(coll) == "zh"
    assert LuceneBM25Retriever.language(load_beir_dir(root, language="eng-fra")) == "fr"
    assert LuceneBM25Retriever.language(load_beir_dir(root, language="de")) == "de"


_SPACED = st.text(
    alphabet=st.sampled_from(
        list("abcXYZ019's.,_-") + list("éßİ東京ภาษา٣") + [" ", "\t", "\n", "\u00a0", "\u3000"]
    ),
    max_size=50,
)


@settings(max_examples=200, deadline=None)
@given(_SPACED)
def test_chunked_memo_equals_analysing_the_whole_text(text: str) -> None:
    """The English analyzer cuts text at white space and remembers each chunk: the same tokens
    as StandardTokenizer over the whole text, then the filters (white space is never inside a
    token, whatever the white space: tab, no-break space, ideographic space)."""
    whole = [ba.lower(ba.strip_possessive(t)) for t in ba.standard_tokenize(text)]
    want = [porter_stem(t) for t in whole if t not in ba.ENGLISH_STOP_WORDS]
    analyzer = ba.get_analyzer("en")
    assert analyzer(text) == want
    assert analyzer(text) == want  # second time from the memo


def test_japanese_without_janome_falls_back_to_bigrams_and_says_so(monkeypatch) -> None:
    monkeypatch.setattr(ba, "_janome", lambda: None)
    a = ba.get_analyzer("ja")
    assert a.name == "lucene-ja-bigram-v1" and "janome is not installed" in a.describe()["differs"]
    assert a("東京は") == ["東京", "京は"]
    assert ba.get_analyzer("zh").name == "lucene-zh-v1"
