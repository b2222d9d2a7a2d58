"""Plain ``transformers`` encoders: AutoTokenizer + AutoModel, the spec's pooling (CLS, mean
or last token; by default the checkpoint's own sentence-transformers ``Pooling`` config, else
mean), L2 normalisation for cosine similarity and none for dot product.

:class:`TransformerEncoder` owns the batching machinery every hand-run encoder shares:
tokenise once, sort by token length (longest first), cut into batches (by count and,
optionally, by a token budget), pad each batch only to its own longest text, run the model
under ``torch.inference_mode``, pool, and put rows back in input order. Subclasses change
three hooks: :meth:`_load_model`, :meth:`_token_ids` (how a text becomes ids) and
:meth:`_forward` (how a padded batch runs). :class:`evalkit.models.drama.DramaEncoder` is one.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from evalkit.errors import ModelError
from evalkit.models.base import (
    POOLINGS,
    ModelSpec,
    TokenIds,
    as_doc_texts,
    as_token_ids,
    check_trained_dim,
    pad_batch,
    resolved_revision,
    truncate_dim,
)
from evalkit.models.sentence_transformer import default_device, model_similarity, torch_dtype
from evalkit.models.weights import check_loading_info

TOKENIZE_SLICE_CHARS = 4_000_000
"""Texts are tokenised a slice of at most this many characters (or 4096 texts) at a time and
each slice's id lists become int32 at once, so the Python lists a tokenizer returns (~36 bytes
a token) never exist for more than one slice (~1M tokens) however long the shard."""
TOKENIZE_SLICE_TEXTS = 4096

# Tokenizers without a real limit report 1e30 as model_max_length.
_NO_LIMIT = 1_000_000
_FALLBACK_MAX_LENGTH = 512


def _one_line(e: BaseException) -> str:
    first = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
    return f"{type(e).__name__}: {first}" if first else type(e).__name__


class TransformerEncoder:
    """:class:`evalkit.models.base.Encoder` over a plain ``transformers`` model.

    Pooling as ``spec.pooling`` says (see :meth:`_effective_spec`; CLS, mean over non-padding
    tokens, or the last real token), L2 normalisation when ``spec.normalize``,
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
        # The commit transformers actually loaded first: a branch name would go stale.
        self.revision: str | None = (
            resolved_revision(self.source, self.model.config) or spec.revision
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
            model, info = AutoModel.from_pretrained(
                self.source,
                revision=self.load_revision,
                output_loading_info=True,
                **dtype_kwarg(self.dtype),
            )
        except Exception as e:
            raise ModelError(
                f"--model {spec.name}: cannot load {self.source} ({_one_line(e)})"
            ) from None
        check_loading_info(spec.name, str(self.source), info)  # random weights score nothing
        return model.to(self.device)

    def _effective_spec(self, spec: ModelSpec) -> ModelSpec:
        """The spec as this encoder runs it: dim from the checkpoint; pooling and similarity
        as the spec sets them (``--pooling`` / ``--similarity``, the registry), else as the
        checkpoint's sentence-transformers files say (run as plain transformers), else mean
        pooling and cosine. Cosine normalises; so does a ``Normalize`` module of the model."""
        layout = read_st_layout(str(self.source), self.load_revision, spec.name)
        pooling = spec.pooling or (layout.pooling() if layout else None) or "mean"
        if pooling not in POOLINGS:
            raise ModelError(
                f"--pooling {pooling!r} ({spec.name}): expected one of {', '.join(POOLINGS)}"
            )
        similarity = spec.similarity or (layout.similarity() if layout else None) or "cosine"
        normalize = similarity == "cosine" or bool(layout and layout.normalize)
        return replace(
            spec, dim=self.dim, pooling=pooling, similarity=similarity, normalize=normalize
        )

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

    def _token_array(self, texts: Sequence[str], max_length: int) -> TokenIds:
        """:meth:`_token_ids` of ``texts`` as flat int32 arrays, tokenised in slices."""
        parts = []
        for start, stop in text_slices(texts):
            parts.append(TokenIds.from_lists(self._token_ids(list(texts[start:stop]), max_length)))
        return TokenIds.concat(parts)

    def _pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return int(pad) if pad is not None else 0

    def _forward(self, input_ids: Any, attention_mask: Any) -> Any:
        """Last hidden states ``(batch, length, hidden)`` of a right-padded batch."""
        return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    # ---- the shared machinery --------------------------------------------------------------

    def check_dim(self, dim: int | None) -> None:
        """Raise :class:`ModelError` unless ``1 <= dim <= self.dim``; whether the model was
        trained for ``dim`` is :func:`check_trained_dim`'s rule (``force_dim``)."""
        if dim is not None and not 1 <= dim <= self.dim:
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
        self.check_dim(dim)  # before tokenising: a bad dim fails at once
        texts = list(texts)
        ids = self._token_array(texts, int(max_length or self.own_max_length))
        return self.encode_tokenized(ids, dim, batch_size, progress)

    def tokenize_documents(
        self, texts_or_dicts: Sequence[str] | Sequence[dict[str, str]], *, max_length: int | None
    ) -> TokenIds:
        """Token ids of documents, prefix included, for :meth:`encode_tokenized`: the runner
        tokenises the next shard on a thread while this one runs on the device. Flat int32
        arrays (see :class:`~evalkit.models.base.TokenIds`)."""
        texts = [self.spec.doc_prefix + t for t in as_doc_texts(texts_or_dicts)]
        limit = max_length or self.max_doc_length or self.own_max_length
        return self._token_array(texts, int(limit))

    def encode_tokenized(
        self,
        ids: TokenIds | Sequence[Sequence[int]],
        dim: int | None = None,
        batch_size: int | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """Embeddings of token ids (:class:`~evalkit.models.base.TokenIds`, or one list of
        ints per text), rows in input order (see :meth:`encode_texts`)."""
        import torch

        self.check_dim(dim)
        ids = as_token_ids(ids)
        if batch_size is not None and batch_size < 1:
            raise ModelError(f"--batch-size {batch_size}: must be at least 1")
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        if not ids:
            return truncate_dim(out, dim, self.dim, self.spec.normalize)
        lengths = ids.lengths()
        rows = batch_size or self.default_batch_size
        pending = list(self.batches(lengths, rows))
        bar = None
        if self.show_progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(ids), desc="encode", unit="text")
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
                    self._oom_notice(len(idx))
                    # Half of what failed becomes the budget for everything still to run, so
                    # the batches after it do not each fail once before being split.
                    budget = max(1, len(idx) * int(lengths[idx].max()) // 2)
                    rows = max(1, len(idx) // 2)
                    rest = np.concatenate([idx, *pending])
                    pending = [rest[b] for b in self.batches(lengths[rest], rows, budget)]
                    continue
                n_tokens = int(lengths[idx].sum())
                if progress is not None:
                    progress(len(idx), n_tokens)
                if bar is not None:
                    bar.update(len(idx))
        if bar is not None:
            bar.close()
        return truncate_dim(out, dim, self.dim, self.spec.normalize)

    def _run_batch(self, ids: TokenIds, lengths: np.ndarray, idx: np.ndarray) -> Any:
        """Pooled embeddings of one right-padded batch, as numpy."""
        import torch

        # Right padding: real tokens keep positions 0..n-1, as when encoded alone.
        padded, pad_mask = pad_batch(ids, idx, self._pad_id())
        input_ids = torch.from_numpy(padded).to(self.device)
        mask = torch.from_numpy(pad_mask).to(self.device)
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
        """``spec.pooling`` in float32, then L2 norm when the spec says so. Batches are
        right-padded, so CLS is position 0 and the last real token is at ``mask.sum() - 1``
        (what sentence-transformers' ``cls`` and ``lasttoken`` pick)."""
        import torch

        h = hidden.to(torch.float32)
        if self.spec.pooling == "cls":
            pooled = h[:, 0]
        elif self.spec.pooling == "last":
            last = mask.sum(dim=1).clamp(min=1) - 1
            pooled = h[torch.arange(h.shape[0], device=h.device), last]
        else:
            m = mask.to(torch.float32).unsqueeze(-1)
            pooled = (h * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)
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
        force_dim: bool = False,
    ) -> np.ndarray:
        check_trained_dim(self.spec, self.dim, dim, force=force_dim, api=True)
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
        force_dim: bool = False,
    ) -> np.ndarray:
        check_trained_dim(self.spec, self.dim, dim, force=force_dim, api=True)
        prefix = self.spec.doc_prefix
        return self.encode_texts(
            [prefix + t for t in as_doc_texts(texts_or_dicts)],
            max_length or self.max_doc_length,
            dim,
            batch_size,
            progress,
        )


def text_slices(texts: Sequence[str]) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` of consecutive slices of ``texts`` of at most
    :data:`TOKENIZE_SLICE_CHARS` characters (at least one text) and
    :data:`TOKENIZE_SLICE_TEXTS` texts."""
    start, chars = 0, 0
    for i, t in enumerate(texts):
        full = chars + len(t) > TOKENIZE_SLICE_CHARS or i - start >= TOKENIZE_SLICE_TEXTS
        if i > start and full:
            yield start, i
            start, chars = i, 0
        chars += len(t)
    if start < len(texts):
        yield start, len(texts)


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


# ---- a checkpoint's sentence-transformers layout, read for plain-transformers runs ------------

# sentence-transformers' pooling mode names -> evalkit's; its legacy boolean config keys.
_ST_POOLING = {"cls": "cls", "mean": "mean", "lasttoken": "last"}
_ST_LEGACY_POOLING = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}
# Module classes the plain encoder reproduces: the backbone, its pooling, its normalisation.
_ST_PLAIN_MODULES = ("Transformer", "Pooling", "Normalize")


@dataclass(frozen=True)
class StLayout:
    """What a checkpoint's sentence-transformers files say about its embeddings."""

    name: str
    """The ``--model`` value, for messages."""
    pooling_file: str | None
    pooling_config: dict[str, Any] | None
    similarity_fn_name: str | None
    normalize: bool
    """The module list has a ``Normalize`` module: the model's embeddings are unit vectors."""

    def pooling(self) -> str | None:
        """The ``Pooling`` module's mode as evalkit names it; ``None`` without one."""
        cfg = self.pooling_config
        if cfg is None:
            return None
        mode = cfg.get("pooling_mode")
        if mode is None:  # sentence-transformers < 6 wrote one boolean per mode
            mode = [m for k, m in _ST_LEGACY_POOLING.items() if cfg.get(k)] or "mean"
        modes = [mode] if isinstance(mode, str) else list(mode)
        if len(modes) != 1 or modes[0] not in _ST_POOLING:
            raise ModelError(
                f"--model {self.name}: {self.pooling_file} pools with {'+'.join(modes)}, which "
                "plain transformers does not run; use --model-type sentence-transformers, or "
                f"--pooling {'/'.join(POOLINGS)}"
            )
        if cfg.get("include_prompt") is False:
            raise ModelError(
                f"--model {self.name}: {self.pooling_file} leaves the prompt out of pooling, "
                "which plain transformers does not do; use --model-type sentence-transformers"
            )
        return _ST_POOLING[modes[0]]

    def similarity(self) -> str | None:
        """``similarity_fn_name`` of ``config_sentence_transformers.json``; ``None`` unset
        (sentence-transformers then uses cosine)."""
        if self.similarity_fn_name is None:
            return None
        return model_similarity(self.name, self.similarity_fn_name)


def _optional_json(source: str, filename: str, revision: str | None, name: str) -> Any:
    """A JSON file of a local directory or Hub repository; ``None`` when it has none."""
    from transformers.utils import cached_file

    path = cached_file(
        source,
        filename,
        revision=revision,
        _raise_exceptions_for_missing_entries=False,
        _raise_exceptions_for_connection_errors=False,
    )
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ModelError(f"--model {name}: cannot read {filename} ({_one_line(e)})") from None


def read_st_layout(source: str, revision: str | None, name: str) -> StLayout | None:
    """The sentence-transformers files of a checkpoint (``modules.json``, its ``Pooling``
    config, ``config_sentence_transformers.json``), or ``None`` when it has none. A module
    the plain encoder cannot run (``Dense``, ...) is refused: its embeddings would differ."""
    modules = _optional_json(source, "modules.json", revision, name)
    st_config = _optional_json(source, "config_sentence_transformers.json", revision, name)
    pooling_file: str | None = None
    normalize = False
    if isinstance(modules, list):
        for m in modules:
            kind = str(m.get("type", "")).rsplit(".", 1)[-1] if isinstance(m, dict) else ""
            if kind not in _ST_PLAIN_MODULES:
                raise ModelError(
                    f"--model {name}: its sentence-transformers module {kind or json.dumps(m)} "
                    "is not run by plain transformers; use --model-type sentence-transformers"
                )
            if kind == "Pooling":
                pooling_file = f"{str(m.get('path') or '').strip('/')}/config.json".lstrip("/")
            normalize = normalize or kind == "Normalize"
    elif modules is None:
        pooling_file = "1_Pooling/config.json"  # the conventional place, without modules.json
    pooling_config = _optional_json(source, pooling_file, revision, name) if pooling_file else None
    if modules is None and st_config is None and pooling_config is None:
        return None
    sim = st_config.get("similarity_fn_name") if isinstance(st_config, dict) else None
    return StLayout(
        name=name,
        pooling_file=pooling_file if pooling_config is not None else None,
        pooling_config=pooling_config if isinstance(pooling_config, dict) else None,
        similarity_fn_name=str(sim) if sim is not None else None,
        normalize=normalize,
    )
