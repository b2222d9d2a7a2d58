"""Report figures (matplotlib, Agg backend, PNG bytes): the main metric against Matryoshka dim
per suite, per-language bars for MIRACL and MLDR, per-dataset bars for BEIR.

Partial suite averages are drawn with hollow markers and labelled, as the tables mark them."""

from __future__ import annotations

import io
from collections.abc import Sequence

from evalkit.errors import EvalkitError
from evalkit.evaluation.report import Figure, metric_title
from evalkit.evaluation.tables import (
    COLUMN_TITLES,
    PAPER_COLUMNS,
    Row,
    Score,
    dataset_cells,
    language_cells,
    suite_cells,
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
    cells = suite_cells(items)

    # Score against dim: one line per model with at least two dims in a suite.
    for suite in sorted({s.suite for s in items}, key=_suite_order):
        lines: dict[tuple[str, str | None], list[tuple[int, float, bool]]] = {}
        for row, by_suite in cells.items():
            cell = by_suite.get(suite)
            dim = row.dim or full_dims.get(row.name)
            if cell is not None and dim:
                lines.setdefault((row.name, row.settings), []).append(
                    (dim, cell.value, cell.complete)
                )
        lines = {k: sorted(v) for k, v in lines.items() if len(v) > 1}
        if not lines:
            continue
        fig, ax = plt.subplots(figsize=(6, 4))
        for (name, settings), pts in sorted(lines.items()):
            label = name + (f" [{settings}]" if settings else "")
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "-", label=label)
            for d, v, complete in pts:
                colour = ax.lines[-1].get_color()
                ax.plot(d, v, "o", mfc=None if complete else "white", color=colour)
        ax.set_xscale("log", base=2)
        dims = sorted({d for pts in lines.values() for d, _, _ in pts})
        ax.set_xticks(dims, [str(d) for d in dims])
        ax.minorticks_off()
        ax.set_xlabel("Matryoshka dim")
        ax.set_ylabel(f"{mt} x100")
        title = f"{COLUMN_TITLES.get(suite, suite)}: {mt} against dim"
        if any(not c for pts in lines.values() for _, _, c in pts):
            title += " (hollow = partial suite)"
        ax.set_title(title)
        ax.legend()
        out.append(Figure(f"dims-{suite}", title, _png(fig)))

    # Per-language bars (MIRACL, MLDR) and per-dataset bars (BEIR).
    by_language = language_cells(items)
    for suite in ("miracl", "mldr"):
        for (s, name), langs in sorted(by_language.items()):
            if s == suite:
                groups = {lang: {r: v for r, v in vals.items()} for lang, vals in langs.items()}
                title = f"{name}: {mt} per language"
                out.append(Figure(f"languages-{name}", title, _bars(plt, groups, title, mt)))
    beir = {d: rows for (s, d), rows in dataset_cells(items).items() if s == "beir"}
    if beir:
        groups = {d: {r: c.value for r, c in rows.items()} for d, rows in beir.items()}
        title = f"BEIR: {mt} per dataset"
        out.append(Figure("datasets-beir", title, _bars(plt, groups, title, mt)))
    return out


def _bars(plt, groups: dict[str, dict[Row, float]], title: str, mt: str) -> bytes:  # type: ignore[no-untyped-def]
    keys = sorted(groups)
    rows = sorted({r for v in groups.values() for r in v})
    width = 0.8 / max(1, len(rows))
    fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(keys) * max(1, len(rows))), 4))
    for i, r in enumerate(rows):
        xs = [k + i * width for k in range(len(keys))]
        ax.bar(xs, [groups[k].get(r, 0.0) for k in keys], width, label=r.label)
    ax.set_xticks([k + 0.4 - width / 2 for k in range(len(keys))], keys, rotation=45, ha="right")
    ax.set_ylabel(f"{mt} x100")
    ax.set_title(title)
    ax.legend()
    return _png(fig)


def _suite_order(suite: str) -> tuple[int, str]:
    return (PAPER_COLUMNS.index(suite) if suite in PAPER_COLUMNS else len(PAPER_COLUMNS), suite)
