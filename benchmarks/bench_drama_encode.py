"""Encode throughput of evalkit's DRAMA path vs sentence-transformers on the same checkpoint.

A random checkpoint of a real DRAMA shape (``--shape base``: 768 hidden, 12 layers, 12 heads,
3072 intermediate; ``--shape 1b``: 2048 / 16 / 32 heads / 8 kv heads / 8192; vocab 128,256)
is saved to a temporary directory with a byte-level BPE tokenizer trained on the synthetic
corpus (about one token per word, BOS/EOS added by a template, like DRAMA's tokenizer files).
The corpus is ``--docs`` synthetic documents of ``--min-words``..``--max-words`` words.

Paths timed on the same documents, after a warm-up:

* ``evalkit``: :class:`evalkit.models.drama.DramaEncoder` (bidirectional, own padding mask,
  length-sorted token-level batches);
* ``st-stock``: sentence-transformers ``Transformer`` + mean ``Pooling`` + ``Normalize`` from
  the same directory: what mteb or a user gets without DRAMA's remote code. The stock
  ``LlamaModel`` is *causal*, so its embeddings differ (reported as max |diff|);
* ``st-bidirectional``: the same ST model with attention made bidirectional the way
  transformers >= 5 allows (``config.is_causal = False`` and ``is_causal = False`` on every
  attention module): the like-for-like speed comparison, whose embeddings must match.

Reports docs/s, tokens/s (real tokens, BOS/EOS included), the ratio evalkit / ST and the max
absolute embedding difference. With ``--device cuda`` it also reports achieved TFLOP/s,
counting ``2 x non-embedding params x tokens`` plus attention (``4 x L^2 x hidden`` per layer
and text, full bidirectional attention) on real tokens only, and the fraction of
``--peak-tflops`` (default 989: H100 SXM bf16 dense).

    python benchmarks/bench_drama_encode.py                      # CPU, drama-base shape
    python benchmarks/bench_drama_encode.py --device cuda --shape 1b --docs 2000 --dtype bfloat16
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

SHAPES = {
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 num_key_value_heads=12, intermediate_size=3072, tie_word_embeddings=False),
    "1b": dict(hidden_size=2048, num_hidden_layers=16, num_attention_heads=32,
               num_key_value_heads=8, intermediate_size=8192, tie_word_embeddings=True),
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, intermediate_size=128, tie_word_embeddings=False),
}
VOCAB, BOS, EOS = 128256, "<|begin_of_text|>", "<|end_of_text|>"


def synthetic_corpus(n: int, min_words: int, max_words: int, seed: int) -> list[str]:
    """Zipf-distributed pseudo-words from a fixed lexicon, uniform lengths in words."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    lexicon = ["".join(rng.choice(letters, size=rng.integers(2, 10))) for _ in range(20000)]
    ranks = np.minimum(rng.zipf(1.2, size=n * max_words), len(lexicon)) - 1
    docs, pos = [], 0
    for length in rng.integers(min_words, max_words + 1, size=n):
        docs.append(" ".join(lexicon[i] for i in ranks[pos : pos + length]))
        pos += length
    return docs


def build_checkpoint(path: Path, shape: dict, corpus: list[str], seed: int) -> None:
    from tokenizers import AddedToken, Tokenizer, decoders, models, processors, trainers
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import LlamaConfig, LlamaModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=30000, initial_alphabet=ByteLevel.alphabet(), show_progress=False))
    # Place the specials at their Llama 3 ids: fill the gap with unused tokens.
    vocab = tok.get_vocab()
    filler = [f"<|filler_{i}|>" for i in range(len(vocab), 128000)]
    tok.add_tokens(filler)
    tok.add_special_tokens([AddedToken(BOS, special=True), AddedToken(EOS, special=True)])
    assert tok.token_to_id(BOS) == 128000 and tok.token_to_id(EOS) == 128001
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A {EOS}", special_tokens=[(BOS, 128000), (EOS, 128001)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS)
    fast.save_pretrained(str(path))
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=VOCAB, max_position_embeddings=131072, rms_norm_eps=1e-5,
                      bos_token_id=128000, eos_token_id=128001, rope_theta=500000.0,
                      rope_scaling={"rope_type": "llama3", "factor": 32.0,
                                    "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                    "original_max_position_embeddings": 8192}, **shape)
    LlamaModel(cfg).save_pretrained(str(path))


def count_flops(enc, docs: list[str], max_length: int) -> tuple[float, int]:
    """FLOPs of encoding ``docs`` and their real token count: ``2 x non-embedding params``
    per token plus full bidirectional attention (``4 x L^2 x hidden`` per layer and text),
    real tokens only (padding is not useful work)."""
    lengths = [len(x) for x in enc._token_ids(docs, max_length)]
    n_tokens = int(sum(lengths))
    cfg = enc.model.config
    non_emb = sum(p.numel() for n, p in enc.model.named_parameters()
                  if not n.startswith("embed_tokens"))
    flops = 2 * non_emb * n_tokens + sum(
        4 * L * L * cfg.hidden_size * cfg.num_hidden_layers for L in lengths)
    return float(flops), n_tokens


def sentence_transformer(path: Path, device: str, dtype: torch.dtype, max_length: int,
                         bidirectional: bool, attn: str):  # -> SentenceTransformer
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    word = Transformer(str(path), max_seq_length=max_length,
                       model_kwargs={"dtype": dtype, "attn_implementation": attn})
    word.tokenizer.pad_token = EOS  # Llama 3 has none; masked out either way
    word.tokenizer.padding_side = "right"
    if bidirectional:
        word.model.config.is_causal = False
        for m in word.model.modules():
            if hasattr(m, "is_causal"):
                m.is_causal = False
    pool = Pooling(word.get_embedding_dimension(), "mean")
    return SentenceTransformer(modules=[word, pool, Normalize()], device=device)


def timed(fn, warmup) -> tuple[np.ndarray, float]:
    fn(warmup)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t = time.perf_counter()
    out = fn(None)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--shape", choices=sorted(SHAPES), default="base")
    ap.add_argument("--dtype", default=None, help="default: float32 on CPU, bfloat16 on CUDA")
    ap.add_argument("--attn", default="sdpa", help="sdpa, eager or flash_attention_2")
    ap.add_argument("--docs", type=int, default=None,
                    help="default: 48 on CPU (a few minutes on 2 cores), 2000 on CUDA")
    ap.add_argument("--min-words", type=int, default=5)
    ap.add_argument("--max-words", type=int, default=500)
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--peak-tflops", type=float, default=989.0,
                    help="GPU peak for the utilisation figure (H100 SXM bf16 dense: 989)")
    ap.add_argument("--skip-st", action="store_true", help="only time evalkit")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from evalkit.models.base import ModelSpec
    from evalkit.models.drama import DramaEncoder

    if args.docs is None:
        args.docs = 2000 if args.device.startswith("cuda") else 48
    dtype_name = args.dtype or ("bfloat16" if args.device.startswith("cuda") else "float32")
    dtype = getattr(torch, dtype_name)
    docs = synthetic_corpus(args.docs, args.min_words, args.max_words, args.seed)
    warm = docs[: min(8, len(docs))]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"drama-{args.shape}-random"
        build_checkpoint(path, SHAPES[args.shape], docs, args.seed)
        spec = ModelSpec(name=path.name, kind="drama", hf_id=str(path),
                         extra={"attn_implementation": args.attn})
        enc = DramaEncoder(spec, device=args.device, dtype=dtype_name)
        enc.max_doc_length = args.max_length
        flops, n_tokens = count_flops(enc, docs, args.max_length)
        non_emb = sum(p.numel() for n, p in enc.model.named_parameters()
                      if not n.startswith("embed_tokens"))

        def run_evalkit(subset):
            return enc.encode_documents(subset or docs, batch_size=args.batch_size)

        rows = []
        ours, t_ours = timed(run_evalkit, warm)
        rows.append(("evalkit", t_ours, 0.0))
        if not args.skip_st:
            for bidir in (False, True):
                st = sentence_transformer(path, args.device, dtype, args.max_length, bidir,
                                          args.attn)

                def run_st(subset, st=st):
                    return st.encode(subset or docs, batch_size=args.batch_size,
                                     convert_to_numpy=True, show_progress_bar=False
                                     ).astype(np.float32)

                theirs, t_st = timed(run_st, warm)
                rows.append(("st-bidirectional" if bidir else "st-stock (causal)", t_st,
                             float(np.abs(theirs - ours).max())))
                del st
        print(f"shape {args.shape} ({non_emb / 1e6:.1f}M non-embedding params), device "
              f"{args.device}, {dtype_name}, attn {args.attn}, torch threads "
              f"{torch.get_num_threads()}")
        print(f"{len(docs)} docs, {args.min_words}..{args.max_words} words, {n_tokens} tokens "
              f"(max length {args.max_length}), batch size {args.batch_size}")
        print(f"{'path':<20}{'seconds':>10}{'docs/s':>10}{'tokens/s':>12}{'max|diff|':>12}")
        for name, secs, diff in rows:
            print(f"{name:<20}{secs:>10.2f}{len(docs) / secs:>10.1f}{n_tokens / secs:>12.0f}"
                  f"{diff:>12.2e}")
        figures = {"rows": [dict(zip(("path", "seconds", "max_abs_diff"), r)) for r in rows],
                   "docs": len(docs), "tokens": n_tokens, "shape": args.shape,
                   "device": args.device, "dtype": dtype_name, "attn": args.attn}
        for name, secs, _ in rows[1:]:
            print(f"evalkit speed / {name} speed: {secs / t_ours:.2f}x")
        if args.device.startswith("cuda"):
            tflops = flops / t_ours / 1e12
            print(f"evalkit achieved {tflops:.1f} TFLOP/s = {100 * tflops / args.peak_tflops:.1f}%"
                  f" of {args.peak_tflops:g} peak ({flops / 1e12:.1f} TFLOP counted)")
            figures.update(tflops=tflops, peak_fraction=tflops / args.peak_tflops)
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
