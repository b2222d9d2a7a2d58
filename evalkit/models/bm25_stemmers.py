"""Lucene's light stemmers that have no Python package, re-implemented rule for rule.

Each follows the Lucene class named in its docstring (Jacques Savoy's "light" stemmers, used
by Lucene's German, Spanish, Italian and French analyzers), on a lower-cased word, and works on
a list of characters because the Java ones rewrite letters in place before cutting the end.
``tests/test_bm25_analyzers.py`` checks them on examples of Lucene's own test vocabulary rules
and, where pyserini is installed, against Lucene itself.
"""

from __future__ import annotations

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
