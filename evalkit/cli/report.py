"""``evalkit report``: suite averages from result records, and checks against references."""

from __future__ import annotations

from pathlib import Path

import typer

from evalkit.cli import app, console


@app.command("report")
def report(
    paths: list[Path] = typer.Argument(
        None, help="Record files or directories (default: results/runs)."
    ),
    reference: Path = typer.Option(
        None, "--reference", "-r", help="Reference CSV, e.g. results/paper/drama_table1.csv."
    ),
    metric: str = typer.Option(
        None, "--metric", help="Score to average (default: each dataset's main metric, nDCG@10)."
    ),
    include_sampled: bool = typer.Option(
        False, "--include-sampled", help="Also average --max-queries runs."
    ),
    ok: float = typer.Option(0.05, "--ok", help="|diff| (points) that counts as OK."),
    okish: float = typer.Option(0.5, "--okish", help="|diff| (points) that counts as OKish."),
    fail_on_regression: bool = typer.Option(
        False, "--fail-on-regression", help="Exit 1 when a complete suite is FAIL."
    ),
) -> None:
    """A table laid out like the paper's Table 1 (suite averages, x100)."""
    from rich.table import Table

    from evalkit.errors import EvalkitError
    from evalkit.metrics import canonical
    from evalkit.report import (
        COLUMN_TITLES,
        PAPER_COLUMNS,
        load_reference,
        regression_checks,
        suite_table,
    )
    from evalkit.results import load_results

    paths = paths or [Path("results/runs")]
    for p in paths:
        if not p.exists():
            raise EvalkitError(f"{p}: no such file or directory")
    records = load_results(paths)
    if not records:
        raise EvalkitError(f"no result records under {', '.join(map(str, paths))}")
    # The paper's columns first, then any other suite the records hold (demo, local folders).
    others = sorted({r.dataset.get("suite") or "local" for r in records} - set(PAPER_COLUMNS))
    columns = [*PAPER_COLUMNS, *others]
    table = suite_table(
        records,
        columns=columns,
        metric=canonical(metric) if metric else None,
        include_sampled=include_sampled,
    )

    out = Table(
        title="Suite averages (x100); * = incomplete suite (n/expected)", title_justify="left"
    )
    out.add_column("model")
    for c in columns:
        out.add_column(COLUMN_TITLES.get(c, c), justify="right")
    for model, cells in sorted(table.items()):
        row = [model]
        for c in columns:
            cell = cells.get(c)
            if cell is None:
                row.append("-")
            else:
                row.append(
                    f"{cell.value:.1f}" + ("" if cell.complete else f"* ({cell.n}/{cell.expected})")
                )
        out.add_row(*row)
    console.print(out)
    if not table:
        console.print("no full-run records to average (sampled runs need --include-sampled)")
    if reference is None:
        return
    checks = regression_checks(table, load_reference(reference), ok, okish)
    ct = Table(title=f"Against {reference}", title_justify="left")
    for col in ("model", "suite", "ours", "reference", "diff", "status"):
        ct.add_column(col, justify="right" if col in ("ours", "reference", "diff") else "left")
    colours = {"OK": "green", "OKish": "yellow", "FAIL": "red", "PARTIAL": "dim"}
    for c in checks:
        ct.add_row(
            c.model,
            COLUMN_TITLES.get(c.suite, c.suite),
            f"{c.ours:.2f}",
            f"{c.reference:.1f}",
            f"{c.ours - c.reference:+.2f}",
            f"[{colours[c.status]}]{c.status}[/]",
        )
    console.print(ct if checks else "no model in the records has a reference row")
    if fail_on_regression and any(c.status == "FAIL" for c in checks):
        raise typer.Exit(1)
