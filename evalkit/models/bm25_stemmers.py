"""Lucene's light stemmers that have no Python package, re-implemented rule for rule.

Each follows the Lucene class named in its docstring (Jacques Savoy's "light" stemmers, used
by Lucene's German, Spanish, Italian and French analyzers), on a lower-cased word, and works on
a list of characters because the Java ones rewrite letters in place before cutting the end.
``tests/test_bm25_analyzers.py`` checks them on examples of Lucene's own test vocabulary rules
and, where pyserini is installed, against Lucene itself.
"""

from __future__ import annotations

from collections.abc import Callable

_FOLD_ALL = str.maketrans("àáâäòóôöèéêëùúûüìíîï", "aaaaooooeeeeuuuuiiii")
_FOLD_DE = str.maketrans("äàáâöòóôïìíîüùúû", "aaaaooooiiiiuuuu")


def german_light_stem(word: str) -> str:
    """GermanLightStemmer (Savoy's UniNE): accents folded, then two suffix steps."""
    s = word.translate(_FOLD_DE)
    n = len(s)
    st = "bdfghklmnt"  # letters before which an 's'/'st' ending may go

    # step 1
    if n > 5 and s.endswith("ern", 0, n):
        n -= 3
    elif n > 4 and s[n - 2] == "e" and s[n - 1] in "mnrs":
        n -= 2
    elif n > 3 and s[n - 1] == "e":
        n -= 1
    elif n > 3 and s[n - 1] == "s" and s[n - 2] in st:
        n -= 1
    # step 2
    if n > 5 and s.endswith("est", 0, n):
        n -= 3
    elif n > 4 and s[n - 2] == "e" and s[n - 1] in "rn":
        n -= 2
    elif n > 4 and s[n - 2] == "s" and s[n - 1] == "t" and s[n - 3] in st:
        n -= 2
    return s[:n]


def german_normalize(word: str) -> str:
    """GermanNormalizationFilter: ä ö ü -> a o u, ß -> ss, and the 'e' of ae/oe/ue dropped
    (not in 'eue', 'que' and the like: Lucene's three-state machine)."""
    n_state, v_state, u_state = 0, 1, 2
    state = n_state
    out: list[str] = []
    for c in word:
        if c in "ao":
            state = u_state
        elif c == "u":
            state = u_state if state == n_state else v_state
        elif c == "e":
            if state == u_state:
                state = v_state
                continue
            state = v_state
        elif c in "iqy":
            state = v_state
        elif c in "äöü":
            c = {"ä": "a", "ö": "o", "ü": "u"}[c]
            state = v_state
        elif c == "ß":
            c = "ss"
            state = n_state
        else:
            state = n_state
        out.append(c)
    return "".join(out)


def spanish_light_stem(word: str) -> str:
    """SpanishLightStemmer (Savoy, CLEF 2001): plural and gender endings of words of 5+."""
    if len(word) < 5:
        return word
    s = list(word.translate(_FOLD_ALL))
    n = len(s)
    last = s[n - 1]
    if last in "oae":
        return "".join(s[: n - 1])
    if last == "s":
        if s[n - 2] == "e" and s[n - 3] == "s" and s[n - 4] == "e":
            return "".join(s[: n - 2])
        if s[n - 2] == "e" and s[n - 3] == "c":
            s[n - 3] = "z"
            return "".join(s[: n - 2])
        if s[n - 2] in "oae":
            return "".join(s[: n - 2])
    return "".join(s)


def italian_light_stem(word: str) -> str:
    """ItalianLightStemmer (Savoy, CLEF 2001): final vowels of words of 6+."""
    if len(word) < 6:
        return word
    s = word.translate(_FOLD_ALL)
    n = len(s)
    last, prev = s[n - 1], s[n - 2]
    if last == "e" or last == "i":
        return s[: n - 2] if prev in "ih" else s[: n - 1]
    if last == "a" or last == "o":
        return s[: n - 2] if prev == "i" else s[: n - 1]
    return s


_FR_NORM = str.maketrans("àáâôèéêùûîç", "aaaoeeeuuic")


def _fr_norm(s: list[str], n: int) -> int:
    if n > 4:
        for i in range(n):
            s[i] = s[i].translate(_FR_NORM)
        # Doubled letters collapse (Lucene deletes in place and re-reads the shifted letter).
        i, ch = 1, s[0]
        while i < n:
            if s[i] == ch and ch.isalpha():
                del s[i]
                n -= 1
            else:
                ch = s[i]
                i += 1
    if n > 4 and s[n - 2] == "i" and s[n - 1] == "e":
        n -= 2
    if n > 4:
        if s[n - 1] == "r":
            n -= 1
        if s[n - 1] == "e":
            n -= 1
        if s[n - 1] == "e":
            n -= 1
        if s[n - 1] == s[n - 2] and s[n - 1].isalpha():
            n -= 1
    return n


def french_light_stem(word: str) -> str:
    """FrenchLightStemmer (Savoy's UniNE)."""
    s = list(word)
    n = len(s)

    def ends(suffix: str) -> bool:
        k = len(suffix)
        return n >= k and "".join(s[n - k : n]) == suffix

    def done(m: int) -> str:
        return "".join(s[: _fr_norm(s, m)])

    if n > 5 and s[n - 1] == "x":
        if s[n - 3] == "a" and s[n - 2] == "u" and s[n - 4] != "e":
            s[n - 2] = "l"
        n -= 1
    if n > 3 and s[n - 1] == "x":
        n -= 1
    if n > 3 and s[n - 1] == "s":
        n -= 1
    if n > 9 and ends("issement"):
        n -= 6
        s[n - 1] = "r"
        return done(n)
    if n > 8 and ends("issant"):
        n -= 4
        s[n - 1] = "r"
        return done(n)
    if n > 6 and ends("ement"):
        n -= 4
        if n > 3 and ends("ive"):
            n -= 1
            s[n - 1] = "f"
        return done(n)
    if n > 11 and ends("ficatrice"):
        n -= 5
        s[n - 2], s[n - 1] = "e", "r"
        return done(n)
    if n > 10 and ends("ficateur"):
        n -= 4
        s[n - 2], s[n - 1] = "e", "r"
        return done(n)
    if n > 9 and ends("catrice"):
        n -= 3
        s[n - 4], s[n - 3], s[n - 2] = "q", "u", "e"
        return done(n)
    if n > 8 and ends("cateur"):
        n -= 2
        s[n - 4], s[n - 3], s[n - 2], s[n - 1] = "q", "u", "e", "r"
        return done(n)
    if n > 8 and ends("atrice"):
        n -= 4
        s[n - 2], s[n - 1] = "e", "r"
        return done(n)
    if n > 7 and ends("ateur"):
        n -= 3
        s[n - 2], s[n - 1] = "e", "r"
        return done(n)
    if n > 6 and ends("trice"):
        n -= 1
        s[n - 3], s[n - 2], s[n - 1] = "e", "u", "r"
    if n > 5 and ends("ième"):
        return done(n - 4)
    if n > 7 and ends("teuse"):
        n -= 2
        s[n - 1] = "r"
        return done(n)
    if n > 6 and ends("teur"):
        n -= 1
        s[n - 1] = "r"
        return done(n)
    if n > 5 and ends("euse"):
        return done(n - 2)
    if n > 8 and ends("ère"):
        n -= 1
        s[n - 2] = "e"
        return done(n)
    if n > 7 and ends("ive"):
        n -= 1
        s[n - 1] = "f"
        return done(n)
    if n > 4 and (ends("folle") or ends("molle")):
        n -= 2
        s[n - 1] = "u"
        return done(n)
    if n > 9 and ends("nnelle"):
        return done(n - 5)
    if n > 9 and ends("nnel"):
        return done(n - 3)
    if n > 4 and ends("ète"):
        n -= 1
        s[n - 2] = "e"
    if n > 8 and ends("ique"):
        n -= 4
    if n > 8 and ends("esse"):
        return done(n - 3)
    if n > 7 and ends("inage"):
        return done(n - 3)
    if n > 9 and ends("isation"):
        n -= 7
        if n > 5 and ends("ual"):
            s[n - 2] = "e"
        return done(n)
    if n > 9 and ends("isateur"):
        return done(n - 7)
    if n > 8 and ends("ation"):
        return done(n - 5)
    if n > 8 and ends("ition"):
        return done(n - 5)
    return done(n)


class _Porter:
    """Martin Porter's stemmer as Lucene's PorterStemmer has it: the 1980 algorithm plus the
    reference C version's departures (``bli`` -> ``ble``, ``logi`` -> ``log``, any doubled
    consonant undoubled in step 1b, words of one or two letters left alone). Snowball's
    ``porter`` lacks these, and differs on ~0.1% of English tokens."""

    __slots__ = ("b", "j", "k")

    def __init__(self, word: str) -> None:
        self.b = list(word)
        self.k = len(word) - 1
        self.j = 0

    def cons(self, i: int) -> bool:
        c = self.b[i]
        if c in "aeiou":
            return False
        if c == "y":
            return True if i == 0 else not self.cons(i - 1)
        return True

    def m(self) -> int:
        n, i, j = 0, 0, self.j
        while True:
            if i > j:
                return n
            if not self.cons(i):
                break
            i += 1
        i += 1
        while True:
            while True:
                if i > j:
                    return n
                if self.cons(i):
                    break
                i += 1
            i += 1
            n += 1
            while True:
                if i > j:
                    return n
                if not self.cons(i):
                    break
                i += 1
            i += 1

    def vowel_in_stem(self) -> bool:
        return any(not self.cons(i) for i in range(self.j + 1))

    def doublec(self, j: int) -> bool:
        return j >= 1 and self.b[j] == self.b[j - 1] and self.cons(j)

    def cvc(self, i: int) -> bool:
        if i < 2 or not self.cons(i) or self.cons(i - 1) or not self.cons(i - 2):
            return False
        return self.b[i] not in "wxy"

    def ends(self, s: str) -> bool:
        n = len(s)
        o = self.k - n + 1
        if o < 0 or "".join(self.b[o : self.k + 1]) != s:
            return False
        self.j = self.k - n
        return True

    def setto(self, s: str) -> None:
        o = self.j + 1
        self.b[o : o + len(s)] = list(s)
        del self.b[o + len(s) :]
        self.k = self.j + len(s)

    def r(self, s: str) -> None:
        if self.m() > 0:
            self.setto(s)

    def step1ab(self) -> None:
        b = self.b
        if b[self.k] == "s":
            if self.ends("sses"):
                self.k -= 2
            elif self.ends("ies"):
                self.setto("i")
            elif b[self.k - 1] != "s":
                self.k -= 1
        if self.ends("eed"):
            if self.m() > 0:
                self.k -= 1
        elif (self.ends("ed") or self.ends("ing")) and self.vowel_in_stem():
            self.k = self.j
            if self.ends("at"):
                self.setto("ate")
            elif self.ends("bl"):
                self.setto("ble")
            elif self.ends("iz"):
                self.setto("ize")
            elif self.doublec(self.k):
                self.k -= 1
                if self.b[self.k] in "lsz":
                    self.k += 1
            elif self.m() == 1 and self.cvc(self.k):
                self.setto("e")

    def step1c(self) -> None:
        if self.ends("y") and self.vowel_in_stem():
            self.b[self.k] = "i"

    def _rules(self, rules: tuple[tuple[str, str], ...]) -> None:
        for suffix, repl in rules:
            if self.ends(suffix):
                self.r(repl)
                return

    _STEP2 = {
        "a": (("ational", "ate"), ("tional", "tion")),
        "c": (("enci", "ence"), ("anci", "ance")),
        "e": (("izer", "ize"),),
        "l": (("bli", "ble"), ("alli", "al"), ("entli", "ent"), ("eli", "e"), ("ousli", "ous")),
        "o": (("ization", "ize"), ("ation", "ate"), ("ator", "ate")),
        "s": (("alism", "al"), ("iveness", "ive"), ("fulness", "ful"), ("ousness", "ous")),
        "t": (("aliti", "al"), ("iviti", "ive"), ("biliti", "ble")),
        "g": (("logi", "log"),),
    }
    _STEP3 = {
        "e": (("icate", "ic"), ("ative", ""), ("alize", "al")),
        "i": (("iciti", "ic"),),
        "l": (("ical", "ic"), ("ful", "")),
        "s": (("ness", ""),),
    }
    _STEP4 = {
        "a": ("al",), "c": ("ance", "ence"), "e": ("er",), "i": ("ic",), "l": ("able", "ible"),
        "n": ("ant", "ement", "ment", "ent"), "s": ("ism",), "t": ("ate", "iti"), "u": ("ous",),
        "v": ("ive",), "z": ("ize",),
    }  # fmt: skip

    def step2(self) -> None:
        if self.k == 0:
            return
        self._rules(self._STEP2.get(self.b[self.k - 1], ()))

    def step3(self) -> None:
        self._rules(self._STEP3.get(self.b[self.k], ()))

    def step4(self) -> None:
        if self.k == 0:
            return
        c = self.b[self.k - 1]
        if c == "o":
            if not (
                (self.ends("ion") and self.j >= 0 and self.b[self.j] in "st") or self.ends("ou")
            ):
                return
        elif not any(self.ends(s) for s in self._STEP4.get(c, ())):
            return
        if self.m() > 1:
            self.k = self.j

    def step5(self) -> None:
        self.j = self.k
        if self.b[self.k] == "e":
            a = self.m()
            if a > 1 or (a == 1 and not self.cvc(self.k - 1)):
                self.k -= 1
        if self.b[self.k] == "l" and self.doublec(self.k) and self.m() > 1:
            self.k -= 1

    def stem(self) -> str:
        if self.k > 1:
            self.step1ab()
            self.step1c()
            self.step2()
            self.step3()
            self.step4()
            self.step5()
        return "".join(self.b[: self.k + 1])


def porter_stem(word: str) -> str:
    """Lucene's PorterStemmer on one lower-cased word."""
    return _Porter(word).stem()


_BENGALI_NUKTA = {"\u09a1\u09bc": "\u09dc", "\u09a2\u09bc": "\u09dd", "\u09af\u09bc": "\u09df"}


def _compose_nukta(word: str) -> str:
    """Bengali dda, ddha and ya followed by a nukta as their precomposed letters."""
    if "\u09bc" in word:
        for pair, composed in _BENGALI_NUKTA.items():
            word = word.replace(pair, composed)
    return word


def _suffix_stemmer(
    rules: tuple[tuple[int, tuple[str, ...]], ...],
) -> Callable[[str], str]:
    """Lucene's Indic light stemmers: the first (longest) group whose suffix the word ends
    with, when the word is longer than the group's bound, loses that many characters. Nukta
    letters are written composed (as in Lucene's source and after its IndicNormalizer)."""
    rules = tuple((bound, tuple(_compose_nukta(x) for x in suffixes)) for bound, suffixes in rules)
    for _, suffixes in rules:
        assert len({len(x) for x in suffixes}) == 1, suffixes  # one cut per group

    def stem(word: str) -> str:
        n = len(word)
        for bound, suffixes in rules:
            if n > bound and word.endswith(suffixes):
                return word[: n - len(suffixes[0])]
        return word

    return stem


# HindiStemmer (Ramanathan and Rao, "A Lightweight Stemmer for Hindi").
hindi_stem = _suffix_stemmer(
    (
        (6, ("ाएंगी", "ाएंगे", "ाऊंगी", "ाऊंगा", "ाइयाँ", "ाइयों", "ाइयां")),
        (5, ("ाएगी", "ाएगा", "ाओगी", "ाओगे", "एंगी", "ेंगी", "एंगे", "ेंगे", "ूंगी", "ूंगा", "ातीं",
             "नाओं", "नाएं", "ताओं", "ताएं", "ियाँ", "ियों", "ियां")),
        (4, ("ाकर", "ाइए", "ाईं", "ाया", "ेगी", "ेगा", "ोगी", "ोगे", "ाने", "ाना", "ाते", "ाती",
             "ाता", "तीं", "ाओं", "ाएं", "ुओं", "ुएं", "ुआं")),
        (3, ("कर", "ाओ", "िए", "ाई", "ाए", "ने", "नी", "ना", "ते", "ीं", "ती", "ता", "ाँ", "ां",
             "ों", "ें")),
        (2, ("ो", "े", "ू", "ु", "ी", "ि", "ा")),
    )
)  # fmt: skip

# BengaliStemmer (Sengupta and Chaudhuri; Savoy's light stemmer).
bengali_stem = _suffix_stemmer(
    (
        (9, ("িয়াছিলাম", "িতেছিলাম", "িতেছিলেন", "ইতেছিলেন", "িয়াছিলেন", "ইয়াছিলেন")),
        (8, ("িতেছিলি", "িতেছিলে", "িয়াছিলা", "িয়াছিলে", "িতেছিলা", "িয়াছিলি", "য়েদেরকে")),
        (7, ("িতেছিস", "িতেছেন", "িয়াছিস", "িয়াছেন", "েছিলাম", "েছিলেন", "েদেরকে")),
        (6, ("িতেছি", "িতেছা", "িতেছে", "ছিলাম", "ছিলেন", "িয়াছি", "িয়াছা", "িয়াছে", "েছিলে",
             "েছিলা", "য়েদের", "দেরকে")),
        (5, ("িলাম", "িলেন", "িতাম", "িতেন", "িবেন", "ছিলি", "ছিলে", "ছিলা", "তেছে", "িতেছ",
             "খানা", "খানি", "গুলো", "গুলি", "য়েরা", "েদের")),
        (4, ("লাম", "িলি", "ইলি", "িলে", "ইলে", "লেন", "িলা", "ইলা", "তাম", "িতি", "ইতি", "িতে",
             "ইতে", "তেন", "িতা", "িবা", "ইবা", "িবি", "ইবি", "বেন", "িবে", "ইবে", "ছেন", "য়োন",
             "য়ের", "েরা", "দের")),
        (3, ("িস", "েন", "লি", "লে", "লা", "তি", "তে", "তা", "বি", "বে", "বা", "ছি", "ছা", "ছে",
             "ুন", "ুক", "টা", "টি", "নি", "ের", "রা", "কে")),
        (2, ("ি", "ী", "া", "ো", "ে", "ব", "ত")),
    )
)  # fmt: skip

# TeluguStemmer (Lucene 9).
telugu_stem = _suffix_stemmer(
    (
        (5, ("ళ్ళు", "డ్లు")),
        (3, ("డు", "ము", "వు", "లు", "ని", "ను", "చే", "కై", "లో", "ది", "కి", "సు", "వై", "పై")),
        (2, ("ి", "ీ", "ు", "ూ", "ె", "ే", "ొ", "ో", "ా")),
    )
)  # fmt: skip

_HINDI_MAP = {
    "\u0901": "\u0902",  # candrabindu -> bindu
    "\u0929": "\u0928", "\u0931": "\u0930", "\u0934": "\u0933",  # nukta letters -> plain
    "\u0958": "\u0915", "\u0959": "\u0916", "\u095a": "\u0917", "\u095b": "\u091c",
    "\u095c": "\u0921", "\u095d": "\u0922", "\u095e": "\u092b", "\u095f": "\u092f",
    "\u0945": "\u0947", "\u0946": "\u0947", "\u0949": "\u094b", "\u094a": "\u094b",  # chandra
    "\u090d": "\u090f", "\u090e": "\u090f", "\u0911": "\u0913", "\u0912": "\u0913",
    "\u0972": "\u0905",
    "\u0906": "\u0905", "\u0908": "\u0907", "\u090a": "\u0909", "\u0960": "\u090b",  # long ->
    "\u0961": "\u090c", "\u0910": "\u090f", "\u0914": "\u0913",  # short independent vowels
    "\u0940": "\u093f", "\u0942": "\u0941", "\u0944": "\u0943", "\u0963": "\u0962",  # and
    "\u0948": "\u0947", "\u094c": "\u094b",  # dependent vowel signs
}  # fmt: skip
_HINDI_DROP = frozenset("\u093c\u200d\u200c\u094d")  # nukta, ZWJ, ZWNJ, virama


def hindi_normalize(word: str) -> str:
    """HindiNormalizer (Pingali and Varma; Larkey et al.): na + virama -> anusvara, nukta,
    ZWJ/ZWNJ and virama removed, chandra and long vowels to their short forms."""
    out: list[str] = []
    i, n = 0, len(word)
    while i < n:
        c = word[i]
        if c == "\u0928" and i + 1 < n and word[i + 1] == "\u094d":
            out.append("\u0902")  # dead n -> bindu (the virama goes with it)
            i += 2
            continue
        if c not in _HINDI_DROP:
            out.append(_HINDI_MAP.get(c, c))
        i += 1
    return "".join(out)


_TELUGU_MAP = {
    "\u0c00": "\u0c02", "\u0c01": "\u0c02",  # candrabindu -> bindu
    "\u0c14": "\u0c13", "\u0c10": "\u0c0f", "\u0c06": "\u0c05", "\u0c08": "\u0c07",
    "\u0c0a": "\u0c09",  # long -> short vowels
    "\u0c40": "\u0c3f", "\u0c42": "\u0c41", "\u0c47": "\u0c46", "\u0c4b": "\u0c4a",  # matras
}  # fmt: skip


def telugu_normalize(word: str) -> str:
    """TeluguNormalizer: candrabindu -> bindu, visarga and ZWJ/ZWNJ removed, long vowels
    short, decomposed ai/oo/au composed."""
    s = list(word)
    i = 0
    while i < len(s):
        c = s[i]
        nxt = s[i + 1] if i + 1 < len(s) else ""
        if c in "\u0c03\u200d\u200c":
            del s[i]
            continue
        if c == "\u0c46" and nxt == "\u0c56":
            s[i : i + 2] = ["\u0c48"]
        elif c == "\u0c12" and nxt == "\u0c55":
            s[i : i + 2] = ["\u0c13"]
        elif c == "\u0c12" and nxt == "\u0c4c":
            s[i : i + 2] = ["\u0c14"]
        else:
            s[i] = _TELUGU_MAP.get(c, c)
        i += 1
    return "".join(s)


def bengali_normalize(word: str) -> str:
    """BengaliNormalizer (UzZaman and Khan), step for step as Lucene's loop edits in place,
    after the nukta compositions (dda, ddha, ya + nukta) of Lucene's IndicNormalizer."""
    s = list(_compose_nukta(word))
    i = 0
    while i < len(s):
        c = s[i]
        n = len(s)
        if c == "\u0981":  # chandrabindu goes
            del s[i]
            continue
        if c == "\u09c0":
            s[i] = "\u09bf"
        elif c == "\u09c2":
            s[i] = "\u09c1"
        elif c == "\u0995":  # khio: ka + hasant + (Lucene compares with I-kar here)
            if i + 2 < n and s[i + 1] == "\u09cd" and s[i + 2] == "\u09bf":
                if i == 0:
                    s[i] = "\u0996"
                    del s[i + 1 : i + 3]
                else:
                    s[i + 1] = "\u0996"
                    del s[i + 2]
        elif c == "\u0999":
            s[i] = "\u0982"
        elif c == "\u09af":  # ja phala
            if i - 2 == 0 and s[i - 1] == "\u09cd":
                s[i - 1] = "\u09c7"
                if i + 1 < n and s[i + 1] == "\u09be":
                    del s[i + 1]
                del s[i]
                continue
            if i - 1 >= 0 and s[i - 1] == "\u09cd":
                del s[i - 1 : i + 1]
                i -= 1
                continue
        elif c == "\u09ac":  # ba phala
            if i == 0 or s[i - 1] != "\u09cd":
                pass
            elif i - 2 == 0 or (i - 5 >= 0 and s[i - 3] == "\u09cd"):
                del s[i - 1 : i + 1]
                i -= 1
                continue
            elif i - 2 >= 0:
                s[i - 1] = s[i - 2]
                del s[i]
                continue
        elif c == "\u0983":  # visarga
            if i == n - 1:
                if n <= 3:
                    s[i] = "\u09b9"
                else:
                    del s[i]
                    continue
            else:
                s[i] = s[i + 1]
        elif c in "\u09b6\u09b7":
            s[i] = "\u09b8"
        elif c == "\u09a3":
            s[i] = "\u09a8"
        elif c in "\u09dc\u09dd":
            s[i] = "\u09b0"
        elif c == "\u09ce":
            s[i] = "\u09a4"
        i += 1
    return "".join(s)


_FOLD_PT = str.maketrans("àáâäãòóôöõèéêëùúûüìíîïç", "aaaaaoooooeeeeuuuuiiiic")


def _pt_remove_suffix(s: list[str], n: int) -> int:
    def ends(x: str) -> bool:
        return n >= len(x) and "".join(s[n - len(x) : n]) == x

    if n > 4 and ends("es") and s[n - 3] in "rslz":
        return n - 2
    if n > 3 and ends("ns"):
        s[n - 2] = "m"
        return n - 1
    if n > 4 and (ends("eis") or ends("éis")):
        s[n - 3], s[n - 2] = "e", "l"
        return n - 1
    if n > 4 and ends("ais"):
        s[n - 2] = "l"
        return n - 1
    if n > 4 and ends("óis"):
        s[n - 3], s[n - 2] = "o", "l"
        return n - 1
    if n > 4 and ends("is"):
        s[n - 1] = "l"
        return n
    if n > 3 and (ends("ões") or ends("ães")):
        n -= 1
        s[n - 2], s[n - 1] = "ã", "o"
        return n
    if n > 6 and ends("mente"):
        return n - 5
    if n > 3 and s[n - 1] == "s":
        return n - 1
    return n


def _pt_norm_feminine(s: list[str], n: int) -> int:
    def ends(x: str) -> bool:
        return n >= len(x) and "".join(s[n - len(x) : n]) == x

    if n > 7 and (ends("inha") or ends("iaca") or ends("eira")):
        s[n - 1] = "o"
        return n
    if n > 6:
        if any(ends(x) for x in ("osa", "ica", "ida", "ada", "iva", "ama")):
            s[n - 1] = "o"
            return n
        if ends("ona"):
            s[n - 3], s[n - 2] = "ã", "o"
            return n - 1
        if ends("ora"):
            return n - 1
        if ends("esa"):
            s[n - 3] = "ê"
            return n - 1
        if ends("na"):
            s[n - 1] = "o"
            return n
    return n


def portuguese_light_stem(word: str) -> str:
    """PortugueseLightStemmer (Savoy's UniNE): plural, adverb and feminine endings, a final
    vowel, then accents folded."""
    if len(word) < 4:
        return word
    s = list(word)
    n = _pt_remove_suffix(s, len(s))
    if n > 3 and s[n - 1] == "a":
        n = _pt_norm_feminine(s, n)
    if n > 4 and s[n - 1] in "eao":
        n -= 1
    return "".join(s[:n]).translate(_FOLD_PT)


class _Indonesian:
    """Lucene's IndonesianStemmer (Tala's algorithm), derivational stemming on."""

    KE, PENG, DI, MENG, TER, BER, PE = 1, 2, 4, 8, 16, 32, 64

    def __init__(self, word: str) -> None:
        self.w = word
        self.flags = 0
        self.syl = sum(c in "aeiou" for c in word)

    def _cut_front(self, n: int, flag: int = 0, replace: str = "") -> None:
        self.flags |= flag
        self.syl -= 1
        self.w = replace + self.w[n:]

    def first_order_prefix(self) -> bool:
        w = self.w
        vowel_at = lambda i: len(w) > i and w[i] in "aeiou"  # noqa: E731
        if w.startswith("meng"):
            self._cut_front(4, self.MENG)
        elif w.startswith("meny") and vowel_at(4):
            self._cut_front(4, self.MENG, "s")
        elif w.startswith(("men", "mem")):
            self._cut_front(3, self.MENG)
        elif w.startswith("me"):
            self._cut_front(2, self.MENG)
        elif w.startswith("peng"):
            self._cut_front(4, self.PENG)
        elif w.startswith("peny") and vowel_at(4):
            self._cut_front(4, self.PENG, "s")
        elif w.startswith("peny"):
            self._cut_front(4, self.PENG)
        elif w.startswith("pen") and vowel_at(3):
            self._cut_front(3, self.PENG, "t")
        elif w.startswith(("pen", "pem")):
            self._cut_front(3, self.PENG)
        elif w.startswith("di"):
            self._cut_front(2, self.DI)
        elif w.startswith("ter"):
            self._cut_front(3, self.TER)
        elif w.startswith("ke"):
            self._cut_front(2, self.KE)
        else:
            return False
        return True

    def second_order_prefix(self) -> bool:
        w = self.w
        if w.startswith("ber") or (len(w) == 7 and w.startswith("belajar")):
            self._cut_front(3, self.BER)
        elif w.startswith("be") and len(w) > 4 and w[2] not in "aeiou" and w[3:5] == "er":
            self._cut_front(2, self.BER)
        elif w.startswith("per") or (len(w) == 7 and w.startswith("pelajar")):
            self._cut_front(3)
        elif w.startswith("pe"):
            self._cut_front(2, self.PE)
        else:
            return False
        return True

    def suffix(self) -> bool:
        w, f = self.w, self.flags
        if w.endswith("kan") and not f & (self.KE | self.PENG | self.PE):
            self.w = w[:-3]
        elif w.endswith("an") and not f & (self.DI | self.MENG | self.TER):
            self.w = w[:-2]
        elif w.endswith("i") and not w.endswith("si") and not f & (self.BER | self.KE | self.PENG):
            self.w = w[:-1]
        else:
            return False
        self.syl -= 1
        return True

    def stem(self) -> str:
        if self.syl > 2 and self.w.endswith(("kah", "lah", "pun")):
            self.w, self.syl = self.w[:-3], self.syl - 1
        if self.syl > 2:
            if self.w.endswith(("ku", "mu")):
                self.w, self.syl = self.w[:-2], self.syl - 1
            elif self.w.endswith("nya"):
                self.w, self.syl = self.w[:-3], self.syl - 1
        if self.syl > 2 and self.first_order_prefix():
            if self.syl > 2 and self.suffix() and self.syl > 2:
                self.second_order_prefix()
        else:
            if self.syl > 2:
                self.second_order_prefix()
            if self.syl > 2:
                self.suffix()
        return self.w


def indonesian_stem(word: str) -> str:
    """Lucene's IndonesianStemmer on one lower-cased word."""
    return _Indonesian(word).stem()
