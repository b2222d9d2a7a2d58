"""The ``evalkit`` command: a thin layer over the Python API.

Each command lives in its own module under :mod:`evalkit.cli` and registers itself on
:data:`app`. User errors (:class:`evalkit.errors.EvalkitError`) print one line and exit
non-zero; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import importlib
import os
import sys

import typer
from rich.console import Console
from rich.markup import escape

from evalkit.errors import EvalkitError

app = typer.Typer(
    name="evalkit",
    help="Evaluate dense retrievers (DRAMA and any embedding model) on BEIR, MIRACL, MLDR, MTEB.",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True)
console = Console()

# Command modules; each does ``@app.command(...)`` at import.
_COMMANDS = ("run", "encode", "check_model", "suites", "models", "report", "compare", "export")


def _register() -> None:
    for name in _COMMANDS:
        try:
            importlib.import_module(f"evalkit.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"evalkit.cli.{name}":
                raise


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
) -> None:
    if debug:
        os.environ["EVALKIT_DEBUG"] = "1"


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    _register()
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("EVALKIT_DEBUG") == "1"
    try:
        code = app(args=argv, prog_name="evalkit", standalone_mode=False)
        if isinstance(code, int) and code != 0:  # typer.Exit(n) returns n here
            sys.exit(code)
    except EvalkitError as e:
        if debug:
            raise
        # escape: messages quote lists and paths with [brackets] that rich would eat as markup
        err_console.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as e:  # click usage errors and the like
        import click

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            sys.exit(e.exit_code)
        if isinstance(e, click.exceptions.Abort):
            sys.exit(1)
        if debug:
            raise
        err_console.print(
            f"[bold red]error:[/] {type(e).__name__}: {escape(str(e))} "
            "(run with --debug for the traceback)",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(1)
