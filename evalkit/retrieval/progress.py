"""Progress over a whole corpus (docs/s, tokens/s, ETA) and the end-of-run summary."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol


class Advance(Protocol):
    """``advance(n_docs, n_tokens)`` after each encoded batch; ``reused=True`` for documents
    whose vectors came from the cache (they shorten the remaining work, not the rate);
    ``work``: the batch's planned cost (estimated tokens), when the task was given a total."""

    def __call__(
        self, n_docs: int, n_tokens: int = 0, *, reused: bool = False, work: float | None = None
    ) -> None: ...


@dataclass(frozen=True)
class Reading:
    """What the bar shows for a task: rates over the work this process did itself."""

    docs_per_s: float | None
    tokens_per_s: float | None
    eta_s: float | None
    """``None`` until something was encoded here (unknown, shown as ``-:--:--``)."""
    done: int = 0
    """Documents counted on the bar: encoded here plus reused."""
    reused: int = 0
    total: int = 0


def rates(
    docs: int,
    seconds: float,
    remaining: int,
    tokens: int = 0,
    work: tuple[float, float] | None = None,
) -> Reading:
    """docs/s, tokens/s and the ETA from ``docs`` (and ``tokens``) encoded in this process
    over ``seconds`` of its time, with ``remaining`` documents still to do. Documents reused
    from the cache are not in ``docs`` or ``seconds``: counted, they would make the rate
    look instant (the ETA of a resumed run read ``0:00:01`` with thousands to go).

    ``work``, ``(done, left)`` in planned cost units (estimated tokens), makes the ETA
    ``left / (done / seconds)``: shards are encoded longest document first, so early docs/s
    is far below the shard's average and a docs-based ETA would start several times too long."""
    remaining = max(remaining, 0)
    if docs <= 0 or seconds <= 0:
        return Reading(None, None, 0.0 if remaining == 0 else None)
    dps = docs / seconds
    eta = remaining / dps
    if work is not None and work[0] > 0:
        eta = max(work[1], 0.0) * seconds / work[0] if remaining else 0.0
    return Reading(dps, tokens / seconds if tokens > 0 else None, eta)


class Meter:
    """The clock and counters behind one bar. The time between two calls is charged to the
    kind of work the later call reports: cache reads (and verifying them) go to the reused
    documents, encoding to the fresh ones, so the rate is the encoder's own."""

    def __init__(
        self,
        total: int,
        clock: Callable[[], float] = time.perf_counter,
        total_work: float | None = None,
    ) -> None:
        self.total = total
        self.total_work = total_work
        self.fresh_work = 0.0
        self.reused_work = 0.0
        self.clock = clock
        self.fresh_docs = 0
        self.fresh_tokens = 0
        self.fresh_s = 0.0
        self.reused = 0
        self._last = clock()

    def advance(
        self, n_docs: int, n_tokens: int = 0, *, reused: bool = False, work: float | None = None
    ) -> Reading:
        now = self.clock()
        spent, self._last = now - self._last, now
        if reused:
            self.reused += n_docs
            self.reused_work += work or 0.0
        else:
            self.fresh_docs += n_docs
            self.fresh_tokens += n_tokens
            self.fresh_s += spent
            self.fresh_work += work or 0.0
        return self.reading()

    def reading(self) -> Reading:
        done = self.fresh_docs + self.reused
        work = None
        if self.total_work is not None:
            left = self.total_work - self.fresh_work - self.reused_work
            work = (self.fresh_work, left)
        r = rates(self.fresh_docs, self.fresh_s, self.total - done, self.fresh_tokens, work)
        return Reading(r.docs_per_s, r.tokens_per_s, r.eta_s, done, self.reused, self.total)


def format_rate(r: Reading) -> str:
    if r.docs_per_s is None:
        return "- docs/s"
    text = f"{r.docs_per_s:,.0f} docs/s"
    if r.tokens_per_s is not None:
        text += f" {r.tokens_per_s:,.0f} tok/s"
    return text


def format_eta(seconds: float | None) -> str:
    """As rich's own time columns write it (``H:MM:SS``)."""
    if seconds is None:
        return "-:--:--"
    s = int(seconds + 0.5)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


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
    duplicate_texts: int = 0
    """Rows whose exact text occurred earlier in the corpus (neither encoded nor searched)."""
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
    """Rich progress bars, or nothing when disabled (CI logs, non-zero ranks). The rate and
    ETA columns are computed by :class:`Meter`, not by rich's own speed estimate, which
    counts reused shards as instant progress. ``observer(description, reading)``, if given,
    sees every reading (enabled or not)."""

    def __init__(
        self,
        enabled: bool,
        *,
        clock: Callable[[], float] = time.perf_counter,
        observer: Callable[[str, Reading], None] | None = None,
        console: Any = None,
    ) -> None:
        self.enabled = enabled
        self.clock = clock
        self.observer = observer
        self.console = console
        self._bar: Any = None

    def __enter__(self) -> Progress:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
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
                _eta_column(self.clock),
                transient=True,
                console=self.console,
            )
            self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None

    @contextmanager
    def task(
        self, description: str, total: int, total_work: float | None = None
    ) -> Iterator[Advance]:
        """``advance(docs, tokens, reused=False, work=None)``: see :class:`Advance` and
        :class:`Meter`; ``total_work``: the planned cost of all ``total`` documents."""
        bar, observer = self._bar, self.observer
        if bar is None and observer is None:
            yield lambda n, t=0, *, reused=False, work=None: None
            return
        meter = Meter(total, self.clock, total_work)
        tid = bar.add_task(description, total=total, rate="", eta_at=None) if bar else None

        def advance(
            n: int, tokens: int = 0, *, reused: bool = False, work: float | None = None
        ) -> None:
            r = meter.advance(n, tokens, reused=reused, work=work)
            if observer is not None:
                observer(description, r)
            if bar is not None:
                eta_at = None if r.eta_s is None else meter.clock() + r.eta_s
                bar.update(tid, advance=n, rate=format_rate(r), eta_at=eta_at)

        try:
            yield advance
        finally:
            if bar is not None:
                bar.remove_task(tid)


def _eta_column(clock: Callable[[], float]) -> Any:
    """A column counting down to the task's estimated end (``eta_at`` on ``clock``), so the
    ETA moves between batches as rich's own column does."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class EtaColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            at = task.fields.get("eta_at")
            left = None if at is None else max(at - clock(), 0.0)
            return Text(format_eta(left), style="progress.remaining")

    return EtaColumn()
