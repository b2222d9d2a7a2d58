"""Export records in the layout of mteb's results repository (embeddings-benchmark/results):

    {out}/{org}__{model}/{revision}/{Task}.json     mteb's TaskResult, one per task
    {out}/{org}__{model}/{revision}/model_meta.json  mteb's ModelMeta
    {out}/{org}__{model}/{revision}/run_settings.jsonl  (task, splits, subsets, settings, versions)

Task files are written by mteb's own ``TaskResult`` from the installed mteb's task metadata,
so subsets, languages and the dataset revision are mteb's. A record that is not what mteb
would have scored is refused with the reason: sampled queries, a dataset mteb has no task
for, another dataset revision or split or subset, another identical-ids rule, a shorter
ranked list, a truncated Matryoshka dim, a model without a Hub id."""

from __future__ import annotations

import glob
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit import faults
from evalkit.errors import EvalkitError
from evalkit.evaluation.tables import model_label
from evalkit.metrics import parse_measure
from evalkit.paths import is_stale, safe_component, temp_prefix
from evalkit.results import ResultRecord, atomic_write_text

NO_REVISION = "no_revision_available"  # mteb's own folder name for a model without one
MTEB_TOP_K = 1000
JOURNAL = "evalkit-export-journal.json"
ZERO_WITHOUT_RELEVANT = ("ndcg", "recall", "map", "mrr", "precision")
"""Measures that score 0 for a query with no relevant document, in mteb as in trec_eval."""


@dataclass
class Refused:
    record: str
    reason: str


@dataclass
class Export:
    written: list[Path] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    partial: list[str] = field(default_factory=list)
    """Tasks exported with only some of their subsets (mteb averages them as incomplete)."""
    warnings: list[str] = field(default_factory=list)
    adjusted: list[str] = field(default_factory=list)
    """Records whose means were recomputed as mteb averages (grade-0-only queries as 0)."""


def _mteb() -> Any:
    try:
        import mteb
    except ModuleNotFoundError:
        raise EvalkitError(
            "evalkit export mteb needs mteb (pip install 'evalkit[peers]'): the tasks' "
            "subsets, languages and revisions come from it"
        ) from None
    return mteb


def _spec(r: ResultRecord) -> Any:
    from evalkit.suites import suites

    suite = suites().get(r.dataset.get("suite") or "")
    if suite is None:
        return None
    return next((d for d in suite.datasets if d.name == r.dataset["name"]), None)


def _describe(r: ResultRecord) -> str:
    ds = r.dataset
    lang = ds.get("language")
    return f"{model_label(r)} on {ds['name']}" + (f"/{lang}" if lang else "") + f" ({ds['split']})"


def check(r: ResultRecord, mteb: Any) -> tuple[Any, str] | str:
    """``(mteb task, hf_subset)`` for a submittable record, else the reason it is not."""
    ds, m = r.dataset, r.model
    if ds.get("sampled_queries"):
        n = ds["sampled_queries"].get("n")
        return f"sampled queries (--max-queries {n}): the leaderboard needs every query"
    spec = _spec(r)
    if spec is None or not spec.mteb_task:
        return f"dataset {ds['name']} (suite {ds.get('suite') or 'local'}) is not an mteb task"
    try:
        task = mteb.get_task(spec.mteb_task)
    except Exception:  # mteb raises KeyError/ValueError variants across versions
        return f"mteb {mteb.__version__} has no task {spec.mteb_task}"
    meta = task.metadata
    src = ds.get("source") or {}
    if src.get("path") or src.get("revision") != meta.revision:
        got = f"a local copy ({src['path']})" if src.get("path") else src.get("revision")
        return f"dataset revision {got} is not mteb's {meta.dataset['path']}@{meta.revision}"
    if ds["split"] not in meta.eval_splits:
        return f"split {ds['split']} is not one mteb evaluates ({', '.join(meta.eval_splits)})"
    subset = ds.get("language") or "default"
    if subset not in meta.hf_subsets:
        return f"subset {subset} is not one of {spec.mteb_task}'s ({', '.join(meta.hf_subsets)})"
    own_rule = bool(getattr(task, "ignore_identical_ids", False))
    if bool(ds.get("ignore_identical_ids")) != own_rule:
        return f"identical-ids rule {ds.get('ignore_identical_ids')} differs from mteb's {own_rule}"
    if r.top_k < MTEB_TOP_K:
        return f"top-k {r.top_k}: mteb scores the top {MTEB_TOP_K}"
    if meta.main_score not in r.scores:
        return f"no {meta.main_score} (mteb's main score for {spec.mteb_task}) in the record"
    if m.get("dim") and m.get("full_dim") and m["dim"] != m["full_dim"]:
        return (
            f"Matryoshka dim {m['dim']} of {m['full_dim']}: mteb's ModelMeta describes the "
            "full-dim model"
        )
    hf_id = m.get("hf_id") or ""
    if not isinstance(hf_id, str) or hf_id.count("/") != 1 or hf_id.startswith((".", "/", "~")):
        return f"model {m['name']} has no Hub id (org/name): mteb names results by it"
    folder = model_folder(hf_id)
    if safe_component(folder) != folder:
        return f"model id {hf_id!r} is not a Hub id (its folder name would change)"
    rev = m.get("revision") or NO_REVISION
    if not isinstance(rev, str) or safe_component(rev) != rev:
        return f"model revision {rev!r} is not a Hub commit or tag (it would not be a folder name)"
    unknown = sorted(k for k in r.scores if not _zero_without_relevant(k))
    if unknown and r.n_queries_dropped:
        return (
            f"{r.n_queries_dropped} queries with only grade-0 judgements, which mteb scores "
            f"as 0, and scores ({', '.join(unknown)}) whose mteb value cannot be recomputed"
        )
    return task, subset


def _zero_without_relevant(name: str) -> bool:
    try:
        return parse_measure(name)[0] in ZERO_WITHOUT_RELEVANT
    except (EvalkitError, ValueError):
        return False


def model_folder(hf_id: str) -> str:
    """mteb's folder name of a model: ``org__name``."""
    return hf_id.replace("/", "__").replace(" ", "_")


def mteb_scores(r: ResultRecord) -> dict[str, float]:
    """The record's means as mteb computes them.

    evalkit leaves out queries whose judgements are all grade 0 (``n_queries_dropped``);
    mteb 2.26 keeps every query that has a qrels row (``_filter_queries_without_positives``
    drops only queries with no row at all) and scores those as 0 in every measure evalkit
    records (nDCG, recall, MAP, MRR, precision: no relevant document, nothing to find). So
    mteb's mean is evalkit's times ``n_scored / (n_scored + n_dropped)``. Queries with no
    qrels row are left out by both."""
    n, dropped = r.n_queries_scored, r.n_queries_dropped
    if not dropped:
        return dict(r.scores)
    return {k: v * n / (n + dropped) for k, v in r.scores.items()}


def _model_meta(r: ResultRecord, revision: str) -> dict[str, Any]:
    """mteb's ModelMeta: the registered DRAMA entry, or what evalkit knows of the model. Built
    from :mod:`evalkit.models.mteb_meta`, the fields the mteb adapter's ``ModelMeta`` is made
    of, with its loader named (the adapter itself is not imported)."""
    from evalkit.models.mteb_meta import MTEB_LOADER, drama_spec, model_meta_fields
    from evalkit.models.registry import resolve_model

    hf_id = r.model["hf_id"]
    spec = drama_spec(hf_id)
    if spec is None:
        try:
            spec = resolve_model(r.model["name"])
        except EvalkitError:  # a model given by path or Hub id only
            spec = resolve_model(hf_id)
    meta = _mteb().models.model_meta.ModelMeta(loader=None, **model_meta_fields(spec))
    meta = meta.model_copy(update={"name": hf_id, "revision": revision})
    out = meta.to_dict()
    out["loader"] = MTEB_LOADER
    return json.loads(json.dumps(out, default=str))


def _settings(r: ResultRecord) -> dict[str, Any]:
    # What changes the scores, as evalkit records it (mteb's encode_kwargs has no slot for
    # prefixes, token limits or dtype, so they go in under evalkit's names).
    return {"evalkit": r.settings(), "top_k": r.top_k}


def _versions(r: ResultRecord, mteb: Any) -> dict[str, str | None]:
    pkgs = r.environment.get("packages", {})
    out = {p: pkgs.get(p) for p in ("torch", "sentence-transformers", "transformers")}
    return {"mteb": mteb.__version__, **out, "flash-attn": None, "evalkit": pkgs.get("evalkit")}


def export_mteb(
    records: Sequence[ResultRecord], out_dir: str | Path, skip_refused: bool = False
) -> Export:
    """Write the submittable records; the others come back in ``Export.refused``. With any
    refused and not ``skip_refused``, nothing is written: a submission must not silently
    lack results its author expected to be in it."""
    mteb = _mteb()
    result = Export()
    groups: dict[tuple[str, str], dict[str, list[tuple[ResultRecord, Any, str]]]] = {}
    seen: dict[tuple, ResultRecord] = {}
    for r in sorted(records, key=lambda r: r.created_at or ""):
        verdict = check(r, mteb)
        if isinstance(verdict, str):
            result.refused.append(Refused(_describe(r), verdict))
            continue
        task, subset = verdict
        rev = r.model.get("revision") or NO_REVISION
        key = (r.model["hf_id"], rev, task.metadata.name, r.dataset["split"], subset)
        if key in seen and seen[key].settings_key != r.settings_key:
            raise EvalkitError(
                f"{_describe(r)}: two records with different settings ({seen[key].settings_key}, "
                f"{r.settings_key}); export one of them"
            )
        seen[key] = r
        groups.setdefault((r.model["hf_id"], rev), {}).setdefault(task.metadata.name, []).append(
            (r, task, subset)
        )
    if (result.refused and not skip_refused) or not groups:
        return result
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    recover(out_dir)
    # All or nothing: every folder is written complete into a staging folder beside --out,
    # a journal naming the moves is written last (the commit point), then each folder is
    # renamed into place. A run killed before the journal leaves nothing; one killed after
    # it is finished by the next export into the same folder (recover()).
    prefix = temp_prefix(_stage_name(out_dir))
    stage = Path(tempfile.mkdtemp(dir=out_dir.resolve().parent, prefix=prefix, suffix=".tmp"))
    try:
        moves = _stage(groups, stage, out_dir, mteb, result)
        atomic_write_text(stage / JOURNAL, json.dumps({"moves": moves}) + "\n")
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    _apply(stage, out_dir)
    return result


def _stage_name(out_dir: Path) -> str:
    return f"{out_dir.resolve().name or 'out'}.evalkit-export"


def recover(out_dir: Path) -> None:
    """Finish the exports into ``out_dir`` that a killed process had committed (journal
    written), and remove those it had not: the same rule as temp files, host + dead pid."""
    pattern = f".{glob.escape(_stage_name(out_dir))}.*.tmp"
    for stage in sorted(out_dir.resolve().parent.glob(pattern)):
        if not stage.is_dir() or not is_stale(stage):
            continue
        if (stage / JOURNAL).is_file():
            _apply(stage, out_dir)
        else:
            shutil.rmtree(stage, ignore_errors=True)


def _apply(stage: Path, out_dir: Path) -> None:
    """Rename each staged folder into place (the one it replaces goes into the staging
    folder, then away). Idempotent, so an interrupted apply can be run again."""
    moves = json.loads((stage / JOURNAL).read_text(encoding="utf-8"))["moves"]
    for staged_name, rel in moves:
        staged, dest, old = stage / staged_name, out_dir / rel, stage / f"{staged_name}.old"
        if not staged.exists():
            continue  # moved before the interruption
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            if old.exists():
                shutil.rmtree(old)
            os.rename(dest, old)
        os.rename(staged, dest)
        faults.point("export-moved")  # killed here: some folders in place, the rest staged
    shutil.rmtree(stage, ignore_errors=True)


def _stage(
    groups: dict[tuple[str, str], dict[str, list[tuple[ResultRecord, Any, str]]]],
    stage: Path,
    out_dir: Path,
    mteb: Any,
    result: Export,
) -> list[list[str]]:
    """Write each (model, revision) folder complete under ``stage``: the files already in
    the destination folder (other tasks) and the new ones. Returns the moves to make."""
    moves: list[list[str]] = []
    for i, ((hf_id, rev), tasks) in enumerate(sorted(groups.items())):
        rel = Path(safe_component(model_folder(hf_id))) / safe_component(rev)
        folder, dest = stage / str(i), out_dir / rel
        if dest.is_dir():
            shutil.copytree(dest, folder)  # tasks exported before stay
        else:
            folder.mkdir()
        if rev == NO_REVISION:
            result.warnings.append(
                f"{hf_id}: no model revision recorded, written under {NO_REVISION}; the "
                "results repository expects the Hub commit (evalkit run --revision)"
            )
        run_settings: list[dict[str, Any]] = []
        for name, entries in sorted(tasks.items()):
            latest = {(r.dataset["split"], subset): (r, task) for r, task, subset in entries}
            task = entries[0][1]
            scores: dict[str, dict[str, dict[str, Any]]] = {}
            elapsed = 0.0
            for (split, subset), (r, _) in sorted(latest.items()):
                values = mteb_scores(r)
                if r.n_queries_dropped:
                    result.adjusted.append(
                        f"{name} ({split}, {subset}): {r.n_queries_dropped} of "
                        f"{r.n_queries_scored + r.n_queries_dropped} queries have only grade-0 "
                        "judgements; mteb averages them in as 0, and so does the export"
                    )
                main = values[task.metadata.main_score]
                scores.setdefault(split, {})[subset] = {**values, "main_score": main}
                elapsed += float(r.timings.get("total_s", 0.0))
            for split in task.metadata.eval_splits:
                have = len(scores.get(split, {}))
                if have and have < len(task.metadata.hf_subsets):
                    result.partial.append(
                        f"{name} ({split}): {have} of {len(task.metadata.hf_subsets)} subsets"
                    )
            tr = mteb.TaskResult.from_task_results(task, scores, evaluation_time=elapsed)
            file = f"{safe_component(name)}.json"
            tr.to_disk(folder / file)
            result.written.append(dest / file)
            by_settings: dict[tuple[str, str], list[str]] = {}
            for (split, subset), (r, _) in sorted(latest.items()):
                by_settings.setdefault((split, r.settings_key), []).append(subset)
            for (split, _skey), subsets in sorted(by_settings.items()):
                r = next(x for (sp, sb), (x, _) in latest.items() if sp == split and sb in subsets)
                run_settings.append(
                    {
                        "task": name,
                        "splits": [split],
                        "version": _versions(r, mteb),
                        "encode_kwargs": _settings(r),
                        "subsets": sorted(subsets),
                    }
                )
        first = next(iter(tasks.values()))[0][0]
        atomic_write_text(
            folder / "model_meta.json", json.dumps(_model_meta(first, rev), indent=4) + "\n"
        )
        atomic_write_text(
            folder / "run_settings.jsonl",
            "".join(json.dumps(e, sort_keys=True) + "\n" for e in run_settings),
        )
        result.written += [dest / "model_meta.json", dest / "run_settings.jsonl"]
        moves.append([str(i), rel.as_posix()])
    return moves
