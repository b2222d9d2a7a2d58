"""DRAMA (facebook/drama-base|large|1b) without remote code, bidirectional on any transformers.

The checkpoints are Llama weights (``model_type: llama``) whose published ``modeling_drama.py``
makes attention bidirectional by overriding ``LlamaModel._update_causal_mask``. transformers
stopped calling that method in 4.53, so padded batches silently ran causally (dpr-scale issue
#20). evalkit never runs that code. It loads the weights into the stock ``LlamaModel`` and makes
attention bidirectional itself, in three independent ways:

* every attention module gets ``is_causal = False`` (what SDPA and flash-attention consult
  when no mask is passed);
* each padded batch gets evalkit's own **padding-only 4-D mask** (eager, SDPA), which
  transformers passes through untouched; flash-attention gets the 2-D padding mask, from which
  it unpads (it cannot take a 4-D mask);
* ``config.is_causal = False``, which newer transformers read to build a bidirectional mask
  should any path still build one.

A load-time probe then checks the result on the installed transformers and the chosen backend
(:meth:`DramaEncoder.verify_bidirectional`) and refuses to run if attention is not
bidirectional or padding leaks into real tokens.

Tokens: ``<|begin_of_text|>`` + text + ``<|end_of_text|>`` (ids 128000 / 128001 in the Llama 3
vocabulary), exactly once each, built by evalkit from the tokenizer's plain ids
(``add_special_tokens=False``) so it does not matter whether the tokenizer's post-processor adds
them. Texts are cut to ``max_length - 2`` content tokens. Queries get ``"Query: "``; documents
no prefix. Pooling: mean over every non-padding token (BOS, EOS and prefix included), then L2.

Padding: right side, so real tokens keep positions 0..n-1 exactly as when encoded alone. The
Llama 3 tokenizer has no pad token and evalkit does not add one: padded positions hold the EOS
id (the tokenizer's pad id if it has one); they are masked out of attention and pooling, so
the value never reaches an embedding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from evalkit.errors import ModelError
from evalkit.models.base import ModelSpec, TokenIds
from evalkit.models.transformer import TransformerEncoder, _one_line, dtype_kwarg
from evalkit.models.weights import check_loading_info

QUERY_PREFIX = "Query: "
BOS_TOKEN = "<|begin_of_text|>"
EOS_TOKEN = "<|end_of_text|>"
MAX_SEQ_LEN = 8192
"""``max_seq_len`` in the DRAMA model code: the longest input the models were run with."""
ATTN_IMPLEMENTATIONS = ("sdpa", "eager", "flash_attention_2")

_PROBE_LONG = "The quick brown fox jumps over the lazy dog near the river bank"
_PROBE_SHORT = "The quick brown fox"


class DramaEncoder(TransformerEncoder):
    """A DRAMA checkpoint as an :class:`evalkit.models.base.Encoder` (bidirectional Llama).

    ``dtype``: float32 on CPU and bfloat16 on CUDA unless given (``"float32"``,
    ``"bfloat16"``, ``"float16"``). ``attn_implementation``: ``sdpa`` (default), ``eager`` or
    ``flash_attention_2`` (needs the flash-attn package and CUDA); also read from
    ``spec.extra["attn_implementation"]``."""

    default_cuda_dtype = "bfloat16"

    def __init__(
        self,
        spec: ModelSpec,
        device: str | None = None,
        dtype: str | None = None,
        *,
        attn_implementation: str | None = None,
        show_progress: bool = False,
        max_batch_tokens: int | None = None,
        verify: bool = True,
        packed: bool | None = None,
    ) -> None:
        impl = attn_implementation or spec.extra.get("attn_implementation") or "sdpa"
        if impl not in ATTN_IMPLEMENTATIONS:
            raise ModelError(
                f"attn_implementation {impl!r}: expected one of {', '.join(ATTN_IMPLEMENTATIONS)}"
            )
        self.attn_implementation = impl
        # Padding-free batches: on by default where the backend skips the masked-out work
        # (flash-attention's variable-length kernel); on request for the others, whose
        # block-diagonal mask gives the same numbers and proves the packing on any machine.
        self.packed = (impl == "flash_attention_2") if packed is None else packed
        super().__init__(
            spec, device, dtype, show_progress=show_progress, max_batch_tokens=max_batch_tokens
        )
        vocab = self.tokenizer.get_vocab()
        self.bos_id = _special_id(vocab, BOS_TOKEN, self.tokenizer.bos_token_id, "BOS", spec)
        self.eos_id = _special_id(vocab, EOS_TOKEN, self.tokenizer.eos_token_id, "EOS", spec)
        self.default_batch_size = 16
        if verify:
            self.verify_bidirectional()

    # ---- loading ---------------------------------------------------------------------------

    def _load_model(self, spec: ModelSpec) -> Any:
        from transformers import LlamaConfig, LlamaModel

        raw = self._raw_config(spec)
        if raw.get("model_type") != "llama":
            raise ModelError(
                f"--model {spec.name}: {self.source} is model_type "
                f"{raw.get('model_type')!r}; DRAMA checkpoints are 'llama'"
            )
        try:
            # LlamaConfig/LlamaModel directly: the checkpoint's auto_map (remote code) is ignored.
            config = LlamaConfig.from_pretrained(self.source, revision=self.load_revision)
            config.is_causal = False
            model, info = LlamaModel.from_pretrained(
                self.source,
                config=config,
                revision=self.load_revision,
                attn_implementation=self.attn_implementation,
                output_loading_info=True,
                **dtype_kwarg(self.dtype),
            )
        except Exception as e:
            raise ModelError(
                f"--model {spec.name}: cannot load {self.source} with attn_implementation="
                f"{self.attn_implementation} ({_one_line(e)})"
            ) from None
        # Random (missing) or dropped (unexpected) weights would still "work" and give
        # meaningless scores: the same check as every other loader.
        check_loading_info(spec.name, str(self.source), info)
        n = 0
        for module in model.modules():
            if hasattr(module, "is_causal"):
                module.is_causal = False
                n += 1
        if n != config.num_hidden_layers:
            raise ModelError(
                f"--model {spec.name}: found {n} attention modules with is_causal for "
                f"{config.num_hidden_layers} layers; this transformers version is not supported"
            )
        return model.to(self.device)

    def _effective_spec(self, spec: ModelSpec) -> ModelSpec:
        # A local directory resolved with model_type="drama" carries no DRAMA defaults; the
        # prefix, pooling and normalisation are part of the model, so fill them in.
        return replace(
            spec,
            dim=self.dim,
            query_prefix=spec.query_prefix or QUERY_PREFIX,
            doc_prefix=spec.doc_prefix,
            pooling="mean",
            normalize=True,
            similarity="cosine",
        )

    def _own_max_length(self) -> int:
        pos = getattr(self.model.config, "max_position_embeddings", None) or MAX_SEQ_LEN
        return min(MAX_SEQ_LEN, int(pos))

    # ---- tokens and forward ----------------------------------------------------------------

    def _token_ids(self, texts: list[str], max_length: int) -> list[list[int]]:
        if max_length < 3:
            raise ModelError(f"max length {max_length}: DRAMA needs at least 3 tokens (BOS, EOS)")
        enc = self.tokenizer(
            texts,
            add_special_tokens=False,
            truncation=True,
            max_length=max_length - 2,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        out = []
        for ids in enc["input_ids"]:
            ids = list(ids)
            # Old Llama tokenizer classes may add BOS even without special tokens requested.
            if ids and ids[0] == self.bos_id:
                ids = ids[1:]
            if ids and ids[-1] == self.eos_id:
                ids = ids[:-1]
            out.append([self.bos_id, *ids, self.eos_id])
        return out

    def _pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return int(pad) if pad is not None else self.eos_id

    def _forward(self, input_ids: Any, attention_mask: Any) -> Any:
        import torch

        batch, length = input_ids.shape
        position_ids = torch.arange(length, device=input_ids.device).unsqueeze(0).expand(batch, -1)
        padded = not bool(attention_mask.all())
        if not padded:
            mask = None  # every module has is_causal=False: full attention
        elif self.attn_implementation == "flash_attention_2":
            mask = attention_mask  # 2-D: flash-attention unpads by it
        else:
            mask = self.padding_mask_4d(attention_mask)
        out = self.model(
            input_ids=input_ids, attention_mask=mask, position_ids=position_ids, use_cache=False
        )
        return out.last_hidden_state

    def _run_batch(self, ids: TokenIds, lengths: np.ndarray, idx: Any) -> Any:
        if not self.packed:
            return super()._run_batch(ids, lengths, idx)
        return (
            self._pool_packed(
                self._forward_packed([ids[i] for i in idx]), [int(lengths[i]) for i in idx]
            )
            .cpu()
            .numpy()
        )

    def _forward_packed(self, seqs: Sequence[Sequence[int] | np.ndarray]) -> Any:
        """Hidden states ``(total_tokens, hidden)`` of texts packed end to end in one row,
        positions restarting at 0 for each text: no token of padding is computed.
        flash-attention gets no mask and finds the texts from the position ids (its
        variable-length kernel, bidirectional since ``is_causal`` is off); eager and SDPA get
        a block-diagonal mask, so every text attends to all of itself and nothing else."""
        import torch

        flat = torch.from_numpy(np.concatenate([np.asarray(s, dtype=np.int64) for s in seqs])).to(
            self.device
        )
        pos = torch.cat([torch.arange(len(s)) for s in seqs]).to(self.device)
        seg = torch.repeat_interleave(
            torch.arange(len(seqs)), torch.tensor([len(s) for s in seqs])
        ).to(self.device)
        if self.attn_implementation == "flash_attention_2":
            mask = None
        else:
            keep = (seg[:, None] == seg[None, :])[None, None]
            if self.attn_implementation == "sdpa":
                mask = keep
            else:
                dtype = self.model.dtype
                mask = torch.zeros(keep.shape, dtype=dtype, device=keep.device)
                mask = mask.masked_fill(~keep, torch.finfo(dtype).min)
        out = self.model(
            input_ids=flat[None], attention_mask=mask, position_ids=pos[None], use_cache=False
        )
        return out.last_hidden_state[0]

    def _pool_packed(self, hidden: Any, lengths: list[int]) -> Any:
        """Mean over each text's tokens (float32), then L2: the padded path's pooling."""
        import torch

        seg = torch.repeat_interleave(torch.arange(len(lengths)), torch.tensor(lengths)).to(
            hidden.device
        )
        sums = torch.zeros(
            (len(lengths), hidden.shape[-1]), dtype=torch.float32, device=hidden.device
        )
        sums.index_add_(0, seg, hidden.to(torch.float32))
        pooled = sums / torch.tensor(lengths, dtype=torch.float32, device=hidden.device)[:, None]
        return torch.nn.functional.normalize(pooled, p=2, dim=-1)

    def padding_mask_4d(self, attention_mask: Any) -> Any:
        """``(batch, 1, 1, length)``: every token may attend to every real token of its own
        text, none to padding. Boolean for SDPA (True = attend), additive float for eager."""
        import torch

        keep = attention_mask.to(torch.bool)[:, None, None, :]
        if self.attn_implementation == "sdpa":
            return keep
        dtype = self.model.dtype
        mask = torch.zeros(keep.shape, dtype=dtype, device=keep.device)
        return mask.masked_fill(~keep, torch.finfo(dtype).min)

    # ---- self-check ------------------------------------------------------------------------

    def verify_bidirectional(self) -> None:
        """Probe the loaded model: the first token's state must depend on a later token (in
        an unpadded and in a padded batch), padding must not reach real tokens, and a text in
        a padded batch must embed as it does alone. Raises :class:`ModelError` otherwise."""
        import torch

        half = self.model.dtype != torch.float32
        tol = 2e-2 if half else 1e-4
        long_ids, short_ids = self._token_ids([_PROBE_LONG, _PROBE_SHORT], 64)
        other = long_ids[1] if long_ids[1] != short_ids[-2] else long_ids[2]
        changed = [*short_ids[:-2], other, short_ids[-1]]
        n = len(short_ids)

        def run(rows: list[list[int]], pad: int) -> tuple[Any, Any]:
            width = max(len(r) for r in rows)
            ids = torch.full((len(rows), width), pad, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for i, r in enumerate(rows):
                ids[i, : len(r)] = torch.tensor(r)
                mask[i, : len(r)] = 1
            ids, mask = ids.to(self.device), mask.to(self.device)
            with torch.inference_mode():
                hidden = self._forward(ids, mask)
                return hidden.float(), self._pool(hidden, mask).float()

        where = (
            f"transformers {_transformers_version()}, attn_implementation="
            f"{self.attn_implementation}, dtype {str(self.model.dtype).replace('torch.', '')}"
        )
        h_alone, e_alone = run([short_ids], self._pad_id())
        h_changed, _ = run([changed], self._pad_id())
        h_batch, e_batch = run([short_ids, long_ids], self._pad_id())
        h_batch_changed, _ = run([changed, long_ids], self._pad_id())
        alt_pad = self.bos_id if self._pad_id() != self.bos_id else self.eos_id
        h_other_pad, _ = run([short_ids, long_ids], alt_pad)
        if torch.equal(h_alone[0, 0], h_changed[0, 0]) or torch.equal(
            h_batch[0, 0], h_batch_changed[0, 0]
        ):
            raise ModelError(
                f"--model {self.spec.name}: attention is causal, not bidirectional ({where}); "
                "refusing to produce wrong DRAMA embeddings"
            )
        if (h_batch[0, :n] - h_other_pad[0, :n]).abs().max().item() > tol:
            raise ModelError(f"--model {self.spec.name}: padding leaks into real tokens ({where})")
        if (e_batch[0] - e_alone[0]).abs().max().item() > tol:
            raise ModelError(
                f"--model {self.spec.name}: a text embeds differently in a padded batch than "
                f"alone ({where})"
            )
        if self.packed:
            # The packed path must keep texts apart (a backend that ignored the packing
            # would let tokens attend across texts) and stay bidirectional within each.
            with torch.inference_mode():
                h_packed = self._forward_packed([short_ids, long_ids]).float()
                h_packed_changed = self._forward_packed([changed, long_ids]).float()
                e_packed = self._pool_packed(h_packed, [n, len(long_ids)])
                e_packed_changed = self._pool_packed(h_packed_changed, [n, len(long_ids)])
            if (e_packed[0] - e_alone[0]).abs().max().item() > tol:
                raise ModelError(
                    f"--model {self.spec.name}: packed texts leak into each other ({where})"
                )
            if torch.equal(h_packed[0], h_packed_changed[0]) or (
                (e_packed[1] - e_packed_changed[1]).abs().max().item() > tol
            ):
                raise ModelError(
                    f"--model {self.spec.name}: packed attention is not per-text bidirectional "
                    f"({where})"
                )


def is_drama_config(config: dict[str, Any]) -> bool:
    """Whether a ``config.json`` is DRAMA's (its remote-code class names)."""
    arch = [str(a) for a in config.get("architectures") or []]
    auto = " ".join(str(v) for v in (config.get("auto_map") or {}).values())
    return any(a.startswith("Drama") for a in arch) or "modeling_drama" in auto


def _special_id(
    vocab: dict[str, int], token: str, fallback: int | None, what: str, spec: ModelSpec
) -> int:
    tid = vocab.get(token, fallback)
    if tid is None:
        raise ModelError(f"--model {spec.name}: the tokenizer has no {what} token ({token})")
    return int(tid)


def _transformers_version() -> str:
    import transformers

    return transformers.__version__
