"""Compare two result sets (CI regression checks): per dataset and per suite average, both
scores, the difference, and a paired significance test over per-query scores.

Records are paired by (suite, dataset, split, language, dim), and by model name when a side
holds several models. A pair is refused when its
settings (:meth:`ResultRecord.settings`) or its query sets differ, unless the caller allows
it: a difference would then measure the change of setting or of queries, not of the code."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from evalkit.errors import EvalkitError
from evalkit.evaluation.stats import TEST_NAME, holm, randomisation_test
from evalkit.evaluation.tables import COLUMN_TITLES, model_label
from evalkit.results import ResultRecord

Key = tuple[str, str, str, str, int | None, str]


@dataclass
class Line:
    """One compared dataset (language), or one suite average (``dataset`` = ``"average"``)."""

    suite: str
    dataset: str
    language: str | None
    baseline: float | None
    current: float | None
    diff: float | None
    """current - baseline, in points (x100)."""
    n_queries: int = 0
    p: float | None = None
    p_holm: float | None = None
    status: str = "ok"
    """ok, regressed, improved, missing (baseline only), new (current only)."""
    note: str = ""
    model: str = ""
    """Set when a side holds several models (rows are then per model)."""


@dataclass
class Comparison:
    metric: str
    tolerance: float
    alpha: float | None
    lines: list[Line]
    suites: list[Line]
    baseline_model: str
    current_model: str
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[Line]:
        return [x for x in (*self.lines, *self.suites) if x.status in ("regressed", "missing")]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def method(self) -> str:
        return (
            f"Test: {TEST_NAME}; per dataset, p-values Holm-adjusted over the "
            f"{sum(x.p is not None for x in self.lines)} datasets compared; suite averages: "
            "stratified randomisation test (flips within each dataset, statistic = mean of the "
            "per-dataset mean differences), Holm-adjusted over the suites. A row regresses when "
            f"current - baseline < -{self.tolerance:g} points"
            + (f" and its adjusted p < {self.alpha:g}" if self.alpha is not None else "")
            + "."
        )


def _key(r: ResultRecord, by_model: bool) -> Key:
    ds = r.dataset
    dim, full = r.model.get("dim"), r.model.get("full_dim")
    return (
        ds.get("suite") or "local",
        ds["name"],
        ds["split"],
        ds.get("language") or "",
        dim if dim and full and dim != full else None,
        r.model["name"] if by_model else "",
    )


def _index(records: Sequence[ResultRecord], side: str, by_model: bool) -> dict[Key, ResultRecord]:
    out: dict[Key, ResultRecord] = {}
    for r in sorted(records, key=lambda r: r.created_at or ""):
        k = _key(r, by_model)
        if k in out and out[k].settings_key != r.settings_key:
            raise EvalkitError(
                f"{side}: {_name(k)} has records with different settings "
                f"({model_label(out[k])} {out[k].settings_key}, {model_label(r)} "
                f"{r.settings_key}); pass a narrower path"
            )
        out[k] = r  # same experiment written twice: the later one
    return out


def _name(k: Key) -> str:
    where = f"{k[1]}" + (f"/{k[3]}" if k[3] else "") + f" ({k[2]})"
    return (f"{k[5]} on " if k[5] else "") + where + (f" @{k[4]}" if k[4] else "")


def _diff_fields(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += _diff_fields(va, vb, f"{prefix}{k}.")
        elif va != vb:
            out.append(f"{prefix}{k}: {va!r} -> {vb!r}")
    return out


def compare(
    baseline: Sequence[ResultRecord],
    current: Sequence[ResultRecord],
    *,
    metric: str | None = None,
    tolerance: float = 0.5,
    alpha: float | None = None,
    allow_settings_mismatch: bool = False,
    allow_query_mismatch: bool = False,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> Comparison:
    """Pair the records and test each pair; raise :class:`EvalkitError` on a refused pair."""
    if tolerance < 0:
        raise EvalkitError(f"--tolerance {tolerance}: must be >= 0 (nDCG points)")
    if alpha is not None and not 0 < alpha < 1:
        raise EvalkitError(f"--alpha {alpha}: must be between 0 and 1")
    # Records from files were checked when read; records built in Python are checked here, so
    # a NaN, null or edited mean can never compare as "no regression".
    for side, records in (("BASELINE", baseline), ("CURRENT", current)):
        for i, r in enumerate(records):
            r.check(f"{side} record {i + 1}")
    # One model a side: pair whatever the names (A/B runs of two models, with
    # --allow-settings-mismatch); several: pair each model with itself.
    by_model = (
        len({r.model["name"] for r in baseline}) > 1 or len({r.model["name"] for r in current}) > 1
    )
    base = _index(baseline, "BASELINE", by_model)
    cur = _index(current, "CURRENT", by_model)
    if not set(base) & set(cur):
        raise EvalkitError(
            "BASELINE and CURRENT share no (dataset, split, language, dim): nothing to compare"
        )
    lines: list[Line] = []
    diffs: dict[Key, list[float]] = {}
    notes: list[str] = []
    for k in sorted(set(base) | set(cur), key=lambda k: (k[0], k[1], k[5], k[3], k[4] or 0, k[2])):
        b, c = base.get(k), cur.get(k)
        m = metric or (b or c).dataset.get("main_metric", "ndcg_at_10")  # type: ignore[union-attr]
        if b is None or c is None:
            r = b or c
            v = 100 * r.scores[m] if m in r.scores else None  # type: ignore[union-attr]
            lines.append(
                Line(
                    k[0],
                    k[1],
                    k[3] or None,
                    v if c is None else None,
                    v if b is None else None,
                    None,
                    status="missing" if c is None else "new",
                    note="not in CURRENT" if c is None else "not in BASELINE",
                    model=k[5],
                )
            )
            continue
        for side, r in (("BASELINE", b), ("CURRENT", c)):
            if m not in r.scores:
                raise EvalkitError(f"{side}: {_name(k)} has no {m} (it has {', '.join(r.scores)})")
        if b.settings() != c.settings() and not allow_settings_mismatch:
            changed = "; ".join(_diff_fields(b.settings(), c.settings()))
            raise EvalkitError(
                f"{_name(k)}: settings differ ({changed}); "
                "pass --allow-settings-mismatch to compare them anyway"
            )
        qb, qc = set(b.per_query), set(c.per_query)
        data_b, data_c = b.identity()["dataset"], c.identity()["dataset"]
        note = ""
        if qb != qc or data_b != data_c:
            what = _diff_fields(data_b, data_c) + (
                [f"queries: {len(qb - qc)} only in BASELINE, {len(qc - qb)} only in CURRENT"]
                if qb != qc
                else []
            )
            if not allow_query_mismatch:
                raise EvalkitError(
                    f"{_name(k)}: query sets or data differ ({'; '.join(what)}); pass "
                    "--allow-query-mismatch to test over the queries both hold"
                )
            note = f"tested on the {len(qb & qc)} queries both hold"
        shared = sorted(qb & qc)
        d = [
            c.per_query[q].get(m, 0.0) - b.per_query[q].get(m, 0.0)
            for q in shared
            if m in b.per_query[q] or m in c.per_query[q]
        ]
        if not d:
            note = note or "no per-query scores: not tested"
        diffs[k] = d
        vb, vc = 100 * b.scores[m], 100 * c.scores[m]
        p = randomisation_test(d, n_resamples, seed) if d else None
        lines.append(
            Line(k[0], k[1], k[3] or None, vb, vc, vc - vb, len(d), p, note=note, model=k[5])
        )

    tested = [x for x in lines if x.p is not None]
    for x, adj in zip(tested, holm([x.p for x in tested])):  # type: ignore[misc]
        x.p_holm = adj
    for x in lines:
        if x.diff is not None:
            x.status = _status(x.diff, x.p_holm, tolerance, alpha)

    suites = _suite_lines(lines, diffs, n_resamples, seed)
    tested_s = [x for x in suites if x.p is not None]
    for x, adj in zip(tested_s, holm([x.p for x in tested_s])):  # type: ignore[misc]
        x.p_holm = adj
    for x in suites:
        if x.diff is not None:
            x.status = _status(x.diff, x.p_holm, tolerance, alpha)
    if allow_settings_mismatch:
        notes.append("settings may differ between BASELINE and CURRENT (--allow-settings-mismatch)")
    mains = sorted({r.dataset.get("main_metric", "ndcg_at_10") for r in (*base.values(),)})
    return Comparison(
        metric or ", ".join(mains),
        tolerance,
        alpha,
        lines,
        suites,
        _models(baseline),
        _models(current),
        notes,
    )


def _models(records: Sequence[ResultRecord]) -> str:
    return ", ".join(sorted({model_label(r) for r in records}))


def _status(diff: float, p: float | None, tolerance: float, alpha: float | None) -> str:
    if not math.isfinite(diff):
        return "regressed"  # never a pass: checked records cannot get here
    # Exactly at the tolerance is not beyond it; 1e-9 absorbs the float error of x100.
    significant = alpha is None or (p is not None and not math.isnan(p) and p < alpha)
    if diff < -tolerance - 1e-9 and significant:
        return "regressed"
    if diff > tolerance + 1e-9 and significant:
        return "improved"
    return "ok"


def _suite_lines(
    lines: list[Line],
    diffs: dict[Key, list[float]],
    n_resamples: int,
    seed: int,
) -> list[Line]:
    """Suite averages over the datasets both sides hold (a dataset's languages first)."""
    out = []
    for suite, model in sorted({(x.suite, x.model) for x in lines}):
        mine = [x for x in lines if x.suite == suite and x.model == model]
        paired = [x for x in mine if x.diff is not None]
        if not paired:
            continue
        by_ds: dict[str, list[Line]] = {}
        for x in paired:
            by_ds.setdefault(x.dataset, []).append(x)

        def avg(attr: str, by_ds: dict[str, list[Line]] = by_ds) -> float:
            means = [sum(getattr(x, attr) for x in v) / len(v) for v in by_ds.values()]
            return sum(means) / len(means)

        vb, vc = avg("baseline"), avg("current")
        # strata: one per (dataset, language), weighted as the suite average weighs them
        # (datasets equally, a dataset's languages equally within it)
        keys = [k for k in diffs if k[0] == suite and k[5] == model and diffs[k]]
        n_lang = {ds: sum(1 for k in keys if k[1] == ds) for ds in {k[1] for k in keys}}
        strata = [diffs[k] for k in keys]
        weights = [1.0 / (len(n_lang) * n_lang[k[1]]) for k in keys]
        p = randomisation_test(strata, n_resamples, seed, weights) if strata else None
        n_missing = sum(1 for x in mine if x.status == "missing")
        note = f"over {len(by_ds)} datasets both hold" + (
            f"; {n_missing} missing from CURRENT" if n_missing else ""
        )
        n = sum(len(s) for s in strata)
        out.append(Line(suite, "average", None, vb, vc, vc - vb, n, p, note=note, model=model))
    return out


# ---- output --------------------------------------------------------------------------------


def _num(v: float | None, fmt: str = ".2f") -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def _p(v: float | None) -> str:
    if v is None or math.isnan(v):
        return "–"
    return f"{v:.4f}" if v >= 1e-4 else f"{v:.1e}"


_ICON = {"regressed": "❌ regressed", "improved": "✅ improved", "missing": "❌ missing"}


def to_markdown(cmp: Comparison) -> str:
    """A pull-request comment."""
    n_fail = len(cmp.failed)
    head = (
        f"**evalkit compare**: {n_fail} regression{'s' if n_fail != 1 else ''} beyond "
        f"{cmp.tolerance:g} points"
        + (f" (significant at α = {cmp.alpha:g})" if cmp.alpha is not None else "")
        if n_fail
        else f"**evalkit compare**: no regression beyond {cmp.tolerance:g} points"
    )
    out = [
        head,
        "",
        f"Baseline: {cmp.baseline_model} · current: {cmp.current_model} · "
        f"metric: {cmp.metric} (x100)",
        "",
    ]
    per_model = any(x.model for x in cmp.lines)
    for title, rows in (("Suite averages", cmp.suites), ("Datasets", cmp.lines)):
        if not rows:
            continue
        out += [
            f"#### {title}",
            "",
            ("| model " if per_model else "")
            + "| suite | dataset | baseline | current | Δ | queries | p | p (Holm) | status |",
            ("|---" if per_model else "") + "|---|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        for x in rows:
            name = x.dataset + (f"/{x.language}" if x.language else "")
            status = _ICON.get(x.status, x.status) + (f" ({x.note})" if x.note else "")
            out.append(
                (f"| {x.model} " if per_model else "")
                + f"| {COLUMN_TITLES.get(x.suite, x.suite)} | {name} | {_num(x.baseline)} | "
                f"{_num(x.current)} | {_num(x.diff, '+.2f')} | {x.n_queries or '–'} | "
                f"{_p(x.p)} | {_p(x.p_holm)} | {status} |"
            )
        out.append("")
    out.append(cmp.method())
    out += ["", *cmp.notes] if cmp.notes else []
    return "\n".join(out).rstrip() + "\n"


def to_json(cmp: Comparison) -> str:
    d = asdict(cmp)
    d["test"] = TEST_NAME
    d["method"] = cmp.method()
    d["regressions"] = len(cmp.failed)
    d["exit_code"] = cmp.exit_code
    # NaN is not JSON: a dataset without per-query scores has no p-value
    return json.dumps(_no_nan(d), indent=2, ensure_ascii=False) + "\n"


def _no_nan(x: Any) -> Any:
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, dict):
        return {k: _no_nan(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_no_nan(v) for v in x]
    return x
