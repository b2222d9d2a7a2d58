"""Progress over a whole corpus (docs/s, tokens/s, ETA) and the end-of-run summary."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

Advance = Callable[[int, int], None]
"""``advance(n_docs, n_tokens)``: called after each encoded batch."""


@dataclass
class Stats:
    """What one retrieval did, for the record and the final summary line."""

    docs_encoded: int = 0
    tokens_encoded: int = 0
    encode_s: float = 0.0
    search_s: float = 0.0
    queries_s: float = 0.0
    shards_total: int = 0
    shards_reused: int = 0
    shards_computed: int = 0
    cache_bytes: int = 0
    cache_dir: str | None = None
    extra: dict[str, float] = field(default_factory=dict)

    def summary(self, label: str) -> str:
        tps = self.tokens_encoded / self.encode_s if self.encode_s > 0 else 0.0
        dps = self.docs_encoded / self.encode_s if self.encode_s > 0 else 0.0
        cache = (
            f", cache {self.cache_bytes / 1e6:.1f} MB in {self.cache_dir}"
            if self.cache_dir
            else ", no cache"
        )
        return (
            f"{label}: encode {self.encode_s:.1f} s ({dps:,.0f} docs/s, {tps:,.0f} tokens/s), "
            f"search {self.search_s:.1f} s, shards {self.shards_reused} reused / "
            f"{self.shards_computed} computed of {self.shards_total}{cache}"
        )


class Progress:
    """Rich progress bars, or nothing when disabled (CI logs, non-zero ranks)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar = None

    def __enter__(self) -> Progress:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import (
                Progress as RichProgress,
            )

            self._bar = RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                transient=True,
            )
            self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None

    @contextmanager
    def task(self, description: str, total: int) -> Iterator[Advance]:
        """``advance(docs, tokens)``; the rate column shows docs/s and tokens/s over the
        work done in this task (reused shards advance the bar without counting as speed)."""
        if self._bar is None:
            yield lambda n, t=0: None
            return
        bar = self._bar
        tid = bar.add_task(description, total=total, rate="")
        t0 = time.perf_counter()
        done = [0, 0]

        def advance(n: int, tokens: int = 0) -> None:
            done[0] += n
            done[1] += tokens
            dt = max(time.perf_counter() - t0, 1e-9)
            rate = f"{done[0] / dt:,.0f} docs/s"
            if done[1]:
                rate += f" {done[1] / dt:,.0f} tok/s"
            bar.update(tid, advance=n, rate=rate)

        try:
            yield advance
        finally:
            bar.remove_task(tid)
