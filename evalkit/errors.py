"""User-facing errors.

Anything a user can cause (a bad path, a malformed file, an unknown model, missing data offline)
raises :class:`EvalkitError` with a one-line message that names the file, line or option. The CLI
prints that line and exits non-zero; only ``--debug`` shows a traceback.
"""

from __future__ import annotations

import difflib
import signal
from collections.abc import Iterable


class EvalkitError(Exception):
    """An error caused by input or environment, shown to the user as one line."""

    exit_code: int = 2


class DataError(EvalkitError):
    """A dataset is malformed or cannot be found."""


class ModelError(EvalkitError):
    """A model cannot be resolved or loaded."""


class RunFailed(EvalkitError):
    """Some of the work could not be done (a dataset failed); what could be was kept."""

    exit_code = 1


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived; raised in the main thread by the CLI's signal handler.

    A ``BaseException`` (like ``KeyboardInterrupt``) so that ``except Exception`` does not
    swallow it while ``finally`` and ``except BaseException`` blocks still clean up; not a
    ``KeyboardInterrupt`` because typer turns those into a silent exit 130."""

    def __init__(self, signum: int, kept: str | None = None) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.kept = kept
        """What the interrupted command leaves for a resume, said by the command that knows
        (``None``: the generic sentence)."""

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the choice closest to ``word`` (case-insensitive), or ``''``."""
    by_lower: dict[str, str] = {}
    for c in choices:
        by_lower.setdefault(c.lower(), c)  # the first spelling given wins
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return f" (did you mean {by_lower[close[0]]!r}?)" if close else ""
