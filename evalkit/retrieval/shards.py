"""Shard plans by documents and by tokens.

A shard of 100,000 documents is minutes of work on MIRACL's passages (~1e7 tokens) but
~3.3e8 tokens on MLDR's long documents: hours of device time lost to a kill, and a
pre-tokenised shard far larger in memory. Shards are therefore cut at ``shard_size``
documents *and* at about ``shard_tokens`` tokens, whichever comes first.

Tokens are estimated from each document's UTF-8 byte length (title and text, which Arrow
reads from the offsets alone) at :data:`BYTES_PER_TOKEN` bytes a token, capped at the
document token limit: no tokenising, so every rank of a torchrun job and every resumed run
computes the same plan from the same corpus and settings. The embedding cache does not depend
on the plan: it finds vectors by the text they were made from, so a run with another plan
reuses them.
"""

from __future__ import annotations

import numpy as np

from evalkit.errors import EvalkitError
from evalkit.retrieval.cache import Shard, plan_shards

DEFAULT_SHARD_TOKENS = 50_000_000
"""Estimated tokens per shard: MIRACL's 100k-passage shards (~350 bytes, ~90 estimated tokens
a passage: ~9e6) stay whole; MLDR's long documents (up to 8,192 tokens each) are cut to ~10k
documents a shard, so both are minutes of work on one GPU."""

BYTES_PER_TOKEN = 4
"""UTF-8 bytes per token for the estimate (English subword tokenizers: ~4-5; CJK: ~2-3).
Only the plan depends on it, never the vectors."""


def estimated_tokens(byte_lengths: np.ndarray, doc_limit: int | None) -> np.ndarray:
    """Tokens per document as the plan counts them: ``ceil(bytes / 4)``, at least 1, at
    most ``doc_limit`` (what the encoder truncates to)."""
    est = np.maximum(1, -(-np.asarray(byte_lengths, dtype=np.int64) // BYTES_PER_TOKEN))
    if doc_limit:
        est = np.minimum(est, int(doc_limit))
    return est


def cut_ranges(weights: np.ndarray, budget: int, max_rows: int) -> list[tuple[int, int]]:
    """Consecutive ``(start, stop)`` row ranges, each as long as it can be with at most
    ``budget`` total weight and ``max_rows`` rows (a row heavier than the budget alone)."""
    cum = np.cumsum(np.asarray(weights, dtype=np.int64))
    out: list[tuple[int, int]] = []
    start, n = 0, len(cum)
    while start < n:
        base = int(cum[start - 1]) if start else 0
        stop = int(np.searchsorted(cum, base + budget, side="right"))
        stop = min(max(stop, start + 1), start + max_rows, n)
        out.append((start, stop))
        start = stop
    return out


def plan_token_shards(
    byte_lengths: np.ndarray,
    shard_size: int,
    shard_tokens: int | None,
    doc_limit: int | None = None,
) -> list[Shard]:
    """Consecutive shards of at most ``shard_size`` documents and at most ``shard_tokens``
    estimated tokens (a document longer than that alone is a shard of one). ``shard_tokens``
    ``None`` or 0: by documents only (:func:`~evalkit.retrieval.cache.plan_shards`).
    Deterministic: a function of the byte lengths and the settings only."""
    if shard_tokens is not None and shard_tokens < 0:
        raise EvalkitError(f"--shard-tokens {shard_tokens}: must be at least 1 (0: no limit)")
    if not shard_tokens:
        return plan_shards(len(byte_lengths), shard_size)
    if shard_size < 1:
        raise EvalkitError(f"--shard-size {shard_size}: must be at least 1")
    ranges = cut_ranges(estimated_tokens(byte_lengths, doc_limit), shard_tokens, shard_size)
    return [Shard(i, start, stop) for i, (start, stop) in enumerate(ranges)]
