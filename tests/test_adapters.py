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

    adapter = mteb_model(encoder, dim=dim)
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
