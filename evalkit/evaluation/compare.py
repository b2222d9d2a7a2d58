"""Compare two result sets (CI regression checks, or two models side by side): per dataset and
per suite average, both scores, the difference, and a paired significance test over per-query
scores.

Records are paired by (suite, dataset, split, language), by dim when a side holds several dims
of one dataset, and by model name when a side holds several models. What is compared, the model
and how it encodes and searches (:meth:`ResultRecord.settings` less top-k), may differ: the
output names it and every field that differs. The conditions of the measurement must match, or
the difference would measure them and not the model: the data (source fingerprint or Hub
revision), split, language, query set or sample, identical-ids rule, top-k and metric. A pair
whose conditions differ is refused unless the caller allows it (``--allow-query-mismatch``
tests the queries both hold; ``--allow-settings-mismatch`` lets top-k differ)."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from evalkit.errors import EvalkitError
from evalkit.evaluation.stats import TEST_NAME, holm, randomisation_test
from evalkit.evaluation.tables import COLUMN_TITLES, html_table, markdown_table, model_label
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
class Difference:
    """One model or search field that differs between the paired records."""

    field: str
    """Its path in :meth:`ResultRecord.settings`, e.g. ``search.backend``."""
    what: str
    """The field in words, e.g. ``search backend``."""
    baseline: str | None
    current: str | None
    """The values in words; ``None``: the record does not state the field."""


@dataclass
class ModelPair:
    """What BASELINE and CURRENT are, for the pairs of one model (or of the one model a
    side), and how their model and search settings differ."""

    model: str
    """The paired model name when rows are per model, else ``""``."""
    baseline: str
    current: str
    differences: list[Difference]
    datasets: list[str] = field(default_factory=list)
    """The datasets these descriptions hold for, when they do not hold for all of them."""

    def header(self) -> str:
        where = f" (on {', '.join(self.datasets)})" if self.datasets else ""
        if self.baseline == self.current:
            settings = ", with the settings below" if self.differences else ", the same settings"
            return f"model: {self.baseline} on both sides{settings}{where}"
        return f"baseline: {self.baseline} vs current: {self.current}{where}"

    def differences_in_words(self) -> str:
        """``what a -> b`` for fields both state; fields one side alone states grouped."""
        both = [
            f"{d.what} {d.baseline} → {d.current}"
            for d in self.differences
            if d.baseline is not None and d.current is not None
        ]
        parts = ["; ".join(both)] if both else []
        for attr, other in (("baseline", "current"), ("current", "baseline")):
            # a long value (tokenizer versions) is in the JSON and HTML; its name is enough here
            only = [
                d.what if len(getattr(d, attr)) > 40 else f"{d.what} {getattr(d, attr)}"
                for d in self.differences
                if getattr(d, attr) is not None and getattr(d, other) is None
            ]
            if only:
                parts.append(f"stated by the {attr} only: {', '.join(only)}")
        return "; ".join(parts)


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
    models: list[ModelPair] = field(default_factory=list)
    """What is compared: one entry per model pairing (see :meth:`ModelPair.header`)."""
    conditions: str = ""
    """The measurement conditions held equal in every pair, in words."""

    @property
    def failed(self) -> list[Line]:
        return [x for x in (*self.lines, *self.suites) if x.status in ("regressed", "missing")]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def method(self) -> str:
        n = sum(x.p is not None for x in self.lines)
        return (
            f"Test: {TEST_NAME}; per dataset, p-values Holm-adjusted over the "
            f"{n} dataset{'s' if n != 1 else ''} compared; suite averages: "
            "stratified randomisation test (flips within each dataset, statistic = mean of the "
            "per-dataset mean differences), Holm-adjusted over the suites. A row regresses when "
            f"current - baseline < -{self.tolerance:g} points"
            + (f" and its adjusted p < {self.alpha:g}" if self.alpha is not None else "")
            + "."
        )


def _key(r: ResultRecord, by_model: bool, by_dim: bool) -> Key:
    ds = r.dataset
    return (
        ds.get("suite") or "local",
        ds["name"],
        ds["split"],
        ds.get("language") or "",
        _cut_dim(r) if by_dim else None,
        r.model["name"] if by_model else "",
    )


def _cut_dim(r: ResultRecord) -> int | None:
    dim, full = r.model.get("dim"), r.model.get("full_dim")
    return dim if dim and full and dim != full else None


def _several_dims(records: Sequence[ResultRecord], by_model: bool) -> bool:
    """Whether a side holds one (dataset, language[, model]) at several dims: only then are
    dims paired with themselves (one dim a side is the compared thing, like the model)."""
    seen: dict[Key, set[int | None]] = {}
    for r in records:
        seen.setdefault(_key(r, by_model, False), set()).add(_cut_dim(r))
    return any(len(v) > 1 for v in seen.values())


def _index(
    records: Sequence[ResultRecord], side: str, by_model: bool, by_dim: bool
) -> dict[Key, ResultRecord]:
    out: dict[Key, ResultRecord] = {}
    for r in sorted(records, key=lambda r: r.created_at or ""):
        k = _key(r, by_model, by_dim)
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


# ---- what is compared: the model and how it encodes and searches ---------------------------

_WORDS = {
    "model.name": "model",
    "model.hf_id": "checkpoint",
    "model.revision": "checkpoint revision",
    "model.local_fingerprint": "local weights fingerprint",
    "model.kind": "kind",
    "model.dtype": "dtype",
    "model.dim": "dims used",
    "model.full_dim": "embedding dims",
    "model.max_query_length": "max query tokens",
    "model.max_doc_length": "max document tokens",
    "model.query_prefix": "query prefix",
    "model.doc_prefix": "document prefix",
    "model.pooling": "pooling",
    "model.similarity": "similarity",
    "model.normalize": "normalised embeddings",
    "search.backend": "search backend",
    "search.cache_dtype": "embedding cache dtype",
    "search.k1": "BM25 k1",
    "search.b": "BM25 b",
    "search.method": "BM25 variant",
    "search.tokenizer": "tokenizer",
    "search.tokenizer_versions": "tokenizer versions",
    "search.analyzer_language": "analyzer language",
}


def _say(v: Any) -> str:
    """A setting's value as a reader reads it (never a Python repr of None or True)."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, dict):
        return ", ".join(f"{k} {_say(x)}" for k, x in sorted(v.items()))
    if isinstance(v, str) and (v == "" or v != v.strip() or " " in v):
        return json.dumps(v, ensure_ascii=False)  # a prefix: its quotes show its spaces
    return str(v)


def _model_side(r: ResultRecord) -> dict[str, Any]:
    """The record's settings less the measurement conditions: what is compared."""
    return {k: v for k, v in r.settings().items() if k in ("model", "search")}


def _differences(a: dict[str, Any], b: dict[str, Any]) -> list[Difference]:
    """The fields of two :func:`_model_side` dicts that differ, in ``_WORDS`` order (the
    model's own fields first, then search); unknown fields last, by their path."""
    flat_a, flat_b = _flatten(a), _flatten(b)
    paths = [p for p in _WORDS if p in flat_a or p in flat_b]
    paths += sorted((set(flat_a) | set(flat_b)) - set(_WORDS))
    out = []
    for path in paths:
        va, vb = flat_a.get(path), flat_b.get(path)
        what = _WORDS.get(path, path)
        if isinstance(va, dict) and isinstance(vb, dict):
            # two tokenizer version sets: name the packages that moved, not all of them
            out += [
                Difference(
                    f"{path}.{k}", f"{what} ({k})", _say_or_none(va.get(k)), _say_or_none(vb.get(k))
                )
                for k in sorted(set(va) | set(vb))
                if va.get(k) != vb.get(k)
            ]
        elif va != vb:
            out.append(Difference(path, what, _say_or_none(va), _say_or_none(vb)))
    return out


def _say_or_none(v: Any) -> str | None:
    return None if v is None else _say(v)


def _flatten(side: dict[str, Any]) -> dict[str, Any]:
    """``{"model": {"name": ...}, "search": {...}}`` as ``{"model.name": ...}``. An empty
    prefix is no prefix (BM25 states none either), so it is left out."""
    return {
        f"{group}.{k}": v for group, fields in side.items() for k, v in fields.items() if v != ""
    }


def describe_model(r: ResultRecord) -> str:
    """``bm25 (bm25s lucene, k1 0.9 b 0.4)`` or ``minilm (sentence-transformers/all-MiniLM-L6-v2,
    float32, mean pooling, cosine, 384 dims)``: what a reader needs to tell two runs apart."""
    m, s = r.model, r.search
    parts: list[str] = []
    if s.get("k1") is not None or m.get("kind") == "bm25":
        parts.append(" ".join(str(x) for x in (s.get("backend"), s.get("method")) if x))
        if s.get("k1") is not None and s.get("b") is not None:
            parts.append(f"k1 {_say(s['k1'])} b {_say(s['b'])}")
        if s.get("analyzer_language"):
            parts.append(f"{s['analyzer_language']} analyzer")
    else:
        ckpt = m.get("hf_id") or (
            f"local weights {m['local_fingerprint'][:8]}" if m.get("local_fingerprint") else ""
        )
        if ckpt and m.get("revision"):
            ckpt += f"@{str(m['revision'])[:10]}"
        if ckpt and ckpt != m["name"]:
            parts.append(ckpt)
        if m.get("dtype"):
            parts.append(str(m["dtype"]))
        if m.get("pooling"):
            parts.append(f"{m['pooling']} pooling")
        if m.get("similarity"):
            parts.append(str(m["similarity"]))
        dim, full = m.get("dim"), m.get("full_dim")
        if dim:
            parts.append(f"{dim} dims" + (f" of {full}" if full and full != dim else ""))
        if s.get("backend") and s["backend"] != "torch":
            parts.append(f"{s['backend']} search")
        if s.get("cache_dtype") and s["cache_dtype"] != "float32":
            parts.append(f"{s['cache_dtype']} cache")
    parts = [p for p in parts if p]
    return m["name"] + (f" ({', '.join(parts)})" if parts else "")


def _model_pairs(pairs: list[tuple[Key, ResultRecord, ResultRecord]]) -> list[ModelPair]:
    """One entry per model pairing; a model whose description changes between datasets
    (per-dataset prefixes, say) gets one entry per variant, naming its datasets."""
    groups: dict[tuple[str, str, str, str], tuple[ModelPair, list[str]]] = {}
    for k, b, c in pairs:
        diffs = _differences(_model_side(b), _model_side(c))
        pair = ModelPair(k[5], describe_model(b), describe_model(c), diffs)
        sig = (k[5], pair.baseline, pair.current, json.dumps([asdict(d) for d in diffs]))
        where = k[1] + (f"/{k[3]}" if k[3] else "") + (f" @{k[4]}" if k[4] else "")
        groups.setdefault(sig, (pair, []))[1].append(where)
    per_model: dict[str, int] = {}
    for sig in groups:
        per_model[sig[0]] = per_model.get(sig[0], 0) + 1
    out = []
    for sig, (pair, where) in groups.items():
        if per_model[sig[0]] > 1:
            pair.datasets = sorted(set(where))
        out.append(pair)
    return out


# ---- the conditions that must match ---------------------------------------------------------


def _sample_words(v: Any) -> str:
    if not v:
        return "all queries"
    return f"{v.get('n')} of {v.get('of', '?')} queries sampled (seed {v.get('seed', '?')})"


def _data_differences(b: ResultRecord, c: ResultRecord) -> list[str]:
    """The data-side conditions that differ, in words: source, query sample, identical-ids
    rule (split and language are in the pairing key)."""
    db, dc = b.identity()["dataset"], c.identity()["dataset"]
    out = []
    sb, sc = db.get("source") or {}, dc.get("source") or {}
    words = {"fingerprint": "data fingerprint", "revision": "dataset revision", "id": "dataset"}
    for k in sorted(set(sb) | set(sc)):
        if sb.get(k) != sc.get(k):
            out.append(f"{words.get(k, 'data source ' + k)} {sb.get(k)} -> {sc.get(k)}")
    if (db.get("sampled_queries") or None) != (dc.get("sampled_queries") or None):
        out.append(
            f"query sample: {_sample_words(db.get('sampled_queries'))} -> "
            f"{_sample_words(dc.get('sampled_queries'))}"
        )
    ib, ic = db.get("ignore_identical_ids"), dc.get("ignore_identical_ids")
    if bool(ib) != bool(ic):
        out.append(
            "identical-ids rule (a document with the query's id is not ranked): "
            f"{'on' if ib else 'off'} -> {'on' if ic else 'off'}"
        )
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
    """Pair the records and test each pair; raise :class:`EvalkitError` on a refused pair
    (one whose measurement conditions differ; models and their settings may differ)."""
    if tolerance < 0:
        raise EvalkitError(f"--tolerance {tolerance}: must be >= 0 (nDCG points)")
    if alpha is not None and not 0 < alpha < 1:
        raise EvalkitError(f"--alpha {alpha}: must be between 0 and 1")
    # Records from files were checked when read; records built in Python are checked here, so
    # a NaN, null or edited mean can never compare as "no regression".
    for side, records in (("BASELINE", baseline), ("CURRENT", current)):
        for i, r in enumerate(records):
            r.check(f"{side} record {i + 1}")
    # One model a side: pair whatever the names (an A/B of two models); several: pair each
    # model with itself. Dims likewise.
    by_model = (
        len({r.model["name"] for r in baseline}) > 1 or len({r.model["name"] for r in current}) > 1
    )
    by_dim = _several_dims(baseline, by_model) or _several_dims(current, by_model)
    base = _index(baseline, "BASELINE", by_model, by_dim)
    cur = _index(current, "CURRENT", by_model, by_dim)
    if not set(base) & set(cur):
        raise EvalkitError(
            "BASELINE and CURRENT share no (dataset, split, language, dim): nothing to compare"
        )
    lines: list[Line] = []
    diffs: dict[Key, list[float]] = {}
    notes: list[str] = []
    paired: list[tuple[Key, ResultRecord, ResultRecord]] = []
    top_ks: set[tuple[int, int]] = set()
    let_differ: list[str] = []
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
        if metric is None:
            mb = b.dataset.get("main_metric", "ndcg_at_10")
            mc = c.dataset.get("main_metric", "ndcg_at_10")
            if mb != mc:
                raise EvalkitError(
                    f"{_name(k)}: the main metrics differ ({mb} in BASELINE, {mc} in CURRENT); "
                    "pass --metric to compare one score both hold"
                )
        for side, r in (("BASELINE", b), ("CURRENT", c)):
            if m not in r.scores:
                raise EvalkitError(f"{side}: {_name(k)} has no {m} (it has {', '.join(r.scores)})")
        if b.top_k != c.top_k:
            if not allow_settings_mismatch:
                raise EvalkitError(
                    f"{_name(k)}: top-k differs ({b.top_k} in BASELINE, {c.top_k} in CURRENT: "
                    "the rankings are cut at another depth); pass --allow-settings-mismatch to "
                    "compare them anyway"
                )
            top_ks.add((b.top_k, c.top_k))
        qb, qc = set(b.per_query), set(c.per_query)
        note = ""
        what = _data_differences(b, c)
        if qb != qc:
            what.append(f"queries: {len(qb - qc)} only in BASELINE, {len(qc - qb)} only in CURRENT")
        if what:
            if not allow_query_mismatch:
                raise EvalkitError(
                    f"{_name(k)}: query sets or data differ ({'; '.join(what)}); pass "
                    "--allow-query-mismatch to test over the queries both hold"
                )
            note = f"tested on the {len(qb & qc)} queries both hold"
            let_differ.append(f"{_name(k)}: {'; '.join(what)}")
        paired.append((k, b, c))
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
    if let_differ:
        notes.append(
            "Compared although the data or queries differ (--allow-query-mismatch), over the "
            "queries both hold: " + " | ".join(let_differ)
        )
    if top_ks:
        notes.append(
            "Compared although top-k differs (--allow-settings-mismatch): "
            + ", ".join(f"{a} in BASELINE, {b} in CURRENT" for a, b in sorted(top_ks))
        )
    elif allow_settings_mismatch:
        notes.append(
            "--allow-settings-mismatch is no longer needed to compare two models or two model "
            "settings (they are what is compared, named above); it now only lets top-k differ"
        )
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
        _model_pairs(paired),
        _held_equal(paired, metric or ", ".join(mains), bool(let_differ), bool(top_ks)),
    )


def _held_equal(
    paired: list[tuple[Key, ResultRecord, ResultRecord]],
    metric: str,
    data_differ: bool,
    top_k_differs: bool,
) -> str:
    """The measurement conditions every pair shares, in words (for a reader who asks whether
    the difference can be the model's alone)."""
    if not paired:
        return ""
    held = (
        []
        if data_differ
        else ["the data (corpus, queries and judgements, by content fingerprint or Hub revision)"]
    )
    held.append("split and language")
    if not data_differ:
        samples = {json.dumps(b.dataset.get("sampled_queries")) for _, b, _ in paired}
        held.append(
            "the same query set"
            + ("" if samples == {"null"} else " (a seeded sample; see the records)")
        )
        rules = {bool(b.dataset.get("ignore_identical_ids")) for _, b, _ in paired}
        held.append(
            "the identical-ids rule"
            + (f" ({'on' if rules.pop() else 'off'})" if len(rules) == 1 else "")
        )
    if not top_k_differs:
        ks = sorted({b.top_k for _, b, _ in paired})
        held.append(f"top-k {', '.join(map(str, ks))}")
    held.append(f"metric {_metric_words(metric)}")
    return "held equal in every dataset compared: " + ", ".join(held)


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
        note = f"over {len(by_ds)} dataset{'s' if len(by_ds) != 1 else ''} both hold" + (
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


def _verdict(cmp: Comparison) -> str:
    n_fail = len(cmp.failed)
    if not n_fail:
        return f"no regression beyond {cmp.tolerance:g} points"
    return f"{n_fail} regression{'s' if n_fail != 1 else ''} beyond {cmp.tolerance:g} points" + (
        f" (significant at α = {cmp.alpha:g})" if cmp.alpha is not None else ""
    )


def _metric_words(metric: str) -> str:
    from evalkit.evaluation.report import metric_title

    return ", ".join(metric_title(m.strip()) for m in metric.split(","))


def header_lines(cmp: Comparison) -> list[str]:
    """What is compared and under which conditions, one line each (markdown, JSON, HTML)."""
    out = []
    for mp in cmp.models:
        out.append(mp.header())
        if mp.differences:
            out.append(f"model settings that differ: {mp.differences_in_words()}")
    if cmp.conditions:
        out.append(cmp.conditions)
    return out


def _columns(cmp: Comparison) -> tuple[str, str]:
    """Score column titles: the model names when one model a side differs by name."""
    if len(cmp.models) == 1 and not cmp.models[0].model:
        b = cmp.models[0].baseline.split(" (")[0]
        c = cmp.models[0].current.split(" (")[0]
        if b != c:
            return f"baseline ({b})", f"current ({c})"
    return "baseline", "current"


def _score_columns(cmp: Comparison) -> tuple[list[str], list[bool]]:
    """The score tables' headers (a model column when rows are per model) and which are
    numbers, the same in markdown and HTML."""
    col_b, col_c = _columns(cmp)
    per_model = any(x.model for x in cmp.lines)
    heads = ["model"] if per_model else []
    heads += ["suite", "dataset", col_b, col_c, "Δ", "queries", "p", "p (Holm)", "status"]
    numeric = ([False] if per_model else []) + [False, False] + [True] * 6 + [False]
    return heads, numeric


def _score_cells(cmp: Comparison, x: Line) -> list[str]:
    """One score row's cells up to (not with) its status, which each format words itself."""
    per_model = any(y.model for y in cmp.lines)
    return ([x.model] if per_model else []) + [
        COLUMN_TITLES.get(x.suite, x.suite),
        x.dataset + (f"/{x.language}" if x.language else ""),
        _num(x.baseline),
        _num(x.current),
        _num(x.diff, "+.2f"),
        str(x.n_queries or "–"),
        _p(x.p),
        _p(x.p_holm),
    ]


def to_markdown(cmp: Comparison) -> str:
    """A pull-request comment."""
    out = [f"**evalkit compare**: {_verdict(cmp)}", ""]
    nested = len(cmp.models) > 1
    for h in header_lines(cmp):
        sub = nested and h.startswith("model settings that differ")
        out.append(("  - " if sub else "- ") + h[:1].upper() + h[1:])
    out += [
        "",
        f"Metric: {_metric_words(cmp.metric)} (x100); Δ = current − baseline, in points; "
        f"{_status_meaning(cmp)}.",
        "",
    ]
    heads, numeric = _score_columns(cmp)
    for title, rows in (("Suite averages", cmp.suites), ("Datasets", cmp.lines)):
        if not rows:
            continue
        cells = [
            _score_cells(cmp, x)
            + [_ICON.get(x.status, x.status) + (f" ({x.note})" if x.note else "")]
            for x in rows
        ]
        out += [f"#### {title}", "", markdown_table(heads, cells, numeric), ""]
    out.append(cmp.method())
    out += ["", *cmp.notes] if cmp.notes else []
    return "\n".join(out).rstrip() + "\n"


def to_json(cmp: Comparison) -> str:
    d = asdict(cmp)
    d["header"] = header_lines(cmp)
    d["test"] = TEST_NAME
    d["method"] = cmp.method()
    d["regressions"] = len(cmp.failed)
    d["exit_code"] = cmp.exit_code
    # NaN is not JSON: a dataset without per-query scores has no p-value
    return json.dumps(_no_nan(d), indent=2, ensure_ascii=False) + "\n"


_HTML_CSS = """
h2{font-size:1.1em;margin:1.8em 0 .3em}
p.verdict{font-size:1.1em;font-weight:600}
p.verdict.fail,td.regressed,td.missing{color:#b00}
td.improved{color:#070}
td.new{color:#555}
th{text-align:left}
th.row_heading{font-weight:600;padding-right:1.5em;border-bottom:1px solid #ddd}
table.models td,table.models th{vertical-align:top;text-align:left}
td.unset{color:#888}
"""


def _status_meaning(cmp: Comparison) -> str:
    sig = (
        f" and its Holm-adjusted p < {cmp.alpha:g}"
        if cmp.alpha is not None
        else "; without --alpha that is a verdict on size, not on significance (read p)"
    )
    return f"status: improved or regressed when |Δ| > {cmp.tolerance:g} points{sig}"


def to_html(cmp: Comparison) -> str:
    """One self-contained file in the report's style: inline CSS, no scripts, no network
    references. What is compared and under which conditions, then the scores, then every
    model and search setting that differs."""
    from evalkit.evaluation.report import _CSS

    e = html.escape
    names = dict.fromkeys(x.split(" (")[0] for x in (cmp.baseline_model, cmp.current_model))
    per_model = any(mp.model for mp in cmp.models)
    title = "evalkit compare: " + (
        f"{', '.join(mp.model for mp in cmp.models)}, each against itself"
        if per_model
        else " vs ".join(names)
    )
    verdict = _verdict(cmp)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title><style>{_CSS}{_HTML_CSS}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        f'<p class="verdict{" fail" if cmp.failed else ""}">'
        f"{e(verdict[:1].upper() + verdict[1:])}.</p>",
    ]
    for i, mp in enumerate(cmp.models):
        cap = f"Model {mp.model}" if mp.model else "Compared"
        cap += f" (on {', '.join(mp.datasets)})" if mp.datasets else ""
        sides = [("baseline", mp.baseline), ("current", mp.current)]
        if mp.baseline == mp.current:
            # equal descriptions must not read as equal runs: say what differs, or that nothing
            what = mp.differences_in_words() if mp.differences else "nothing: the same settings"
            sides.append(("differs in", what))
        out.append(
            html_table(
                None,
                [[desc] for _, desc in sides],
                table_id=f"sides{i}",
                caption=cap,
                row_headers=[side for side, _ in sides],
                table_class="sides",
            )
        )
    if cmp.conditions:
        out.append(f'<p class="note">{e(cmp.conditions[:1].upper() + cmp.conditions[1:])}.</p>')
    out.append(
        f'<p class="note">Scores: {e(_metric_words(cmp.metric))} x100; Δ = current − baseline, '
        "in points; p: paired randomisation test over the queries both sides hold, two-sided; "
        f"{e(_status_meaning(cmp))}.</p>"
    )
    heads, numeric = _score_columns(cmp)
    for title_t, rows in (("Suite averages", cmp.suites), ("Datasets", cmp.lines)):
        if not rows:
            continue
        cells = [
            _score_cells(cmp, x) + [x.status + (f" ({x.note})" if x.note else "")] for x in rows
        ]
        classes = [["n" if n else "" for n in numeric[:-1]] + [x.status] for x in rows]
        out.append(f"<h2>{e(title_t)}</h2>")
        out.append(
            html_table(
                heads,
                cells,
                table_id=title_t.split()[0].lower(),
                cell_classes=classes,
                right_headers=numeric,
            )
        )
    for i, mp in enumerate(cmp.models):
        if not mp.differences:
            continue
        cap = "Model and search settings that differ" + (f": {mp.model}" if mp.model else "")
        cap += f" (on {', '.join(mp.datasets)})" if mp.datasets else ""
        out.append(f"<h2>{e(cap)}</h2>")
        out.append(
            html_table(
                ["baseline", "current"],
                [
                    ["–" if v is None else v for v in (d.baseline, d.current)]
                    for d in mp.differences
                ],
                table_id=f"models{i}",
                cell_classes=[
                    ["unset" if v is None else "" for v in (d.baseline, d.current)]
                    for d in mp.differences
                ],
                row_headers=[d.what for d in mp.differences],
                table_class="models",
            )
        )
        if any(v is None for d in mp.differences for v in (d.baseline, d.current)):
            out.append(
                '<p class="note">–: not among that record\'s settings (the setting does not '
                "apply to that model, or the record does not state it).</p>"
            )
    out.append(f'<p class="note">{e(cmp.method())}</p>')
    out += [f'<p class="note">{e(n)}</p>' for n in cmp.notes]
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def render(cmp: Comparison, fmt: str) -> str:
    """``cmp`` as ``md`` (a pull-request comment), ``json`` or ``html`` (one file)."""
    return {"md": to_markdown, "json": to_json, "html": to_html}[fmt](cmp)


FORMATS = ("md", "json", "html")


def _no_nan(x: Any) -> Any:
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, dict):
        return {k: _no_nan(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_no_nan(v) for v in x]
    return x
