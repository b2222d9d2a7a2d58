"""The embedded demo suite: a small multilingual collection written for evalkit, shipped
inside the package so ``evalkit run`` works offline (see ``evalkit/demo/README.md``)."""

from __future__ import annotations

from pathlib import Path

from evalkit.suites.base import DatasetSpec, Suite, register_suite

DEMO_DIR = Path(__file__).resolve().parent.parent / "demo"

register_suite(
    Suite(
        name="demo",
        description="Embedded multilingual demo collection (offline)",
        datasets=(
            DatasetSpec(
                name="demo",
                suite="demo",
                layout="beir-dir",
                split="test",
                source={"path": str(DEMO_DIR)},
                citation="Written for evalkit (CC0)",
            ),
        ),
    )
)
