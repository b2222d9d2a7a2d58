"""Reports read only result records: suite averages laid out like the paper's Table 1, and
regression checks against reference numbers kept as data (pyserini 2CR style)."""

from __future__ import annotations

import csv
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
        return self.n >= self.expected


def model_label(r: ResultRecord) -> str:
    dim, full = r.model.get("dim"), r.model.get("full_dim")
    return r.model["name"] + (f"@{dim}" if dim and full and dim != full else "")


def _registered_split(suite: str, dataset: str) -> str | None:
    from evalkit.suites import suites

    known = suites()
    if suite not in known:
        return None
    return next((d.split for d in known[suite].datasets if d.name == dataset), None)


def _expected_units(suite: str) -> int:
    from evalkit.suites import suites

    known = suites()
    if suite not in known:
        return 0
    return sum(max(1, len(d.languages)) for d in known[suite].datasets)


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
    units: dict[tuple[str, str], dict[str, dict[tuple, float]]] = {}
    for r in records:
        if not include_sampled and not r.is_full_run:
            continue
        suite = r.dataset.get("suite") or "local"
        if suite not in columns:
            continue
        m = metric or r.dataset.get("main_metric", "ndcg_at_10")
        if m not in r.scores:
            continue
        wanted = _registered_split(suite, r.dataset["name"])
        if wanted and r.dataset["split"] != wanted:
            continue  # a --split dev run is not a subset of the suite's test numbers
        if r.top_k < parse_measure(m)[1]:
            continue  # scored from too short a list
        by_dataset = units.setdefault((model_label(r), suite), {})
        by_dataset.setdefault(r.dataset["name"], {})[r.dataset.get("language")] = 100 * r.scores[m]
    table: dict[str, dict[str, Cell]] = {}
    for (model, suite), by_dataset in units.items():
        means = [sum(v.values()) / len(v) for v in by_dataset.values()]
        n = sum(len(v) for v in by_dataset.values())
        expected = _expected_units(suite) or n
        table.setdefault(model, {})[suite] = Cell(sum(means) / len(means), n, expected)
    return table


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


def regression_checks(
    table: dict[str, dict[str, Cell]],
    refs: Sequence[Reference],
    ok: float = 0.05,
    okish: float = 0.5,
) -> list[Check]:
    """Compare complete and partial suite averages with the reference rows of the same model."""
    checks = []
    for ref in refs:
        if not ref.evalkit_model:
            continue
        label = ref.evalkit_model + (f"@{ref.dim}" if ref.dim else "")
        for suite, value in ref.values.items():
            cell = table.get(label, {}).get(suite)
            if cell is None or math.isnan(cell.value):
                continue
            st = status(cell.value, value, ok, okish) if cell.complete else "PARTIAL"
            checks.append(Check(label, suite, cell.value, value, cell.complete, st))
    return checks
