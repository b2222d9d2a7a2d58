"""Peak memory (RSS) for streaming a large corpus through evalkit's loader and Corpus.

For each size, a synthetic corpus (MIRACL-like passages, ~350 characters on average) is
written as a local copy of an mteb-layout Hub repository (Parquet or JSON Lines, with the
README ``configs:`` block), then a fresh Python process loads it through
``evalkit.data.hub.load_hub_dataset`` (the code path of ``evalkit run --data-dir``) and walks it
the way the runner does:

1. ``Corpus.byte_lengths()`` and an argsort by length,
2. ``Corpus.rows(sorted chunk of 16,384 indices)`` for every chunk, building the
   ``title + " " + text`` strings an encoder would get,
3. ``Corpus.iter_slices(1024)`` over the whole corpus,
4. ``Corpus.id_array()`` (hit ids after search) and ``Corpus.ids`` (a Python list).

RSS is read from ``/proc/self/status`` after each stage: VmRSS (now), VmHWM (peak), and its
split into RssAnon (heap: what the process really holds) and RssFile (pages of the
memory-mapped Arrow cache, which the kernel can drop at any time).

    python benchmarks/bench_corpus_memory.py                    # 250k, 500k, 1M, Parquet
    python benchmarks/bench_corpus_memory.py --sizes 1000000 --format jsonl
    python benchmarks/bench_corpus_memory.py --naive            # + a list of all texts
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

WORDS = (
    "the of and in to was is for on as by with he at from his an were are which this be "
    "also has had first one their its after new who they two her she been other when "
    "time during there into school more may years over only year most would world city "
    "some where between later three state such then national used made known under many "
    "university united while part season team these american than film second born south "
    "became states war through being including both well north before high however people "
    "family early history album area around series name since population village county "
    "القاهرة عاصمة مصر Nairobi ni mji mkuu 北京 是 首都 Москва столица Deutschland Hauptstadt"
).split()


def _texts(rng: np.random.Generator, n: int) -> list[str]:
    # ~58 words a passage (~350 characters, MIRACL's mean), varying 5..170 words.
    lengths = np.clip(rng.gamma(4.0, 14.5, size=n).astype(int), 5, 170)
    vocab = np.array(WORDS, dtype=object)
    flat = vocab[rng.integers(0, len(vocab), size=int(lengths.sum()))]
    out, pos = [], 0
    for k in lengths:
        out.append(" ".join(flat[pos : pos + k]))
        pos += k
    return out


def write_corpus(
    repo: Path, n: int, fmt: str, seed: int = 0, texts: Callable[..., list[str]] | None = None
) -> dict[str, float]:
    """An mteb-layout repository copy with ``n`` passages (``texts(rng, m)`` makes them;
    default MIRACL-like lengths); returns sizes."""
    texts_fn = texts or _texts
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    (repo / "corpus").mkdir(parents=True)
    chars = 0
    step = 100_000
    if fmt == "parquet":
        writer = None
        for start in range(0, n, step):
            m = min(step, n - start)
            texts = texts_fn(rng, m)
            chars += sum(map(len, texts))
            table = pa.table({
                "_id": [f"doc{i}#0" for i in range(start, start + m)],
                "title": [f"Article {i // 3}" for i in range(start, start + m)],
                "text": texts,
            })
            if writer is None:
                writer = pq.ParquetWriter(repo / "corpus" / "corpus.parquet", table.schema)
            writer.write_table(table)
        assert writer is not None
        writer.close()
        corpus_glob = "corpus/*.parquet"
    else:
        with open(repo / "corpus" / "corpus.jsonl", "w", encoding="utf-8") as f:
            for start in range(0, n, step):
                m = min(step, n - start)
                texts = texts_fn(rng, m)
                chars += sum(map(len, texts))
                for i, t in zip(range(start, start + m), texts):
                    f.write(json.dumps({"_id": f"doc{i}#0", "title": f"Article {i // 3}",
                                        "text": t}, ensure_ascii=False) + "\n")
        corpus_glob = "corpus/*.jsonl"
    ext = "parquet" if fmt == "parquet" else "jsonl"
    (repo / "queries").mkdir()
    (repo / "qrels").mkdir()
    if fmt == "parquet":
        pq.write_table(pa.table({"_id": ["q0", "q1"], "text": ["first query", "second"]}),
                       repo / "queries" / "q.parquet")
        pq.write_table(pa.table({"query-id": ["q0", "q1"], "corpus-id": ["doc0#0", "doc5#0"],
                                 "score": [1, 1]}), repo / "qrels" / "test.parquet")
    else:
        (repo / "queries" / "q.jsonl").write_text(
            '{"_id": "q0", "text": "first query"}\n{"_id": "q1", "text": "second"}\n')
        (repo / "qrels" / "test.jsonl").write_text(
            '{"query-id": "q0", "corpus-id": "doc0#0", "score": 1}\n'
            '{"query-id": "q1", "corpus-id": "doc5#0", "score": 1}\n')
    (repo / "README.md").write_text(
        "---\nconfigs:\n"
        f"- config_name: corpus\n  data_files:\n  - split: corpus\n    path: {corpus_glob}\n"
        f"- config_name: queries\n  data_files:\n  - split: queries\n    path: queries/*.{ext}\n"
        f"- config_name: default\n  data_files:\n  - split: test\n    path: qrels/*.{ext}\n"
        "---\n")
    size = sum(p.stat().st_size for p in repo.rglob("*") if p.is_file())
    return {"chars": chars, "file_mb": size / 2**20}


def _rss() -> dict[str, float]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:", "RssAnon:", "RssFile:")):
                key, val, _unit = line.split()
                out[key.rstrip(":")] = int(val) / 1024
    return out


def child(data_dir: str, naive: bool) -> None:
    """Runs in a fresh process: load, then walk the corpus as the runner does."""
    from evalkit.data import doc_text
    from evalkit.data.hub import load_hub_dataset
    from evalkit.suites.base import DatasetSpec

    stages: dict[str, dict[str, float]] = {"imports": _rss()}
    spec = DatasetSpec(name="synthetic", suite="bench", layout="mteb", split="test",
                       source={"id": "bench/synthetic", "revision": None})
    t = time.perf_counter()
    coll = load_hub_dataset(spec, None, Path(data_dir))
    corpus = coll.corpus
    stages["load"] = {**_rss(), "s": time.perf_counter() - t}

    t = time.perf_counter()
    order = np.argsort(-corpus.byte_lengths(), kind="stable")
    stages["byte_lengths+argsort"] = {**_rss(), "s": time.perf_counter() - t}

    t = time.perf_counter()
    total = 0
    for start in range(0, len(corpus), 16384):
        idx = np.sort(order[start : start + 16384])
        texts = [doc_text(d, " ") for d in corpus.rows(idx)]
        total += len(texts)
    assert total == len(corpus)
    stages["rows(length-sorted chunks of 16384)"] = {**_rss(), "s": time.perf_counter() - t}

    t = time.perf_counter()
    seen = sum(len(docs) for _, docs in corpus.iter_slices(1024))
    assert seen == len(corpus)
    stages["iter_slices(1024)"] = {**_rss(), "s": time.perf_counter() - t}

    t = time.perf_counter()
    ids = corpus.id_array() if hasattr(corpus, "id_array") else None
    stages["id_array()"] = {**_rss(), "s": time.perf_counter() - t}
    del ids
    t = time.perf_counter()
    id_list = corpus.ids
    stages["ids (Python list)"] = {**_rss(), "s": time.perf_counter() - t}
    del id_list
    if naive:
        t = time.perf_counter()
        all_texts = list(corpus.dataset["text"])  # what evalkit avoids
        stages["naive: list of all texts"] = {**_rss(), "s": time.perf_counter() - t}
        del all_texts
    print(json.dumps({"n": len(corpus), "stages": stages}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="250000,500000,1000000")
    ap.add_argument("--format", choices=("parquet", "jsonl"), default="parquet")
    ap.add_argument("--naive", action="store_true", help="also time a list of all texts")
    ap.add_argument("--workdir", default=None, help="where to write (default: a temp dir)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.naive)
        return
    work = Path(args.workdir or tempfile.mkdtemp(prefix="evalkit-bench-"))
    rows = []
    try:
        for n in [int(x) for x in args.sizes.split(",")]:
            data = work / f"{args.format}-{n}"
            shutil.rmtree(data, ignore_errors=True)
            info = write_corpus(data / "synthetic", n, args.format)
            env = {**os.environ, "HF_HUB_OFFLINE": "1",
                   "HF_DATASETS_CACHE": str(work / f"cache-{args.format}-{n}"),
                   "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}
            cmd = [sys.executable, __file__, "--child", str(data)] + (
                ["--naive"] if args.naive else [])
            # First run converts the files to the Arrow cache; the second reads the cache only
            # (what every later evaluation of the same dataset does).
            for label in ("first load", "cached load"):
                out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
                res = json.loads(out.stdout.strip().splitlines()[-1])
                cache_mb = sum(p.stat().st_size for p in (work / f"cache-{args.format}-{n}")
                               .rglob("*.arrow")) / 2**20
                rows.append((n, label, info, cache_mb, res["stages"]))
            shutil.rmtree(data, ignore_errors=True)
            shutil.rmtree(work / f"cache-{args.format}-{n}", ignore_errors=True)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    for n, label, info, cache_mb, stages in rows:
        print(f"\n{n:,} passages ({args.format}, {label}): {info['chars'] / 2**20:,.0f} MB of "
              f"text, files {info['file_mb']:,.0f} MB, Arrow cache {cache_mb:,.0f} MB")
        print(f"  {'stage':38s} {'RSS MB':>8s} {'anon MB':>8s} {'mmap MB':>8s} "
              f"{'peak MB':>8s} {'seconds':>8s}")
        for name, s in stages.items():
            secs = f"{s['s']:8.1f}" if "s" in s else " " * 8
            print(f"  {name:38s} {s['VmRSS']:8.0f} {s['RssAnon']:8.0f} {s['RssFile']:8.0f} "
                  f"{s['VmHWM']:8.0f} {secs}")


if __name__ == "__main__":
    main()
