"""Reports read only result records: suite averages laid out like the paper's Table 1, and
regression checks against reference numbers kept as data (pyserini 2CR style)."""

from __future__ import annotations

import csv
import hashlib
import html
import json
import math
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    sampled: bool = False
    """Some of the scores behind it are from a query sample (``--include-sampled``)."""
    other_data: bool = False
    """Some of the scores behind it are on another corpus than the published collection of
    that name (another document count: a subset, a test folder, another version)."""

    @property
    def complete(self) -> bool:
        # More than expected: two versions of one dataset (told apart by their data) are in
        # the average, which is then not the suite's number either.
        return self.n == self.expected


@dataclass(frozen=True)
class Row:
    """One table row: a model at one Matryoshka dim (``None`` = its full dim). ``settings`` says
    in words what sets this row apart from the other settings of the same model (``max length
    256``), set only when one model was run with several settings: they are different
    experiments and get different rows."""

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
        """``minilm``, ``minilm (dim 128)``, ``drama-base (max length 256)``."""
        parts = ([f"dim {self.dim}"] if self.dim else []) + (
            [self.settings] if self.settings else []
        )
        return self.name + (f" ({', '.join(parts)})" if parts else "")


@dataclass(frozen=True)
class Score:
    """One record's score as tables use it (x100)."""

    row: Row
    suite: str
    dataset: str
    language: str | None
    value: float
    sampled: bool = False
    record: Any = field(default=None, compare=False, hash=False, repr=False)
    other_data: bool = False
    """Scored on a corpus whose size is not the published collection's (paper suites)."""
    """The :class:`ResultRecord` scored (for the published-number comparison)."""
    metric: str = ""


def model_label(r: ResultRecord) -> str:
    """``name@dim``: the label ``compare`` and ``export`` print (the report words its rows)."""
    row = _row(r)
    return row.name + (f"@{row.dim}" if row.dim else "")


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
    # A full run beats a sample of the same experiment whatever their order: the sample is
    # only there to fill a gap (``--include-sampled``).
    for r in sorted(records, key=lambda r: (r.is_full_run, r.created_at or "")):
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
    # Two collections of one name (two local folders called "docs"): different data, so
    # different datasets, named apart by a short fingerprint; never one dropped for the other.
    # (Each language of a dataset is its own data, with its own fingerprint.)
    sources: dict[tuple[str, str, str | None], set[str]] = {}
    for r, suite, _ in used:
        unit = (suite, r.dataset["name"], r.dataset.get("language"))
        sources.setdefault(unit, set()).add(data_identity(r))
    words = settings_words([r for r, _, _ in used])
    out: dict[tuple, Score] = {}
    for r, suite, m in used:
        row = _row(r, words.get(r.settings_key))
        lang = r.dataset.get("language")
        name, ident = r.dataset["name"], data_identity(r)
        if len(sources[(suite, name, lang)]) > 1:
            name = f"{name} ({ident})"
        out[(row, suite, ident, name, lang)] = Score(
            row,
            suite,
            name,
            lang,
            100 * r.scores[m],
            sampled=not r.is_full_run,
            record=r,
            metric=m,
            other_data=_other_data(r),
        )
    return list(out.values())


def _other_data(r: ResultRecord) -> bool:
    """The record read a collection of another size than the one the paper's suites publish
    (a paper comparison on it would compare different data)."""
    from evalkit.evaluation.published import catalog_docs

    if (r.dataset.get("suite") or "local") not in PAPER_COLUMNS:
        return False
    n, want = r.dataset.get("n_docs"), catalog_docs(r.dataset["name"], r.dataset.get("language"))
    return n is not None and want is not None and int(n) != want


_SETTING_WORDS = {
    "max_doc_length": "max doc length",
    "max_query_length": "max query length",
    "top_k": "top-k",
    "cache_dtype": "cache dtype",
    "local_fingerprint": "weights",
    "hf_id": "checkpoint",
    "analyzer_language": "analyzer",
}


def _flat_settings(r: ResultRecord) -> dict[str, Any]:
    s = r.settings()
    out = {**s["model"], **s["search"], "top_k": s["top_k"]}
    # full_dim never sets rows of one model apart; a dim the row names (``dim 128``) is the
    # same within the group, so it never shows twice
    for k in ("full_dim", "name"):
        out.pop(k, None)
    return out


_WORD_ORDER = (
    "dim",
    "max_query_length",
    "max_doc_length",
    "top_k",
    "query_prefix",
    "doc_prefix",
    "dtype",
    "revision",
    "hf_id",
    "local_fingerprint",
    "kind",
    "backend",
)


def _word_rank(k: str) -> tuple[int, str]:
    return (_WORD_ORDER.index(k) if k in _WORD_ORDER else len(_WORD_ORDER), k)


def _word_value(v: Any) -> str:
    if isinstance(v, str) and len(v) > 12:
        return v[:8]  # revisions and fingerprints: their start names them
    if isinstance(v, (dict, list)):
        return hashlib.sha256(json.dumps(v, sort_keys=True).encode()).hexdigest()[:7]
    if v is None:
        return "default"
    return repr(v) if isinstance(v, str) and (not v or v != v.strip()) else str(v)


def settings_words(records: Sequence[ResultRecord]) -> dict[str, str]:
    """settings key -> what sets it apart, in words, from the other settings of the same
    model at the same dim (``max length 256``, ``top-k 100``); keys of a model run with one
    setting only are left out. Derived from what differs, so any setting gets a name."""
    groups: dict[Row, dict[str, dict[str, Any]]] = {}
    for r in records:
        groups.setdefault(_row(r), {})[r.settings_key] = _flat_settings(r)
    out: dict[str, str] = {}
    for by_key in groups.values():
        if len(by_key) < 2:
            continue
        names = sorted({k for s in by_key.values() for k in s}, key=_word_rank)
        differ = [k for k in names if len({_word_value(s.get(k)) for s in by_key.values()}) > 1]
        # the fewest settings that tell the rows apart, the most telling first: a label
        # listing ten differences is not read
        chosen: list[str] = []
        for k in differ:
            before = len({tuple(_word_value(s.get(c)) for c in chosen) for s in by_key.values()})
            after = len(
                {tuple(_word_value(s.get(c)) for c in [*chosen, k]) for s in by_key.values()}
            )
            if after > before:
                chosen.append(k)
            if after == len(by_key):
                break
        # --max-length sets both lengths: one phrase when they move together
        together = all(
            s.get("max_query_length") == s.get("max_doc_length") for s in by_key.values()
        )
        for key, s in by_key.items():
            parts = []
            for k in chosen:
                word = _SETTING_WORDS.get(k, k.replace("_", " "))
                if together and k in ("max_query_length", "max_doc_length"):
                    word = "max length"
                    if any(p.startswith("max length ") for p in parts):
                        continue
                if k == "dim" and s.get(k) is None:  # a model's own width (BM25: none at all)
                    parts.append("full dim")
                    continue
                parts.append(f"{word} {_word_value(s.get(k))}")
            out[key] = ", ".join(parts) or key[:7]
    return out


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
    """row -> suite -> the row's own average over the (dataset, language) units it has.

    ``expected`` is the registered suite's size; for a suite evalkit does not register (local
    folders), every unit any row has: a row missing one is incomplete, never ``complete``."""
    units: dict[tuple[Row, str], dict[str, dict[str | None, float]]] = {}
    sampled: set[tuple[Row, str]] = set()
    other: set[tuple[Row, str]] = set()
    seen: dict[str, set[tuple[str, str | None]]] = {}
    for s in items:
        units.setdefault((s.row, s.suite), {}).setdefault(s.dataset, {})[s.language] = s.value
        seen.setdefault(s.suite, set()).add((s.dataset, s.language))
        if s.sampled:
            sampled.add((s.row, s.suite))
        if s.other_data:
            other.add((s.row, s.suite))
    table: dict[Row, dict[str, Cell]] = {}
    for (row, suite), by_dataset in units.items():
        means = [sum(v.values()) / len(v) for v in by_dataset.values()]
        n = sum(len(v) for v in by_dataset.values())
        expected = expected_units(suite) or len(seen[suite])
        table.setdefault(row, {})[suite] = Cell(
            sum(means) / len(means), n, expected, (row, suite) in sampled, (row, suite) in other
        )
    return table


@dataclass
class Common:
    """Averages of one suite over the (dataset, language) units every row has."""

    units: list[tuple[str, str | None]]
    cells: dict[Row, Cell]
    differ: bool
    """The rows' own averages cover different units (so only these compare like with like)."""

    @property
    def datasets(self) -> list[str]:
        return sorted({d for d, _ in self.units})

    def describe(self) -> str:
        names = self.datasets
        shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
        return f"{len(names)} dataset{'s' if len(names) != 1 else ''}: {shown}"


def common_cells(items: Sequence[Score], suite: str, rows: Sequence[Row]) -> Common:
    """Each of ``rows``' average over the units of ``suite`` all of them have (a dataset's
    languages averaged first, as everywhere)."""
    have: dict[Row, dict[tuple[str, str | None], Score]] = {r: {} for r in rows}
    for s in items:
        if s.suite == suite and s.row in have:
            have[s.row][(s.dataset, s.language)] = s
    sets = [set(v) for v in have.values()]
    common = set.intersection(*sets) if sets else set()
    differ = len({frozenset(x) for x in sets}) > 1
    cells: dict[Row, Cell] = {}
    if common:
        for row, by_unit in have.items():
            per: dict[str, list[float]] = {}
            for u in common:
                per.setdefault(u[0], []).append(by_unit[u].value)
            means = [sum(v) / len(v) for v in per.values()]
            cells[row] = Cell(
                sum(means) / len(means),
                len(common),
                len(common),
                any(by_unit[u].sampled for u in common),
                any(by_unit[u].other_data for u in common),
            )
    return Common(sorted(common, key=lambda u: (u[0], u[1] or "")), cells, differ)


def dataset_cells(items: Sequence[Score]) -> dict[tuple[str, str], dict[Row, Cell]]:
    """(suite, dataset) -> row -> mean over the dataset's languages, with n/expected."""
    units: dict[tuple[str, str], dict[Row, list[Score]]] = {}
    for s in items:
        units.setdefault((s.suite, s.dataset), {}).setdefault(s.row, []).append(s)
    return {
        key: {
            row: Cell(
                sum(x.value for x in v) / len(v),
                len(v),
                dataset_languages(*key) or len(v),
                any(x.sampled for x in v),
                any(x.other_data for x in v),
            )
            for row, v in by_row.items()
        }
        for key, by_row in units.items()
    }


def language_cells(items: Sequence[Score]) -> dict[tuple[str, str], dict[str, dict[Row, Score]]]:
    """(suite, dataset) -> language -> row -> score, for datasets with languages/subsets."""
    out: dict[tuple[str, str], dict[str, dict[Row, Score]]] = {}
    for s in items:
        if s.language:
            out.setdefault((s.suite, s.dataset), {}).setdefault(s.language, {})[s.row] = s
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
    table: dict[str, dict[str, Cell]] | dict[Row, dict[str, Cell]],
    refs: Sequence[Reference],
    ok: float = 0.05,
    okish: float = 0.5,
) -> list[Check]:
    """Compare complete and partial suite averages with the reference rows of the same model
    at the same dim (every settings variant of it is checked). A sampled average is never
    OK or FAIL: it is PARTIAL, as the paper's number is over all queries; an average over
    another corpus than the published one is OTHER DATA."""
    checks = []
    for key in sorted(table):  # type: ignore[type-var]
        row = key if isinstance(key, Row) else _parse_label(key)
        ref = reference_for(row, refs)
        if ref is None:
            continue
        for suite, value in ref.values.items():
            cell = table[key].get(suite)  # type: ignore[index]
            if cell is None or math.isnan(cell.value):
                continue
            whole = cell.complete and not cell.sampled and not cell.other_data
            st = (
                "OTHER DATA"
                if cell.other_data
                else status(cell.value, value, ok, okish)
                if whole
                else "PARTIAL"
            )
            checks.append(Check(row.label, suite, cell.value, value, whole, st))
    return checks


def _parse_label(label: str) -> Row:
    """A :attr:`Row.label` back into its name and dim (callers holding labels only)."""
    name, _, rest = label.partition(" (")
    dim = None
    for part in rest.rstrip(")").split(", "):
        if part.startswith("dim ") and part[4:].isdigit():
            dim = int(part[4:])
    return Row(name, dim)


def no_check_reason(table: dict[Row, dict[str, Cell]], refs: Sequence[Reference]) -> str:
    """Why :func:`regression_checks` found nothing: name the models that have a reference
    row and the suites it covers, rather than claim that no model has one."""
    lines = []
    for row in sorted(table):
        ref = reference_for(row, refs)
        if ref is None:
            continue
        wanted = ", ".join(COLUMN_TITLES.get(c, c) for c in ref.values) or "no suite"
        held = ", ".join(COLUMN_TITLES.get(c, c) for c in sorted(table[row]))
        lines.append(
            f"{row.label} has a reference row ({wanted}), but its records hold no full run of "
            f"those suites (only {held})"
        )
    return "\n".join(lines) or "no model in the records has a reference row"


# ---- serialisation: the text of one table in markdown, LaTeX or HTML (pandas) --------------
# The layout (which rows and columns, their order, the marks, the classes a cell gets) is the
# caller's; pandas writes the table. Escaping stays here: tabulate's markdown escapes nothing,
# and a report's LaTeX wants its own symbols (Δ, the * mark).

# ``*`` before a non-space could open emphasis, and so could ``_`` not preceded by a letter or
# digit (``ndcg_at_10`` reads as typed); a mark that cannot open emphasis renders as itself.
_MD_SPECIAL = re.compile(r"[\\|`<\[\]&~]|\*(?=\S)|(?<![^\W_])_(?=\S)")


def md_escape(text: str) -> str:
    """``text`` as one markdown table cell that a GFM reader shows as ``text``: backslash
    escapes for the pipe (the cell separator) and for what would start inline markup (code,
    links, autolinks such as ``<dbpedia:Oceanic_Airlines>``, entities, emphasis that can
    open). A ``*`` before a space (``89.71* (2/18)``) cannot open emphasis and stays bare.
    A line break cannot be in a cell: it becomes a space."""
    text = re.sub(r"\r\n?|\n", " ", text)
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), text)


def markdown_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[bool]
) -> str:
    """A GitHub-flavoured (pipe) markdown table, numeric columns right-aligned; the cells are
    written as given (no number parsing: ``80.00`` stays ``80.00``)."""
    import pandas as pd

    frame = pd.DataFrame(
        [[md_escape(c) for c in r] for r in rows], columns=range(len(headers)), dtype=object
    )
    return frame.to_markdown(
        index=False,
        headers=[md_escape(h) for h in headers],
        tablefmt="pipe",
        colalign=["right" if n else "left" for n in numeric],
        disable_numparse=True,
    )


def _literal(label: str) -> str:
    """A label for Styler.relabel_index, which reads labels as ``str.format`` patterns."""
    return label.replace("{", "{{").replace("}", "}}")


def latex_tabular(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    numeric: Sequence[bool],
    escape: Callable[[str], str],
    rule_before: Collection[int] = (),
) -> str:
    """A booktabs ``tabular`` (``\\toprule``, ``\\midrule``, ``\\bottomrule``) written by
    pandas' Styler; every header and cell through ``escape``; a ``\\midrule`` also before
    each body row whose index is in ``rule_before`` (an average row)."""
    import pandas as pd

    frame = pd.DataFrame([list(r) for r in rows], columns=range(len(headers)), dtype=object)
    text = (
        frame.style.hide(axis="index")
        .relabel_index([_literal(escape(h)) for h in headers], axis=1)
        .format(escape)
        .to_latex(hrules=True, column_format="".join("r" if n else "l" for n in numeric))
    )
    if not rule_before:
        return text
    lines = text.splitlines()
    first = lines.index(r"\midrule") + 1  # the body starts after the header's rule
    for i in sorted(rule_before, reverse=True):
        lines.insert(first + i, r"\midrule")
    return "\n".join(lines) + "\n"


def html_table(
    headers: Sequence[str] | None,
    rows: Sequence[Sequence[str]],
    *,
    table_id: str,
    caption: str | None = None,
    cell_classes: Sequence[Sequence[str]] | None = None,
    right_headers: Sequence[bool] = (),
    row_headers: Sequence[str] | None = None,
    table_class: str | None = None,
) -> str:
    """An HTML ``<table>`` written by pandas' Styler, every text escaped: ``headers`` (``None``:
    no header row), ``cell_classes`` (CSS classes per body cell), ``right_headers`` (header
    cells set right, above right-set numbers), ``row_headers`` (a ``<th>`` first in each body
    row). The table's id is ``T_<table_id>``; its CSS, if any, is in a ``<style>`` before it."""
    import pandas as pd

    width = len(headers) if headers is not None else len(rows[0]) if rows else 0
    frame = pd.DataFrame([list(r) for r in rows], columns=range(width), dtype=object)
    # html.escape, as the page's own text: quotes as &quot;, never two spellings in one page
    style = frame.style.format(html.escape)
    style.set_uuid(table_id)
    if row_headers is None:
        style = style.hide(axis="index")
    else:  # positions stay the index: row headers need not be unique
        style = style.relabel_index([_literal(html.escape(h)) for h in row_headers], axis=0)
    if headers is None:
        style = style.hide(axis="columns")
    else:
        style = style.relabel_index([_literal(html.escape(h)) for h in headers], axis=1)
    if caption:
        style = style.set_caption(html.escape(caption))
    if cell_classes is not None:
        style = style.set_td_classes(
            pd.DataFrame([list(c) for c in cell_classes], index=frame.index, columns=frame.columns)
        )
    right = [j for j, r in enumerate(right_headers) if r]
    if right:
        style = style.set_table_styles(
            {j: [{"selector": "th", "props": "text-align: right"}] for j in right}, overwrite=False
        )
    if table_class:
        style = style.set_table_attributes(f'class="{html.escape(table_class)}"')
    return style.to_html(cell_ids=False)
