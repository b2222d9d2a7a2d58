"""Plain ``transformers`` encoders: AutoTokenizer + AutoModel, mean pooling, L2 norm.

:class:`TransformerEncoder` owns the batching machinery every hand-run encoder shares:
tokenise once, sort by token length (longest first), cut into batches (by count and,
optionally, by a token budget), pad each batch only to its own longest text, run the model
under ``torch.inference_mode``, pool, and put rows back in input order. Subclasses change
three hooks: :meth:`_load_model`, :meth:`_token_ids` (how a text becomes ids) and
:meth:`_forward` (how a padded batch runs). :class:`evalkit.models.drama.DramaEncoder` is one.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from evalkit.errors import ModelError
from evalkit.models.base import ModelSpec, as_doc_texts, resolved_revision, truncate_dim
from evalkit.models.sentence_transformer import default_device, torch_dtype

# Tokenizers without a real limit report 1e30 as model_max_length.
_NO_LIMIT = 1_000_000
_FALLBACK_MAX_LENGTH = 512


def _one_line(e: BaseException) -> str:
    first = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
    return f"{type(e).__name__}: {first}" if first else type(e).__name__


class TransformerEncoder:
    """:class:`evalkit.models.base.Encoder` over a plain ``transformers`` model.

    Mean pooling over non-padding tokens, L2 normalisation when ``spec.normalize``,
    ``spec.query_prefix`` / ``spec.doc_prefix`` prepended to the text. ``max_query_length`` and
    ``max_doc_length`` are the defaults; a call's ``max_length`` overrides them."""

    default_cuda_dtype = "float32"

    def __init__(
        self,
        spec: ModelSpec,
        device: str | None = None,
        dtype: str | None = None,
        *,
        show_progress: bool = False,
        max_batch_tokens: int | None = None,
    ) -> None:
        self.device = default_device(device)
        self.dtype = torch_dtype(dtype, self.device, default_cuda=self.default_cuda_dtype)
        self.local_dir: str | None = spec.extra.get("local_dir")
        self.source: str | None = self.local_dir or spec.hf_id
        if not self.source:
            raise ModelError(f"--model {spec.name}: no Hugging Face id or local directory")
        # A local copy is whatever is on disk; a revision only pins Hub downloads.
        self.load_revision: str | None = None if self.local_dir else spec.revision
        self.tokenizer = self._load_tokenizer(spec)
        self.model = self._load_model(spec)
        self.model.eval()
        self.show_progress = show_progress
        self.max_batch_tokens = max_batch_tokens or default_max_batch_tokens(
            self.device, int(self.model.config.hidden_size)
        )
        """Cap on ``batch rows x padded length`` (keeps 8192-token batches in memory)."""
        self.own_max_length = self._own_max_length()
        self.length_limit: int = self.own_max_length
        """The longest input the model can take at all (its position embeddings)."""
        self.dim: int = int(self.model.config.hidden_size)
        if spec.dim is not None and spec.dim != self.dim:
            raise ModelError(
                f"--model {spec.name}: the registry says dim {spec.dim} but {self.source} has "
                f"hidden size {self.dim}"
            )
        self.spec = self._effective_spec(spec)
        self.max_query_length: int | None = self.spec.max_query_length or self.own_max_length
        self.max_doc_length: int | None = self.spec.max_doc_length or self.own_max_length
        self.revision: str | None = spec.revision or resolved_revision(
            self.source, self.model.config
        )
        self.default_batch_size = 32

    # ---- loading (hooks) -------------------------------------------------------------------

    def _load_tokenizer(self, spec: ModelSpec) -> Any:
        from transformers import AutoTokenizer

        try:
            return AutoTokenizer.from_pretrained(self.source, revision=self.load_revision)
        except Exception as e:
            raise ModelError(
                f"--model {spec.name}: cannot load the tokenizer of {self.source} ({_one_line(e)})"
            ) from None

    def _raw_config(self, spec: ModelSpec) -> dict[str, Any]:
        """The checkpoint's ``config.json`` as a dict, read without building a model class
        (so a config that names remote code is only read, never run)."""
        from transformers import PretrainedConfig

        try:
            raw, _ = PretrainedConfig.get_config_dict(self.source, revision=self.load_revision)
        except Exception as e:
            raise ModelError(
                f"--model {spec.name}: cannot load {self.source} ({_one_line(e)})"
            ) from None
        return raw

    def _load_model(self, spec: ModelSpec) -> Any:
        from transformers import AutoModel

        from evalkit.models.drama import is_drama_config

        raw = self._raw_config(spec)
        if is_drama_config(raw):
            # As a stock (causal) Llama it would load fine and score wrongly.
            raise ModelError(
                f"--model {spec.name}: {self.source} is a DRAMA checkpoint; load it with "
                "--model-type drama (bidirectional attention, 'Query: ' prefix)"
            )
        try:
            model = AutoModel.from_pretrained(
                self.source, revision=self.load_revision, **dtype_kwarg(self.dtype)
            )
        except Exception as e:
            raise ModelError(
                f"--model {spec.name}: cannot load {self.source} ({_one_line(e)})"
            ) from None
        return model.to(self.device)

    def _effective_spec(self, spec: ModelSpec) -> ModelSpec:
        """The spec as this encoder runs it (dim filled in from the checkpoint)."""
        return replace(spec, dim=self.dim)

    def _own_max_length(self) -> int:
        """The longest input the model takes when the spec sets no limit."""
        limits = []
        tok_max = getattr(self.tokenizer, "model_max_length", None)
        if isinstance(tok_max, int) and 0 < tok_max < _NO_LIMIT:
            limits.append(tok_max)
        pos = getattr(self.model.config, "max_position_embeddings", None)
        if isinstance(pos, int) and pos > 0:
            limits.append(pos)  # RoBERTa's 514 vs its tokenizer's 512: the smaller wins
        return min(limits) if limits else _FALLBACK_MAX_LENGTH

    # ---- tokenisation and forward (hooks) --------------------------------------------------

    def _token_ids(self, texts: list[str], max_length: int) -> list[list[int]]:
        """Token ids per text, special tokens included, at most ``max_length`` long."""
        enc = self.tokenizer(
            texts,
            add_special_tokens=True,
            truncation=True,
            max_length=max_length,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        return [list(ids) for ids in enc["input_ids"]]

    def _pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return int(pad) if pad is not None else 0

    def _forward(self, input_ids: Any, attention_mask: Any) -> Any:
        """Last hidden states ``(batch, length, hidden)`` of a right-padded batch."""
        return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    # ---- the shared machinery --------------------------------------------------------------

    def check_dim(self, dim: int | None) -> None:
        """Raise :class:`ModelError` unless ``dim`` is the full dim or a Matryoshka dim."""
        if dim is None or dim == self.dim:
            return
        allowed = sorted(set(self.spec.matryoshka_dims) | {self.dim})
        if self.spec.matryoshka_dims:
            if dim not in allowed:
                raise ModelError(
                    f"--dim {dim}: {self.spec.name} supports "
                    f"{', '.join(map(str, allowed))} (its Matryoshka dims and full dim)"
                )
        elif not 1 <= dim <= self.dim:
            raise ModelError(
                f"--dim {dim}: {self.spec.name} has {self.dim} dims; use 1..{self.dim}"
            )

    def batches(
        self, lengths: Sequence[int], batch_size: int, max_tokens: int | None = None
    ) -> Iterator[np.ndarray]:
        """Indices of each batch, longest texts first; a batch holds at most ``batch_size``
        texts and at most ``max_tokens`` padded tokens (rows x its longest text), so 20-token
        queries and 8192-token documents both fill the device without running out of it."""
        budget = max_tokens if max_tokens is not None else self.max_batch_tokens
        order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
        start = 0
        while start < len(order):
            longest = int(lengths[order[start]])
            n = batch_size
            if budget:
                n = max(1, min(n, budget // max(longest, 1)))
            yield order[start : start + n]
            start += n

    def encode_texts(
        self,
        texts: Sequence[str],
        max_length: int | None,
        dim: int | None = None,
        batch_size: int | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """Embeddings of already-prefixed texts, float32, rows in input order.

        ``progress(n_texts, n_tokens)`` is called after each batch. A CUDA out-of-memory
        error halves the batch (and the token budget for the rest of the call) and retries;
        no text is ever dropped."""
        import torch

        self.check_dim(dim)
        if batch_size is not None and batch_size < 1:
            raise ModelError(f"--batch-size {batch_size}: must be at least 1")
        texts = list(texts)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return truncate_dim(out, dim, self.dim, self.spec.normalize)
        ids = self._token_ids(texts, int(max_length or self.own_max_length))
        lengths = [len(x) for x in ids]
        pending = list(self.batches(lengths, batch_size or self.default_batch_size))
        bar = None
        if self.show_progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(texts), desc="encode", unit="text")
        with torch.inference_mode():
            while pending:
                idx = pending.pop(0)
                try:
                    out[idx] = self._run_batch(ids, lengths, idx)
                except torch.OutOfMemoryError:
                    if len(idx) == 1:
                        raise ModelError(
                            f"--model {self.spec.name}: one text of {lengths[idx[0]]} tokens "
                            f"does not fit on {self.device}; lower --max-length"
                        ) from None
                    if self.device.startswith("cuda"):
                        torch.cuda.empty_cache()
                    half = len(idx) // 2
                    pending[:0] = [idx[:half], idx[half:]]
                    self._oom_notice(len(idx))
                    continue
                n_tokens = int(sum(lengths[i] for i in idx))
                if progress is not None:
                    progress(len(idx), n_tokens)
                if bar is not None:
                    bar.update(len(idx))
        if bar is not None:
            bar.close()
        return truncate_dim(out, dim, self.dim, self.spec.normalize)

    def _run_batch(self, ids: list[list[int]], lengths: list[int], idx: np.ndarray) -> Any:
        """Pooled embeddings of one right-padded batch, as numpy."""
        import torch

        width = max(lengths[i] for i in idx)
        input_ids = torch.full((len(idx), width), self._pad_id(), dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for row, i in enumerate(idx):
            # Right padding: real tokens keep positions 0..n-1, as when encoded alone.
            input_ids[row, : lengths[i]] = torch.tensor(ids[i], dtype=torch.long)
            mask[row, : lengths[i]] = 1
        input_ids = input_ids.to(self.device)
        mask = mask.to(self.device)
        hidden = self._forward(input_ids, mask)
        return self._pool(hidden, mask).cpu().numpy()

    def _oom_notice(self, rows: int) -> None:
        if not getattr(self, "_oom_told", False):
            self._oom_told = True
            sys.stderr.write(
                f"evalkit: out of memory on {self.device} with a batch of {rows} texts; "
                "halving batches and retrying (lower --max-batch-tokens to avoid this)\n"
            )

    def _pool(self, hidden: Any, mask: Any) -> Any:
        """Mean over non-padding tokens (in float32), then L2 norm when the spec says so."""
        import torch

        m = mask.to(torch.float32).unsqueeze(-1)
        summed = (hidden.to(torch.float32) * m).sum(dim=1)
        pooled = summed / m.sum(dim=1).clamp(min=1.0)
        if self.spec.normalize:
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=-1)
        return pooled

    # ---- the Encoder protocol --------------------------------------------------------------

    def encode_queries(
        self,
        texts: Sequence[str],
        dim: int | None = None,
        batch_size: int | None = None,
        *,
        max_length: int | None = None,
    ) -> np.ndarray:
        prefix = self.spec.query_prefix
        return self.encode_texts(
            [prefix + t for t in texts], max_length or self.max_query_length, dim, batch_size
        )

    def encode_documents(
        self,
        texts_or_dicts: Sequence[str] | Sequence[dict[str, str]],
        dim: int | None = None,
        batch_size: int | None = None,
        *,
        max_length: int | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        prefix = self.spec.doc_prefix
        return self.encode_texts(
            [prefix + t for t in as_doc_texts(texts_or_dicts)],
            max_length or self.max_doc_length,
            dim,
            batch_size,
            progress,
        )


def default_max_batch_tokens(device: str, hidden_size: int) -> int:
    """A token budget that suits the device: on CPU, batches past ~16k tokens gain nothing;
    on a GPU, a quarter of its memory at ~24 bytes a token per hidden unit (activations of a
    bf16 transformer layer at a time), at most 256k tokens."""
    if not device.startswith("cuda"):
        return 16384
    import torch

    total = torch.cuda.get_device_properties(torch.device(device)).total_memory
    return int(max(8192, min(262144, total // 4 // (24 * hidden_size))))


def dtype_kwarg(dtype: Any) -> dict[str, Any]:
    """``from_pretrained`` takes ``dtype`` since transformers 4.56 (``torch_dtype`` before)."""
    import transformers
    from packaging.version import Version

    if Version(transformers.__version__).release >= (4, 56):
        return {"dtype": dtype}
    return {"torch_dtype": dtype}
