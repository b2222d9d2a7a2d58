"""``evalkit check-model drama-base``: reproduce the model card's example scores."""

from __future__ import annotations

from pathlib import Path

import typer

from evalkit.cli import app, console


def _matrix(m: list[list[float]]) -> str:
    return "[" + ", ".join("[" + ", ".join(f"{x:.4f}" for x in row) + "]" for row in m) + "]"


@app.command("check-model")
def check_model_cmd(
    name: str = typer.Argument(
        "drama-base", help="Registered model with published example scores (drama-base)."
    ),
    model_dir: Path = typer.Option(
        None, "--model-dir", help="Load the weights from this directory instead."
    ),
    expected: Path = typer.Option(
        None,
        "--expected",
        help='JSON {"full": [[..]], "256": [[..]]} to compare with instead of the card\'s scores.',
    ),
    model_type: str = typer.Option(None, "--model-type", help="Force the model kind (drama)."),
    device: str = typer.Option(None, "--device", help="cpu or cuda (default: cuda if present)."),
    dtype: str = typer.Option(
        "float32", "--dtype", help="float32 (as the card), bfloat16, float16."
    ),
    tolerance: float = typer.Option(0.002, "--tolerance", help="Largest allowed difference."),
) -> None:
    """Reproduce the model card's example scores: PASS (exit 0) or FAIL (exit 1)."""
    from rich.table import Table

    from evalkit.check_model import check_model, read_expected

    result = check_model(
        name,
        local_dir=model_dir,
        expected=read_expected(expected) if expected else None,
        device=device,
        dtype=dtype,
        model_type=model_type,
        tolerance=tolerance,
    )
    table = Table(title=f"check-model {name}", title_justify="left")
    for col in ("dim", "expected", "got", "max |diff|", "result"):
        table.add_column(col)
    for c in result.checks:
        table.add_row(
            str(c.dim or "full"),
            _matrix(c.expected),
            _matrix(c.got),
            f"{c.max_abs_diff:.4f}",
            "[green]PASS[/]" if c.passed else "[red]FAIL[/]",
        )
    console.print(table)
    console.print("PASS" if result.passed else "FAIL", highlight=False)
    if not result.passed:
        raise typer.Exit(1)
