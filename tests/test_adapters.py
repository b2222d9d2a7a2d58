"""evalkit encoders inside mteb and beir give the same nDCG@10 as ``evalkit.evaluate``.

One tiny random DRAMA checkpoint, one small multilingual BEIR-format folder written to
tmp_path. mteb runs its own ``evaluate`` on a local ``AbsTaskRetrieval``; beir runs its own
``DenseRetrievalExactSearch`` + ``EvaluateRetrieval``. Random weights give arbitrary but
tie-free rankings, which is all an agreement test needs.
"""

from __future__ import annotations

from pathlib import Path

import drama_fixtures as fx
import numpy as np
import peers
import pytest
import torch

pytest.importorskip("mteb")
pytest.importorskip("beir")

from evalkit.errors import EvalkitError, ModelError  # noqa: E402
from evalkit.models.drama import DramaEncoder  # noqa: E402
from evalkit.models.registry import load_encoder, resolve_model  # noqa: E402

ROUNDED = 5e-6 + 1e-9  # mteb and beir round means to 5 decimals


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fx.make_drama_checkpoint(tmp_path_factory.mktemp("drama") / "ckpt", seed=1)


@pytest.fixture(scope="module")
def encoder(ckpt: Path) -> DramaEncoder:
    enc = load_encoder(resolve_model(str(ckpt), model_type="drama"), device="cpu")
    assert isinstance(enc, DramaEncoder)
    return enc


@pytest.fixture(scope="module")
def beir_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Thirty distinct documents (no ties), a third without a title.
    corpus = [
        {"_id": f"d{i}", "title": f"Title {i}" if i % 3 else "", "text": f"{t} ({i})"}
        for i, t in enumerate(fx.TEXTS * 3)
    ]
    queries = {f"q{i}": t[: 8 + 3 * i] for i, t in enumerate(fx.TEXTS[:8])}
    qrels = {f"q{i}": {f"d{i}": 1, f"d{i + 10}": 2 if i % 2 else 0} for i in range(8)}
    return fx.write_beir_dir(tmp_path_factory.mktemp("beir") / "tinyset", corpus, queries, qrels)


def evalkit_ndcg(encoder: DramaEncoder, path: Path, dim: int | None = None) -> float:
    import evalkit

    (record,) = evalkit.evaluate(
        encoder, str(path), measures=["ndcg_at_10"], dim=dim, force_dim=True, cache=False
    )
    return float(record.scores["ndcg_at_10"])


@pytest.mark.parametrize("dim", [None, 16])
def test_mteb_evaluate_agrees_with_evalkit(
    encoder: DramaEncoder, beir_dir: Path, dim: int | None
) -> None:
    import mteb

    from evalkit.adapters.mteb import mteb_model
    from evalkit.adapters.mteb_tasks import local_retrieval_task

    adapter = mteb_model(encoder, dim=dim, force_dim=True)
    result = mteb.evaluate(
        adapter, local_retrieval_task(beir_dir), cache=None, show_progress_bar=False
    )
    mteb_ndcg = result.task_results[0].scores["test"][0]["ndcg_at_10"]
    ours = evalkit_ndcg(encoder, beir_dir, dim)
    assert 0.0 < ours < 1.0
    assert abs(mteb_ndcg - ours) <= ROUNDED


def test_beir_exact_search_agrees_with_evalkit(encoder: DramaEncoder, beir_dir: Path) -> None:
    from beir.datasets.data_loader import GenericDataLoader
    from beir.retrieval.evaluation import EvaluateRetrieval
    from beir.retrieval.search.dense import DenseRetrievalExactSearch

    from evalkit.adapters.beir import beir_model

    corpus, queries, qrels = GenericDataLoader(data_folder=str(beir_dir)).load(split="test")
    search = DenseRetrievalExactSearch(beir_model(encoder), batch_size=4, show_progress_bar=False)
    retriever = EvaluateRetrieval(search, score_function="cos_sim", k_values=[1, 10, 100])
    results = retriever.retrieve(corpus, queries)
    ndcg, _, _, _ = retriever.evaluate(qrels, results, retriever.k_values)
    assert abs(ndcg["NDCG@10"] - evalkit_ndcg(encoder, beir_dir)) <= ROUNDED


def test_mteb_prompt_types_reach_the_right_path(encoder: DramaEncoder) -> None:
    from mteb.types import PromptType
    from torch.utils.data import DataLoader

    from evalkit.adapters.mteb import mteb_model

    adapter = mteb_model(encoder)
    loader = DataLoader(
        [{"text": t} for t in fx.TEXTS],
        batch_size=3,
        collate_fn=lambda rows: {"text": [r["text"] for r in rows]},
    )
    kw = {"task_metadata": None, "hf_split": "test", "hf_subset": "default"}
    q = adapter.encode(loader, prompt_type=PromptType.query, **kw)
    d = adapter.encode(loader, prompt_type=PromptType.document, **kw)
    none = adapter.encode(loader, prompt_type=None, **kw)
    np.testing.assert_array_equal(q, encoder.encode_queries(fx.TEXTS))  # "Query: " prefix
    np.testing.assert_array_equal(d, encoder.encode_documents(fx.TEXTS))
    np.testing.assert_array_equal(none, d)
    assert np.abs(q - d).max() > 1e-3
    with pytest.raises(EvalkitError, match="--dim 999"):
        mteb_model(encoder, dim=999)


def test_beir_corpus_forms(encoder: DramaEncoder) -> None:
    from evalkit.adapters.beir import beir_model

    model = beir_model(encoder)
    docs = [{"title": "Rome", "text": fx.TEXTS[2]}, {"title": "", "text": fx.TEXTS[1]}]
    want = fx.reference_embeddings(
        encoder.local_dir or encoder.source, ["Rome " + fx.TEXTS[2], fx.TEXTS[1]]
    ).numpy()
    as_list = model.encode_corpus(docs, batch_size=2)
    as_dict = model.encode_corpus({"title": ["Rome", ""], "text": [fx.TEXTS[2], fx.TEXTS[1]]})
    as_tensor = model.encode_corpus(docs, convert_to_tensor=True)
    assert isinstance(as_tensor, torch.Tensor)
    for got in (as_list, as_dict, as_tensor.numpy()):
        np.testing.assert_allclose(got, want, atol=1e-5)
    q = model.encode_queries(["ok"], batch_size=1)
    np.testing.assert_allclose(
        q, fx.reference_embeddings(encoder.source, ["ok"], prefix="Query: ").numpy(), atol=1e-5
    )
    with pytest.raises(EvalkitError, match="titles"):
        model.encode_corpus({"title": ["a"], "text": ["x", "y"]})


def test_drama_model_metas() -> None:
    from mteb.languages import check_language_code

    from evalkit.adapters.mteb import DRAMA_MODEL_METAS
    from evalkit.models.registry import registered_models

    specs = registered_models()
    assert set(DRAMA_MODEL_METAS) == {
        "facebook/drama-base",
        "facebook/drama-large",
        "facebook/drama-1b",
    }
    for name, meta in DRAMA_MODEL_METAS.items():
        spec = specs[name.split("/")[1]]
        assert meta.embed_dim == sorted({*spec.matryoshka_dims, spec.dim})
        assert meta.revision == spec.revision and meta.max_tokens == 8192
        assert meta.similarity_fn_name.value == "cosine"
        assert meta.use_instructions  # the "Query: " prefix
        assert len(meta.languages) == 20
        for code in meta.languages:
            check_language_code(code)
        assert meta.loader_kwargs == {"evalkit_model": spec.name, "model_type": "drama"}
    assert DRAMA_MODEL_METAS["facebook/drama-1b"].n_parameters == 1_235_814_400


def test_model_meta_loader_builds_the_adapter(ckpt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from evalkit.adapters.mteb import DRAMA_MODEL_METAS, EvalkitMtebEncoder, model_meta_for

    meta = model_meta_for(resolve_model(str(ckpt), model_type="drama"))
    assert meta.name == f"evalkit-local/{ckpt.name}"
    model = meta.load_model(device="cpu")
    assert isinstance(model, EvalkitMtebEncoder) and isinstance(model.model, DramaEncoder)
    # The registered metas load through evalkit too: offline, that fails with one clear line.
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelError, match="facebook/drama-base") as err:
        DRAMA_MODEL_METAS["facebook/drama-base"].load_model(device="cpu")
    assert "\n" not in str(err.value)


# --- per-task token limits, as evalkit run takes them ------------------------------------------


def long_text(seed: int, n_bytes: int = 1400) -> str:
    """About ``n_bytes`` tokens for the byte-level test tokenizer: well past 512."""
    import random

    rng = random.Random(seed)
    words = " ".join(fx.TEXTS).split()
    out = f"Document {seed}:"
    while len(out.encode()) < n_bytes:
        out += " " + rng.choice(words)
    return out


def _loader(texts: list[str]):  # -> torch DataLoader as mteb builds it
    from torch.utils.data import DataLoader

    return DataLoader(
        [{"text": t} for t in texts],
        batch_size=2,
        collate_fn=lambda rows: {"text": [r["text"] for r in rows]},
    )


def test_mteb_adapter_takes_each_tasks_limits(encoder: DramaEncoder) -> None:
    """MultiLongDocRetrieval: 8192-token documents, as ``evalkit run --suite mldr``; SciFact
    and every other catalog task: 512; queries 512 everywhere. A task evalkit's catalog does
    not know (a local folder) gets the model's own limit, as in ``evalkit run DIR``."""
    import mteb
    from mteb.types import PromptType

    from evalkit.adapters.mteb import mteb_model

    docs = [long_text(1), long_text(2), fx.TEXTS[3]]
    at = {n: encoder.encode_documents(docs, max_length=n) for n in (512, 8192)}
    assert np.abs(at[512][:2] - at[8192][:2]).max() > 1e-3  # the cut changes the vectors
    np.testing.assert_array_equal(at[512][2], at[8192][2])  # a short text is whole in both
    q_at = {n: encoder.encode_queries(docs, max_length=n) for n in (512, 8192)}
    assert np.abs(q_at[512][:2] - q_at[8192][:2]).max() > 1e-3

    adapter = mteb_model(encoder)
    kw = {"hf_split": "test", "hf_subset": "default"}
    mldr = mteb.get_task("MultiLongDocRetrieval").metadata
    for meta, doc_limit in ((mldr, 8192), (mteb.get_task("SciFact").metadata, 512)):
        got = adapter.encode(
            _loader(docs), task_metadata=meta, prompt_type=PromptType.document, **kw
        )
        np.testing.assert_allclose(got, at[doc_limit], atol=1e-6, err_msg=meta.name)
        q = adapter.encode(_loader(docs), task_metadata=meta, prompt_type=PromptType.query, **kw)
        np.testing.assert_allclose(q, q_at[512], atol=1e-6, err_msg=meta.name)
    # The adapter never changes the encoder's own defaults (8192 for a bare local checkpoint).
    assert (encoder.max_query_length, encoder.max_doc_length) == (8192, 8192)
    unknown = adapter.encode(_loader(docs), task_metadata=None, prompt_type=None, **kw)
    np.testing.assert_allclose(unknown, at[8192], atol=1e-6)
    # --max-length overrides the task's limit, as in evalkit run.
    capped = mteb_model(encoder, max_length=512).lengths_for_task(mldr)
    assert (capped.query, capped.doc) == (512, 512)


def test_registered_drama_limits_per_task() -> None:
    """drama-base's registered limits (no weights needed): 512, and 8192 for MLDR documents."""
    import mteb

    from evalkit.adapters.limits import dataset_for, dataset_for_mteb_task, lengths_for
    from evalkit.models.base import ModelSpec

    class Unloaded:  # what the limits read of an encoder: its spec and its defaults
        spec: ModelSpec = resolve_model("drama-base")
        max_query_length = max_doc_length = 512

    enc = Unloaded()
    for task, doc in (("MultiLongDocRetrieval", 8192), ("NFCorpus", 512), ("MIRACLRetrieval", 512)):
        spec = dataset_for_mteb_task(task)
        assert spec is not None and spec.mteb_task == task
        assert lengths_for(enc, spec) == lengths_for(enc, dataset_for(spec.suite, spec.name))
        assert (lengths_for(enc, spec).query, lengths_for(enc, spec).doc) == (512, doc)
    # A task read from elsewhere is still known by its Hub repository.
    meta = mteb.get_task("SciFact").metadata
    assert dataset_for_mteb_task("Renamed", meta.dataset["path"]).name == "scifact"
    assert dataset_for_mteb_task("LocalFolder", "/data/x") is None


def test_beir_adapter_takes_the_named_datasets_limits(
    encoder: DramaEncoder, tmp_path: Path
) -> None:
    from evalkit.adapters.beir import beir_model

    docs = [{"title": "", "text": long_text(3)}]
    long_at = {n: encoder.encode_documents(docs, max_length=n) for n in (512, 8192)}
    assert np.abs(long_at[512] - long_at[8192]).max() > 1e-3
    for kw, limit in (
        ({"suite": "mldr"}, 8192),
        ({"suite": "beir", "dataset": "SciFact"}, 512),
        ({"suite": "beir"}, 512),  # every BEIR dataset has the same limits
        ({"suite": "mldr", "max_length": 512}, 512),
        ({}, 8192),  # the model's own, as for a local folder
    ):
        got = beir_model(encoder, **kw).encode_corpus(docs)
        np.testing.assert_allclose(got, long_at[limit], atol=1e-6, err_msg=str(kw))
    q = beir_model(encoder, suite="mldr").encode_queries([long_text(4)])
    np.testing.assert_allclose(q, encoder.encode_queries([long_text(4)], max_length=512), atol=1e-6)
    with pytest.raises(EvalkitError, match="different token limits"):
        beir_model(encoder, suite="paper")
    with pytest.raises(EvalkitError, match="--dataset 'nope'"):
        beir_model(encoder, suite="beir", dataset="nope")
    with pytest.raises(EvalkitError, match="needs the suite"):
        beir_model(encoder, dataset="scifact")


def long_collection(root: Path) -> Path:
    """Twelve long documents (~1400 tokens), six queries; a BEIR folder with a header line that
    is also a local copy of mteb's Hub layout (``write_mteb_copy``)."""
    corpus = [{"_id": f"d{i}", "title": "", "text": long_text(10 + i)} for i in range(12)]
    queries = {f"q{i}": fx.TEXTS[i] for i in range(6)}
    qrels = {f"q{i}": {f"d{i}": 1, f"d{(i + 5) % 12}": 2} for i in range(6)}
    return fx.write_beir_dir(root, corpus, queries, qrels)


def test_mteb_evaluate_on_mldr_uses_evalkits_lengths(encoder: DramaEncoder, tmp_path: Path) -> None:
    """The same long-document files as mteb's MultiLongDocRetrieval (English) and as its
    SciFact: mteb reads each with its own loader and scores with the adapter; evalkit runs
    ``--suite mldr --language en`` and ``--suite beir --dataset scifact`` on the same files.
    Each pair agrees, and the two tasks differ (8192 vs 512 tokens)."""
    import evalkit
    from evalkit.adapters.mteb import mteb_model
    from evalkit.adapters.mteb_tasks import mteb_task_from_local_copy

    data = tmp_path / "data"
    mldr_dir = peers.write_mteb_copy(long_collection(data / "mldr" / "en"), config_prefix="en-")
    scifact_dir = peers.write_mteb_copy(long_collection(data / "scifact"))
    adapter = mteb_model(encoder)
    tasks = {
        "mldr": mteb_task_from_local_copy(
            "MultiLongDocRetrieval", mldr_dir, languages=["eng"], eval_splits=["test"]
        ),
        "scifact": mteb_task_from_local_copy("SciFact", scifact_dir),
    }
    subsets = {"mldr": "en", "scifact": "default"}
    ours = {
        "mldr": evalkit.evaluate(encoder, "mldr", languages=["en"], data_dir=data, cache=False),
        "scifact": evalkit.evaluate(
            encoder, "beir", datasets=["scifact"], data_dir=data, cache=False
        ),
    }
    got = {}
    for name, task in tasks.items():
        scores, _ = peers.run_mteb_task(adapter, task, tmp_path / name, subset=subsets[name])
        [record] = ours[name]
        for m in ("ndcg_at_10", "recall_at_100"):
            assert abs(scores[m] - record.scores[m]) <= ROUNDED, (name, m)
        got[name] = record.scores["ndcg_at_10"]
    assert abs(got["mldr"] - got["scifact"]) > 1e-3
