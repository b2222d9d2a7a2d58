"""``evalkit compare BASELINE CURRENT``: regression check with a paired significance test.

Exit status: 0 no regression, 1 a regression beyond --tolerance (and, with --alpha, a
significant one) or a dataset missing from CURRENT, 2 bad input (incl. pairs whose measurement
conditions differ: data, split, queries, top-k, metric; the models may differ)."""

from __future__ import annotations

from pathlib import Path

import typer

from evalkit.cli import app


@app.command("compare")
def compare(
    baseline: Path = typer.Argument(..., help="Baseline records (file or directory)."),
    current: Path = typer.Argument(..., help="Current records (file or directory)."),
    tolerance: float = typer.Option(
        0.5, "--tolerance", help="Allowed drop, in points of the metric x100 (nDCG points)."
    ),
    alpha: float = typer.Option(
        None, "--alpha", help="Also require significance: Holm-adjusted p below this."
    ),
    metric: str = typer.Option(None, "--metric", help="Score to compare (default: main metric)."),
    fmt: str = typer.Option(
        "md", "--format", "-f", help="md (pull-request comment), json or html (one file)."
    ),
    out: Path = typer.Option(None, "--out", "-o", help="Write the --format output here."),
    json_out: Path = typer.Option(None, "--json", help="Also write the JSON result here."),
    allow_settings_mismatch: bool = typer.Option(
        False,
        "--allow-settings-mismatch",
        help="Compare records whose top-k differs. Models and their settings need no flag: "
        "they are what is compared, and the output names every field that differs.",
    ),
    allow_query_mismatch: bool = typer.Option(
        False,
        "--allow-query-mismatch",
        help="Compare records whose query sets or data differ (tests the shared queries).",
    ),
    resamples: int = typer.Option(10_000, "--resamples", help="Randomisation test resamples."),
    seed: int = typer.Option(0, "--seed", help="Seed of the randomisation test."),
) -> None:
    """Per dataset and suite average: both scores, the difference, and a paired randomisation
    test over per-query scores (Holm-adjusted across datasets). BASELINE and CURRENT may hold
    different models (the output names what differs); the data, split, queries, top-k and
    metric must match."""
    from evalkit.errors import EvalkitError
    from evalkit.evaluation.compare import FORMATS, render, to_json
    from evalkit.evaluation.compare import compare as run_compare
    from evalkit.metrics import canonical
    from evalkit.paths import check_output_file
    from evalkit.results import atomic_write_text, require_records

    if fmt not in FORMATS:
        raise EvalkitError(f"--format {fmt!r}: expected md, json or html")
    if resamples < 1:
        raise EvalkitError(f"--resamples {resamples}: must be at least 1")
    for option, path in (("--out", out), ("--json", json_out)):
        if path is not None:
            check_output_file(path, option)
    sides = [
        require_records([p], name) for name, p in (("BASELINE", baseline), ("CURRENT", current))
    ]
    cmp = run_compare(
        sides[0],
        sides[1],
        metric=canonical(metric) if metric else None,
        tolerance=tolerance,
        alpha=alpha,
        allow_settings_mismatch=allow_settings_mismatch,
        allow_query_mismatch=allow_query_mismatch,
        n_resamples=resamples,
        seed=seed,
    )
    text = render(cmp, fmt)
    if out is None:
        typer.echo(text, nl=False)
    else:
        atomic_write_text(out, text)
    if json_out is not None:
        atomic_write_text(json_out, to_json(cmp))
    if cmp.exit_code:
        raise typer.Exit(cmp.exit_code)
