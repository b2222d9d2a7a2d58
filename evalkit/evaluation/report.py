"""The report: Table 1 (suite averages, evalkit beside the paper and the difference), then
per-dataset and per-language tables, rendered as terminal, markdown, CSV, LaTeX or HTML.

Every format shows the same numbers. An average over an incomplete suite carries ``*`` and
``(n/expected)`` everywhere (a ``complete`` column in CSV) and never gets a difference to
the paper, so it cannot be read as the complete suite's number."""

from __future__ import annotations

import base64
import csv
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from evalkit.evaluation.tables import (
    COLUMN_TITLES,
    PAPER_COLUMNS,
    Cell,
    Check,
    Reference,
    Row,
    Score,
    dataset_cells,
    language_cells,
    reference_for,
    regression_checks,
    suite_cells,
)
from evalkit.metrics import parse_measure

FORMATS = ("terminal", "md", "csv", "latex", "html")
DASH = "–"


@dataclass
class Table:
    """One titled table as text cells; ``numeric`` columns are right-aligned."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    numeric: list[bool]
    note: str = ""


@dataclass
class Figure:
    name: str
    title: str
    png: bytes


@dataclass
class Report:
    title: str
    tables: list[Table]
    long_rows: list[dict[str, Any]]
    """The same numbers in long form (one row per value), for CSV."""
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)


def fmt_cell(cell: Cell | None) -> str:
    if cell is None:
        return DASH
    return f"{cell.value:.2f}" + ("" if cell.complete else f"* ({cell.n}/{cell.expected})")


def _registered_order(suite: str) -> list[tuple[str, tuple[str, ...]]]:
    from evalkit.suites import suites

    known = suites()
    return [(d.name, d.languages) for d in known[suite].datasets] if suite in known else []


def metric_title(metric: str | None) -> str:
    name, k = parse_measure(metric or "ndcg_at_10")
    return {"ndcg": "nDCG", "recall": "Recall", "map": "MAP", "mrr": "MRR"}.get(name, name) + (
        f"@{k}" if k else ""
    )


def build_report(
    items: Sequence[Score],
    refs: Sequence[Reference] | None = None,
    metric: str | None = None,
    ok: float = 0.05,
    okish: float = 0.5,
) -> Report:
    """Lay out the scores (from :func:`evalkit.evaluation.tables.scores`) as the report."""
    cells = suite_cells(items)
    refs = list(refs or [])
    rows = sorted(cells)
    others = sorted({s.suite for s in items} - set(PAPER_COLUMNS))
    mt = metric_title(metric)
    long: list[dict[str, Any]] = []

    # Table 1: the paper's six columns, each as evalkit | paper | difference.
    headers = ["model"]
    for c in PAPER_COLUMNS:
        headers += [COLUMN_TITLES[c], "paper", "Δ"]
    headers += others
    body = []
    for row in rows:
        ref = reference_for(row, refs) if metric in (None, "ndcg_at_10") else None
        line = [row.label]
        for c in (*PAPER_COLUMNS, *others):
            cell = cells[row].get(c)
            paper = ref.values.get(c) if ref else None
            diff = cell.value - paper if cell and cell.complete and paper is not None else None
            line.append(fmt_cell(cell))
            if c in PAPER_COLUMNS:
                line.append(DASH if paper is None else f"{paper:.1f}")
                line.append(DASH if diff is None else f"{diff:+.2f}")
            if cell or paper is not None:
                long.append(
                    _long("suites", row, c, None, None, cell, paper, diff),
                )
        body.append(line)
    t1 = Table(
        f"Table 1 layout: suite averages, {mt} x100",
        headers,
        body,
        [False] + [True] * (len(headers) - 1),
        "An asterisk marks an incomplete suite, averaged over n of its expected (dataset, "
        "language) results: it is not the suite's number and gets no difference to the paper. "
        "paper = the reference table; Δ = evalkit - paper.",
    )
    tables = [t1]

    # Per-dataset tables, one per suite, every registered dataset listed (missing ones show).
    by_dataset = dataset_cells(items)
    by_language = language_cells(items)
    for suite in (*PAPER_COLUMNS, *others):
        order = [name for name, _ in _registered_order(suite)]
        present = sorted({d for (s, d) in by_dataset if s == suite})
        if not present:
            continue
        names = order + [d for d in present if d not in order]
        suite_rows = [r for r in rows if suite in cells[r]]
        body = []
        for name in names:
            line = [name]
            for r in suite_rows:
                cell = by_dataset.get((suite, name), {}).get(r)
                line.append(fmt_cell(cell))
                if cell:
                    long.append(_long("datasets", r, suite, name, None, cell, None, None))
            body.append(line)
        body.append(["average"] + [fmt_cell(cells[r].get(suite)) for r in suite_rows])
        tables.append(
            Table(
                f"{COLUMN_TITLES.get(suite, suite)}: per dataset",
                ["dataset", *(r.label for r in suite_rows)],
                body,
                [False] + [True] * len(suite_rows),
            )
        )

        # Per-language tables for datasets with languages or subsets (MIRACL, MLDR, XPQA).
        registered = dict(_registered_order(suite))
        for (s, name), langs in sorted(by_language.items()):
            if s != suite:
                continue
            lang_rows = sorted({r for v in langs.values() for r in v})
            order = [x for x in registered.get(name, ()) if x] or []
            body = []
            for lang in order + sorted(set(langs) - set(order)):
                vals = langs.get(lang, {})
                body.append([lang] + [f"{vals[r]:.2f}" if r in vals else DASH for r in lang_rows])
                for r, v in vals.items():
                    long.append(_long("languages", r, suite, name, lang, Cell(v, 1, 1), None, None))
            tables.append(
                Table(
                    f"{name} ({COLUMN_TITLES.get(suite, suite)}): per language",
                    ["language", *(r.label for r in lang_rows)],
                    body,
                    [False] + [True] * len(lang_rows),
                )
            )

    checks = regression_checks({r.label: c for r, c in cells.items()}, refs, ok, okish)
    if checks:
        tables.append(
            Table(
                "Against the reference (pyserini 2CR bands: OK, OKish, FAIL; PARTIAL = incomplete)",
                ["model", "suite", "evalkit", "reference", "Δ", "status"],
                [
                    [
                        c.model,
                        COLUMN_TITLES.get(c.suite, c.suite),
                        f"{c.ours:.2f}",
                        f"{c.reference:.1f}",
                        f"{c.ours - c.reference:+.2f}" if c.complete else DASH,
                        c.status,
                    ]
                    for c in checks
                ],
                [False, False, True, True, True, False],
            )
        )
    notes = []
    if refs:
        notes.append(
            "The paper publishes suite averages only: the per-dataset and per-language tables "
            "have no paper column."
        )
    return Report(f"evalkit report: {mt} x100", tables, long, checks, notes)


def _long(
    table: str,
    row: Row,
    suite: str,
    dataset: str | None,
    language: str | None,
    cell: Cell | None,
    paper: float | None,
    diff: float | None,
) -> dict[str, Any]:
    return {
        "table": table,
        "model": row.name,
        "dim": row.dim or "",
        "settings": row.settings or "",
        "suite": suite,
        "dataset": dataset or "",
        "language": language or "",
        # full precision: CSV is read by programs, which must never see a cut number
        "evalkit": repr(round(cell.value, 6)) if cell else "",
        "n": cell.n if cell else "",
        "expected": cell.expected if cell else "",
        "complete": ("yes" if cell.complete else "no") if cell else "",
        "paper": "" if paper is None else f"{paper:.1f}",
        "diff": "" if diff is None else repr(round(diff, 6)),
    }


# ---- renderers -----------------------------------------------------------------------------


def to_markdown(rep: Report) -> str:
    out = [f"# {rep.title}", ""]
    for t in rep.tables:
        out += [f"## {t.title}", ""]
        out.append("| " + " | ".join(_md(h) for h in t.headers) + " |")
        out.append("|" + "|".join("---:" if n else "---" for n in t.numeric) + "|")
        out += ["| " + " | ".join(_md(c) for c in r) + " |" for r in t.rows]
        out.append("")
        if t.note:
            out += [t.note, ""]
    out += [*rep.notes, ""] if rep.notes else []
    return "\n".join(out).rstrip() + "\n"


def _md(s: str) -> str:
    return s.replace("|", "\\|")


def to_csv(rep: Report) -> str:
    buf = io.StringIO()
    cols = list(_long("suites", Row("x"), "s", None, None, None, None, None))
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    w.writerows(rep.long_rows)
    return buf.getvalue()


_LATEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "Δ": r"$\Delta$",
    "–": "--",
}


def _tex(s: str) -> str:
    s = "".join(_LATEX.get(ch, ch) for ch in s)
    return s.replace("* (", r"$^{*}$ (")


def to_latex(rep: Report) -> str:
    """booktabs tables (``\\usepackage{booktabs}``), one ``table`` float each."""
    out = [f"% {rep.title}; needs \\usepackage{{booktabs}}"]
    for t in rep.tables:
        spec = "".join("r" if n else "l" for n in t.numeric)
        out += [
            r"\begin{table}[t]",
            r"\centering",
            r"\small",
            f"\\caption{{{_tex(t.title)}}}",
            f"\\begin{{tabular}}{{{spec}}}",
            r"\toprule",
            " & ".join(_tex(h) for h in t.headers) + r" \\",
            r"\midrule",
        ]
        for r in t.rows:
            if r and r[0] == "average":
                out.append(r"\midrule")
            out.append(" & ".join(_tex(c) for c in r) + r" \\")
        out += [r"\bottomrule", r"\end{tabular}"]
        if t.note:
            out.append(f"\\par\\footnotesize {_tex(t.note)}")
        out += [r"\end{table}", ""]
    return "\n".join(out)


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}
th,td{padding:.25em .6em;border-bottom:1px solid #ddd}
th{border-bottom:2px solid #444}
td.n{text-align:right;font-variant-numeric:tabular-nums}
td.partial{color:#a60}
caption{text-align:left;font-weight:600;padding:.3em 0}
p.note{font-size:.9em;color:#555;max-width:60em}
figure{margin:1.5em 0}
img{max-width:100%}
"""


def to_html(rep: Report) -> str:
    """One self-contained file: inline CSS, tables, PNG figures as base64 data URIs; no
    scripts and no network references."""
    e = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(rep.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{e(rep.title)}</h1>",
    ]
    for i, t in enumerate(rep.tables):
        out.append(f'<table id="t{i}"><caption>{e(t.title)}</caption><thead><tr>')
        out += [f"<th>{e(h)}</th>" for h in t.headers]
        out.append("</tr></thead><tbody>")
        for r in t.rows:
            tds = []
            for c, n in zip(r, t.numeric):
                cls = ("n" if n else "") + (" partial" if "*" in c else "")
                tds.append(f'<td class="{cls.strip()}">{e(c)}</td>' if cls else f"<td>{e(c)}</td>")
            out.append("<tr>" + "".join(tds) + "</tr>")
        out.append("</tbody></table>")
        if t.note:
            out.append(f'<p class="note">{e(t.note)}</p>')
    for f in rep.figures:
        data = base64.b64encode(f.png).decode("ascii")
        out.append(
            f'<figure id="{e(f.name)}"><img alt="{e(f.title)}" '
            f'src="data:image/png;base64,{data}"><figcaption>{e(f.title)}</figcaption></figure>'
        )
    out += [f'<p class="note">{e(n)}</p>' for n in rep.notes]
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def render(rep: Report, fmt: str) -> str:
    """Text of ``rep`` in one of the file formats (``terminal`` is printed by the CLI)."""
    return {"md": to_markdown, "csv": to_csv, "latex": to_latex, "html": to_html}[fmt](rep)


def rich_tables(rep: Report) -> list[Any]:
    """The tables as rich renderables. Columns fold instead of cutting: a narrow terminal
    wraps a number rather than printing ``46.…``."""
    from rich.table import Table as RichTable

    out: list[Any] = []
    for t in rep.tables:
        rt = RichTable(title=t.title, title_justify="left", caption=t.note or None)
        for h, n in zip(t.headers, t.numeric):
            rt.add_column(h, justify="right" if n else "left", overflow="fold")
        for r in t.rows:
            rt.add_row(*r)
        out.append(rt)
    return out
