"""Kept importable: the report code lives in :mod:`evalkit.evaluation`."""

from evalkit.evaluation.tables import (  # noqa: F401
    COLUMN_TITLES,
    PAPER_COLUMNS,
    Cell,
    Check,
    Reference,
    load_reference,
    model_label,
    regression_checks,
    status,
    suite_table,
)
