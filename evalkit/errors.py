"""User-facing errors.

Anything a user can cause (a bad path, a malformed file, an unknown model, missing data offline)
raises :class:`EvalkitError` with a one-line message that names the file, line or option. The CLI
prints that line and exits non-zero; only ``--debug`` shows a traceback.
"""

from __future__ import annotations


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
