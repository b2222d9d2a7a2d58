"""The default BM25's analyzers: Lucene's language analyzers, as pyserini picks them, in Python.

A paper's "BM25" row is pyserini's (Anserini's) Lucene BM25 with the Lucene analyzer of the
collection's language. :func:`get_analyzer` returns the closest pure-Python match of that
analyzer for a language code; what it cannot match exactly is said in its ``notes`` and lands
in the result record (``search.analyzer``).

All of them start from :func:`standard_tokenize`, Lucene's StandardTokenizer (Unicode UAX#29
word boundaries, tokens of letters, digits or emoji, at most 255 characters), then apply the
filters of the Lucene analyzer, in Lucene's order, with Lucene's stop words
(``lucene_stopwords.json``). The Lucene is 9.9.1 (pyserini 1.6, Anserini 1.7.1):

========  ==============================================================================
language  Lucene's analyzer (what pyserini uses) -> here
========  ==============================================================================
en, *     DefaultEnglishAnalyzer: possessive 's, lower case, stop words, Lucene's Porter
          stemmer (re-implemented: Snowball's ``porter`` lacks Lucene's departures).
          Languages Anserini has no analyzer for get it too, as in pyserini
zh ko     CJKAnalyzer: width folding, lower case, CJK bigrams, its stop words
ja        JapaneseAnalyzer (Kuromoji): Janome's morphemes (the same IPADIC dictionary, without
          Kuromoji's search-mode splitting of long compounds), base forms, Lucene's stop
          tags and words, width folding, katakana stemming; CJK bigrams without Janome
th        ThaiAnalyzer: dictionary word breaking (PyThaiNLP ``newmm`` for ICU's), lower case,
          decimal digits, stop words
ar        ArabicAnalyzer: lower case, digits, stop words, normaliser, Arabic light stemmer
fa        PersianAnalyzer: ZWNJ as space, lower case, digits, Arabic + Persian normalisers,
          stop words (Lucene 9.9 has no Persian stemmer in it)
hi bn te  Hindi/Bengali/TeluguAnalyzer: lower case, digits, the language's normaliser, stop
          words, its light stemmer (ported). Lucene's IndicNormalizer (script-level
          composition) is not applied, except Bengali nukta letters
de        GermanAnalyzer: German normalisation (umlauts, ß), German light stemmer (ported)
es fr it  lower case (+ elision for fr, it), stop words, Lucene's light stemmers (ported)
pt        Portuguese light stemmer (ported)
id        Lucene's Indonesian stemmer (ported; Snowball's differs on prefixes)
da fi hu  lower case, stop words, the language's Snowball stemmer (as Lucene; nl with
nl no ru  DutchAnalyzer's stem overrides, and Snowball 3's ``dutch_porter``, the Dutch
sv        stemmer of Lucene 9's Snowball)
tr        apostrophe filter, Turkish lower case, stop words, Snowball ``turkish``
pl        MorfologikAnalyzer (dictionary lemmas): Snowball ``polish`` instead
uk        UkrainianMorfologikAnalyzer (dictionary lemmas): lower case only
sw yo     WhitespaceAnalyzer (pyserini's MIRACL indexes): split on white space, nothing else
ha so
========  ==============================================================================

Every analyzer memoises its stemmer over words (a bounded cache per analyzer, and one analyzer
per run): stemming is the slow step of tokenising a large corpus.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import regex

ANALYZER_VERSION = "v1"
"""Part of every analyzer's name; changes whenever any token could change."""

TOKENIZER_NAME = f"evalkit-lucene-{ANALYZER_VERSION}"
"""What a record's ``search.tokenizer`` says for these analyzers, whatever the language (the
language's analyzer is under ``search.analyzer``): one model's runs over a multilingual suite
share their settings, as their reports' rows do."""

MAX_TOKEN_LENGTH = 255
"""StandardTokenizer's default maxTokenLength: longer tokens are cut into pieces this long."""

STEM_CACHE_WORDS = 1 << 18
"""White-space-separated chunks whose tokens each analyzer remembers (~50 MB at most, emptied
when full): words repeat, and analysing one (Porter in Python) is the slow step."""

# Lucene's EnglishAnalyzer.ENGLISH_STOP_WORDS_SET (DefaultEnglishAnalyzer's default).
ENGLISH_STOP_WORDS: frozenset[str] = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their "
    "then there these they this to was will with".split()
)
# CJKAnalyzer's stopwords.txt: the English set plus "s", "t", "www", less "an".
CJK_STOP_WORDS: frozenset[str] = frozenset(
    "a and are as at be but by for if in into is it no not of on or s such t that the their "
    "then there these they this to was will with www".split()
)

# --- StandardTokenizer ------------------------------------------------------------------------

# ASCII text: UAX#29 reduces to runs of [A-Za-z0-9_] joined by ':' '.' "'" between letters
# (WB6/7) and ',' '.' ';' "'" between digits (WB11/12).
_ASCII_TOKEN = re.compile(
    r"[A-Za-z0-9_]+(?:(?:(?<=[A-Za-z])[:.'](?=[A-Za-z])|(?<=[0-9])[,.;'](?=[0-9]))[A-Za-z0-9_]+)*"
)
# The same tokens come from cutting these spans (any joiner between word characters) with
# _ASCII_TOKEN: this one has no look-around and finds them 2-3x faster; a span without a
# joiner, nearly every one, is already a token.
_ASCII_SPAN = re.compile(r"[A-Za-z0-9_]+(?:[:.',;][A-Za-z0-9_]+)*")  # re: 2x regex's speed
_JOINERS = frozenset(":.',;")
# A segment is a token when it holds a letter, a decimal digit or an emoji (Lucene's <EMOJI>:
# © ® ™ ❤ and the like too); superscripts and fractions (² ½) are not numbers to Lucene.
_HAS_ALNUM = regex.compile(r"[\p{L}\p{Nd}\p{Extended_Pictographic}]")
# Modifier, math and currency symbols never sit inside a Lucene token; regex's word boundaries
# keep some (U+00B8 cedilla in mojibake such as "rã¸ë") inside a word.
# (U+2044 fraction slash is a mid-number character: 1⁄2 is one token.)
_INNER_SYMBOL = regex.compile(r"[[\p{Sk}\p{Sm}\p{Sc}]--[\u2044]]", regex.V1)
_WORD_BOUNDARY = regex.compile(r"\b", regex.V1 | regex.WORD)
# Lucene's grammar keeps a run of South-East Asian script letters (Thai, Lao, Khmer, Myanmar)
# as one token, where UAX#29 without a dictionary would break between every character.
# Their digits are numbers, not part of the run.
_SEA_SPLIT = regex.compile(r"([[\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}]--\p{Nd}]+)", regex.V1)
_CJK = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}\u30fc"  # U+30FC: prolonged sound mark
_CJK_CHAR = regex.compile(rf"[{_CJK}]")


def ascii_pieces(span: str) -> list[str]:
    """The StandardTokenizer tokens of one :data:`_ASCII_SPAN` match."""
    if len(span) <= MAX_TOKEN_LENGTH and _JOINERS.isdisjoint(span):
        return [span] if span.strip("_") else []
    return [p for t in _ASCII_TOKEN.findall(span) if t.strip("_") for p in _cut(t)]


def _cut(token: str) -> list[str]:
    if len(token) <= MAX_TOKEN_LENGTH:
        return [token]
    return [token[i : i + MAX_TOKEN_LENGTH] for i in range(0, len(token), MAX_TOKEN_LENGTH)]


def standard_tokenize(text: str) -> list[str]:
    """Lucene's StandardTokenizer: UAX#29 word segments holding a letter or digit (each Han or
    hiragana character its own token), runs of South-East Asian letters as one token, pieces
    of at most :data:`MAX_TOKEN_LENGTH` characters. Case is kept."""
    if text.isascii():
        out = [p for span in _ASCII_SPAN.findall(text) for p in ascii_pieces(span)]
    else:
        out = []
        for i, part in enumerate(_SEA_SPLIT.split(text)):
            if i % 2:  # a South-East Asian run
                out.append(part)
                continue
            for seg in _WORD_BOUNDARY.split(part):
                if seg and _HAS_ALNUM.search(seg):
                    if _INNER_SYMBOL.search(seg):
                        out.extend(p for p in _INNER_SYMBOL.split(seg) if _HAS_ALNUM.search(p))
                    else:
                        out.append(seg)
    if any(len(t) > MAX_TOKEN_LENGTH for t in out):
        out = [p for t in out for p in _cut(t)]
    return out


# --- filters ----------------------------------------------------------------------------------

# Java's per-character toLowerCase: İ is i (Python adds a combining dot) and Σ is always σ
# (Python writes ς at the end of a word).
_LOWER_FIX = str.maketrans({0x130: "i", 0x3A3: "\u03c3"})


def lower(token: str) -> str:
    """LowerCaseFilter: Java's per-character lower case."""
    if token.isascii():
        return token.lower()
    return token.translate(_LOWER_FIX).lower()


def strip_possessive(token: str) -> str:
    """EnglishPossessiveFilter: a trailing 's (ASCII, right or full-width apostrophe) goes."""
    if len(token) >= 2 and token[-1] in "sS" and token[-2] in "'\u2019\uff07":
        return token[:-2]
    return token


@functools.cache
def _digit_table() -> dict[int, str]:
    """Every non-ASCII decimal digit -> its ASCII digit (built on first use: ~0.1 s)."""
    return {c: str(unicodedata.decimal(chr(c))) for c in range(0x80, 0x110000)
            if unicodedata.category(chr(c)) == "Nd"}  # fmt: skip


def decimal_digits(token: str) -> str:
    """DecimalDigitFilter: every Unicode decimal digit as its ASCII digit."""
    return token if token.isascii() else token.translate(_digit_table())


_ARABIC_NORM = str.maketrans(
    {
        **{c: None for c in range(0x064B, 0x0653)},  # fathatan .. sukun
        0x0640: None,  # tatweel
        0x0622: "\u0627",  # alef with madda above -> alef
        0x0623: "\u0627",  # alef with hamza above
        0x0625: "\u0627",  # alef with hamza below
        0x0649: "\u064a",  # dotless yeh (alef maksura) -> yeh
        0x0629: "\u0647",  # teh marbuta -> heh
    }
)
_PERSIAN_NORM = str.maketrans(
    {
        0x06CC: "\u064a",  # Farsi yeh -> yeh
        0x06D2: "\u064a",  # yeh barree -> yeh
        0x06A9: "\u0643",  # keheh -> kaf
        0x06C0: "\u0647",  # heh with yeh above -> heh
        0x06C1: "\u0647",  # heh goal -> heh
        0x0654: None,  # hamza above
    }
)

_AR_PREFIXES = ("\u0627\u0644", "\u0648\u0627\u0644", "\u0628\u0627\u0644", "\u0643\u0627\u0644",
                "\u0641\u0627\u0644", "\u0644\u0644", "\u0648")  # fmt: skip
_AR_SUFFIXES = ("\u0647\u0627", "\u0627\u0646", "\u0627\u062a", "\u0648\u0646", "\u064a\u0646",
                "\u064a\u0647", "\u064a\u0629", "\u0647", "\u0629", "\u064a")  # fmt: skip


def arabic_stem(word: str) -> str:
    """Lucene's ArabicStemmer (Larkey et al.'s light8): the first matching prefix, then each
    suffix in turn, only while at least two letters (three for the conjunction w-) remain."""
    for p in _AR_PREFIXES:
        if len(word) >= (4 if len(p) == 1 else len(p) + 2) and word.startswith(p):
            word = word[len(p) :]
            break
    for s in _AR_SUFFIXES:
        if len(word) >= len(s) + 2 and word.endswith(s):
            word = word[: -len(s)]
    return word


# --- stemmers ---------------------------------------------------------------------------------


def _snowball(algorithm: str) -> Callable[[str], str]:
    import Stemmer

    return Stemmer.Stemmer(algorithm, 0).stemWord  # 0: no cache of its own; ours is around it


@dataclass
class Analyzer:
    """One language's analysis chain: ``analyze(text) -> tokens``."""

    name: str
    language: str
    lucene: str  # the Lucene analyzer (class) pyserini uses for this language
    stemmer: str | None  # e.g. "snowball:danish", "evalkit:GermanLightStemmer (Lucene's)"
    notes: str = ""
    _chain: Callable[[str], list[str]] = field(repr=False, default=lambda s: s.split())

    def analyze(self, text: str) -> list[str]:
        return self._chain(text)

    __call__ = analyze

    def describe(self) -> dict[str, Any]:
        """What a result record stores under ``search.analyzer``."""
        out: dict[str, Any] = {
            "name": self.name,
            "language": self.language,
            "mimics": self.lucene,
            "stemmer": self.stemmer,
        }
        if self.notes:
            out["differs"] = self.notes
        return out


Step = Callable[[str], str]
"""One token filter: a token in, its replacement out ("" drops it: a stop word)."""


@functools.cache
def lucene_stop_words(language: str) -> frozenset[str]:
    """The stop words of Lucene's analyzer for ``language`` (lucene_stopwords.json)."""
    path = Path(__file__).with_name("lucene_stopwords.json")
    lists = json.loads(path.read_text(encoding="utf-8"))["lists"]
    return frozenset(lists.get(language, ()))


def _stop(words: frozenset[str]) -> Step:
    return lambda t: "" if t in words else t


def _chain(*steps: Step, pre: Callable[[str], str] | None = None) -> Callable[[str], list[str]]:
    """StandardTokenizer, then ``steps`` in order on each token (Lucene's filter order).

    White space never falls inside a token (UAX#29 breaks at every white-space character, and
    each step sees one token), so a text's tokens are those of its white-space-separated
    chunks, one after the other; the tokens of each chunk are remembered, and a chunk seen
    before ("the", "John's", "(2019)") costs one dict look-up. The memo is emptied when it
    holds :data:`STEM_CACHE_WORDS` chunks, to stay bounded."""
    memo: dict[str, tuple[str, ...]] = {}

    def analyze_token(t: str) -> str:
        for step in steps:
            t = step(t)
            if not t:
                return ""
        return t

    def chain(text: str) -> list[str]:
        if pre is not None:
            text = pre(text)
        out: list[str] = []
        get = memo.get
        for chunk in text.split():
            r = get(chunk)
            if r is None:
                if len(memo) >= STEM_CACHE_WORDS:
                    memo.clear()
                r = memo[chunk] = tuple(
                    x for x in map(analyze_token, standard_tokenize(chunk)) if x
                )  # fmt: skip
            out += r
        return out

    return chain


def _english() -> tuple[Callable[[str], list[str]], str]:
    from evalkit.models.bm25_stemmers import porter_stem

    chain = _chain(strip_possessive, lower, _stop(ENGLISH_STOP_WORDS), porter_stem)
    return chain, "evalkit:PorterStemmer (Lucene's)"


def cjk_bigrams(run: str) -> list[str]:
    """CJKBigramFilter on one run of adjacent CJK characters (a lone one stays a unigram)."""
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


_WIDTH = regex.compile(r"[\uff00-\uffef]+")
_CJK_RUN = regex.compile(rf"[{_CJK}]+")


def _cjk_width(text: str) -> str:
    """CJKWidthFilter: full-width ASCII and half-width katakana folded (as NFKC folds them)."""
    return _WIDTH.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)


def _cjk_chain(text: str) -> list[str]:
    if not text.isascii():
        text = _cjk_width(text)
    out: list[str] = []
    run = ""  # CJK characters of adjacent tokens, bigrammed across token boundaries
    prev_end = -1
    pos = 0
    for t in standard_tokenize(text):
        start = text.find(t, pos)
        pos = start + len(t)
        if _CJK_CHAR.match(t) and _CJK_RUN.fullmatch(t):
            if run and start == prev_end:
                run += t
            else:
                if run:
                    out.extend(cjk_bigrams(run))
                run = t
            prev_end = pos
            continue
        if run:
            out.extend(cjk_bigrams(run))
            run = ""
        t = lower(t)
        if t not in CJK_STOP_WORDS:
            out.append(t)
    if run:
        out.extend(cjk_bigrams(run))
    return out


@functools.lru_cache(maxsize=1 << 14)
def thai_words(run: str) -> tuple[str, ...]:
    """A run of Thai characters cut into dictionary words (PyThaiNLP newmm). Cached."""
    from pythainlp.tokenize import word_tokenize

    return tuple(w for w in word_tokenize(run, engine="newmm", keep_whitespace=False) if w.strip())


_THAI_RUN = regex.compile(r"\p{Thai}+")


def _thai_chain(text: str) -> list[str]:
    """ThaiAnalyzer: Thai words, lower case, decimal digits, Lucene's Thai stop words."""
    stop = lucene_stop_words("th")
    out: list[str] = []
    for t in standard_tokenize(text):
        if _THAI_RUN.fullmatch(t):
            # ThaiTokenizer keeps a word only when it starts with a letter or digit.
            out.extend(decimal_digits(w) for w in thai_words(t) if w[0].isalnum())
        else:
            out.append(decimal_digits(lower(t)))
    return [t for t in out if t not in stop]


@functools.cache
def _janome() -> Any:
    """Janome's tokenizer (pure Python, MeCab's IPADIC: Kuromoji's dictionary), or None."""
    try:
        from janome.tokenizer import Tokenizer
    except ImportError:
        return None
    return Tokenizer()


_KATAKANA_WORD = regex.compile(r"[\p{Katakana}\u30fc]+")


def _japanese_chain(text: str) -> list[str]:
    """JapaneseAnalyzer: morphemes (Janome for Kuromoji, both IPADIC; Kuromoji's search mode
    also splits long compounds), base forms, Lucene's part-of-speech stop tags, width
    folding, stop words, a final prolonged sound mark off katakana words of 4+, lower case."""
    stoptags = lucene_stop_words("ja-stoptags")
    stop = lucene_stop_words("ja")
    out: list[str] = []
    # Width folded first: Kuromoji keeps a run of full-width digits or letters as one
    # token (which its CJKWidthFilter then folds), where Janome splits it per character.
    for tok in _janome().tokenize(_cjk_width(text)):
        pos = "-".join(p for p in tok.part_of_speech.split(",") if p != "*")
        if pos in stoptags or not tok.surface.strip():
            continue
        t = tok.base_form if tok.base_form != "*" else tok.surface
        t = _cjk_width(t)
        if t in stop:
            continue
        if len(t) >= 4 and t[-1] == "\u30fc" and _KATAKANA_WORD.fullmatch(t):
            t = t[:-1]
        out.append(lower(t))
    return out


# Java's Character.isWhitespace: Unicode space separators except the no-break ones, line and
# paragraph separators, and the ASCII controls \t \n \v \f \r and FS/GS/RS/US.
_JAVA_SPACE = regex.compile(
    r"[\t\n\x0b\f\r\x1c-\x1f\u2028\u2029[\p{Zs}--[\u00a0\u2007\u202f]]]+", regex.V1
)


def _whitespace_chain(text: str) -> list[str]:
    return [t for t in _JAVA_SPACE.split(text) if t]


def _elision(articles: frozenset[str]) -> Callable[[str], str]:
    """ElisionFilter: ``l'avion`` -> ``avion`` when the part before the apostrophe is an
    article of the language (compared in lower case)."""

    def strip(token: str) -> str:
        for i, ch in enumerate(token):
            if ch in "'\u2019":
                if token[:i].lower() in articles:
                    return token[i + 1 :]
                return token
        return token

    return strip


FRENCH_ELISION = frozenset("l m t qu n s j d c jusqu quoiqu lorsqu puisqu".split())
ITALIAN_ELISION = frozenset(
    "c l all dall dell nell sull coll pell gl agl dagl degl negl sugl un m t s v d".split()
)


def _apostrophe(token: str) -> str:
    """ApostropheFilter (Turkish): everything from the first apostrophe on goes."""
    for i, ch in enumerate(token):
        if ch in "'\u2019":
            return token[:i]
    return token


def _turkish_lower(token: str) -> str:
    """TurkishLowerCaseFilter: I -> ı, İ -> i (I + combining dot above -> i)."""
    token = token.replace("I\u0307", "i").replace("İ", "i").replace("I", "ı")
    return token.lower()


_PERSIAN_ZWNJ = str.maketrans({0x200C: " "})


def _persian_norm(token: str) -> str:
    return decimal_digits(token).translate(_ARABIC_NORM).translate(_PERSIAN_NORM)


def _arabic_norm(token: str) -> str:
    return decimal_digits(token).translate(_ARABIC_NORM)


_SNOWBALL = {
    "da": ("danish", "DanishAnalyzer"),
    "fi": ("finnish", "FinnishAnalyzer"),
    "hu": ("hungarian", "HungarianAnalyzer"),
    "nl": ("dutch_porter", "DutchAnalyzer"),  # Lucene 9's Snowball Dutch is Snowball 3's "porter"
    "no": ("norwegian", "NorwegianAnalyzer"),
    "ru": ("russian", "RussianAnalyzer"),
    "sv": ("swedish", "SwedishAnalyzer"),
}
_DUTCH_OVERRIDES = {"fiets": "fiets", "bromfiets": "bromfiets", "ei": "eier", "kind": "kinder"}
"""DutchAnalyzer's default StemmerOverrideFilter entries (applied before its stemmer)."""


def _build(language: str) -> Analyzer:
    from evalkit.models import bm25_stemmers as ls

    lang = language
    name = f"lucene-{lang}-{ANALYZER_VERSION}"
    stop = _stop(lucene_stop_words(lang))

    def stem(fn: Callable[[str], str]) -> Step:
        return fn  # the chain remembers each token's result

    if lang == "ja" and _janome() is not None:
        return Analyzer(name, lang, "JapaneseAnalyzer", "janome (IPADIC) base forms",
                        "Janome's morphemes for Kuromoji's: the same dictionary (IPADIC), "
                        "without Kuromoji's search-mode splitting of long compounds",
                        _japanese_chain)  # fmt: skip
    if lang in ("zh", "ja", "ko"):
        # Anserini 1.7.1 maps zh and ko to CJKAnalyzer, ja to JapaneseAnalyzer (Kuromoji).
        full = "JapaneseAnalyzer" if lang == "ja" else "CJKAnalyzer"
        if lang == "ja":  # janome is not installed
            name = f"lucene-ja-bigram-{ANALYZER_VERSION}"
        notes = "" if lang != "ja" else (
            "janome is not installed: CJKAnalyzer's bigrams for JapaneseAnalyzer's "
            "morphemes (pip install janome)"
        )  # fmt: skip
        return Analyzer(name, lang, full, None, notes, _cjk_chain)
    if lang == "th":
        return Analyzer(name, lang, "ThaiAnalyzer", None,
                        "Thai words broken by PyThaiNLP's newmm dictionary, not ICU's",
                        _thai_chain)  # fmt: skip
    if lang in ("sw", "yo", "ha", "so"):
        return Analyzer(name, lang, "WhitespaceAnalyzer", None, "", _whitespace_chain)
    if lang in _SNOWBALL:
        algorithm, full = _SNOWBALL[lang]
        steps: list[Step] = [lower, stop]
        if lang == "nl":
            steps.append(lambda t: _DUTCH_OVERRIDES.get(t, t))
            snow = _snowball(algorithm)
            steps.append(stem(lambda t: t if t in _DUTCH_OVERRIDES.values() else snow(t)))
        else:
            steps.append(stem(_snowball(algorithm)))
        return Analyzer(name, lang, full, f"snowball:{algorithm}", "", _chain(*steps))
    if lang == "tr":
        return Analyzer(name, lang, "TurkishAnalyzer", "snowball:turkish", "",
                        _chain(_apostrophe, _turkish_lower, stop,
                               stem(_snowball("turkish"))))  # fmt: skip
    if lang == "ar":
        return Analyzer(name, lang, "ArabicAnalyzer", "evalkit:ArabicStemmer (Lucene's)", "",
                        _chain(lower, decimal_digits, stop, _arabic_norm,
                               stem(arabic_stem)))  # fmt: skip
    if lang == "fa":
        # Lucene 9.9.1's PersianAnalyzer has no stemmer (PersianStemFilter came later).
        return Analyzer(name, lang, "PersianAnalyzer", None, "",
                        _chain(lower, decimal_digits, _arabic_norm, _persian_norm, stop,
                               pre=lambda s: s.translate(_PERSIAN_ZWNJ)))  # fmt: skip
    if lang in ("hi", "bn", "te"):
        full = {"hi": "HindiAnalyzer", "bn": "BengaliAnalyzer", "te": "TeluguAnalyzer"}[lang]
        script = full[: -len("Analyzer")]
        norm = {"hi": ls.hindi_normalize, "bn": ls.bengali_normalize,
                "te": ls.telugu_normalize}[lang]  # fmt: skip
        stemmer = {"hi": ls.hindi_stem, "bn": ls.bengali_stem, "te": ls.telugu_stem}[lang]
        return Analyzer(name, lang, full, f"evalkit:{script}Stemmer (Lucene's)",
                        "Lucene's IndicNormalizer (script-level composition) is not applied"
                        + (" beyond nukta letters" if lang == "bn" else ""),
                        _chain(lower, decimal_digits, norm, stop, stem(stemmer)))  # fmt: skip
    if lang == "de":
        return Analyzer(name, lang, "GermanAnalyzer", "evalkit:GermanLightStemmer (Lucene's)",
                        "", _chain(lower, stop, ls.german_normalize,
                                   stem(ls.german_light_stem)))  # fmt: skip
    if lang == "es":
        return Analyzer(name, lang, "SpanishAnalyzer", "evalkit:SpanishLightStemmer (Lucene's)",
                        "", _chain(lower, stop, stem(ls.spanish_light_stem)))  # fmt: skip
    if lang == "it":
        return Analyzer(name, lang, "ItalianAnalyzer", "evalkit:ItalianLightStemmer (Lucene's)",
                        "", _chain(_elision(ITALIAN_ELISION), lower, stop,
                                   stem(ls.italian_light_stem)))  # fmt: skip
    if lang == "fr":
        return Analyzer(name, lang, "FrenchAnalyzer", "evalkit:FrenchLightStemmer (Lucene's)",
                        "", _chain(_elision(FRENCH_ELISION), lower, stop,
                                   stem(ls.french_light_stem)))  # fmt: skip
    if lang == "pt":
        return Analyzer(name, lang, "PortugueseAnalyzer",
                        "evalkit:PortugueseLightStemmer (Lucene's)", "",
                        _chain(lower, stop, stem(ls.portuguese_light_stem)))  # fmt: skip
    if lang == "id":
        return Analyzer(name, lang, "IndonesianAnalyzer",
                        "evalkit:IndonesianStemmer (Lucene's)", "",
                        _chain(lower, stop, stem(ls.indonesian_stem)))  # fmt: skip
    if lang == "pl":
        return Analyzer(name, lang, "MorfologikAnalyzer", "snowball:polish",
                        "Morfologik's dictionary lemmas replaced by Snowball's Polish stemmer",
                        _chain(lower, stem(_snowball("polish"))))  # fmt: skip
    if lang == "uk":
        return Analyzer(name, lang, "UkrainianMorfologikAnalyzer", None,
                        "Morfologik's dictionary lemmas not applied", _chain(lower))  # fmt: skip
    chain, stemmer = _english()
    notes = "" if lang == "en" else (
        f"no Lucene analyzer in Anserini for {lang!r}: its English default, as pyserini's"
    )  # fmt: skip
    return Analyzer(f"lucene-en-{ANALYZER_VERSION}", lang, "DefaultEnglishAnalyzer", stemmer,
                    notes, chain)  # fmt: skip


LANGUAGES: tuple[str, ...] = (
    "ar", "bn", "da", "de", "en", "es", "fa", "fi", "fr", "ha", "hi", "hu", "id", "it", "ja",
    "ko", "nl", "no", "pl", "pt", "ru", "so", "sv", "sw", "te", "th", "tr", "uk", "yo", "zh",
)  # fmt: skip
"""Languages with an analyzer of their own (every other language gets the English one)."""


# ISO 639-3 (mteb's subset names: "fra-fra", "eng-fra") -> the codes above.
_ISO_639_3 = {
    "ara": "ar", "ben": "bn", "cmn": "zh", "dan": "da", "deu": "de", "eng": "en", "fas": "fa",
    "fin": "fi", "fra": "fr", "hin": "hi", "hun": "hu", "ind": "id", "ita": "it", "jpn": "ja",
    "kor": "ko", "nld": "nl", "nob": "no", "nor": "no", "pol": "pl", "por": "pt", "rus": "ru",
    "spa": "es", "swa": "sw", "swe": "sv", "tel": "te", "tha": "th", "tur": "tr", "ukr": "uk",
    "yor": "yo", "zho": "zh", "nb": "no", "nn": "no",
}  # fmt: skip


def analysis_language(language: str | None) -> str:
    """The analyzer language of a collection's language code: ``en`` for none (pyserini's
    default); ``pt-BR`` -> pt; an mteb subset ``eng-fra`` (queries-documents) -> fr, the
    documents' language, which the index is built from."""
    code = (language or "en").lower().replace("_", "-")
    parts = code.split("-")
    if len(parts) == 2 and len(parts[0]) == len(parts[1]) == 3:
        code = parts[1]
    else:
        code = parts[0]
    return _ISO_639_3.get(code, code)


def get_analyzer(language: str | None) -> Analyzer:
    """A fresh analyzer (with its own memo) for ``language`` (:func:`analysis_language`)."""
    return _build(analysis_language(language))


def analyzer_versions() -> dict[str, str]:
    """What the tokens depend on besides evalkit: Unicode tables, regex, Snowball, PyThaiNLP."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"unicode": unicodedata.unidata_version}
    for pkg in ("regex", "PyStemmer", "pythainlp", "janome", "bm25s"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out
