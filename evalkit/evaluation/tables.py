"""Reports read only result records: suite averages laid out like the paper's Table 1, and
regression checks against reference numbers kept as data (pyserini 2CR style)."""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from evalkit.errors import EvalkitError
from evalkit.metrics import parse_measure
from evalkit.results import ResultRecord

PAPER_COLUMNS: tuple[str, ...] = ("beir", "miracl", "mteb-fr", "mteb-zh", "mteb-de", "mldr")
COLUMN_TITLES = {
    "beir": "BEIR",
    "miracl": "MIRACL",
    "mteb-fr": "FR",
    "mteb-zh": "ZH",
    "mteb-de": "DE",
    "mldr": "MLDR",
}


@dataclass
class Cell:
    """A suite average (x100) for one model: over ``n`` of ``expected`` datasets/languages."""

    value: float
    n: int
    expected: int

    @property
    def complete(self) -> bool:
        # More than expected: two versions of one dataset (told apart by their data) are in
        # the average, which is then not the suite's number either.
        return self.n == self.expected


@dataclass(frozen=True)
class Row:
    """One table row: a model at one Matryoshka dim (``None`` = its full dim). ``settings`` is
    a short settings key, set only when one model and dim were run with several settings
    (e.g. two --max-length values): they are different experiments and get different rows."""

    name: str
    dim: int | None = None
    settings: str | None = None

    def __lt__(self, other: Row) -> bool:
        # full dim (None) after the truncated dims of the same model
        def key(r: Row) -> tuple:
            return (r.name, r.dim is None, r.dim or 0, r.settings or "")

        return key(self) < key(other)

    @property
    def label(self) -> str:
        return (
            self.name
            + (f"@{self.dim}" if self.dim else "")
            + (f" [{self.settings}]" if self.settings else "")
        )


@dataclass(frozen=True)
class Score:
    """One record's score as tables use it (x100)."""

    row: Row
    suite: str
    dataset: str
    language: str | None
    value: float


def model_label(r: ResultRecord) -> str:
    return _row(r).label


def _row(r: ResultRecord, settings: str | None = None) -> Row:
    dim, full = r.model.get("dim"), r.model.get("full_dim")
    return Row(r.model["name"], dim if dim and full and dim != full else None, settings)


def _registered_split(suite: str, dataset: str) -> str | None:
    from evalkit.suites import suites

    known = suites()
    if suite not in known:
        return None
    return next((d.split for d in known[suite].datasets if d.name == dataset), None)


def expected_units(suite: str) -> int:
    """How many (dataset, language) records a complete run of ``suite`` has (0: unknown)."""
    from evalkit.suites import suites

    known = suites()
    if suite not in known:
        return 0
    return sum(max(1, len(d.languages)) for d in known[suite].datasets)


def dataset_languages(suite: str, dataset: str) -> int:
    """How many languages/subsets a registered dataset has (0: unknown)."""
    from evalkit.suites import suites

    known = suites()
    if suite not in known:
        return 0
    return next((max(1, len(d.languages)) for d in known[suite].datasets if d.name == dataset), 0)


def check_metric(records: Sequence[ResultRecord], metric: str) -> None:
    """Refuse a --metric no record holds: an empty table would read as "nothing was run"."""
    if not any(metric in r.scores for r in records):
        held = sorted({m for r in records for m in r.scores})
        raise EvalkitError(
            f"--metric {metric}: no record holds it (they hold {', '.join(held) or 'nothing'}); "
            f"score it with `evalkit run --metric {metric}`"
        )


def scores(
    records: Sequence[ResultRecord],
    columns: Sequence[str] | None = None,
    metric: str | None = None,
    include_sampled: bool = False,
) -> list[Score]:
    """The records a table may use, one score each (x100); the rules of :func:`suite_table`.

    Records are taken in the order they were written (``created_at``): a later record of the
    same experiment replaces an earlier one."""
    used: list[tuple[ResultRecord, str, str]] = []
    for r in sorted(records, key=lambda r: r.created_at or ""):
        if not include_sampled and not r.is_full_run:
            continue
        suite = r.dataset.get("suite") or "local"
        if columns is not None and suite not in columns:
            continue
        m = metric or r.dataset.get("main_metric", "ndcg_at_10")
        if m not in r.scores:
            continue
        wanted = _registered_split(suite, r.dataset["name"])
        if wanted and r.dataset["split"] != wanted:
            continue  # a --split dev run is not a subset of the suite's test numbers
        if r.top_k < parse_measure(m)[1]:
            continue  # scored from too short a list
        used.append((r, suite, m))
    # Several settings for one model+dim: each gets its own row, named by its settings key.
    keys: dict[Row, set[str]] = {}
    # Two collections of one name (two local folders called "docs"): different data, so
    # different datasets, named apart by a short fingerprint; never one dropped for the other.
    # (Each language of a dataset is its own data, with its own fingerprint.)
    sources: dict[tuple[str, str, str | None], set[str]] = {}
    for r, suite, _ in used:
        keys.setdefault(_row(r), set()).add(r.settings_key)
        unit = (suite, r.dataset["name"], r.dataset.get("language"))
        sources.setdefault(unit, set()).add(data_identity(r))
    out: dict[tuple, Score] = {}
    for r, suite, m in used:
        row = _row(r, r.settings_key[:7] if len(keys[_row(r)]) > 1 else None)
        lang = r.dataset.get("language")
        name, ident = r.dataset["name"], data_identity(r)
        if len(sources[(suite, name, lang)]) > 1:
            name = f"{name} ({ident})"
        out[(row, suite, ident, name, lang)] = Score(row, suite, name, lang, 100 * r.scores[m])
    return list(out.values())


def data_identity(r: ResultRecord) -> str:
    """Short name of the data a record scored: the local files' fingerprint, else the Hub
    revision, else a hash of its source (where the folder lies is not part of it)."""
    src = r.dataset.get("source") or {}
    if not isinstance(src, dict):
        src = {"source": str(src)}
    for key in ("fingerprint", "revision"):
        if isinstance(src.get(key), str) and src[key]:
            return src[key][:8]
    blob = json.dumps({k: v for k, v in src.items() if k != "path"}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:8]


def suite_table(
    records: Sequence[ResultRecord],
    columns: Sequence[str] = PAPER_COLUMNS,
    metric: str | None = None,
    include_sampled: bool = False,
) -> dict[str, dict[str, Cell]]:
    """model label -> suite -> suite average of the main metric (or ``metric``), x100.

    Averaged as mteb and the paper do: first over a dataset's languages or subsets (XPQA's
    three subsets are one task score; MIRACL's 18 languages are its one dataset), then over
    the suite's datasets. Sampled runs (``--max-queries``) are left out unless asked for: an
    average over a sample must not pass for the paper's number. Later records replace
    earlier ones."""
    return {
        row.label: cells
        for row, cells in suite_cells(scores(records, columns, metric, include_sampled)).items()
    }


def suite_cells(items: Sequence[Score]) -> dict[Row, dict[str, Cell]]:
    units: dict[tuple[Row, str], dict[str, dict[str | None, float]]] = {}
    for s in items:
        units.setdefault((s.row, s.suite), {}).setdefault(s.dataset, {})[s.language] = s.value
    table: dict[Row, dict[str, Cell]] = {}
    for (row, suite), by_dataset in units.items():
        means = [sum(v.values()) / len(v) for v in by_dataset.values()]
        n = sum(len(v) for v in by_dataset.values())
        expected = expected_units(suite) or n
        table.setdefault(row, {})[suite] = Cell(sum(means) / len(means), n, expected)
    return table


def dataset_cells(items: Sequence[Score]) -> dict[tuple[str, str], dict[Row, Cell]]:
    """(suite, dataset) -> row -> mean over the dataset's languages, with n/expected."""
    units: dict[tuple[str, str], dict[Row, list[float]]] = {}
    for s in items:
        units.setdefault((s.suite, s.dataset), {}).setdefault(s.row, []).append(s.value)
    return {
        key: {
            row: Cell(sum(v) / len(v), len(v), dataset_languages(*key) or len(v))
            for row, v in by_row.items()
        }
        for key, by_row in units.items()
    }


def language_cells(items: Sequence[Score]) -> dict[tuple[str, str], dict[str, dict[Row, float]]]:
    """(suite, dataset) -> language -> row -> score, for datasets with languages/subsets."""
    out: dict[tuple[str, str], dict[str, dict[Row, float]]] = {}
    for s in items:
        if s.language:
            out.setdefault((s.suite, s.dataset), {}).setdefault(s.language, {})[s.row] = s.value
    return out


@dataclass
class Reference:
    model: str
    evalkit_model: str | None
    dim: int | None
    values: dict[str, float]


def load_reference(path: str | Path) -> list[Reference]:
    """A reference table: CSV with ``model,evalkit_model,dim,<suite>...`` (``#`` comments)."""
    path = Path(path)
    if not path.is_file():
        raise EvalkitError(f"--reference {path}: file not found")
    with open(path, encoding="utf-8") as f:
        lines = [line for line in f if not line.startswith("#") and line.strip()]
    rows = list(csv.DictReader(lines))
    if not rows or "model" not in rows[0]:
        raise EvalkitError(f"{path}: expected a CSV header with a 'model' column")
    out = []
    for lineno, row in enumerate(rows, 2):
        values = {}
        for col in PAPER_COLUMNS:
            cell = (row.get(col) or "").strip()
            if cell:
                try:
                    values[col] = float(cell)
                except ValueError:
                    raise EvalkitError(
                        f"{path}: row {lineno}, column {col}: {cell!r} is not a number"
                    ) from None
        dim = (row.get("dim") or "").strip()
        out.append(
            Reference(
                row["model"],
                (row.get("evalkit_model") or "").strip() or None,
                int(dim) if dim else None,
                values,
            )
        )
    return out


def status(ours: float, ref: float, ok: float = 0.05, okish: float = 0.5) -> str:
    """pyserini 2CR wording: equal after the reference's rounding is OK, close is OKish."""
    diff = abs(ours - ref)
    if diff <= ok + 1e-9:
        return "OK"
    if diff <= okish + 1e-9:
        return "OKish"
    return "FAIL"


@dataclass
class Check:
    model: str
    suite: str
    ours: float
    reference: float
    complete: bool
    status: str


def reference_for(row: Row, refs: Sequence[Reference]) -> Reference | None:
    """The reference row of ``row``'s model at ``row``'s dim (``None`` dim = full dim)."""
    return next((r for r in refs if r.evalkit_model == row.name and r.dim == row.dim), None)


def regression_checks(
    table: dict[str, dict[str, Cell]],
    refs: Sequence[Reference],
    ok: float = 0.05,
    okish: float = 0.5,
) -> list[Check]:
    """Compare complete and partial suite averages with the reference rows of the same model
    (every settings variant of it: ``model@dim [settings]`` rows are all checked)."""
    checks = []
    for ref in refs:
        if not ref.evalkit_model:
            continue
        label = ref.evalkit_model + (f"@{ref.dim}" if ref.dim else "")
        for row_label in sorted(table):
            if row_label.split(" [")[0] != label:
                continue
            for suite, value in ref.values.items():
                cell = table[row_label].get(suite)
                if cell is None or math.isnan(cell.value):
                    continue
                st = status(cell.value, value, ok, okish) if cell.complete else "PARTIAL"
                checks.append(Check(row_label, suite, cell.value, value, cell.complete, st))
    return checks


def no_check_reason(table: dict[str, dict[str, Cell]], refs: Sequence[Reference]) -> str:
    """Why :func:`regression_checks` found nothing: name the models that have a reference
    row and the suites it covers, rather than claim that no model has one."""
    have = {r.evalkit_model + (f"@{r.dim}" if r.dim else ""): r for r in refs if r.evalkit_model}
    lines = []
    for row_label in sorted(table):
        ref = have.get(row_label.split(" [")[0])
        if ref is None:
            continue
        wanted = ", ".join(COLUMN_TITLES.get(c, c) for c in ref.values) or "no suite"
        held = ", ".join(COLUMN_TITLES.get(c, c) for c in sorted(table[row_label]))
        lines.append(
            f"{row_label} has a reference row ({wanted}), but its records hold no full run of "
            f"those suites (only {held})"
        )
    return "\n".join(lines) or "no model in the records has a reference row"
