"""Usage errors across the whole command tree: for every command and every option, an unknown
option, an option without its value, a flag given a value, a number option given text, a
missing required parameter and an unknown command each end in one line ``error: ...`` that
names what the user typed (and, where the user must look something up, the command), exit 2.

The messages are built from click's exception fields (option name, parameter, context), so
any spelling comes back as typed: the names are generated, quotes and backslashes included."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from evalkit.cli import _register, command, main

_register()
ROOT = command()


def _walk(cmd: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, cmd
    for name, sub in getattr(cmd, "commands", {}).items():
        yield from _walk(sub, (*path, name))


COMMANDS = list(_walk(ROOT))
GROUPS = [(p, c) for p, c in COMMANDS if hasattr(c, "commands")]


def _options(kind: str) -> list[tuple[tuple[str, ...], str, Any]]:
    """(command path, spelling, parameter) for every spelling of every option of ``kind``:
    ``value`` (takes a value), ``flag``, or ``number`` (an int or float option)."""
    out = []
    for path, cmd in COMMANDS:
        for p in cmd.params:
            if p.param_type_name != "option":
                continue
            flag = bool(getattr(p, "is_flag", False))
            ann = p.type_descriptor.annotation
            if kind == "flag" and not flag:
                continue
            if kind == "value" and flag:
                continue
            if kind == "number" and (flag or ann not in (int, float)):
                continue
            for spelling in (*p.opts, *p.secondary_opts):
                if kind == "flag" and not spelling.startswith("--"):
                    continue  # -x=1 is not a value given to a short flag
                out.append((path, spelling, p))
    return out


def _ids(cases: list[tuple[tuple[str, ...], str, Any]]) -> list[str]:
    return [" ".join(("evalkit", *path, spelling)) for path, spelling, _ in cases]


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``evalkit argv`` in-process: (exit code, the one stderr line)."""
    capsys.readouterr()
    try:
        main(argv)
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("error: "), err
    return code, lines[0]


def _see(path: tuple[str, ...]) -> str:
    return f"(see '{' '.join(('evalkit', *path))} --help')"


VALUE_OPTIONS = _options("value")
FLAGS = _options("flag")
NUMBERS = _options("number")


def test_the_walk_covers_the_tree() -> None:
    # the parametrisations below are not empty by accident
    assert {p for p, _ in COMMANDS} >= {(), ("run",), ("report",), ("compare",), ("export",)}
    assert len(VALUE_OPTIONS) > 40 and len(FLAGS) > 10 and len(NUMBERS) > 15
    assert len(NEEDING) >= 3 and TO_COMPLETE


@pytest.mark.parametrize("path,spelling,param", VALUE_OPTIONS, ids=_ids(VALUE_OPTIONS))
def test_option_without_its_value(
    path: tuple[str, ...], spelling: str, param: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, line = _cli([*path, spelling], capsys)
    assert code == 2 and line == f"error: {spelling}: needs a value"


@pytest.mark.parametrize("path,spelling,param", FLAGS, ids=_ids(FLAGS))
def test_flag_given_a_value(
    path: tuple[str, ...], spelling: str, param: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, line = _cli([*path, f"{spelling}=yes"], capsys)
    assert code == 2 and line == f"error: {spelling}: takes no value"


@pytest.mark.parametrize("path,spelling,param", NUMBERS, ids=_ids(NUMBERS))
def test_number_option_given_text(
    path: tuple[str, ...], spelling: str, param: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, line = _cli([*path, spelling, "abc"], capsys)
    # named by its long spelling, whichever the user typed
    long = max(param.opts, key=len)
    what = "an integer" if param.type_descriptor.annotation is int else "a number"
    assert code == 2 and line == f"error: {long}: 'abc' is not {what}"


NEEDING = [
    (p, c)
    for p, c in COMMANDS
    if any(x.required for x in c.params) and not getattr(c, "no_args_is_help", False)
]
TO_COMPLETE = [(p, c) for p, c in GROUPS if not c.no_args_is_help]  # the others print help


@pytest.mark.parametrize("path,cmd", NEEDING, ids=[" ".join(("evalkit", *p)) for p, _ in NEEDING])
def test_missing_required_parameter_names_it_and_the_command(
    path: tuple[str, ...], cmd: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    required = [p for p in cmd.params if p.required]
    code, line = _cli(list(path), capsys)
    # named as --help shows it: the long option, or the argument's metavar (BASELINE)
    names = [max(p.opts, key=len) if p.param_type_name == "option" else p.metavar for p in required]
    assert code == 2 and any(line == f"error: {n}: missing {_see(path)}" for n in names), line


@pytest.mark.parametrize(
    "path,group", TO_COMPLETE, ids=[" ".join(("evalkit", *p)) for p, _ in TO_COMPLETE]
)
def test_group_without_a_command(
    path: tuple[str, ...], group: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, line = _cli(list(path), capsys)
    assert code == 2 and line == f"error: missing command {_see(path)}"


_ODD = st.text(st.one_of(st.sampled_from("'\"\\ .()?\n\t"), st.characters()), max_size=12)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(i=st.integers(0, len(GROUPS) - 1), name=_ODD)
@example(i=0, name="a'b\"c")  # both quotes: the old regex over click's sentence read 'a\\'
def test_unknown_command_comes_back_as_typed(
    i: int, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path, group = GROUPS[i]
    if name.startswith("-") or name in group.commands:
        return
    code, line = _cli([*path, name], capsys)
    assert code == 2 and line.startswith(f"error: no such command {name!r} ("), line
    rest = line[len(f"error: no such command {name!r} ") :]
    assert rest == _see(path) or (rest.startswith("(did you mean '") and rest.endswith("'?)"))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(i=st.integers(0, len(COMMANDS) - 1), tail=_ODD.filter(lambda t: "=" not in t))
def test_unknown_option_comes_back_as_typed(
    i: int, tail: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path, cmd = COMMANDS[i]
    spelling = "--zz" + tail  # no option of evalkit starts with --zz
    code, line = _cli([*path, spelling], capsys)
    assert code == 2 and line.startswith(f"error: no such option {spelling!r} ("), line
    rest = line[len(f"error: no such option {spelling!r} ") :]
    assert rest == _see(path) or (rest.startswith("(did you mean '--") and rest.endswith("'?)"))
