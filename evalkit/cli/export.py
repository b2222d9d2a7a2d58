"""``evalkit export mteb RUNS... --out DIR``: records in mteb's results-repository layout."""

from __future__ import annotations

from pathlib import Path

import typer

from evalkit.cli import app, console, err_console

export_app = typer.Typer(help="Export records for leaderboards.", no_args_is_help=True)
app.add_typer(export_app, name="export")


@export_app.command("mteb")
def export_mteb(
    paths: list[Path] = typer.Argument(..., help="Record files or directories."),
    out: Path = typer.Option(..., "--out", "-o", help="The results folder to write into."),
    skip_refused: bool = typer.Option(
        False, "--skip-refused", help="Export the submittable records even if others are refused."
    ),
) -> None:
    """Write {org}__{model}/{revision}/{Task}.json, model_meta.json and run_settings.jsonl.
    Records mteb would not accept are refused with the reason (exit 2, nothing written)."""
    from rich.markup import escape

    from evalkit.errors import EvalkitError
    from evalkit.evaluation.export_mteb import export_mteb as run_export
    from evalkit.paths import check_output_dir
    from evalkit.results import require_records

    check_output_dir(out, "--out")
    records = require_records(paths)
    result = run_export(records, out, skip_refused=skip_refused)
    for r in result.refused:
        err_console.print(f"refused: {escape(r.record)}: {escape(r.reason)}", soft_wrap=True)
    if result.refused and not skip_refused:
        raise EvalkitError(
            f"{len(result.refused)} of {len(records)} records cannot be submitted (reasons "
            "above); nothing written; --skip-refused exports the others"
        )
    if not result.written:
        raise EvalkitError("no record can be submitted to the mteb leaderboard (reasons above)")
    for line in result.partial:
        err_console.print(f"incomplete: {escape(line)}", soft_wrap=True)
    for line in result.warnings:
        err_console.print(f"warning: {escape(line)}", soft_wrap=True)
    for line in result.adjusted:
        err_console.print(f"note: {escape(line)}", soft_wrap=True)
    tasks = sum(p.suffix == ".json" and p.name != "model_meta.json" for p in result.written)
    console.print(f"wrote {tasks} task results under {out}", soft_wrap=True)
