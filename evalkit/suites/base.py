"""Suites say *what* to run: named groups of datasets, each dataset recorded as data
(source, revision, split, languages, identical-ids rule, ...). Reading them is elsewhere:
a spec names its ``layout`` and :func:`evalkit.data.load` reads it with that layout's
reader. Nothing here imports a reader."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from evalkit.dataset_spec import DatasetSpec, LoadTask, looks_like_beir_dir
from evalkit.errors import DataError, EvalkitError, did_you_mean

__all__ = ["DatasetSpec", "LoadTask", "Suite", "get_suite", "register_suite", "resolve", "suites"]


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    datasets: tuple[DatasetSpec, ...]
    reference: str | None = None
    language: str | None = None
    """The language (ISO 639-1) of its datasets that record none (BEIR: en, MTEB-FR: fr):
    ``--language fr`` selects those too, not only the datasets with a French subset."""


_SUITES: dict[str, Suite] = {}


def register_suite(suite: Suite) -> None:
    _SUITES[suite.name] = suite


def suites() -> dict[str, Suite]:
    _ensure_catalog()
    return dict(_SUITES)


def get_suite(name: str) -> Suite:
    all_suites = suites()
    if name not in all_suites:
        raise EvalkitError(
            f"--suite {name!r}: not a registered suite or an existing directory"
            f"{did_you_mean(name, all_suites)} (suites: {', '.join(sorted(all_suites))})"
        )
    return all_suites[name]


def _ensure_catalog() -> None:
    # Registration is import-time data; importing here keeps ``import evalkit`` light.
    import evalkit.suites.demo  # noqa: F401

    try:
        import evalkit.suites.catalog  # noqa: F401
    except ModuleNotFoundError as e:  # catalog not written yet in a partial checkout
        if e.name != "evalkit.suites.catalog":
            raise


# ISO 639-3 -> 639-1 for the codes in mteb's subset names ("fra-fra", "eng-fra"), so that
# --language fr and --language fra mean the same language.
_ISO_639_1 = {
    "ara": "ar", "ben": "bn", "cmn": "zh", "deu": "de", "eng": "en", "fas": "fa", "fin": "fi",
    "fra": "fr", "hin": "hi", "ind": "id", "ita": "it", "jpn": "ja", "kor": "ko", "por": "pt",
    "rus": "ru", "spa": "es", "swa": "sw", "tel": "te", "tha": "th", "yor": "yo", "zho": "zh",
}  # fmt: skip


def _base_languages(code: str) -> set[str]:
    """``fra-fra`` -> {fr}; ``eng-fra`` -> {en, fr}: a subset name joins its query and
    document languages with ``-`` (mteb's convention)."""
    return {_ISO_639_1.get(part, part) for part in code.lower().split("-")}


def _selects(wanted: str, spec: DatasetSpec, language: str | None) -> bool:
    """Whether ``--language wanted`` selects this (dataset, subset). A subset name matches
    exactly; one language matches every subset it is part of (cross-lingual ones too, as
    mteb's language filter keeps them) and the datasets of a suite in that language."""
    if language is not None and wanted.lower() == language.lower():
        return True
    if "-" in wanted:  # a subset name selects that subset only
        return False
    want = _base_languages(wanted)
    if language is None:
        suite = _SUITES.get(spec.suite)
        return suite is not None and suite.language is not None and want == {suite.language}
    return want <= _base_languages(language)


def _known_languages(specs: list[DatasetSpec]) -> list[str]:
    """What --language accepts for these datasets, for the error message."""
    known: set[str] = set()
    for s in specs:
        known.update(s.languages)
        for lang in s.languages:
            known.update(_base_languages(lang))
        suite = _SUITES.get(s.suite)
        if not s.languages and suite is not None and suite.language:
            known.add(suite.language)
    return sorted(known)


def _local_spec(path: Path, split: str) -> DatasetSpec:
    return DatasetSpec(
        name=path.name, suite="local", layout="beir-dir", split=split, source={"path": str(path)}
    )


def resolve(
    suite: str,
    datasets: list[str] | None = None,
    languages: list[str] | None = None,
    split: str | None = None,
) -> list[LoadTask]:
    """The (dataset, language) pairs a ``--suite`` / ``--dataset`` / ``--language`` asks for."""
    path = Path(suite).expanduser()
    # A registered name wins over a folder of the same name in the working directory
    # (./beir would otherwise lose mteb's identical-ids rules); use ./beir for the folder.
    if suite in suites() and "/" not in suite:
        path = Path("\0")
    if path.is_dir():
        # A folder with any BEIR file is one dataset (loading names what it lacks); otherwise
        # every sub-folder with any is a dataset: broken ones fail when loaded, each with its
        # own error, instead of being skipped while the others' mean looks complete.
        if looks_like_beir_dir(path):
            specs = [_local_spec(path, split or "test")]
        else:
            subdirs = sorted(p for p in path.iterdir() if p.is_dir() and looks_like_beir_dir(p))
            if not subdirs:
                raise DataError(
                    f"--suite {suite}: no BEIR-format folder here or in its sub-folders "
                    "(corpus.jsonl, queries.jsonl, qrels/<split>.tsv)"
                )
            specs = [_local_spec(p, split or "test") for p in subdirs]
    else:
        specs = list(get_suite(suite).datasets)
        if split:
            specs = [replace(s, split=split) for s in specs]
    if datasets:
        by_name = {s.name.lower(): s for s in specs}
        alias = {(s.mteb_task or "").lower(): s for s in specs if s.mteb_task}
        picked = []
        for d in datasets:
            s = by_name.get(d.lower()) or alias.get(d.lower())
            if s is None:
                names = [x.name for x in specs]
                hint = did_you_mean(d, names + [x.mteb_task for x in specs if x.mteb_task])
                raise EvalkitError(
                    f"--dataset {d!r}: not in suite {suite!r}{hint} (datasets: {', '.join(names)})"
                )
            picked.append(s)
        specs = picked
    tasks: list[LoadTask] = []
    unused = list(dict.fromkeys(languages or ()))
    for s in specs:
        langs: list[str | None] = list(s.languages) or [None]
        if languages:
            langs = [lang for lang in langs if any(_selects(w, s, lang) for w in languages)]
            unused = [w for w in unused if not any(_selects(w, s, lang) for lang in langs)]
        suite_of = _SUITES.get(s.suite)
        text_language = suite_of.language if suite_of is not None else None
        tasks.extend(LoadTask(s, lang, lang or text_language) for lang in langs)
    if unused:
        # Every --language must select something: a typo among several is not ignored.
        known = _known_languages(specs)
        raise EvalkitError(
            f"--language {unused[0]!r}: no selected dataset of {suite!r} is in it"
            f"{did_you_mean(unused[0], known)} (languages: {', '.join(known) or 'none recorded'})"
        )
    return tasks
