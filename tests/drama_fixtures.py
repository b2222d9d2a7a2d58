"""Tiny DRAMA-shaped checkpoints built offline, and an independent plain-torch reference.

A checkpoint here is what ``facebook/drama-*`` looks like on disk, only small: Llama weights
saved by ``LlamaModel.save_pretrained``, a ``config.json`` rewritten the way DRAMA's reads
(``architectures: DramaModel``, ``auto_map`` to remote code that is *not* shipped, legacy
``rope_theta`` / ``rope_scaling: llama3``), and a Llama-3-like byte-level BPE tokenizer with
128,256 ids where ``<|begin_of_text|>`` is 128000 and ``<|end_of_text|>`` 128001. One tokenizer
variant adds BOS/EOS with a ``TemplateProcessing`` post-processor (DRAMA's newer tokenizer
files); the other adds nothing (the older ones).

:func:`reference_embeddings` re-implements the Llama forward pass in plain torch from the
safetensors file and ``config.json`` (RMSNorm, llama3 RoPE, GQA, SwiGLU), tokenises with the
``tokenizers`` library directly, and runs a padded batch with an explicit 4-D float mask:
padding-only (bidirectional) or, to prove the tests discriminate, causal. It shares no code
with evalkit.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import torch

# Nothing here may reach the Hugging Face Hub (it is not reachable anyway).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

LLAMA3_VOCAB = 128256
BOS, EOS = "<|begin_of_text|>", "<|end_of_text|>"
BOS_ID, EOS_ID = 128000, 128001

TEXTS = [
    "What percentage of the Earth's atmosphere is oxygen?",
    "意大利首都是哪里？",
    "羅馬是欧洲国家意大利首都和罗马首都广域市的首府及意大利全国的政治、经济、文化和交通中心。",
    "Die Hauptstadt von Deutschland ist Berlin, eine Stadt mit langer Geschichte und vielen "
    "Museen, Parks und Brücken über die Spree.",
    "ok",
    "Москва — столица России.",
    "مرحبا بالعالم",
    "नमस्ते दुनिया, यह एक परीक्षण वाक्य है।",
    "東京は日本の首都です。",
    "La capitale de la France est Paris.",
]
"""Very different lengths (2 to ~130 bytes-tokens) and scripts, for padded batches."""

SMALL = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
)
"""Grouped-query attention like drama-1b (32 heads / 8 kv heads), scaled down."""


def llama3_like_tokenizer(template: bool):  # -> tokenizers.Tokenizer
    """Byte-level BPE over the 256-byte alphabet (every script encodes, no unknowns), padded to
    the Llama 3 vocabulary size so the special tokens sit at their real ids."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, processors
    from tokenizers.pre_tokenizers import ByteLevel

    vocab = {ch: i for i, ch in enumerate(sorted(ByteLevel.alphabet()))}
    for i in range(len(vocab), BOS_ID):
        vocab[f"<|filler_{i}|>"] = i
    vocab[BOS], vocab[EOS] = BOS_ID, EOS_ID
    for i in range(EOS_ID + 1, LLAMA3_VOCAB):
        vocab[f"<|reserved_special_token_{i - EOS_ID - 1}|>"] = i
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(BOS, special=True), AddedToken(EOS, special=True)])
    if template:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{BOS} $A {EOS}", special_tokens=[(BOS, BOS_ID), (EOS, EOS_ID)]
        )
    return tok


def save_tokenizer(path: Path, template: bool) -> None:
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_object=llama3_like_tokenizer(template), bos_token=BOS, eos_token=EOS
    )
    fast.save_pretrained(str(path))


def make_drama_checkpoint(
    path: Path,
    *,
    template: bool = True,
    seed: int = 0,
    initializer_range: float = 0.1,
    vocab_size: int = LLAMA3_VOCAB,
    **shape: int,
) -> Path:
    """Save a random DRAMA-shaped checkpoint (weights, DRAMA-style config, tokenizer)."""
    from transformers import LlamaConfig, LlamaModel

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=vocab_size,
        max_position_embeddings=131072,
        rms_norm_eps=1e-5,
        hidden_act="silu",
        tie_word_embeddings=False,
        initializer_range=initializer_range,
        bos_token_id=BOS_ID,
        eos_token_id=EOS_ID,
        rope_theta=500000.0,
        rope_scaling={
            "rope_type": "llama3",
            "factor": 32.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 8192,
        },
        **{**SMALL, **shape},
    )
    model = LlamaModel(cfg)
    # RMSNorm weights start at 1; perturb them so a norm bug cannot hide.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.add_(0.1 * torch.randn_like(p))
    model.save_pretrained(str(path))
    _drama_style_config(path / "config.json")
    save_tokenizer(path, template)
    return path


def copy_with_tokenizer(src: Path, dst: Path, template: bool) -> Path:
    """The same weights and config as ``src`` with the other tokenizer variant."""
    dst = Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("model.safetensors", "config.json"):
        shutil.copyfile(Path(src) / name, dst / name)
    save_tokenizer(dst, template)
    return dst


def write_beir_dir(
    path: Path, corpus: list[dict], queries: dict[str, str], qrels: dict[str, dict[str, int]]
) -> Path:
    """A BEIR-format folder: corpus.jsonl, queries.jsonl, qrels/test.tsv."""
    path = Path(path)
    (path / "qrels").mkdir(parents=True, exist_ok=True)
    with open(path / "corpus.jsonl", "w", encoding="utf-8") as f:
        for doc in corpus:
            f.write(json.dumps(doc, ensure_ascii=False) + "\n")
    with open(path / "queries.jsonl", "w", encoding="utf-8") as f:
        for qid, text in queries.items():
            f.write(json.dumps({"_id": qid, "text": text}, ensure_ascii=False) + "\n")
    with open(path / "qrels" / "test.tsv", "w", encoding="utf-8") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for qid, docs in qrels.items():
            for did, grade in docs.items():
                f.write(f"{qid}\t{did}\t{grade}\n")
    return path


def _drama_style_config(config_path: Path) -> None:
    """Rewrite config.json the way the published DRAMA configs read (legacy RoPE keys,
    remote-code auto_map, torch_dtype), so loading is tested against that shape."""
    cfg = json.loads(config_path.read_text())
    rope = cfg.pop("rope_parameters", None) or {}
    cfg["rope_theta"] = rope.pop("rope_theta", 500000.0)
    cfg["rope_scaling"] = rope
    cfg["architectures"] = ["DramaModel"]
    cfg["auto_map"] = {"AutoModel": "modeling_drama.DramaModel"}
    cfg["torch_dtype"] = cfg.pop("dtype", "float32")
    cfg["transformers_version"] = "4.48.0"
    config_path.write_text(json.dumps(cfg, indent=2))


# ---- the independent reference ---------------------------------------------------------------


def _rope_inv_freq(cfg: dict, head_dim: int) -> torch.Tensor:
    base = float(cfg["rope_theta"])
    inv = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    sc = cfg.get("rope_scaling") or {}
    if sc.get("rope_type", sc.get("type")) == "llama3":
        factor, low, high = sc["factor"], sc["low_freq_factor"], sc["high_freq_factor"]
        old = sc["original_max_position_embeddings"]
        wavelen = 2 * math.pi / inv
        low_wl, high_wl = old / low, old / high
        scaled = torch.where(wavelen > low_wl, inv / factor, inv)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = (wavelen >= high_wl) & (wavelen <= low_wl)
        inv = torch.where(medium, smoothed, scaled)
    return inv.to(torch.float32)


def _rms(x: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    a, b = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2 :]
    return torch.cat((-b, a), dim=-1)


def reference_token_ids(model_dir: Path, texts: list[str]) -> list[list[int]]:
    """BOS + text + EOS using the ``tokenizers`` library alone: the post-processor's own
    output when the file has the template, else the ids added here."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
    out = []
    for t in texts:
        ids = tok.encode(t).ids  # add_special_tokens=True: the template, if any, applies
        if not ids or ids[0] != tok.token_to_id(BOS):
            ids = [tok.token_to_id(BOS), *ids, tok.token_to_id(EOS)]
        out.append(ids)
    return out


@torch.no_grad()
def reference_embeddings(
    model_dir: Path,
    texts: list[str],
    *,
    prefix: str = "",
    dim: int | None = None,
    causal: bool = False,
) -> torch.Tensor:
    """Unit-length DRAMA embeddings computed from scratch, float64 for a clean reference."""
    from safetensors.torch import load_file

    model_dir = Path(model_dir)
    cfg = json.loads((model_dir / "config.json").read_text())
    w = {
        k.removeprefix("model."): v.to(torch.float64)
        for k, v in load_file(str(model_dir / "model.safetensors")).items()
    }
    n_heads, n_kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or cfg["hidden_size"] // n_heads
    eps = cfg["rms_norm_eps"]

    ids = reference_token_ids(model_dir, [prefix + t for t in texts])
    b, length = len(ids), max(len(x) for x in ids)
    input_ids = torch.zeros((b, length), dtype=torch.long)
    real = torch.zeros((b, length), dtype=torch.bool)
    for i, x in enumerate(ids):
        input_ids[i, : len(x)] = torch.tensor(x)
        real[i, : len(x)] = True
    # Explicit 4-D float mask: key j visible to query i iff j is a real token (and j <= i if
    # causal). Padded query rows are computed but never pooled.
    allowed = real[:, None, None, :].expand(b, 1, length, length)
    if causal:
        allowed = allowed & torch.ones(length, length, dtype=torch.bool).tril()
    mask = torch.zeros((b, 1, length, length), dtype=torch.float64)
    mask = mask.masked_fill(~allowed, float("-inf"))

    inv = _rope_inv_freq(cfg, hd).to(torch.float64)
    freqs = torch.arange(length, dtype=torch.float64)[:, None] * inv[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[None, None], emb.sin()[None, None]

    x = w["embed_tokens.weight"][input_ids]
    for layer in range(cfg["num_hidden_layers"]):
        p = f"layers.{layer}."
        h = _rms(x, w[p + "input_layernorm.weight"], eps)
        q = (h @ w[p + "self_attn.q_proj.weight"].T).view(b, length, n_heads, hd).transpose(1, 2)
        k = (h @ w[p + "self_attn.k_proj.weight"].T).view(b, length, n_kv, hd).transpose(1, 2)
        v = (h @ w[p + "self_attn.v_proj.weight"].T).view(b, length, n_kv, hd).transpose(1, 2)
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
        k = k.repeat_interleave(n_heads // n_kv, dim=1)
        v = v.repeat_interleave(n_heads // n_kv, dim=1)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + mask, dim=-1)
        o = (att @ v).transpose(1, 2).reshape(b, length, n_heads * hd)
        x = x + o @ w[p + "self_attn.o_proj.weight"].T
        h = _rms(x, w[p + "post_attention_layernorm.weight"], eps)
        gate = torch.nn.functional.silu(h @ w[p + "mlp.gate_proj.weight"].T)
        x = x + (gate * (h @ w[p + "mlp.up_proj.weight"].T)) @ w[p + "mlp.down_proj.weight"].T
    x = _rms(x, w["norm.weight"], eps)

    m = real.to(torch.float64).unsqueeze(-1)
    pooled = (x * m).sum(1) / m.sum(1)
    if dim is not None:
        pooled = pooled[:, :dim]
    return torch.nn.functional.normalize(pooled, dim=-1)
