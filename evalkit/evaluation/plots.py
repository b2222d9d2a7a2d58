"""Report figures (matplotlib, Agg backend, PNG bytes): the main metric against Matryoshka dim
per suite (each model's points over the datasets all its dims have), per-language bars for
datasets with languages, per-dataset bars for every suite with several datasets and for every
collection outside the paper's suites.

Values a query sample went into are drawn hollow or hatched and said so, as the tables mark
them."""

from __future__ import annotations

import io
from collections.abc import Sequence

from evalkit.errors import EvalkitError
from evalkit.evaluation.report import Figure, metric_title, suite_order
from evalkit.evaluation.tables import (
    COLUMN_TITLES,
    PAPER_COLUMNS,
    Common,
    Row,
    Score,
    common_cells,
    dataset_cells,
    language_cells,
)


def _pyplot():  # type: ignore[no-untyped-def]
    try:
        import matplotlib
    except ModuleNotFoundError:
        raise EvalkitError("plots need matplotlib: pip install matplotlib") from None
    matplotlib.use("Agg")  # no display: CI runners and servers have none
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    # A fixed date-free PNG: metadata would make every report's bytes differ.
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def figures(
    items: Sequence[Score], full_dims: dict[str, int], metric: str | None = None
) -> list[Figure]:
    """All figures the scores support (none for a suite without the data)."""
    if not items:
        return []
    plt = _pyplot()
    mt = metric_title(metric)
    out: list[Figure] = []
    present = sorted({s.suite for s in items}, key=suite_order)

    # Score against dim, each point over the data every dim of its model has.
    all_lines = dim_lines(items, full_dims)
    for suite in present:
        lines = all_lines.get(suite, {})
        if not lines:
            continue
        fig, ax = plt.subplots(figsize=(6.5, 4))
        for label, (pts, common) in sorted(lines.items()):
            over = common.describe()
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "-", label=f"{label}, over {over}")
            colour = ax.lines[-1].get_color()
            for d, v, sampled in pts:
                ax.plot(d, v, "o", mfc="white" if sampled else colour, color=colour)
        # at least 10 points of y range: a 1.7-point gap must not fill the plot as a cliff
        lo, hi = ax.get_ylim()
        if hi - lo < 10:
            mid = (hi + lo) / 2
            ax.set_ylim(mid - 5, mid + 5)
        ax.set_xscale("log", base=2)
        dims = sorted({d for pts, _ in lines.values() for d, _, _ in pts})
        ax.set_xticks(dims, [str(d) for d in dims])
        ax.minorticks_off()
        ax.set_xlabel("Matryoshka dim")
        ax.set_ylabel(f"{mt} x100")
        title = (
            f"{COLUMN_TITLES.get(suite, suite)}: {mt} against dim, on the datasets every dim has"
        )
        if any(sampled for pts, _ in lines.values() for _, _, sampled in pts):
            title += " (hollow = sampled queries)"
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        out.append(Figure(f"dims-{suite}", title, _png(fig)))

    # Per-language bars (datasets with languages) and per-dataset bars (every suite with more
    # than one dataset, and every collection outside the paper's suites).
    by_language = language_cells(items)
    drawn: set[tuple[str, str]] = set()
    for (s, name), langs in sorted(by_language.items(), key=lambda kv: suite_order(kv[0][0])):
        if len(langs) < 2 and s in PAPER_COLUMNS:
            continue
        drawn.add((s, name))
        groups = {
            lang: {r: (sc.value, sc.sampled) for r, sc in vals.items()}
            for lang, vals in langs.items()
        }
        other = any(sc.other_data for vals in langs.values() for sc in vals.values())
        png, title = _bars(plt, groups, f"{name}: {mt} per language", mt, other)
        out.append(Figure(f"languages-{name}", title, png))
    by_dataset = dataset_cells(items)
    for suite in present:
        data = {d: rows for (s, d), rows in by_dataset.items() if s == suite}
        if all((suite, d) in drawn for d in data):
            continue  # MIRACL, MLDR: their per-language figures show them
        groups = {d: {r: (c.value, c.sampled) for r, c in rows.items()} for d, rows in data.items()}
        other = any(c.other_data for rows in data.values() for c in rows.values())
        png, title = _bars(
            plt, groups, f"{COLUMN_TITLES.get(suite, suite)}: {mt} per dataset", mt, other
        )
        out.append(Figure(f"datasets-{suite}", title, png))
    return out


DimLine = tuple[list[tuple[int, float, bool]], Common]
"""(dim, value, sampled) points, and the (dataset, language) results they average over."""


def dim_lines(items: Sequence[Score], full_dims: dict[str, int]) -> dict[str, dict[str, DimLine]]:
    """suite -> model label -> its score against Matryoshka dim: one line per model (and
    settings) with at least two dims in a suite, each point averaged over the results every
    dim of that model has. A dim run on other datasets would move the line by the data, not
    by the dim; a model whose dims share no dataset gets no line."""
    out: dict[str, dict[str, DimLine]] = {}
    for suite in sorted({s.suite for s in items}, key=suite_order):
        by_model: dict[tuple[str, str | None], list[Row]] = {}
        for row in sorted({s.row for s in items if s.suite == suite}):
            if row.dim or full_dims.get(row.name):
                by_model.setdefault((row.name, row.settings), []).append(row)
        for (name, settings), model_rows in by_model.items():
            if len(model_rows) < 2:
                continue
            common = common_cells(items, suite, model_rows)
            if not common.units:
                continue
            pts = sorted(
                (r.dim or full_dims[r.name], common.cells[r].value, common.cells[r].sampled)
                for r in model_rows
            )
            out.setdefault(suite, {})[Row(name, None, settings).label] = (pts, common)
    return out


def _bars(  # type: ignore[no-untyped-def]
    plt,
    groups: dict[str, dict[Row, tuple[float, bool]]],
    title: str,
    mt: str,
    other_data: bool = False,
) -> tuple[bytes, str]:
    """Grouped bars; a model without a value gets no bar (never a bar at 0), a value a query
    sample went into is hatched and said so in the title."""
    keys = sorted(groups)
    rows = sorted({r for v in groups.values() for r in v})
    width = 0.8 / max(1, len(rows))
    fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(keys) * max(1, len(rows))), 4))
    any_sampled = False
    any_missing = False
    for i, r in enumerate(rows):
        xs = [k + i * width for k in range(len(keys)) if r in groups[keys[k]]]
        vals = [groups[k][r] for k in keys if r in groups[k]]
        any_missing |= len(vals) < len(keys)
        bars = ax.bar(xs, [v for v, _ in vals], width, label=r.label)
        for b, (_, sampled) in zip(bars, vals):
            if sampled:
                any_sampled = True
                b.set_hatch("//")
                b.set_facecolor("white")
    ax.set_xticks([k + 0.4 - width / 2 for k in range(len(keys))], keys, rotation=45, ha="right")
    ax.set_ylabel(f"{mt} x100")
    notes = (
        (["hatched = sampled queries"] if any_sampled else [])
        + (["no bar = not run"] if any_missing else [])
        + (["other corpus than the published one"] if other_data else [])
    )
    title += f" ({'; '.join(notes)})" if notes else ""
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))  # never over a bar
    return _png(fig), title
