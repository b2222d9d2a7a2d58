"""``evalkit models``: the registered models."""

from __future__ import annotations

from evalkit.cli import app, console


@app.command("models")
def models() -> None:
    """List registered models with their source, revision and dimensions."""
    from rich.table import Table

    from evalkit.models.registry import registered_models

    table = Table(title="Registered models", title_justify="left")
    for col in ("name", "kind", "source", "revision", "dim", "matryoshka", "max q/doc tokens"):
        table.add_column(col)
    for spec in registered_models().values():
        table.add_row(
            spec.name,
            spec.kind,
            spec.hf_id or "-",
            (spec.revision or "-")[:12],
            str(spec.dim or "-"),
            ",".join(map(str, spec.matryoshka_dims)) or "-",
            f"{spec.max_query_length or 'model'}/{spec.max_doc_length or 'model'}",
        )
    console.print(table)
