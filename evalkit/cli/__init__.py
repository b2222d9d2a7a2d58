"""The ``evalkit`` command: a thin layer over the Python API.

Each command lives in its own module under :mod:`evalkit.cli` and registers itself on
:data:`app`. The contract (README, "Command line"): exit 0 on success, 1 when a run fails,
2 for bad input or usage, 130/143 when interrupted by SIGINT/SIGTERM; every error is one line
``error: ...`` without a traceback unless ``--debug``.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from evalkit.errors import EvalkitError, Interrupted, did_you_mean

try:  # typer >= 0.2x ships its own copy of click; older typer uses click itself
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as click_exceptions  # type: ignore[no-redef]

app = typer.Typer(
    name="evalkit",
    help="Evaluate dense retrievers (DRAMA and any embedding model) on BEIR, MIRACL, MLDR, MTEB.",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True)


def _stdout_console() -> Console:
    """Redirected output (CI logs, pipes) is as wide as the widest table: rich would cut every
    table cell to 80 columns otherwise (a multi-dim run's scores read `78…` in CI logs)."""
    con = Console()
    return con if con.is_terminal else Console(width=100_000, color_system=None)


console = _stdout_console()

# Command modules; each does ``@app.command(...)`` at import.
_COMMANDS = ("run", "encode", "check_model", "suites", "models", "report", "compare", "export")

KEPT_WITH_CACHE = (
    "finished shards stay in the embedding cache and completed records in the output directory"
)
KEPT_WITHOUT_CACHE = (
    "completed records stay in the output directory (--no-cache: no embeddings were kept)"
)
INTERRUPTED_MESSAGE = f"interrupted: {KEPT_WITH_CACHE}; run the same command again to resume"


def interrupted_message(kept: str | None = None) -> str:
    return f"interrupted: {kept or KEPT_WITH_CACHE}; run the same command again to resume"


def _register() -> None:
    for name in _COMMANDS:
        try:
            importlib.import_module(f"evalkit.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"evalkit.cli.{name}":
                raise


def _show_version(value: bool) -> None:
    if value:
        from evalkit import __version__

        console.print(f"evalkit {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
    version: bool = typer.Option(
        False,
        "--version",
        is_eager=True,
        callback=_show_version,
        help="Print the version and exit.",
    ),
) -> None:
    if debug:
        os.environ["EVALKIT_DEBUG"] = "1"


def _fail(message: str, exit_code: int, debug: bool) -> NoReturn:
    """Print ``error: message`` (after the traceback with --debug) and exit; the exit code is
    the same with and without --debug."""
    if debug:
        traceback.print_exc()
    # escape: messages quote lists and paths with [brackets] that rich would eat as markup
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(exit_code)


def _option_name(param: Any) -> str:
    """``--top-k`` for an option (its longest spelling), the metavar for an argument."""
    if getattr(param, "param_type_name", "") == "option" and param.opts:
        return max(param.opts, key=len)
    # typer's parameters call it display_name_raw, click's human_readable_name
    for attr in ("display_name_raw", "human_readable_name", "name"):
        if getattr(param, attr, None):
            return str(getattr(param, attr))
    return "?"


# pydantic's error types (typer's coercion) -> how evalkit says it
_TYPE_WORDS = {
    "int_parsing": "is not an integer",
    "int_from_float": "is not an integer",
    "float_parsing": "is not a number",
    "bool_parsing": "is not true or false",
}


def _sentence(text: str) -> str:
    """Click's "Capitalised sentence." as the rest of evalkit's messages: lower case, no stop."""
    text = text.strip().rstrip(".")
    return text[:1].lower() + text[1:] if text[1:2].islower() or len(text) == 1 else text


class NoSuchCommand(click_exceptions.UsageError):
    """A command name the group does not have, raised with the name itself (click only says
    it in an English sentence)."""

    def __init__(self, name: str, possibilities: list[str], ctx: Any) -> None:
        super().__init__(f"No such command {name!r}.", ctx)
        self.command_name = name
        self.possibilities = possibilities


class MissingCommand(click_exceptions.UsageError):
    """A group called without a command."""

    def __init__(self, ctx: Any) -> None:
        super().__init__("Missing command.", ctx)


def _see_help(ctx: Any) -> str:
    """`` (see 'evalkit run --help')``: where the command's options and commands are listed."""
    return f" (see '{ctx.command_path} --help')" if ctx is not None else ""


def _param_of(ctx: Any, option_name: str) -> Any:
    """The option of ``ctx``'s command spelt ``option_name`` (``-m`` or ``--model``)."""
    params = getattr(getattr(ctx, "command", None), "params", ())
    return next(
        (p for p in params if option_name in (*p.opts, *getattr(p, "secondary_opts", ()))), None
    )


def usage_message(e: click_exceptions.UsageError) -> str:
    """One line, without click's class names, for a click/typer usage error, built from the
    exception's own fields (the option, the parameter, the command), never parsed out of
    click's English sentence, so it names what the user typed whatever it contains. Only a
    message click words for one case (a custom check, extra arguments) is passed on as is."""
    ctx = e.ctx
    if isinstance(e, NoSuchCommand):
        hint = did_you_mean(e.command_name, e.possibilities)
        return f"no such command {e.command_name!r}" + (hint or _see_help(ctx))
    if isinstance(e, MissingCommand):
        return "missing command" + _see_help(ctx)
    if isinstance(e, click_exceptions.NoSuchOption):
        hint = did_you_mean(e.option_name, e.possibilities or ())
        return f"no such option {e.option_name!r}" + (hint or _see_help(ctx))
    if isinstance(e, click_exceptions.BadParameter):
        name = _option_name(e.param) if e.param is not None else _hint_name(e.param_hint)
        if isinstance(e, click_exceptions.MissingParameter):
            return f"{name}: missing" + _see_help(ctx)
        cause = e.__cause__
        errors = cause.errors() if hasattr(cause, "errors") else []  # pydantic ValidationError
        if errors and errors[0].get("type") in _TYPE_WORDS:
            return f"{name}: {errors[0].get('input')!r} {_TYPE_WORDS[errors[0]['type']]}"
        return f"{name}: {_sentence(e.message)}"
    if isinstance(e, click_exceptions.BadOptionUsage):
        # click raises it for a value-taking option without its value, or a flag given one
        param = _param_of(ctx, e.option_name)
        if param is not None:
            takes_value = not getattr(param, "is_flag", False)
            return f"{e.option_name}: " + ("needs a value" if takes_value else "takes no value")
        return f"{e.option_name}: {_sentence(e.message)}"
    return _sentence(e.message)


def _hint_name(hint: Any) -> str:
    """A BadParameter's ``param_hint`` (a name or a list of spellings) as one name."""
    if isinstance(hint, str) or hint is None:
        return str(hint or "value")
    names = list(hint)
    return max(names, key=len) if names else "value"


def _structured_errors(cmd: Any) -> Any:
    """Give every usage error of ``cmd`` and its commands the structured data its message is
    built from: the context (click's parser raises BadOptionUsage and NoSuchOption without
    it, so the command and its options would be unknown), and for a group
    :class:`NoSuchCommand` and :class:`MissingCommand` where click raises a bare UsageError
    worded in English."""
    parse = cmd.parse_args

    def parse_args(ctx: Any, args: list[str]) -> Any:
        try:
            return parse(ctx, args)
        except click_exceptions.UsageError as err:
            if err.ctx is None:
                err.ctx, err.cmd = ctx, ctx.command
            raise

    cmd.parse_args = parse_args
    commands = getattr(cmd, "commands", None)
    if commands is None:
        return cmd
    resolve, invoke = cmd.resolve_command, cmd.invoke

    def resolve_command(ctx: Any, args: list[str]) -> Any:
        try:
            return resolve(ctx, args)
        except click_exceptions.UsageError as err:
            # the plain UsageError (not a subclass such as NoSuchOption) is the unknown name
            if type(err) is click_exceptions.UsageError and args:
                raise NoSuchCommand(args[0], list(cmd.list_commands(ctx)), ctx) from err
            raise

    def invoke_group(ctx: Any) -> Any:
        try:
            return invoke(ctx)
        except click_exceptions.UsageError as err:
            # the group's own error before any command was chosen: no command was given
            if (
                type(err) is click_exceptions.UsageError
                and err.ctx is ctx
                and ctx.invoked_subcommand is None
            ):
                raise MissingCommand(ctx) from err
            raise

    cmd.resolve_command, cmd.invoke = resolve_command, invoke_group
    for sub in commands.values():
        _structured_errors(sub)
    return cmd


def os_error_message(e: OSError) -> str:
    """``PATH: what went wrong`` for an OSError, without its class name."""
    what = _sentence(e.strerror or str(e) or "cannot be used")
    paths = [str(p) for p in (e.filename, e.filename2) if p is not None]
    return f"{' -> '.join(paths)}: {what}" if paths else what


def _raise_interrupted(signum: int, frame: object) -> None:
    # Once: a second Ctrl-C (KeyboardInterrupt) or SIGTERM (default: die) still stops a
    # process whose clean-up hangs.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise Interrupted(signum)


@contextmanager
def _interruptible() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`Interrupted` in the main thread, so the runner's
    ``finally`` blocks remove temp files and close progress bars before the process exits.
    Only the main thread may set handlers (main() called from a thread keeps the defaults)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in previous:
        signal.signal(s, _raise_interrupted)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)


def _interrupted(exit_code: int, debug: bool, kept: str | None = None) -> NoReturn:
    if debug:
        traceback.print_exc()
    err_console.print(interrupted_message(kept), highlight=False, soft_wrap=True)
    sys.exit(exit_code)


_METAVARS = {int: "INT", float: "NUMBER"}


def _plain_metavars(cmd: Any) -> Any:
    """Help shows ``--top-k INT`` and ``--model TEXT``, as click's users know, not typer's
    Python annotations (``<list[str]>``), and flags show no value at all (``<bool>``)."""
    help_option = cmd.get_help_option

    def plain_help_option(ctx: Any) -> Any:
        opt = help_option(ctx)
        if opt is not None:
            opt.metavar = ""
        return opt

    cmd.get_help_option = plain_help_option
    for param in getattr(cmd, "params", ()):
        if getattr(param, "param_type_name", "") == "argument":
            # the argument's name already says what it is; typer would add ``<list[Path]>``
            param.display_type_rich = lambda ctx: None
            if param.metavar is None:
                param.metavar = param.name.upper()  # usage: BASELINE, not {baseline}
        elif getattr(param, "is_flag", False):
            param.metavar = ""
        elif getattr(param, "param_type_name", "") == "option" and param.metavar is None:
            desc = getattr(param, "type_descriptor", None)
            ann = getattr(desc, "annotation", None)
            if getattr(desc, "is_list", False):
                ann = (getattr(ann, "__args__", None) or (str,))[0]
            is_path = getattr(desc, "is_path", False)
            param.metavar = "PATH" if is_path else _METAVARS.get(ann, "TEXT")
    for sub in getattr(cmd, "commands", {}).values():
        _plain_metavars(sub)
    return cmd


def command() -> Any:
    """The click command tree behind :data:`app`, as ``evalkit`` runs it."""
    return _structured_errors(_plain_metavars(typer.main.get_command(app)))


def _dispatch(argv: list[str], debug: bool) -> int:
    """Run the command; every error but an interruption ends here as one line and its code."""
    try:
        code = command().main(args=argv, prog_name="evalkit", standalone_mode=False)
    except (Interrupted, KeyboardInterrupt, SystemExit):
        raise
    except EvalkitError as e:
        _fail(str(e), e.exit_code, debug)
    except click_exceptions.NoArgsIsHelpError as e:
        e.show()
        sys.exit(2)
    except click_exceptions.UsageError as e:
        _fail(usage_message(e), 2, debug)  # every usage error, a mistyped command included
    except click_exceptions.ClickException as e:
        _fail(_sentence(e.format_message()), e.exit_code, debug)
    except typer.Abort:
        sys.exit(1)
    except OSError as e:
        # A path the user gave (a directory as --out, a file as a folder, no permission):
        # bad input, named by its path.
        _fail(os_error_message(e), 2, debug)
    except Exception as e:
        # An unexpected failure (a bug): no Python class name for the user; --debug has the
        # traceback for a report.
        hint = "" if debug else " (run with --debug for the traceback)"
        _fail(f"unexpected failure: {_sentence(str(e) or 'no message')}{hint}", 1, debug)
    return code if isinstance(code, int) else 0  # typer.Exit(n) returns n here


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    _register()
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("EVALKIT_DEBUG") == "1"
    try:
        with _interruptible():
            code = _dispatch(argv, debug)
    except Interrupted as e:
        _interrupted(e.exit_code, debug, e.kept)
    except KeyboardInterrupt:  # a second Ctrl-C, or one before the handlers were set
        _interrupted(130, debug)
    if code == 130:  # typer turns a KeyboardInterrupt it sees into Exit(130)
        _interrupted(130, debug)
    if code != 0:
        sys.exit(code)
