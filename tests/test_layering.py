"""The package's layers only look down (README, "How it works"): suites name datasets and load
nothing, ``evalkit.data`` holds every reader and knows no suite, reports and exports read
records (never the adapters, the runner or retrieval), and the runner leaves published
numbers to the evaluation layer. Checked on the source with ``ast``: every ``import`` of an
evalkit module, at module level or inside a function, is an edge."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

import evalkit

PACKAGE = Path(evalkit.__file__).resolve().parent

# Each layer and the evalkit layers it must not import (besides the cycle check below).
FORBIDDEN: dict[str, set[str]] = {
    "dataset_spec": {"suites", "data", "models", "retrieval", "evaluation", "runner", "cli"},
    "suites": {"data", "models", "retrieval", "evaluation", "runner", "cli", "adapters"},
    "data": {"suites", "models", "retrieval", "evaluation", "runner", "cli", "adapters"},
    "models": {"suites", "retrieval", "evaluation", "runner", "cli", "adapters"},
    "retrieval": {"suites", "evaluation", "runner", "cli", "adapters"},
    "evaluation": {"data", "retrieval", "runner", "cli", "adapters"},
    "runner": {"evaluation", "cli", "adapters"},
    "adapters": {"evaluation", "runner", "cli"},
}
ALIASES = {"hub": "data"}  # evalkit/hub/: the old name of evalkit.data.hub, the same module


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_submodule(name: str) -> bool:
    rel = PACKAGE.parent.joinpath(*name.split("."))
    return rel.with_suffix(".py").is_file() or (rel / "__init__.py").is_file()


def _imports(path: Path) -> set[str]:
    """The evalkit modules ``path`` imports; ``from evalkit.x import y`` counts as
    ``evalkit.x.y`` when ``y`` is a module, else ``evalkit.x``."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "evalkit")
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            if node.module.split(".")[0] != "evalkit":
                continue
            for a in node.names:
                full = f"{node.module}.{a.name}"
                out.add(full if _is_submodule(full) else node.module)
    return out


def _layer(module: str) -> str:
    """``evalkit.data.hub`` -> ``data``; the package itself is ``evalkit``."""
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "evalkit"
    return ALIASES.get(top, top)


def _edges() -> dict[str, set[tuple[str, str]]]:
    """layer -> {(importing module, imported module)} across layers."""
    edges: dict[str, set[tuple[str, str]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        src = _module_name(path)
        for dst in _imports(path):
            if _layer(dst) != _layer(src):
                edges.setdefault(_layer(src), set()).add((src, dst))
    return edges


def test_every_layer_looks_only_down() -> None:
    edges = _edges()
    assert {"suites", "data", "evaluation", "runner"} <= set(edges), sorted(edges)
    wrong = sorted(
        f"{src} imports {dst}"
        for layer, forbidden in FORBIDDEN.items()
        for src, dst in edges.get(layer, ())
        if _layer(dst) in forbidden
    )
    assert wrong == []


def test_the_layers_form_no_cycle() -> None:
    """Without the package facade (``evalkit/__init__.py``'s lazy names, ``__main__``), no
    layer reaches itself: no import circle such as suites -> Hub readers -> suites."""
    graph: dict[str, set[str]] = {}
    for layer, pairs in _edges().items():
        if layer in ("evalkit", "__main__"):
            continue
        graph[layer] = {_layer(dst) for _, dst in pairs if _layer(dst) != "evalkit"}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    assert sorted(layer for layer in graph if reaches(layer, layer, {layer})) == []


def test_suites_are_data_and_load_nothing() -> None:
    """Listing and resolving every suite imports neither a reader nor numpy."""
    import subprocess
    import sys

    code = (
        "import sys, evalkit.suites as s\n"
        "[s.resolve(n) for n in s.suites()]\n"
        "bad = [m for m in sys.modules if m.split('.')[:2] in (['evalkit', 'data'], "
        "['evalkit', 'hub'])]\n"
        "print(bad, 'numpy' in sys.modules)\n"
    )
    env = {"PYTHONPATH": str(PACKAGE.parent), "HF_HUB_OFFLINE": "1", "PATH": ""}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["[]", "False"]


def test_data_load_reads_a_spec_through_its_layout(tmp_path: Path) -> None:
    """One entry point: a spec names its layout, ``evalkit.data.load`` picks the reader."""
    from evalkit.data import load
    from evalkit.dataset_spec import DatasetSpec, LoadTask
    from evalkit.suites import resolve

    [demo] = resolve("demo")
    coll = load(demo)
    assert coll.key == "demo/test/default" and len(coll.corpus) > 0
    odd = DatasetSpec(name="x", suite="t", layout="no-such-layout", source={"id": "a/b"})
    with pytest.raises(evalkit.errors.EvalkitError, match="no loader for layout"):
        load(LoadTask(odd, None), tmp_path)


def test_evaluate_takes_one_frozen_options_object() -> None:
    from evalkit.runner import RunOptions, evaluate

    opts = RunOptions(top_k=100, measures=("mrr_at_10",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.top_k = 5  # type: ignore[misc]
    [a] = evaluate("bm25", "demo", options=opts)
    [b] = evaluate("bm25", "demo", top_k=100, measures=["mrr_at_10"])  # the keyword form
    [c] = evaluate("bm25", "demo", options=RunOptions(top_k=7), top_k=100, measures=["mrr_at_10"])
    assert a.scores == b.scores == c.scores and a.top_k == b.top_k == c.top_k == 100
    with pytest.raises(TypeError, match="unexpected keyword argument 'topk'"):
        evaluate("bm25", "demo", topk=100)


def test_export_writes_the_adapters_model_meta_without_importing_them() -> None:
    """``model_meta.json`` comes from :mod:`evalkit.models.mteb_meta`, in a process that never
    imports the adapters, and is the adapter's ModelMeta (loader name, key order included)."""
    pytest.importorskip("mteb")
    import json
    import subprocess
    import sys

    from evalkit.adapters.mteb import DRAMA_MODEL_METAS, model_meta_for
    from evalkit.models.registry import resolve_model

    models = [
        ("drama-base", "facebook/drama-base"),
        ("some/path", "facebook/drama-1b"),
        ("minilm", "sentence-transformers/all-MiniLM-L6-v2"),
    ]
    code = (
        "import json, sys\n"
        "from types import SimpleNamespace as N\n"
        "from evalkit.evaluation.export_mteb import _model_meta\n"
        f"got = [_model_meta(N(model={{'name': n, 'hf_id': h}}), 'r1') for n, h in {models!r}]\n"
        "seen = sorted(m for m in sys.modules if m.startswith('evalkit.adapters'))\n"
        "print(json.dumps([got, seen]))\n"
    )
    env = {"PYTHONPATH": str(PACKAGE.parent), "HF_HUB_OFFLINE": "1", "PATH": ""}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    got, adapters = json.loads(out.stdout)
    assert adapters == []
    for (name, hf_id), mine in zip(models, got):
        meta = DRAMA_MODEL_METAS.get(hf_id) or model_meta_for(resolve_model(name))
        meta = meta.model_copy(update={"name": hf_id, "revision": "r1"})
        assert json.dumps(mine) == json.dumps(meta.to_dict(), default=str)
