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
    common_cells,
    dataset_cells,
    html_table,
    language_cells,
    latex_tabular,
    markdown_table,
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
    appendix: bool = False
    """Detail a reader looks up (HTML puts it after the figures)."""


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
    published: dict[str, int] | None = None
    """Verdict -> count of the published-number comparisons (``None``: not compared)."""


def fmt_cell(cell: Cell | None) -> str:
    if cell is None:
        return DASH
    return (
        f"{cell.value:.2f}"
        + ("" if cell.complete else f"* ({cell.n}/{cell.expected})")
        + (f" {SAMPLED}" if cell.sampled else "")
        + (f" {OTHER_DATA}" if cell.other_data else "")
    )


OTHER_DATA = "(other corpus)"
"""Said beside every value of a paper suite scored on a collection of another size than the
published one (a test folder, a subset)."""


SAMPLED = "(sampled)"
"""Said beside every value a query sample went into (``--include-sampled``), in every format."""


def _registered_order(suite: str) -> list[tuple[str, tuple[str, ...]]]:
    from evalkit.suites import suites

    known = suites()
    return [(d.name, d.languages) for d in known[suite].datasets] if suite in known else []


def metric_title(metric: str | None) -> str:
    name, k = parse_measure(metric or "ndcg_at_10")
    return {"ndcg": "nDCG", "recall": "Recall", "map": "MAP", "mrr": "MRR"}.get(name, name) + (
        f"@{k}" if k else ""
    )


def suite_order(suite: str) -> tuple[int, str]:
    return (PAPER_COLUMNS.index(suite) if suite in PAPER_COLUMNS else len(PAPER_COLUMNS), suite)


Pairs = Sequence[tuple[Any, Any]]
"""(ResultRecord, published.Comparison) pairs, as ``published.compare_records`` gives them."""

_SOURCE_SHORT = {"mteb-results": "mteb", "pyserini-2cr": "2CR", "paper": "paper"}


def _verdict_text(c: Any) -> str:
    """``59.47 (2CR): conditions differ``: the published value x100 as published, its source,
    and the verdict (a difference only for a same-conditions miss)."""
    from evalkit.evaluation.published import DIFFERS

    p = c.published
    dec = max(0, p.decimals - 2)
    head = f"{100 * p.value:.{dec}f} ({_source_name(p)}): "
    if c.verdict == DIFFERS:
        return head + f"differs ({100 * c.difference:+.{dec + 1}f})"
    return head + c.verdict


def _source_name(p: Any) -> str:
    """``mteb``, ``2CR flat``, ``2CR multifield``: which of a dataset's published numbers."""
    variant = p.conditions.get("bm25")
    return _SOURCE_SHORT.get(p.source_kind, p.source_kind) + (f" {variant}" if variant else "")


def _published_by_cell(
    items: Sequence[Score], pairs: Pairs
) -> dict[tuple[Row, str, str, str | None], list[Any]]:
    """(row, suite, dataset, language) -> the comparisons of the record behind that cell."""
    by_record = {}
    for rec, c in pairs:
        by_record.setdefault(id(rec), []).append(c)
    out: dict[tuple[Row, str, str, str | None], list[Any]] = {}
    for s in items:
        cs = [c for c in by_record.get(id(s.record), []) if c.published.metric == s.metric]
        if cs:
            out[(s.row, s.suite, s.dataset, s.language)] = cs
    return out


def build_report(
    items: Sequence[Score],
    refs: Sequence[Reference] | None = None,
    metric: str | None = None,
    ok: float = 0.05,
    okish: float = 0.5,
    published: Pairs | None = None,
) -> Report:
    """Lay out the scores (from :func:`evalkit.evaluation.tables.scores`) as the report;
    ``published``: comparisons with published numbers for the records behind ``items``
    (``None``: no published column)."""
    cells = suite_cells(items)
    refs = list(refs or [])
    rows = sorted(cells)
    present = sorted({s.suite for s in items}, key=suite_order)
    paper_suites = [c for c in present if c in PAPER_COLUMNS]
    others = [c for c in present if c not in PAPER_COLUMNS]
    mt = metric_title(metric)
    long: list[dict[str, Any]] = []
    tables: list[Table] = []
    pub = _published_by_cell(items, published) if published is not None else {}
    commons = {suite: common_cells(items, suite, [r for r in rows if suite in cells[r]])
               for suite in present}  # fmt: skip
    units = _units(items)

    def marks_note(shown: list[Cell | None]) -> list[str]:
        """Footnotes for the marks these cells carry, and only those."""
        out = []
        if any(c and not c.complete for c in shown):
            out.append(
                "* = averaged over n of the expected (dataset, language) results: not the "
                "suite's number"
                + (", no difference to the paper" if paper_suites else "")
                + ", and rows with * cover different "
                "data, so they do not compare with each other (the per-dataset tables give the "
                "average over the datasets all rows have)."
            )
        if any(c and c.sampled for c in shown):
            out.append(
                f"{SAMPLED} = a query sample (--max-queries) went into this value: not a "
                "full-run number, no difference to the paper."
            )
        if any(c and c.other_data for c in shown):
            out.append(
                f"{OTHER_DATA} = scored on a collection with another number of documents than "
                "the published one (a subset, a test folder, another version): not the paper's "
                "data, no difference to the paper."
            )
        return out

    # Table 1: the paper's suites only, each as evalkit | paper | difference.
    if paper_suites:
        headers = ["model"]
        for c in paper_suites:
            headers += [COLUMN_TITLES[c], "paper", "Δ"]
        body, shown = [], []
        for row in [r for r in rows if any(c in cells[r] for c in paper_suites)]:
            ref = reference_for(row, refs) if metric in (None, "ndcg_at_10") else None
            line = [row.label]
            for c in paper_suites:
                cell = cells[row].get(c)
                shown.append(cell)
                paper = ref.values.get(c) if ref else None
                whole = (
                    cell is not None and cell.complete and not cell.sampled and not cell.other_data
                )
                diff = cell.value - paper if cell and whole and paper is not None else None
                line += [
                    fmt_cell(cell),
                    DASH if paper is None else f"{paper:.1f}",
                    DASH if diff is None else f"{diff:+.2f}",
                ]
                if cell or paper is not None:
                    long.append(
                        _long("suites", row, c, None, None, cell, paper, diff, units.get((row, c)))
                    )
            body.append(line)
        note = marks_note(shown)
        if refs:
            note.append("paper = the reference table (DRAMA paper, Table 1); Δ = evalkit - paper.")
        tables.append(
            Table(
                f"Table 1 layout: suite averages, {mt} x100",
                headers,
                body,
                [False] + [True] * (len(headers) - 1),
                " ".join(note),
            )
        )
    if others:
        body, shown = [], []
        for row in [r for r in rows if any(c in cells[r] for c in others)]:
            line = [row.label]
            for c in others:
                cell = cells[row].get(c)
                shown.append(cell)
                line.append(fmt_cell(cell))
                if cell:
                    long.append(
                        _long("suites", row, c, None, None, cell, None, None, units.get((row, c)))
                    )
            body.append(line)
        tables.append(
            Table(
                (
                    f"Other collections (not in the paper's Table 1): averages, {mt} x100"
                    if paper_suites
                    else f"Averages per collection, {mt} x100"
                ),
                ["model", *others],
                body,
                [False] + [True] * len(others),
                " ".join(marks_note(shown)),
            )
        )

    # Per-dataset tables, one per suite, every registered dataset listed (missing ones show).
    by_dataset = dataset_cells(items)
    by_language = language_cells(items)
    for suite in present:
        order = [name for name, _ in _registered_order(suite)]
        held = sorted({d for (s, d) in by_dataset if s == suite})
        names = order + [d for d in held if d not in order]
        suite_rows = [r for r in rows if suite in cells[r]]
        # a "published" column beside each model column that has published numbers here
        pub_rows = {r for r in suite_rows for k in pub if k[0] == r and k[1] == suite}
        headers = ["dataset"]
        for r in suite_rows:
            headers.append(r.label)
            if r in pub_rows:
                headers.append(f"{r.label}: published")
        body, shown = [], []
        for name in names:
            line = [name]
            for r in suite_rows:
                cell = by_dataset.get((suite, name), {}).get(r)
                shown.append(cell)
                line.append(fmt_cell(cell))
                cs = pub.get((r, suite, name, None), [])
                if r in pub_rows:
                    line.append("; ".join(_verdict_text(c) for c in cs) or DASH)
                if cell:
                    long.append(_long("datasets", r, suite, name, None, cell, None, None, None, cs))
            body.append(line)
        common = commons[suite]
        note = marks_note(shown)

        if common.differ:
            body.append(
                _avg_line(
                    suite_rows,
                    pub_rows,
                    f"average over the {len(common.datasets)} common dataset"
                    + ("s" if len(common.datasets) != 1 else ""),
                    dict(common.cells),
                )
            )
            body.append(
                _avg_line(
                    suite_rows,
                    pub_rows,
                    "own average (not comparable)",
                    {r: cells[r][suite] for r in suite_rows},
                )
            )
            for r, c in common.cells.items():
                long.append(_long("common", r, suite, None, None, c, None, None, common.units))
            note.insert(
                0,
                (
                    f"The columns hold different datasets. 'average over the common' is over "
                    f"the {common.describe()}, which every column has: compare columns on it. "
                    if common.units
                    else "The columns have no dataset in common: their averages do not compare. "
                )
                + "'own average' is each column's mean over its own datasets: they cover "
                "different data.",
            )
        else:
            body.append(
                _avg_line(suite_rows, pub_rows, "average", {r: cells[r][suite] for r in suite_rows})
            )
        if pub_rows:
            note.append(_PUBLISHED_NOTE)
        tables.append(
            Table(
                f"{COLUMN_TITLES.get(suite, suite)}: per dataset, {mt} x100",
                headers,
                body,
                [False] + [True] * (len(headers) - 1),
                " ".join(note),
            )
        )

        # Per-language tables for datasets with languages or subsets (MIRACL, MLDR, XPQA).
        registered = dict(_registered_order(suite))
        for (s, name), langs in sorted(by_language.items()):
            if s != suite:
                continue
            lang_rows = sorted({r for v in langs.values() for r in v})
            lang_pub = {r for r in lang_rows for k in pub if k[:3] == (r, suite, name)}
            headers = ["language"]
            for r in lang_rows:
                headers.append(r.label)
                if r in lang_pub:
                    headers.append(f"{r.label}: published")
            lorder = [x for x in registered.get(name, ()) if x] or []
            body, lshown = [], []
            for lang in lorder + sorted(set(langs) - set(lorder)):
                vals = langs.get(lang, {})
                line = [lang]
                for r in lang_rows:
                    sc = vals.get(r)
                    cell = Cell(sc.value, 1, 1, sc.sampled, sc.other_data) if sc else None
                    lshown.append(cell)
                    line.append(fmt_cell(cell))
                    cs = pub.get((r, suite, name, lang), [])
                    if r in lang_pub:
                        line.append("; ".join(_verdict_text(c) for c in cs) or DASH)
                    if cell:
                        long.append(
                            _long("languages", r, suite, name, lang, cell, None, None, None, cs)
                        )
                body.append(line)
            note = marks_note(lshown)
            if lang_pub:
                note.append(_PUBLISHED_NOTE)
            tables.append(
                Table(
                    f"{name} ({COLUMN_TITLES.get(suite, suite)}): per language, {mt} x100",
                    headers,
                    body,
                    [False] + [True] * (len(headers) - 1),
                    " ".join(note),
                )
            )

    checks = regression_checks(cells, refs, ok, okish)
    if checks:
        tables.append(
            Table(
                "Against the reference (pyserini 2CR bands: OK, OKish, FAIL; PARTIAL = incomplete "
                "or sampled; OTHER DATA = not the published corpus)",
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
    summary_counts = None
    if published is not None:
        from evalkit.evaluation import published as pubmod

        summary_counts = pubmod.summary(c for _, c in published)
        for verdict, n in summary_counts.items():
            long.append({**_long("reproduction", Row(""), "", None, None, None, None, None),
                         "n": n, "verdict": verdict})  # fmt: skip
        if published:
            tables.append(_summary_table(summary_counts))
            tables.append(_detail_table(published, items))
    notes = []
    if published is not None and not published:
        notes.append("No value here has a published number to compare with.")
    if refs and paper_suites:
        notes.append(
            "The paper publishes suite averages only: the per-dataset and per-language tables "
            "have no paper column."
        )
    rep = Report(f"evalkit report: {mt} x100", tables, long, checks, notes)
    rep.published = summary_counts
    return rep


_PUBLISHED_NOTE = (
    "published = the number the mteb results repository or pyserini's 2CR published for this "
    "model and dataset (x100, as published), and whether this run reproduces it. 'conditions "
    "differ' = this run was not made under the published conditions (another corpus size, "
    "engine, revision, sample...): no failed reproduction; the reproduction table says which."
)


def _avg_line(
    suite_rows: Sequence[Row], pub_rows: set[Row], label: str, got: dict[Row, Cell]
) -> list[str]:
    line = [label]
    for r in suite_rows:
        line.append(fmt_cell(got.get(r)))
        if r in pub_rows:
            line.append("")
    return line


def _detail_table(pairs: Pairs, items: Sequence[Score]) -> Table:
    """Each comparison: the recorded value, the value as compared (scaled where evalkit dropped
    queries the source scores 0), the published value and source, and what conditions differ.
    Run-specific notes (where the files lay) stay out: the report must not depend on them."""
    rows_of = {id(s.record): s.row for s in items}
    body = []
    for rec, c in pairs:
        p = c.published
        dec = max(1, p.decimals - 2)
        row = rows_of.get(id(rec))
        body.append(
            [
                row.label if row else str(rec.model.get("name")),
                p.dataset + (f" {p.language}" if p.language else ""),
                p.split,
                p.metric,
                f"{100 * c.measured:.2f}",
                DASH if c.compared == c.measured else f"{100 * c.compared:.2f}",
                f"{100 * p.value:.{dec}f}",
                _source_name(p),
                f"{100 * c.difference:+.{dec}f}",
                c.verdict,
                "; ".join(c.mismatches) or DASH,
            ]
        )
    # a fixed order, whatever order the records were read in
    body.sort(key=lambda r: (r[0], r[1], r[2], r[3], r[7], r[6]))
    return Table(
        "Against published numbers: each comparison (x100)",
        ["model", "dataset", "split", "metric", "evalkit", "as compared", "published", "source",
         "Δ", "verdict", "conditions that differ"],
        body,
        [False, False, False, False, True, True, True, False, True, False, False],
        "as compared = evalkit's value scaled by n_scored / (n_scored + n_dropped) where evalkit "
        "dropped queries whose judgements are all 0 and the source scores them 0. Δ = as "
        "compared - published. Sources: mteb = the mteb results repository; 2CR = pyserini's "
        "reproductions (flat: title and text joined, as evalkit does; multifield: apart). "
        "'conditions differ' is no failed reproduction.",
        appendix=True,
    )  # fmt: skip


def _summary_table(counts: dict[str, int]) -> Table:
    from evalkit.evaluation.published import CONDITIONS_DIFFER, DIFFERS, REPRODUCED

    meaning = {
        REPRODUCED: "same conditions, same number (within the published rounding)",
        DIFFERS: "same conditions, another number",
        CONDITIONS_DIFFER: "not made under the published conditions: no failed reproduction",
    }
    total = sum(counts.values())
    return Table(
        "Reproduction of published numbers: summary",
        ["verdict", "comparisons", "meaning"],
        [[v, str(counts.get(v, 0)), meaning[v]] for v in (REPRODUCED, DIFFERS, CONDITIONS_DIFFER)]
        + [["total", str(total), "values compared with a published number (one per source)"]],
        [False, True, False],
    )


def _units(items: Sequence[Score]) -> dict[tuple[Row, str], list[tuple[str, str | None]]]:
    out: dict[tuple[Row, str], list[tuple[str, str | None]]] = {}
    for s in items:
        out.setdefault((s.row, s.suite), []).append((s.dataset, s.language))
    return {k: sorted(v, key=lambda u: (u[0], u[1] or "")) for k, v in out.items()}


def _long(
    table: str,
    row: Row,
    suite: str,
    dataset: str | None,
    language: str | None,
    cell: Cell | None,
    paper: float | None,
    diff: float | None,
    over: Sequence[tuple[str, str | None]] | None = None,
    comparisons: Sequence[Any] = (),
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
        "sampled": ("yes" if cell.sampled else "no") if cell else "",
        "other_corpus": ("yes" if cell.other_data else "no") if cell else "",
        # the (dataset, language) results an average is over: averages say which data
        "averaged_over": ";".join(d + (f"/{lang}" if lang else "") for d, lang in over or ()),
        "paper": "" if paper is None else f"{paper:.1f}",
        "diff": "" if diff is None else repr(round(diff, 6)),
        "published": ";".join(c.published.value_text for c in comparisons),
        "published_source": ";".join(
            c.published.source_kind
            + (f" {c.published.conditions['bm25']}" if "bm25" in c.published.conditions else "")
            for c in comparisons
        ),
        "verdict": ";".join(c.verdict for c in comparisons),
    }


# ---- renderers -----------------------------------------------------------------------------


def to_markdown(rep: Report) -> str:
    out = [f"# {rep.title}", ""]
    for t in rep.tables:
        out += [f"## {t.title}", "", markdown_table(t.headers, t.rows, t.numeric), ""]
        if t.note:
            out += [t.note, ""]
    out += [*rep.notes, ""] if rep.notes else []
    return "\n".join(out).rstrip() + "\n"


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
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    "Δ": r"$\Delta$",
    "–": "--",
    # a line break would end the row's line in the source (and means nothing in a cell)
    "\n": " ",
    "\r": " ",
}


def _tex(s: str) -> str:
    s = "".join(_LATEX.get(ch, ch) for ch in s)
    return s.replace("* (", r"$^{*}$ (")


def to_latex(rep: Report) -> str:
    """booktabs tables (``\\usepackage{booktabs}``), one ``table`` float each."""
    out = [f"% {rep.title}; needs \\usepackage{{booktabs}}"]
    for t in rep.tables:
        averages = [i for i, r in enumerate(t.rows) if r and r[0] == "average"]
        out += [
            r"\begin{table}[t]",
            r"\centering",
            r"\small",
            f"\\caption{{{_tex(t.title)}}}",
            latex_tabular(t.headers, t.rows, t.numeric, _tex, averages).rstrip("\n"),
        ]
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
caption{text-align:left;font-weight:600;padding:.3em 0;white-space:nowrap}
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
    main = [t for t in rep.tables if not t.appendix]
    for i, t in enumerate(main):
        out += _html_table(i, t)
    for f in rep.figures:
        data = base64.b64encode(f.png).decode("ascii")
        out.append(
            f'<figure id="{e(f.name)}"><img alt="{e(f.title)}" '
            f'src="data:image/png;base64,{data}"><figcaption>{e(f.title)}</figcaption></figure>'
        )
    for i, t in enumerate([t for t in rep.tables if t.appendix], len(main)):
        out += _html_table(i, t)
    out += [f'<p class="note">{e(n)}</p>' for n in rep.notes]
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _html_table(i: int, t: Table) -> list[str]:
    classes = [
        [
            " ".join(
                (["n"] if n else [])
                + (["partial"] if "*" in c or SAMPLED in c or OTHER_DATA in c else [])
            )
            for c, n in zip(r, t.numeric)
        ]
        for r in t.rows
    ]
    out = [html_table(t.headers, t.rows, table_id=f"t{i}", caption=t.title, cell_classes=classes)]
    if t.note:
        out.append(f'<p class="note">{html.escape(t.note)}</p>')
    return out


def render(rep: Report, fmt: str) -> str:
    """Text of ``rep`` in one of the file formats (``terminal`` is printed by the CLI)."""
    return {"md": to_markdown, "csv": to_csv, "latex": to_latex, "html": to_html}[fmt](rep)


def rich_tables(rep: Report) -> list[Any]:
    """The tables as rich renderables. Columns fold instead of cutting: a narrow terminal
    wraps a number rather than printing ``46.…``."""
    from rich.table import Table as RichTable

    out: list[Any] = []
    for t in rep.tables:
        rt = RichTable(
            title=t.title, title_justify="left", caption=t.note or None, caption_justify="left"
        )
        for h, n in zip(t.headers, t.numeric):
            rt.add_column(h, justify="right" if n else "left", overflow="fold")
        for r in t.rows:
            rt.add_row(*r)
        out.append(rt)
    return out
