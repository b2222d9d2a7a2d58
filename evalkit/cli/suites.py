"""``evalkit suites``: the registered suites, and ``evalkit suites show NAME`` for one in detail."""

from __future__ import annotations

import json
from typing import Any

import typer

from evalkit.cli import app, console
from evalkit.errors import EvalkitError, did_you_mean


def _n(x: Any) -> str:
    return f"{x:,}" if isinstance(x, int) else "?"


def _langs(langs: set[str] | tuple[str, ...], limit: int = 8) -> str:
    langs = sorted(langs)
    if not langs:
        return "-"
    shown = ", ".join(langs[:limit])
    return f"{len(langs)}: " + shown + (f" (+{len(langs) - limit})" if len(langs) > limit else "")


def _total(specs: Any, key: str) -> str:
    vals = [s.size.get(key) for s in specs]
    return _n(sum(vals)) if vals and all(isinstance(v, int) for v in vals) else "?"


def _source_label(src: dict[str, Any]) -> str:
    rev = src.get("revision")
    return f"{src.get('id', src.get('path', '?'))}@{rev[:12] if rev else 'unpinned'}"


def overview() -> Any:  # -> rich.table.Table
    """One row per suite: datasets, splits, languages, documented sizes."""
    from rich.table import Table

    from evalkit.suites import suites

    table = Table(title="Suites", title_justify="left")
    # Short columns that fit 80 characters; dataset names, languages, sources and
    # descriptions are in `evalkit suites show NAME`.
    for col in ("suite", "datasets", "languages", "runs", "split", "queries", "docs"):
        table.add_column(
            col, justify="left" if col in ("suite", "split") else "right", no_wrap=True
        )
    for suite in suites().values():
        specs = suite.datasets
        langs = {lang for s in specs for lang in s.languages}
        table.add_row(
            suite.name,
            str(len(specs)),
            str(len(langs)) if langs else "-",
            str(sum(len(s.languages) or 1 for s in specs)),
            ", ".join(sorted({s.split for s in specs})),
            _total(specs, "queries"),
            _total(specs, "docs"),
        )
    table.caption = "sizes: documented counts (mteb descriptive statistics); ? = not recorded"
    return table


def detail(name: str) -> list[Any]:
    """Tables for one suite: its datasets with sources, then per-language sizes."""
    from rich.table import Table

    from evalkit.suites import get_suite

    suite = get_suite(name)
    main = Table(title=f"Suite {suite.name}: {suite.description}", title_justify="left")
    # Short columns in the table (fits 80 characters); sources and the rest as lines below.
    for col, just in (
        ("dataset", "left"),
        ("split", "left"),
        ("languages", "left"),
        ("drop id=id", "left"),
        ("max q/doc", "left"),
        ("queries", "right"),
        ("docs", "right"),
    ):
        # Dataset names whole, so they can be copied into --dataset.
        main.add_column(col, justify=just, overflow="fold", no_wrap=col == "dataset")
    notes: list[str] = []
    per_lang = Table(title="Per language", title_justify="left")
    for col, just in (
        ("dataset", "left"),
        ("language", "left"),
        ("queries", "right"),
        ("docs", "right"),
    ):
        per_lang.add_column(col, justify=just)
    for s in suite.datasets:
        main.add_row(
            s.name,
            s.split,
            _langs(s.languages, 6),
            "yes" if s.ignore_identical_ids else "no",
            f"{s.max_query_length or 'model'}/{s.max_doc_length or 'model'}",
            _n(s.size.get("queries")),
            _n(s.size.get("docs")),
        )
        task = f"mteb task {s.mteb_task}, " if s.mteb_task else ""
        notes.append(
            f"{s.name}: {task}source {_source_label(s.source)} (layout {s.layout}), "
            f"main metric {s.main_metric}"
        )
        for alt in s.source.get("alternates", ()):
            extra = [alt[k] for k in ("qrels_id", "corpus_id") if alt.get(k)]
            extra_s = f" + {', '.join(extra)}" if extra else ""
            notes.append(
                f"{s.name}: alternate source {_source_label(alt)}{extra_s} (layout {alt['layout']})"
            )
        if s.source.get("mteb_main_score"):
            notes.append(f"{s.name}: mteb's main score is {s.source['mteb_main_score']}")
        if s.citation:
            notes.append(f"{s.name}: {s.citation}")
        for lang, size in s.size.get("per_language", {}).items():
            per_lang.add_row(s.name, lang, _n(size.get("queries")), _n(size.get("docs")))
    out: list[Any] = [main]
    if per_lang.row_count:
        out.append(per_lang)
    if suite.reference:
        notes.insert(0, f"reference: {suite.reference}")
    out.extend(notes)
    return out


@app.command("suites")
def suites_cmd(
    args: list[str] = typer.Argument(
        None, metavar="[show] [NAME]", help="Nothing: every suite. `show NAME`: one suite."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the registry as JSON."),
) -> None:
    """List the suites (datasets, splits, languages, sizes), or show one with its sources."""
    from evalkit.suites import get_suite, suites

    args = list(args or [])
    if args and args[0] == "show":
        args = args[1:]
        if not args:
            raise EvalkitError("evalkit suites show NAME: name a suite (see `evalkit suites`)")
    if len(args) > 1:
        raise EvalkitError(f"evalkit suites: expected at most one suite name, got {args}")
    if args and args[0] not in suites():
        raise EvalkitError(
            f"evalkit suites show {args[0]!r}: not a registered suite"
            f"{did_you_mean(args[0], suites())} (suites: {', '.join(sorted(suites()))})"
        )
    if as_json:
        chosen = [get_suite(args[0])] if args else list(suites().values())
        payload = [
            {
                "name": s.name,
                "description": s.description,
                "reference": s.reference,
                "datasets": [d.to_dict() for d in s.datasets],
            }
            for s in chosen
        ]
        console.print_json(json.dumps(payload, default=list))
        return
    if not args:
        console.print(overview())
        console.print("details: evalkit suites show NAME", highlight=False)
        return
    for part in detail(args[0]):
        console.print(part, highlight=False) if isinstance(part, str) else console.print(part)
