"""The default BM25's tokeniser: one rule set for every language of MIRACL-18 and MLDR-13.

Steps, in order:

1. **NFKC.** Composes decomposed accents (``e`` + U+0301 -> ``é``) so both spellings match, and
   folds compatibility forms: full-width Latin and digits, half-width katakana (what Lucene's
   CJKWidthFilter does for its CJK analyzer) and Arabic presentation forms. NFC would leave
   those apart; what NFKC also folds (superscripts, ligatures) carries no meaning for search.
2. **Format characters.** ZWNJ next to Arabic-script letters separates words (the Persian
   half-space, as Lucene's PersianCharFilter treats it); elsewhere ZWNJ/ZWJ, soft hyphen and
   word joiner only shape rendering and are removed; zero-width space separates words.
3. **Arabic script** as Lucene's Arabic and Persian normalisers: harakat, tatweel and hamza above
   removed; alef, teh marbuta, alef maksura, Persian yeh, keheh and heh variants folded.
4. **Case:** Unicode case folding (``str.casefold``: lower case, ``ß`` -> ``ss``, final sigma),
   then NFKC again because folding can produce unnormalised sequences.
5. **Words** are runs of letters, digits and *combining marks* (Devanagari, Bengali and Telugu
   vowel signs and viramas, Thai vowels and tone marks, Yoruba tone marks stay in the word),
   starting with a letter or digit. Everything else separates, as before (``doesn't`` ->
   ``doesn``, ``t``).
6. **Thai** runs are cut into words with PyThaiNLP's dictionary tokenizer (``newmm``): Thai has
   no spaces between words. Chosen over ICU because it is a pure-Python wheel with no required
   dependencies, maintained for Thai specifically; ICU reaches PyPI only as third-party rebuilds.
7. **CJK** (Han, hiragana, katakana, hangul) as Lucene's CJKAnalyzer: each run of adjacent CJK
   characters gives its overlapping bigrams; a run of one character gives that character.
8. English stop words (bm25s' list, as in v1) are removed from every language.

No stemming. ASCII text takes a fast path with the same result.
"""

from __future__ import annotations

import functools
import unicodedata

import regex

TOKENIZER_NAME = "evalkit-multilingual-v2"
"""Changes whenever a token could change; records store it with the scores."""

_CJK = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}\u30fc"  # U+30FC: katakana long vowel mark
_THAI = r"\p{Thai}"
_BASE = rf"[[\p{{L}}\p{{N}}]--[{_CJK}{_THAI}]]"
# One alternation, so each run is classified in a single pass: CJK run | Thai run | other word.
# A word starts with a letter or digit: a combining mark with no base (NFKC turns a spacing
# diacritic such as U+00B8 into space + mark) separates, as it did in v1.
_RUNS = regex.compile(rf"([{_CJK}]+)|([{_THAI}]+)|({_BASE}(?:{_BASE}|\p{{M}})*)", regex.V1)
_ASCII_WORD = regex.compile(r"[a-z0-9]+")
_ZWNJ_ARABIC = regex.compile(r"(?<=\p{Arabic})\u200c|\u200c(?=\p{Arabic})")

_ARABIC_FOLD = {
    **{c: None for c in range(0x064B, 0x0653)},  # harakat: fathatan .. sukun
    0x0640: None,  # tatweel
    0x0654: None,  # hamza above (Persian normaliser)
    0x0622: "\u0627",  # alef with madda above -> alef
    0x0623: "\u0627",  # alef with hamza above
    0x0625: "\u0627",  # alef with hamza below
    0x0629: "\u0647",  # teh marbuta -> heh
    0x0649: "\u064a",  # alef maksura -> yeh
    0x06CC: "\u064a",  # Farsi yeh -> yeh
    0x06D2: "\u064a",  # yeh barree -> yeh
    0x06A9: "\u0643",  # keheh -> kaf
    0x06C0: "\u0647",  # heh with yeh above -> heh
    0x06C1: "\u0647",  # heh goal -> heh
}
_FOLD = str.maketrans(
    {
        **_ARABIC_FOLD,
        0x200C: None,  # ZWNJ (outside Arabic script)
        0x200D: None,  # ZWJ
        0x00AD: None,  # soft hyphen
        0x2060: None,  # word joiner
        0xFEFF: None,  # BOM / zero-width no-break space
        0x200B: " ",  # zero-width space separates words (used so in Thai and Khmer)
        0x0130: "i",  # İ: casefold would give i + combining dot; Lucene's lower-casing gives i
    }
)


def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


ENGLISH_STOPWORDS: frozenset[str] = _stopwords()


def normalize(text: str) -> str:
    """Steps 1-4: the text the word pattern is applied to."""
    text = unicodedata.normalize("NFKC", text)
    if "\u200c" in text:
        text = _ZWNJ_ARABIC.sub(" ", text)
    text = text.translate(_FOLD).casefold()
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return text


def cjk_bigrams(run: str) -> list[str]:
    """Lucene's CJKBigramFilter on one run of adjacent CJK characters."""
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


@functools.lru_cache(maxsize=1 << 14)
def thai_words(run: str) -> tuple[str, ...]:
    """A run of Thai characters cut into dictionary words. Cached: runs repeat a lot."""
    from pythainlp.tokenize import word_tokenize

    return tuple(w for w in word_tokenize(run, engine="newmm", keep_whitespace=False) if w.strip())


def tokenize(text: str, stopwords: frozenset[str] = frozenset()) -> list[str]:
    """The tokens BM25 indexes and searches for ``text``; see the module docstring."""
    if text.isascii():
        # NFKC and casefold are the identity/lower() on ASCII, and no CJK/Thai run can occur.
        return [t for t in _ASCII_WORD.findall(text.lower()) if t not in stopwords]
    tokens: list[str] = []
    for cjk, thai, word in _RUNS.findall(normalize(text)):
        if word:
            tokens.append(word)
        elif cjk:
            tokens.extend(cjk_bigrams(cjk))
        else:
            tokens.extend(thai_words(thai))
    return [t for t in tokens if t not in stopwords]


def tokenizer_versions() -> dict[str, str]:
    """What the tokens depend on besides evalkit: the Unicode tables and the Thai dictionary."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"name": TOKENIZER_NAME, "unicode": unicodedata.unidata_version}
    for pkg in ("regex", "pythainlp"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out
