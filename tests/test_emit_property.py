"""The report's and compare's tables, as pandas writes them, read back to what was meant: for
random tables (labels with markdown, LaTeX and HTML special characters, missing and NaN
values), the markdown parses (markdown-it, GFM tables) to the same cells with no markup made
up from a label, the HTML parses (html.parser) to the same cell texts, and the LaTeX has
balanced braces, one column separator per column and every special character escaped."""

from __future__ import annotations

import html.parser
import math
import re

from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from evalkit.evaluation.compare import Comparison, Line, ModelPair
from evalkit.evaluation.compare import to_html as compare_html
from evalkit.evaluation.compare import to_markdown as compare_markdown
from evalkit.evaluation.report import Report, Table, fmt_cell, render
from evalkit.evaluation.tables import Cell

_SPECIAL = "|\\*_`<>&[]#%${}~^!()-:.'\" Δ–\n"
# labels: markup characters, ids like <dbpedia:Oceanic_Airlines>, letters of any script
_LABEL = st.one_of(
    st.text(
        st.one_of(
            st.sampled_from(_SPECIAL),
            st.characters(codec="utf-8", categories=("L", "N", "P", "S")),
        ),
        max_size=14,
    ),
    st.sampled_from(["<dbpedia:Oceanic_Airlines>", "ndcg_at_10", "*a*", "_a_", "a\\|b", "[x](y)"]),
)
_VALUE = st.one_of(st.none(), st.just(math.nan), st.floats(-1e4, 1e4, allow_nan=False))


def _cell_text(v: float | None) -> str:
    """A number as the report shows it (missing: the dash; a NaN average says nan)."""
    return fmt_cell(None if v is None else Cell(v, 1, 2 if v > 50 else 1))


@st.composite
def _tables(draw: st.DrawFn) -> Table:
    width = draw(st.integers(1, 4))
    headers = draw(st.lists(_LABEL, min_size=width, max_size=width))
    numeric = [False] + [True] * (width - 1)
    rows = [
        [draw(_LABEL)] + [_cell_text(draw(_VALUE)) for _ in range(width - 1)]
        for _ in range(draw(st.integers(1, 4)))
    ]
    if draw(st.booleans()):
        rows.append(["average"] + [_cell_text(draw(_VALUE)) for _ in range(width - 1)])
    return Table(draw(_LABEL), headers, rows, numeric)


def _md_meant(text: str) -> str:
    """What a markdown cell can say: a line break is a space, the ends are trimmed."""
    return re.sub(r"\r\n?|\n", " ", text).strip(" \t")


def _md_tables(text: str) -> list[list[list[str]]]:
    """Every table's rows (the header row first) as cell texts; fails on any markup (emphasis,
    link, code, HTML) the parser made out of a cell."""
    tables: list[list[list[str]]] = []
    row: list[str] = []
    for tok in MarkdownIt("commonmark").enable("table").parse(text):
        if tok.type == "table_open":
            tables.append([])
        elif tok.type == "tr_open":
            row = []
        elif tok.type == "tr_close":
            tables[-1].append(row)
        elif tok.type == "inline" and tables and tok.level > 2:
            kinds = {c.type for c in tok.children or []}
            assert kinds <= {"text", "text_special"}, (tok.content, kinds)
            row.append("".join(c.content for c in tok.children or []))
    return tables


class _Cells(html.parser.HTMLParser):
    """The text of every th/td, table by table (the caption apart)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[dict[str, list]] = []
        self.text: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "table":
            self.tables.append({"caption": "", "rows": []})
        elif tag == "tr":
            self.tables[-1]["rows"].append([])
        elif tag in ("td", "th", "caption"):
            self.text = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self.tables[-1]["rows"][-1].append("".join(self.text or []))
            self.text = None
        elif tag == "caption":
            self.tables[-1]["caption"] = "".join(self.text or [])
            self.text = None

    def handle_data(self, data: str) -> None:
        if self.text is not None:
            self.text.append(data)


def _html_tables(page: str) -> list[dict[str, list]]:
    p = _Cells()
    p.feed(page)
    p.close()
    return [t for t in p.tables if any(t["rows"])]


@settings(max_examples=60, deadline=None)
@given(tables=st.lists(_tables(), min_size=1, max_size=3))
def test_report_markdown_parses_back_to_the_cells(tables: list[Table]) -> None:
    # titles are headings, not table cells: plain ones here
    plain = [Table(f"t{i}", t.headers, t.rows, t.numeric) for i, t in enumerate(tables)]
    got = _md_tables(render(Report("r", plain, []), "md"))
    assert got == [[[_md_meant(c) for c in r] for r in [t.headers, *t.rows]] for t in tables]


@settings(max_examples=60, deadline=None)
@given(tables=st.lists(_tables(), min_size=1, max_size=3))
def test_report_html_parses_back_to_the_cells(tables: list[Table]) -> None:
    got = _html_tables(render(Report("r", tables, []), "html"))
    assert [t["caption"] for t in got] == [t.title for t in tables]
    assert [t["rows"] for t in got] == [[t.headers, *t.rows] for t in tables]


_TEX_OURS = re.compile(r"\$\\Delta\$|\$\^\{\*\}\$")  # the math evalkit writes on purpose
_TEX_ESCAPE = re.compile(r"\\(?:textbackslash|textasciitilde|textasciicircum|textless|"
                         r"textgreater|textbar)\{\}|\\[&%$#_{}]")  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(tables=st.lists(_tables(), min_size=1, max_size=3))
def test_report_latex_is_balanced_and_escaped(tables: list[Table]) -> None:
    tex = render(Report("r", tables, []), "latex")
    bodies = re.findall(r"\\midrule\n(.*?)\\bottomrule", tex, re.S)
    assert len(bodies) == len(tables)
    for t, body in zip(tables, bodies):
        rows = [x for x in body.split("\n") if x and x != r"\midrule"]
        assert len(rows) == len(t.rows)
        for line in rows:
            assert line.endswith(r" \\")
            bare = _TEX_ESCAPE.sub("", _TEX_OURS.sub("", line[: -len(r" \\")]))
            # one & per column boundary; no other special character left unescaped
            assert bare.count("&") == len(t.headers) - 1, line
            assert not set(bare) & set("%$#_{}~^\\<>|\n"), line
    # braces balance over the whole file once the escaped ones are taken out
    depth = 0
    for ch in tex.replace(r"\{", "").replace(r"\}", ""):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0
    assert depth == 0


@st.composite
def _comparisons(draw: st.DrawFn) -> Comparison:
    per_model = draw(st.booleans())

    def line() -> Line:
        b, c = draw(_VALUE), draw(_VALUE)
        return Line(
            draw(_LABEL),
            draw(_LABEL),
            draw(st.none() | _LABEL),
            b,
            c,
            None if b is None or c is None else c - b,
            draw(st.integers(0, 10**6)),
            draw(st.none() | st.just(math.nan) | st.floats(0, 1)),
            draw(st.none() | st.floats(0, 1)),
            draw(st.sampled_from(["ok", "regressed", "improved", "missing", "new"])),
            draw(_LABEL),
            draw(_LABEL) if per_model else "",
        )

    lines = [line() for _ in range(draw(st.integers(1, 4)))]
    a, b = draw(_LABEL), draw(_LABEL)
    return Comparison("ndcg_at_10", 0.5, None, lines, [line()], a, b, [], [ModelPair("", a, b, [])])


def _shown(v: float | None, fmt: str) -> str:
    """A compare score as it must read: the dash for a missing or NaN one."""
    return "–" if v is None or math.isnan(v) else format(v, fmt)


@settings(max_examples=40, deadline=None)
@given(cmp=_comparisons())
def test_compare_tables_read_back_the_same_in_markdown_and_html(cmp: Comparison) -> None:
    md = _md_tables(compare_markdown(cmp))
    pages = _html_tables(compare_html(cmp))
    scores = pages[1:3]  # after the "Compared" table: suite averages, then datasets
    assert len(md) == len(scores) == 2
    for md_rows, page, lines in zip(md, scores, (cmp.suites, cmp.lines)):
        rows = page["rows"]
        assert len(rows) == len(md_rows) == len(lines) + 1
        assert md_rows[0] == [_md_meant(c) for c in rows[0]]  # the same headers
        for x, md_row, row in zip(lines, md_rows[1:], rows[1:]):
            status = x.status + (f" ({x.note})" if x.note else "")
            assert row[-1] == status and md_row[-1].endswith(_md_meant(status))
            assert md_row[:-1] == [_md_meant(c) for c in row[:-1]]
            # the numbers as today: 2 decimals, a signed difference; missing or NaN: the dash
            b, c, d, _, p, ph = row[-7:-1]
            assert (b, c, d) == (
                _shown(x.baseline, ".2f"),
                _shown(x.current, ".2f"),
                _shown(x.diff, "+.2f"),
            )
            assert (p == "–") == (x.p is None or math.isnan(x.p))
            assert (ph == "–") == (x.p_holm is None or math.isnan(x.p_holm))
