"""Loading a model never scores random weights; encode stops at NaN; sentence-transformers
models count the tokens they encode.

Checkpoints are tiny random BERTs saved with ``save_pretrained`` (MiniLM's vocabulary), as a
plain transformers folder and as a sentence-transformers folder, then damaged by rewriting
``model.safetensors`` without (or with more than) the model's tensors."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SMALL_CORPUS, SMALL_QRELS, SMALL_QUERIES, write_beir
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file
from test_transformer_encoder import save_tiny_bert

import evalkit
from evalkit.cli import main
from evalkit.errors import ModelError
from evalkit.runner import load_model


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_bert(tmp_path_factory.mktemp("plain") / "tiny")


@pytest.fixture(scope="module")
def st_folder(plain: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same weights in sentence-transformers layout (modules.json, 1_Pooling, weights at
    the root)."""
    from sentence_transformers import SentenceTransformer

    try:
        from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers.models import Pooling, Transformer

    path = tmp_path_factory.mktemp("st") / "tiny-st"
    model = SentenceTransformer(
        modules=[Transformer(str(plain)), Pooling(32, "mean")], device="cpu"
    )
    model.save(str(path))
    assert (path / "modules.json").is_file() and (path / "model.safetensors").is_file()
    return path


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def rewrite(folder: Path, tensors: dict[str, torch.Tensor]) -> None:
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})


def copy_of(src: Path, root: Path) -> Path:
    dst = root / src.name
    shutil.copytree(src, dst)
    return dst


# ---- C. missing or unexpected weights are refused by every loader --------------------------


def assert_refused(folder: Path, needle: str, model_type: str | None = None) -> str:
    with pytest.raises(ModelError) as err:
        load_model(str(folder), model_type=model_type, device="cpu")
    msg = str(err.value)
    assert "\n" not in msg and str(folder) in msg and needle in msg, msg
    return msg


KEYS = [
    "embeddings.LayerNorm.bias",
    "embeddings.word_embeddings.weight",
    "encoder.layer.0.attention.self.query.weight",
    "encoder.layer.0.intermediate.dense.weight",
    "encoder.layer.1.attention.self.query.weight",
    "encoder.layer.1.output.dense.bias",
]


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(dropped=st.sets(st.sampled_from(KEYS), min_size=1, max_size=3))
def test_plain_checkpoint_lacking_weights_is_refused(plain: Path, dropped: set[str]) -> None:
    """Whatever weights a plain checkpoint lacks, loading stops and names one of them (old
    code: transformers initialised them at random and the model was scored)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = copy_of(plain, Path(tmp))
        rewrite(folder, {k: v for k, v in weights(plain).items() if k not in dropped})
        msg = assert_refused(folder, f"lacks {len(dropped)} weight(s)")
        assert min(dropped) in msg  # sorted: the first is always shown


def test_unused_weights_are_refused_but_pretraining_heads_are_not(
    plain: Path, tmp_path: Path
) -> None:
    """A trained projection AutoModel would drop is refused (old code: dropped silently). A
    masked-LM checkpoint as a base model (its MLM head left out, the pooler, whose output
    nothing pools, missing) keeps whole embeddings and loads."""
    from transformers import BertConfig, BertForMaskedLM

    folder = copy_of(plain, tmp_path)
    tensors = weights(plain)
    tensors["projection.weight"] = torch.zeros(8, 32)
    rewrite(folder, tensors)
    assert_refused(folder, "projection.weight")

    (folder / "model.safetensors").unlink()
    torch.manual_seed(1)
    BertForMaskedLM(BertConfig.from_pretrained(str(plain))).save_pretrained(str(folder))
    assert set(weights(folder)) - set(weights(plain))  # it does hold the MLM head
    enc = load_model(str(folder), device="cpu")
    assert enc.encode_queries(["green tea"]).shape == (1, 32)


def test_sentence_transformers_checkpoint_lacking_a_weight_is_refused(
    st_folder: Path, tmp_path: Path
) -> None:
    folder = copy_of(st_folder, tmp_path)
    enc = load_model(str(folder), device="cpu")  # complete: loads
    assert type(enc).__name__ == "SentenceTransformerEncoder"
    key = "encoder.layer.1.attention.self.query.weight"
    rewrite(folder, {k: v for k, v in weights(st_folder).items() if k != key})
    assert_refused(folder, key)
    assert_refused(folder, key, model_type="transformers")  # the same folder, run plain


# ---- D. evalkit encode stops at NaN --------------------------------------------------------


def test_encode_refuses_nan_embeddings_naming_model_and_id(
    plain: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A model whose vector for one word is NaN: ``evalkit encode`` stops, naming the model and
    the record, and writes nothing (old code wrote the NaN rows)."""
    from transformers import AutoModel, AutoTokenizer

    folder = copy_of(plain, tmp_path)
    model = AutoModel.from_pretrained(str(plain))
    [nile] = AutoTokenizer.from_pretrained(str(plain))("nile", add_special_tokens=False)[
        "input_ids"
    ]
    with torch.no_grad():
        model.embeddings.word_embeddings.weight[nile] = float("nan")
    model.save_pretrained(str(folder))
    rows = [
        {"_id": "a", "text": "green tea leaves"},
        {"_id": "river", "text": "the nile flows north"},
        {"text": "a third line"},
    ]
    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "out.npy"
    argv = ["encode", "--model", str(folder), "--input", str(inp), "--output", str(out)]
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--kind", "document", "--device", "cpu"])
    assert exit_.value.code == 2
    err = [x for x in capsys.readouterr().err.splitlines() if x.startswith("error")]
    assert len(err) == 1 and "NaN" in err[0], err
    assert f"--model {folder}" in err[0] and "(e.g. river)" in err[0]
    assert not out.exists() and not (tmp_path / "out.ids.txt").exists()


# ---- E. sentence-transformers models count the tokens they encode --------------------------


def test_sentence_transformers_record_counts_real_tokens(
    plain: Path, st_folder: Path, tmp_path: Path
) -> None:
    """The record's tokens_encoded for a sentence-transformers model is the corpus's real
    token count (special tokens in, padding out), the same number the plain transformers
    encoder records for the same checkpoint (old code: 0)."""
    from transformers import AutoTokenizer

    beir = write_beir(tmp_path / "small", SMALL_CORPUS, SMALL_QUERIES, SMALL_QRELS)
    kw = {"cache": False, "shard_size": 3, "batch_size": 2}
    [st_rec] = evalkit.evaluate(str(st_folder), str(beir), **kw)
    [plain_rec] = evalkit.evaluate(str(st_folder), str(beir), model_type="transformers", **kw)
    tok = AutoTokenizer.from_pretrained(str(plain))
    texts = [(d["title"] + " " + d["text"]).strip() for d in SMALL_CORPUS]
    want = sum(len(ids) for ids in tok(texts, truncation=True, max_length=128)["input_ids"])
    assert st_rec.search["tokens_encoded"] == plain_rec.search["tokens_encoded"] == want
    assert np.isclose(st_rec.scores["ndcg_at_10"], plain_rec.scores["ndcg_at_10"], atol=1e-6)
