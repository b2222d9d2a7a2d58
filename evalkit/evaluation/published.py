"""Published numbers, and whether a result record reproduces them.

``results/published/published.csv`` holds, as data, what the mteb results repository and
pyserini's 2CR pages published for the models evalkit registers on the datasets of its suites,
each with its source (repository, commit, file) and its conditions (``regenerate.py`` next to
it rebuilds it). This module reads that file and compares a record with it.

A comparison ends in one of three verdicts:

- ``reproduced``: evalkit's value lies in the published value's rounding interval (half a unit
  of its last published decimal, plus 1e-9 for float noise). Values published unrounded are
  compared at 6 decimals.
- ``differs``: same conditions, another number; the difference is given.
- ``conditions differ``: the record was not made under the published conditions (another
  model or dataset revision, a query sample, a cut Matryoshka dim, another split, a top-k too
  short for the metric, another BM25 engine or field layout, another query prefix, identical
  ids kept where the source removed them). Never a failed reproduction; the difference is
  still given.

Both sources average in queries whose judgements are all grade 0 (scored 0); evalkit drops
and counts them (README, "Agreement with the peers"). For nDCG, recall, MAP, MRR and precision
the comparable number is evalkit's mean * n_scored / (n_scored + n_dropped); that adjustment is
applied before comparing, and each comparison says so when it changed anything.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from evalkit.errors import DataError
from evalkit.results import ResultRecord

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "results" / "published" / "published.csv"
"""The committed data (``results/published/published.csv`` of the repository)."""

COLUMNS: tuple[str, ...] = (
    "source_kind",
    "model",
    "model_revision",
    "evalkit_model",
    "dataset",
    "source_task",
    "dataset_revision",
    "split",
    "language",
    "metric",
    "is_main_score",
    "value",
    "source_repo",
    "source_commit",
    "source_path",
    "mteb_version",
    "conditions",
)
SOURCE_KINDS = frozenset({"mteb-results", "pyserini-2cr", "paper"})

REPRODUCED = "reproduced"
DIFFERS = "differs"
CONDITIONS_DIFFER = "conditions differ"

MAX_COMPARED_DECIMALS = 6
"""A value published unrounded (mteb's MRR, some main scores) is compared at 6 decimals:
beyond that, float summation order, not the evaluation, decides the digits."""

_FLOAT_SLACK = 1e-9
# metrics that score 0 for a query with no relevant document, so that averaging such queries
# in scales the mean by n_scored / (n_scored + n_dropped)
_ZERO_FOR_UNANSWERABLE = ("ndcg_at_", "recall_at_", "map_at_", "mrr_at_", "precision_at_")
_UNPINNED = frozenset({"", "main", "none"})


@dataclass(frozen=True)
class PublishedRow:
    """One published number with its source and conditions."""

    source_kind: str
    model: str
    model_revision: str
    evalkit_model: str
    dataset: str
    source_task: str
    dataset_revision: str
    split: str
    language: str
    metric: str
    is_main_score: bool
    value_text: str
    source_repo: str
    source_commit: str
    source_path: str
    mteb_version: str
    conditions_json: str = "{}"

    @property
    def value(self) -> float:
        return float(self.value_text)

    @property
    def decimals(self) -> int:
        """Decimals as published (``0.3970`` -> 4)."""
        exp = Decimal(self.value_text).as_tuple().exponent
        return max(0, -exp) if isinstance(exp, int) else 0

    @property
    def conditions(self) -> dict[str, Any]:
        return dict(json.loads(self.conditions_json))

    @property
    def source(self) -> str:
        """``repo@commit12:path``, enough to open the file the number came from."""
        return f"{self.source_repo}@{self.source_commit[:12]}:{self.source_path}"


def load_published(path: str | Path | None = None) -> tuple[PublishedRow, ...]:
    """Read the published numbers (``DEFAULT_PATH`` unless given).

    Lines starting with ``#`` before the header are comments. Every row must name its source
    (repository, commit, path) and hold a finite number; a row that does not stops the read
    with the file and line."""
    p = Path(path) if path is not None else DEFAULT_PATH
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{p}: cannot read the published numbers ({e})") from None
    lines = text.splitlines(keepends=True)
    skip = 0
    while skip < len(lines) and lines[skip].startswith("#"):
        skip += 1
    reader = csv.DictReader(io.StringIO("".join(lines[skip:])))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise DataError(f"{p}:{skip + 1}: header lacks column(s) {', '.join(missing)}")
    rows = []
    try:
        for raw in reader:
            rows.append(_row(p, skip + reader.line_num, raw))
    except csv.Error as e:
        raise DataError(f"{p}:{skip + reader.line_num}: {e}") from None
    return tuple(rows)


def _row(path: Path, line: int, raw: Mapping[str, str | None]) -> PublishedRow:
    where = f"{path}:{line}"
    if None in raw or any(raw.get(c) is None for c in COLUMNS):
        raise DataError(f"{where}: expected {len(COLUMNS)} fields")
    r = {c: str(raw[c]).strip() for c in COLUMNS}
    if r["source_kind"] not in SOURCE_KINDS:
        kinds = ", ".join(sorted(SOURCE_KINDS))
        raise DataError(f"{where}: source_kind {r['source_kind']!r} is not one of {kinds}")
    for c in ("source_repo", "source_commit", "source_path", "dataset", "metric", "split"):
        if not r[c]:
            raise DataError(f"{where}: {c} is empty; every published number names its source")
    try:
        number = Decimal(r["value"])
    except InvalidOperation:
        raise DataError(f"{where}: value {r['value']!r} is not a number") from None
    if not number.is_finite():
        raise DataError(f"{where}: value {r['value']!r} is not a finite number")
    if r["is_main_score"] not in ("true", "false"):
        raise DataError(f"{where}: is_main_score {r['is_main_score']!r}: expected true or false")
    try:
        cond = json.loads(r["conditions"] or "{}")
    except json.JSONDecodeError as e:
        raise DataError(f"{where}: conditions is not JSON ({e.msg})") from None
    if not isinstance(cond, dict):
        raise DataError(f"{where}: conditions must be a JSON object")
    return PublishedRow(
        source_kind=r["source_kind"],
        model=r["model"],
        model_revision=r["model_revision"],
        evalkit_model=r["evalkit_model"],
        dataset=r["dataset"],
        source_task=r["source_task"],
        dataset_revision=r["dataset_revision"],
        split=r["split"],
        language=r["language"],
        metric=r["metric"],
        is_main_score=r["is_main_score"] == "true",
        value_text=r["value"],
        source_repo=r["source_repo"],
        source_commit=r["source_commit"],
        source_path=r["source_path"],
        mteb_version=r["mteb_version"],
        conditions_json=json.dumps(cond, sort_keys=True, separators=(",", ":")),
    )


@dataclass(frozen=True)
class Measured:
    """What a comparison needs from one evalkit score (usually from a record:
    :meth:`from_record`)."""

    metric: str
    value: float
    dataset: str
    split: str
    language: str | None = None
    model_name: str | None = None
    hf_id: str | None = None
    model_kind: str | None = None
    model_revision: str | None = None
    dataset_source: Mapping[str, Any] = field(default_factory=dict)
    dim: int | None = None
    full_dim: int | None = None
    sampled: bool = False
    top_k: int = 1000
    n_scored: int = 0
    n_dropped: int = 0
    ignore_identical_ids: bool = False
    query_prefix: str | None = None
    search: Mapping[str, Any] = field(default_factory=dict)
    n_docs: int | None = None

    @classmethod
    def from_record(cls, record: ResultRecord, metric: str) -> Measured:
        m, ds = record.model, record.dataset
        return cls(
            metric=metric,
            value=float(record.scores[metric]),
            dataset=str(ds.get("name")),
            split=str(ds.get("split")),
            language=ds.get("language") or None,
            model_name=m.get("name"),
            hf_id=m.get("hf_id"),
            model_kind=m.get("kind"),
            model_revision=m.get("revision"),
            dataset_source=dict(ds.get("source") or {}),
            dim=m.get("dim"),
            full_dim=m.get("full_dim"),
            sampled=bool(ds.get("sampled_queries")),
            top_k=int(record.top_k),
            n_scored=int(record.n_queries_scored),
            n_dropped=int(record.n_queries_dropped),
            ignore_identical_ids=bool(ds.get("ignore_identical_ids")),
            query_prefix=m.get("query_prefix"),
            search=dict(record.search or {}),
            n_docs=ds.get("n_docs"),
        )


@dataclass(frozen=True)
class Comparison:
    """One evalkit score against one published number."""

    published: PublishedRow
    verdict: str
    measured: float
    """evalkit's value as recorded."""
    compared: float
    """evalkit's value as compared: scaled to mteb's query count where queries were dropped."""
    mismatches: tuple[str, ...] = ()
    """Conditions that differ (non-empty exactly when the verdict is ``conditions differ``)."""
    notes: tuple[str, ...] = ()
    """What was adjusted, and conditions that could not be checked."""

    @property
    def difference(self) -> float:
        """evalkit (as compared) minus published."""
        return self.compared - self.published.value

    def describe(self) -> str:
        """One line for a terminal or a report."""
        p = self.published
        lang = f" {p.language}" if p.language else ""
        head = (
            f"{p.dataset}{lang} {p.split} {p.metric}: evalkit {_fmt(self.compared, p)} vs "
            f"{p.source_kind} {p.value_text} ({self.difference:+.{_shown(p)}f}): {self.verdict}"
        )
        extra = list(self.mismatches) + list(self.notes)
        return head + (f" [{'; '.join(extra)}]" if extra else "") + f" <{p.source}>"


def _shown(p: PublishedRow) -> int:
    return min(max(p.decimals, 1) + 1, MAX_COMPARED_DECIMALS + 1)


def _fmt(v: float, p: PublishedRow) -> str:
    return f"{v:.{_shown(p)}f}"


def compare(measured: Measured, rows: Sequence[PublishedRow] | None = None) -> list[Comparison]:
    """Every published number for this model, dataset, language and metric, compared with
    ``measured``. Rows of the same split come first; when the source has none of that split,
    the other splits' rows are returned with ``conditions differ`` (split). Empty when nothing
    was published for it."""
    rows = load_published() if rows is None else rows
    cands = [r for r in rows if _same_target(r, measured)]
    same_split = [r for r in cands if r.split == measured.split]
    return [_compare_one(measured, r) for r in (same_split or cands)]


def compare_record(
    record: ResultRecord,
    rows: Sequence[PublishedRow] | None = None,
    metrics: Iterable[str] | None = None,
) -> list[Comparison]:
    """:func:`compare` for each of the record's scores (or ``metrics``) that has a published
    number; skipped silently where none was published."""
    rows = load_published() if rows is None else rows
    wanted = list(metrics) if metrics is not None else list(record.scores)
    out: list[Comparison] = []
    for metric in wanted:
        value = record.scores.get(metric)
        if value is None or not math.isfinite(float(value)):
            continue
        out += compare(Measured.from_record(record, metric), rows)
    return out


def compare_records(
    records: Iterable[ResultRecord],
    rows: Sequence[PublishedRow] | None = None,
    metrics: Iterable[str] | None = ("ndcg_at_10", "recall_at_100"),
) -> list[tuple[ResultRecord, Comparison]]:
    """:func:`compare_record` over many records (reads the data once)."""
    rows = load_published() if rows is None else rows
    wanted = None if metrics is None else tuple(metrics)
    return [(rec, c) for rec in records for c in compare_record(rec, rows, wanted)]


def _is_bm25_row(r: PublishedRow) -> bool:
    return "bm25" in r.conditions


def _same_target(r: PublishedRow, m: Measured) -> bool:
    if r.dataset != m.dataset or r.metric != m.metric:
        return False
    if (r.language or None) != (m.language or None):
        return False
    if _is_bm25_row(r):
        return m.model_kind == "bm25"
    return bool(
        (m.hf_id and r.model == m.hf_id) or (m.model_name and r.evalkit_model == m.model_name)
    )


def _compare_one(m: Measured, r: PublishedRow) -> Comparison:
    mismatches, notes = _conditions(m, r)
    compared = m.value
    if (
        r.source_kind in ("mteb-results", "pyserini-2cr")
        and m.n_dropped > 0
        and m.n_scored > 0
        and r.metric.startswith(_ZERO_FOR_UNANSWERABLE)
    ):
        compared = m.value * m.n_scored / (m.n_scored + m.n_dropped)
        notes.append(
            f"compared evalkit's {m.value:.6f} x {m.n_scored}/{m.n_scored + m.n_dropped}: "
            f"the source averages in the {m.n_dropped} "
            + ("query" if m.n_dropped == 1 else "queries")
            + " whose judgements are all 0 (scored 0), evalkit drops them"
        )
    if mismatches:
        verdict = CONDITIONS_DIFFER
    else:
        d = min(r.decimals, MAX_COMPARED_DECIMALS)
        verdict = (
            REPRODUCED if abs(compared - r.value) <= 0.5 * 10.0**-d + _FLOAT_SLACK else DIFFERS
        )
    return Comparison(r, verdict, m.value, compared, tuple(mismatches), tuple(notes))


def catalog_docs(dataset: str, language: str | None) -> int | None:
    """The number of documents evalkit's catalog gives for the dataset (and language)."""
    from evalkit.suites import get_suite

    for spec in get_suite("paper").datasets:
        if spec.name == dataset:
            size = spec.size or {}
            if language:
                size = (size.get("per_language") or {}).get(language) or {}
            docs = size.get("docs")
            return int(docs) if docs is not None else None
    return None


def _metric_cut(metric: str) -> int | None:
    tail = metric.rsplit("_at_", 1)
    return int(tail[1]) if len(tail) == 2 and tail[1].isdigit() else None


def _conditions(m: Measured, r: PublishedRow) -> tuple[list[str], list[str]]:
    """(conditions that differ, notes) for one published row."""
    mis: list[str] = []
    notes: list[str] = []
    cond = r.conditions
    if r.split != m.split:
        mis.append(f"split: published on {r.split}, this run {m.split}")
    # model revision
    if r.model_revision and m.model_revision:
        if r.model_revision != m.model_revision:
            mis.append(
                f"model revision: published {r.model_revision[:12]}, this run "
                f"{str(m.model_revision)[:12]}"
            )
    elif not _is_bm25_row(r):
        notes.append(
            "model revision not checked ("
            + ("not published" if not r.model_revision else "not recorded by this run")
            + ")"
        )
    # dataset revision (mteb rows name the Hub dataset's commit)
    run_rev = m.dataset_source.get("revision")
    if r.source_kind == "mteb-results":
        if r.dataset_revision.lower() in _UNPINNED:
            notes.append(
                "dataset revision not checked (published "
                + (
                    f"against the unpinned {r.dataset_revision!r}"
                    if r.dataset_revision
                    else "without one"
                )
                + ")"
            )
        elif not run_rev:
            notes.append("dataset revision not checked (this run read a local copy)")
        elif run_rev != r.dataset_revision:
            mis.append(
                f"dataset revision: published {r.dataset_revision[:12]}, "
                f"this run {str(run_rev)[:12]}"
            )
    elif r.source_kind == "pyserini-2cr":
        read = m.dataset_source.get("id") or m.dataset_source.get("path") or "another copy"
        notes.append(
            f"pyserini's own copy of the collection ({cond.get('index', r.source_task)}); "
            f"this run read {read}"
        )
    if m.sampled:
        mis.append("a sample of the queries, not all of them")
    expected = catalog_docs(r.dataset, r.language or None)
    if m.n_docs is not None and expected is not None and int(m.n_docs) != expected:
        # a local folder that is not the whole collection (a subset, another version)
        mis.append(f"{m.n_docs:,} documents; the published collection has {expected:,}")
    if m.dim and m.full_dim and m.dim != m.full_dim:
        mis.append(f"Matryoshka dim {m.dim} of {m.full_dim}")
    cut = _metric_cut(r.metric)
    if cut is not None:
        need = cut + (1 if m.ignore_identical_ids else 0)
        if m.top_k < need:
            mis.append(f"top_k {m.top_k} is shorter than {r.metric} needs ({need})")
    # how the source searched
    if _is_bm25_row(r):
        backend = m.search.get("backend")
        if backend != "pyserini-lucene":
            # bm25's analyzers follow Lucene's but are not Lucene: never "reproduced"; the
            # tokenizer tells evalkit-lucene-v1 (stemming) from the earlier one (none)
            tok = m.search.get("tokenizer")
            how = f"{backend or '?'}" + (f" (tokenizer {tok})" if tok else "")
            mis.append(f"BM25 engine: the source used Lucene (pyserini), this run {how}")
        if cond.get("bm25") == "multifield":
            mis.append("BM25 multifield (title and text apart); evalkit joins them (flat)")
        for k in ("k1", "b"):
            if k in cond and m.search.get(k) is not None and float(m.search[k]) != float(cond[k]):
                mis.append(f"BM25 {k}: published {cond[k]}, this run {m.search[k]}")
    if cond.get("remove_query") and not m.ignore_identical_ids:
        mis.append(
            "the source removes hits whose id is the query's (--remove-query); this run keeps them"
        )
    if "query_prefix" in cond and m.query_prefix is not None:
        if str(cond["query_prefix"]).strip() != str(m.query_prefix).strip():
            mis.append(
                f"query prefix: published {cond['query_prefix']!r}, this run {m.query_prefix!r}"
            )
    if cond.get("origin") == "external":
        notes.append("reported by the model's authors, imported without revisions")
    return mis, notes


def summary(comparisons: Iterable[Comparison]) -> dict[str, int]:
    """How many comparisons ended in each verdict."""
    out = {REPRODUCED: 0, DIFFERS: 0, CONDITIONS_DIFFER: 0}
    for c in comparisons:
        out[c.verdict] += 1
    return out


def table_rows(pairs: Iterable[tuple[ResultRecord, Comparison]]) -> list[dict[str, Any]]:
    """Flat rows for a report table: one per (record, published number)."""
    out = []
    for rec, c in pairs:
        p = c.published
        out.append(
            {
                "model": rec.model.get("name"),
                "dataset": p.dataset,
                "language": p.language or "",
                "split": p.split,
                "metric": p.metric,
                "evalkit": c.measured,
                "compared": c.compared,
                "published": p.value_text,
                "difference": c.difference,
                "verdict": c.verdict,
                "why": "; ".join(c.mismatches),
                "notes": "; ".join(c.notes),
                "source": p.source,
            }
        )
    return out


def report_table(pairs: Sequence[tuple[ResultRecord, Comparison]]) -> Any:
    """The comparisons as a report :class:`~evalkit.evaluation.report.Table` (values x100, as
    the report's other tables), for ``evalkit report`` to append to ``Report.tables``."""
    from evalkit.evaluation.report import Table

    rows = []
    for t in table_rows(pairs):
        rows.append(
            [
                str(t["model"]),
                t["dataset"] + (f" {t['language']}" if t["language"] else ""),
                t["split"],
                t["metric"],
                f"{100 * t['compared']:.3f}",
                f"{100 * float(t['published']):.3f}",
                f"{100 * t['difference']:+.3f}",
                t["verdict"],
                "; ".join(x for x in (t["why"], t["notes"]) if x),
                t["source"],
            ]
        )
    return Table(
        "Against published numbers (mteb results repository, pyserini 2CR)",
        ["model", "dataset", "split", "metric", "evalkit", "published", "Δ", "verdict", "why",
         "source"],
        rows,
        [False, False, False, False, True, True, True, False, False, False],
        note="evalkit as compared: scaled to the source's query count where evalkit dropped "
        "queries whose judgements are all 0. 'conditions differ' is no failed reproduction.",
    )  # fmt: skip


def describe_records(
    records: Iterable[ResultRecord],
    rows: Sequence[PublishedRow] | None = None,
    metrics: Iterable[str] | None = ("ndcg_at_10",),
) -> list[str]:
    """One line per comparison, for ``evalkit run`` to print after its summary."""
    return [c.describe() for _, c in compare_records(records, rows, metrics)]
