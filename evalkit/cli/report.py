"""``evalkit report``: paper tables from result records, in five formats, with plots."""

from __future__ import annotations

from pathlib import Path

import typer

from evalkit.cli import app, console

PAPER_TABLE = Path(__file__).resolve().parents[2] / "results" / "paper" / "drama_table1.csv"


@app.command("report")
def report(
    paths: list[Path] = typer.Argument(
        None, help="Record files or directories (default: results/runs)."
    ),
    reference: Path = typer.Option(
        None,
        "--reference",
        "-r",
        help="Reference CSV (default: the paper's Table 1, results/paper/drama_table1.csv).",
    ),
    no_reference: bool = typer.Option(False, "--no-reference", help="No paper column."),
    metric: str = typer.Option(
        None, "--metric", help="Score to average (default: each dataset's main metric, nDCG@10)."
    ),
    include_sampled: bool = typer.Option(
        False, "--include-sampled", help="Also average --max-queries runs."
    ),
    fmt: str = typer.Option(
        "terminal", "--format", "-f", help="terminal, md, csv, latex (booktabs) or html."
    ),
    out: Path = typer.Option(None, "--out", "-o", help="Write to this file (default: stdout)."),
    plots: Path = typer.Option(
        None, "--plots", help="Also write the figures as PNG files into this directory."
    ),
    ok: float = typer.Option(0.05, "--ok", help="|diff| (points) that counts as OK."),
    okish: float = typer.Option(0.5, "--okish", help="|diff| (points) that counts as OKish."),
    published: bool = typer.Option(
        None,
        "--published/--no-published",
        help="Beside each per-dataset value, the published number and whether it reproduces, "
        "with a summary (default: on when results/published/published.csv exists).",
    ),
    fail_on_regression: bool = typer.Option(
        False, "--fail-on-regression", help="Exit 1 when a complete suite is FAIL."
    ),
) -> None:
    """Tables laid out like the paper's Table 1 (suite averages, x100), then per dataset and
    per language. HTML is one self-contained file with the figures inline."""
    from evalkit.errors import EvalkitError
    from evalkit.evaluation.report import FORMATS, build_report, render, rich_tables
    from evalkit.evaluation.tables import (
        check_metric,
        load_reference,
        no_check_reason,
        scores,
        suite_cells,
    )
    from evalkit.metrics import canonical
    from evalkit.paths import check_output_dir, check_output_file, safe_component
    from evalkit.results import atomic_write, atomic_write_text, require_records

    if fmt not in FORMATS:
        raise EvalkitError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if out is not None and fmt == "terminal":
        raise EvalkitError("--out needs --format md, csv, latex or html")
    if out is not None:
        check_output_file(out, "--out")
    if plots is not None:
        check_output_dir(plots, "--plots")
    paths = paths or [Path("results/runs")]
    records = require_records(paths)
    metric = canonical(metric) if metric else None
    if metric:
        check_metric(records, metric)
    items = scores(records, metric=metric, include_sampled=include_sampled)
    if not items:
        sampled = sum(not r.is_full_run for r in records)
        raise EvalkitError(
            f"no record can be averaged: {sampled} of {len(records)} are sampled runs "
            "(add --include-sampled)"
            if sampled and not include_sampled
            else f"no record can be averaged ({len(records)} read: other splits, or top-k "
            "below the metric's cutoff)"
        )
    if reference is None and not no_reference and PAPER_TABLE.is_file():
        reference = PAPER_TABLE
    refs = load_reference(reference) if reference is not None and not no_reference else []
    from evalkit.evaluation import published as pubmod

    if published is None:
        published = pubmod.DEFAULT_PATH.is_file()
    elif published and not pubmod.DEFAULT_PATH.is_file():
        raise EvalkitError(f"--published: {pubmod.DEFAULT_PATH} not found")
    pairs = None
    if published:
        rows = pubmod.load_published()
        # each score against the published numbers of its own metric
        pairs = [
            (s.record, c) for s in items for c in pubmod.compare_record(s.record, rows, [s.metric])
        ]
    rep = build_report(items, refs, metric, ok, okish, pairs)
    if plots is not None or fmt == "html":
        from evalkit.evaluation.plots import figures

        full_dims = {
            r.model["name"]: r.model["full_dim"] for r in records if r.model.get("full_dim")
        }
        rep.figures = figures(items, full_dims, metric)
        if plots is not None:
            plots.mkdir(parents=True, exist_ok=True)
            for f in rep.figures:
                # figure names hold dataset and suite names from records: one component each
                atomic_write(plots / f"{safe_component(f.name)}.png", lambda b, f=f: b.write(f.png))

    if fmt == "terminal":
        for t in rich_tables(rep):
            console.print(t)
        for n in rep.notes:
            console.print(n, soft_wrap=True)
    elif out is None:
        typer.echo(render(rep, fmt), nl=False)
    else:
        atomic_write_text(out, render(rep, fmt))
        console.print(f"wrote {out}", soft_wrap=True)
    if refs and not rep.checks:
        console.print(no_check_reason(suite_cells(items), refs), soft_wrap=True, highlight=False)
    if fail_on_regression and any(c.status == "FAIL" for c in rep.checks):
        raise typer.Exit(1)
