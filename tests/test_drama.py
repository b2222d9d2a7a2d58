"""DRAMA encoders are exactly right: bidirectional on every backend, in padded batches.

Every expected number comes from ``drama_fixtures.reference_embeddings``, a plain-torch Llama
written for the tests (explicit 4-D padding-only mask, its own RoPE/RMSNorm/GQA, the
``tokenizers`` library for ids); it shares no code with evalkit. A causal variant of the same
reference shows the comparison fails by orders of magnitude when attention is causal.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import drama_fixtures as fx
import numpy as np
import peers
import pytest
import torch

from evalkit.errors import EvalkitError, ModelError
from evalkit.models.drama import DramaEncoder
from evalkit.models.registry import load_encoder, registered_models, resolve_model

TOL = 1e-5  # float32 evalkit vs float64 reference
HIDDEN = fx.SMALL["hidden_size"]
MRL_DIM = 16

_flash = importlib.util.find_spec("flash_attn") is not None and torch.cuda.is_available()
BACKENDS = [
    "eager",
    "sdpa",
    pytest.param(
        "flash_attention_2",
        marks=pytest.mark.skipif(not _flash, reason="flash-attn not installed or no CUDA"),
    ),
]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("drama")
    template = fx.make_drama_checkpoint(root / "template", template=True)
    plain = fx.copy_with_tokenizer(template, root / "plain", template=False)
    return {"template": template, "plain": plain}


def drama(path: Path, impl: str = "sdpa", **kw) -> DramaEncoder:
    spec = resolve_model(str(path), model_type="drama")
    spec = replace(spec, extra={**spec.extra, "attn_implementation": impl})
    if impl == "flash_attention_2":
        kw = {"device": "cuda", "dtype": "bfloat16", **kw}
    enc = load_encoder(spec, device=kw.pop("device", "cpu"), dtype=kw.pop("dtype", "float32"))
    assert isinstance(enc, DramaEncoder)
    return enc


def max_diff(a: np.ndarray, b: np.ndarray | torch.Tensor) -> float:
    return float(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)).max())


@pytest.mark.parametrize("impl", BACKENDS)
@pytest.mark.parametrize("variant", ["template", "plain"])
def test_matches_independent_reference(ckpt: dict[str, Path], variant: str, impl: str) -> None:
    """Queries and documents, full dim and a Matryoshka dim, padded batches of texts of very
    different lengths in ten scripts: evalkit == the plain-torch reference to 1e-5."""
    path = ckpt[variant]
    enc = drama(path, impl)
    tol = TOL if impl != "flash_attention_2" else 3e-2  # flash-attention runs in bfloat16
    lengths = [len(x) for x in enc._token_ids(fx.TEXTS, 512)]
    assert max(lengths) > 10 * min(lengths)  # the batches really are padded
    for dim in (None, MRL_DIM):
        got_q = enc.encode_queries(fx.TEXTS, dim=dim, batch_size=4, force_dim=True)
        got_d = enc.encode_documents(fx.TEXTS, dim=dim, batch_size=4, force_dim=True)
        ref_q = fx.reference_embeddings(path, fx.TEXTS, prefix="Query: ", dim=dim)
        ref_d = fx.reference_embeddings(path, fx.TEXTS, dim=dim)
        assert got_q.dtype == np.float32 and got_q.shape == (len(fx.TEXTS), dim or HIDDEN)
        assert max_diff(got_q, ref_q) < tol
        assert max_diff(got_d, ref_d) < tol


def test_causal_attention_fails_the_same_comparison(ckpt: dict[str, Path]) -> None:
    """The comparison above discriminates: a causal reference differs from the bidirectional
    one (and from evalkit) by far more than the tolerance."""
    path = ckpt["template"]
    bidirectional = fx.reference_embeddings(path, fx.TEXTS)
    causal = fx.reference_embeddings(path, fx.TEXTS, causal=True)
    assert max_diff(bidirectional, causal) > 1000 * TOL
    got = drama(path, "sdpa").encode_documents(fx.TEXTS, batch_size=4)
    assert max_diff(got, causal) > 1000 * TOL


@pytest.mark.parametrize("impl", BACKENDS)
def test_batch_equals_one_by_one(ckpt: dict[str, Path], impl: str) -> None:
    enc = drama(ckpt["template"], impl)
    tol = TOL if impl != "flash_attention_2" else 3e-2
    batch = enc.encode_documents(fx.TEXTS, batch_size=len(fx.TEXTS))
    alone = np.vstack([enc.encode_documents([t], batch_size=1) for t in fx.TEXTS])
    assert max_diff(batch, alone) < tol
    queries = enc.encode_queries(fx.TEXTS, batch_size=3)
    queries_alone = np.vstack([enc.encode_queries([t]) for t in fx.TEXTS])
    assert max_diff(queries, queries_alone) < tol


def test_tokenizers_with_and_without_template_give_identical_ids(ckpt: dict[str, Path]) -> None:
    with_t, without_t = drama(ckpt["template"]), drama(ckpt["plain"])
    # The two tokenizers really differ in what they add on their own ...
    assert with_t.tokenizer("hello")["input_ids"][0] == fx.BOS_ID
    assert without_t.tokenizer("hello")["input_ids"][0] != fx.BOS_ID
    # ... and evalkit's ids do not depend on it: exactly one BOS first and one EOS last.
    texts = ["Query: " + t for t in fx.TEXTS]
    ids_t, ids_p = with_t._token_ids(texts, 512), without_t._token_ids(texts, 512)
    assert ids_t == ids_p == fx.reference_token_ids(ckpt["plain"], texts)
    for ids in ids_t:
        assert ids[0] == fx.BOS_ID and ids[-1] == fx.EOS_ID
        assert ids.count(fx.BOS_ID) == 1 and ids.count(fx.EOS_ID) == 1
    np.testing.assert_array_equal(
        with_t.encode_queries(fx.TEXTS), without_t.encode_queries(fx.TEXTS)
    )


def test_truncation_keeps_bos_and_eos(ckpt: dict[str, Path]) -> None:
    enc = drama(ckpt["template"])
    ids = enc._token_ids([fx.TEXTS[3]], 10)[0]
    assert len(ids) == 10 and ids[0] == fx.BOS_ID and ids[-1] == fx.EOS_ID
    full = enc._token_ids([fx.TEXTS[3]], 4096)[0]
    assert ids[1:-1] == full[1:9]
    short = enc.encode_documents([fx.TEXTS[3]], max_length=10)  # a per-call limit
    assert max_diff(short, enc.encode_documents([fx.TEXTS[3]], max_length=4096)) > 1e-3


def test_matryoshka_cut_and_invalid_dims(ckpt: dict[str, Path]) -> None:
    enc = drama(ckpt["template"])
    full = enc.encode_queries(fx.TEXTS)
    cut = enc.encode_queries(fx.TEXTS, dim=MRL_DIM, force_dim=True)
    expected = full[:, :MRL_DIM] / np.linalg.norm(full[:, :MRL_DIM], axis=1, keepdims=True)
    assert max_diff(cut, expected) < 1e-6
    np.testing.assert_allclose(np.linalg.norm(cut, axis=1), 1.0, atol=1e-6)
    for bad in (0, -1, HIDDEN + 1):
        with pytest.raises(EvalkitError, match=f"--dim {bad}"):
            enc.encode_documents(["x"], dim=bad, force_dim=True)
    # With registered Matryoshka dims only those (and the full dim) are accepted.
    enc.spec = replace(enc.spec, matryoshka_dims=(16, 32))
    with pytest.raises(EvalkitError, match="16, 32, 64"):
        enc.encode_queries(["x"], dim=24)
    assert enc.encode_queries(["x"], dim=32).shape == (1, 32)


def test_local_directory_loads_as_drama_without_remote_code(ckpt: dict[str, Path]) -> None:
    path = ckpt["template"]
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["auto_map"] and not list(path.glob("*.py"))  # remote code named, not shipped
    spec = resolve_model(str(path), model_type="drama")
    assert spec.kind == "drama"
    enc = load_encoder(spec, device="cpu")
    assert isinstance(enc, DramaEncoder)
    assert enc.spec.query_prefix == "Query: " and enc.spec.doc_prefix == ""
    assert enc.spec.dim == HIDDEN and enc.spec.normalize
    assert enc.dtype == torch.float32  # CPU default
    assert all(not m.is_causal for m in enc.model.modules() if hasattr(m, "is_causal"))
    assert enc.max_query_length == enc.max_doc_length == 8192  # DRAMA's max_seq_len


def test_drama_checkpoint_as_plain_transformers_is_refused(ckpt: dict[str, Path]) -> None:
    """Loading DRAMA weights as a plain (causal) Llama would give silently wrong scores."""
    with pytest.raises(ModelError, match="model-type drama"):
        load_encoder(resolve_model(str(ckpt["template"]), model_type="transformers"))


def test_bfloat16_on_request(ckpt: dict[str, Path]) -> None:
    enc = drama(ckpt["template"], dtype="bfloat16")
    assert enc.model.dtype == torch.bfloat16
    got = enc.encode_documents(fx.TEXTS)
    assert got.dtype == np.float32
    assert max_diff(got, fx.reference_embeddings(ckpt["template"], fx.TEXTS)) < 5e-2


def test_load_time_probe_catches_causal_attention(
    ckpt: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """If a transformers release ignored evalkit's settings, loading fails instead of
    producing wrong embeddings: simulate it by making attention causal again."""
    enc = drama(ckpt["template"], "sdpa")
    enc.verify_bidirectional()  # passes as loaded
    for m in enc.model.modules():
        if hasattr(m, "is_causal"):
            m.is_causal = True
    real = enc.padding_mask_4d

    def causal_mask(attention_mask: torch.Tensor) -> torch.Tensor:
        n = attention_mask.shape[1]
        return real(attention_mask) & torch.ones(n, n, dtype=torch.bool).tril()

    monkeypatch.setattr(enc, "padding_mask_4d", causal_mask)
    with pytest.raises(ModelError, match="causal"):
        enc.verify_bidirectional()
    assert (
        max_diff(
            enc.encode_documents(fx.TEXTS, batch_size=4),
            fx.reference_embeddings(ckpt["template"], fx.TEXTS),
        )
        > 1000 * TOL
    )


def test_wrong_checkpoints_are_refused(ckpt: dict[str, Path], tmp_path: Path) -> None:
    not_llama = tmp_path / "not_llama"
    shutil.copytree(ckpt["template"], not_llama)
    cfg = json.loads((not_llama / "config.json").read_text())
    (not_llama / "config.json").write_text(json.dumps({**cfg, "model_type": "mistral"}))
    with pytest.raises(ModelError, match="'mistral'"):
        drama(not_llama)

    missing = tmp_path / "missing_layers"
    shutil.copytree(ckpt["template"], missing)
    (missing / "config.json").write_text(json.dumps({**cfg, "num_hidden_layers": 3}))
    with pytest.raises(ModelError, match="lacks"):
        drama(missing)

    with pytest.raises(ModelError, match="attn_implementation"):
        drama(ckpt["template"], "flex_attention")

    # a weight the Llama model has no place for (a trained projection, say) would be dropped
    from safetensors.torch import load_file, save_file

    extra = tmp_path / "extra_weight"
    shutil.copytree(ckpt["template"], extra)
    weights = load_file(extra / "model.safetensors")
    weights["projection.weight"] = torch.ones(4, 4)
    save_file(weights, extra / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ModelError, match="does not use .*projection.weight"):
        drama(extra)


def test_catalog_has_the_three_drama_models() -> None:
    models = registered_models()
    for name in ("drama-base", "drama-large", "drama-1b"):
        spec = models[name]
        assert spec.kind == "drama" and spec.hf_id == f"facebook/{name}"
        assert max(spec.matryoshka_dims) < spec.dim
        assert spec.query_prefix == "Query: " and spec.doc_prefix == ""
        assert spec.doc_length_for("mldr") == 8192 and spec.doc_length_for("beir") == 512
        assert len(spec.languages) == 20
        assert spec.revision or spec.extra.get("revision_note")


def documented_dims(facts: str) -> dict[str, tuple[int, set[int]]]:
    """Per model, from drama.md: the full dimension (its table's "embedding dim (full)" row)
    and the documented Matryoshka cuts: ``dim=256`` of the model card's example (all three)
    and the paper's "DRAMA 1B, 768 dims" row."""
    row = re.search(r"^\| embedding dim \(full\) \|(.*)\|$", facts, flags=re.M)
    assert row, "drama.md has no 'embedding dim (full)' row"
    full = [int(x) for x in row.group(1).split("|")]
    names = ("drama-base", "drama-large", "drama-1b")
    sizes = {"0.1B": "drama-base", "0.3B": "drama-large", "1B": "drama-1b"}
    card_cut = {
        int(x) for x in re.findall(r"encode_queries\(tokenizer, queries, dim=(\d+)\)", facts)
    }
    out = {name: (dim, set(card_cut)) for name, dim in zip(names, full, strict=True)}
    for size, dim in re.findall(r"\*\*DRAMA (\S+), (\d+) dims\*\*", facts):
        out[sizes[size]][1].add(int(dim))
    return out


def catalog_dim_mismatches(facts: str) -> list[str]:
    models = registered_models()
    wrong = []
    for name, (full, cuts) in documented_dims(facts).items():
        spec = models[name]
        if spec.dim != full or set(spec.matryoshka_dims) != cuts:
            wrong.append(f"{name}: {spec.dim} {spec.matryoshka_dims} vs {full} {sorted(cuts)}")
    return wrong


def test_catalog_dims_are_the_documented_ones() -> None:
    """Full and Matryoshka dims as the reference notes document them (the README's rule: only
    documented cuts), read from ../shared/reference/drama.md, not from the catalog."""
    facts = peers.reference_text("drama.md")
    if facts is None:
        pytest.skip(f"{peers.REFERENCE}/drama.md is absent")
    dims = documented_dims(facts)
    assert dims["drama-1b"] == (2048, {256, 768}) and dims["drama-base"] == (768, {256})
    assert catalog_dim_mismatches(facts) == []
    # The check can fail: another documented cut, or another full size.
    assert catalog_dim_mismatches(facts.replace("DRAMA 1B, 768 dims", "DRAMA 1B, 512 dims"))
    assert catalog_dim_mismatches(facts.replace("| 768 | 1024 | 2048 |", "| 768 | 1024 | 4096 |"))
