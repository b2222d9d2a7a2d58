"""The Hub loaders (evalkit.hub) on fixtures that reproduce each Hub layout.

Every fixture is a folder laid out like the real repository (the same configs, declared in a
README.md ``configs:`` block as Hub repositories do, the same column names and Arrow types,
Parquet / JSON Lines / TSV files), read through ``datasets.load_dataset``: only the location
differs (``--data-dir`` copies, or the repository id pointing at a local folder).
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import write_beir
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from evalkit import hub
from evalkit.data import load
from evalkit.errors import DataError
from evalkit.suites import resolve
from evalkit.suites.base import LoadTask

# Multilingual texts (Arabic, Swahili, Chinese), MIRACL-style ids ("<article>#<passage>").
ML_DOCS = {
    "ar": [
        ("1001#0", "القاهرة", "القاهرة هي عاصمة مصر وأكبر مدنها."),
        ("1001#1", "القاهرة", "يمر نهر النيل عبر مدينة القاهرة."),
        ("1002#0", "الرياض", "الرياض هي عاصمة المملكة العربية السعودية."),
    ],
    "sw": [
        ("2001#0", "Nairobi", "Nairobi ni mji mkuu wa Kenya."),
        ("2002#0", "Dodoma", "Dodoma ni mji mkuu wa Tanzania."),
    ],
    "zh": [
        ("3001#0", "北京", "北京是中华人民共和国的首都。"),
        ("3002#0", "长城", "长城是中国古代的军事防御工程。"),
    ],
}
ML_QUERIES = {
    "ar": [("0", "ما هي عاصمة مصر؟"), ("1", "ما هي عاصمة السعودية؟"), ("9", "سؤال بلا أحكام")],
    "sw": [("10", "Mji mkuu wa Kenya ni upi?")],
    "zh": [("20", "中国的首都是哪里？")],
}
ML_QRELS = {
    "ar": [("0", "1001#0", 1), ("0", "1001#1", 0), ("1", "1002#0", 1)],
    "sw": [("10", "2001#0", 1), ("10", "2002#0", 0)],
    "zh": [("20", "3001#0", 1)],
}


@pytest.fixture(autouse=True)
def _hf_caches(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Empty, private Hugging Face caches: nothing leaks between tests, nothing is cached."""
    import datasets.config as dc
    import huggingface_hub.constants as hc

    root = tmp_path_factory.mktemp("hf")
    monkeypatch.setattr(dc, "HF_DATASETS_CACHE", root / "datasets")
    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(root / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _parquet(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def _readme(repo: Path, configs: dict[str, dict[str, str]]) -> None:
    """A Hub dataset card whose YAML header declares ``configs`` -> {split: file glob}."""
    lines = ["---", "configs:"]
    for name, splits in configs.items():
        lines += [f"- config_name: {name}", "  data_files:"]
        for split, glob in splits.items():
            lines += [f"  - split: {split}", f"    path: {glob}"]
    lines += ["---", "", "Fixture written by evalkit's tests.", ""]
    repo.mkdir(parents=True, exist_ok=True)
    (repo / "README.md").write_text("\n".join(lines), encoding="utf-8")


def write_mteb_multilingual(repo: Path, split: str = "dev") -> Path:
    """mteb/MIRACLRetrieval's layout: ``{lang}-corpus`` / ``{lang}-queries`` / ``{lang}-qrels``."""
    configs = {}
    for lang, docs in ML_DOCS.items():
        _parquet(
            repo / f"{lang}-corpus" / "corpus-00000.parquet",
            pa.table(
                {
                    "_id": [d[0] for d in docs],
                    "title": [d[1] for d in docs],
                    "text": [d[2] for d in docs],
                }
            ),
        )
        _parquet(
            repo / f"{lang}-queries" / f"{split}-00000.parquet",
            pa.table(
                {"_id": [q[0] for q in ML_QUERIES[lang]], "text": [q[1] for q in ML_QUERIES[lang]]}
            ),
        )
        _parquet(
            repo / f"{lang}-qrels" / f"{split}-00000.parquet",
            pa.table(
                {
                    "query-id": [r[0] for r in ML_QRELS[lang]],
                    "corpus-id": [r[1] for r in ML_QRELS[lang]],
                    "score": pa.array([r[2] for r in ML_QRELS[lang]], pa.int64()),
                }
            ),
        )
        configs[f"{lang}-corpus"] = {"corpus": f"{lang}-corpus/*.parquet"}
        configs[f"{lang}-queries"] = {split: f"{lang}-queries/*.parquet"}
        configs[f"{lang}-qrels"] = {split: f"{lang}-qrels/*.parquet"}
    _readme(repo, configs)
    return repo


def write_mteb_single(repo: Path, qrels_config: str = "default") -> Path:
    """mteb/scifact's layout: ``corpus`` (one split), ``queries``, ``default`` qrels with a
    train and a test split; JSON Lines with integer ids (so the loader must cast them)."""
    repo.mkdir(parents=True, exist_ok=True)
    with open(repo / "corpus.jsonl", "w", encoding="utf-8") as f:
        for i, (title, text) in enumerate(
            [
                ("Aspirin", "Aspirin reduces fever."),
                ("Ibuprofen", "Ibuprofen is an NSAID."),
                ("", "A passage without a title."),
            ]
        ):
            f.write(json.dumps({"_id": 100 + i, "title": title, "text": text}) + "\n")
    with open(repo / "queries.jsonl", "w", encoding="utf-8") as f:
        for qid, text in [(1, "what reduces fever"), (2, "what is ibuprofen"), (3, "unjudged")]:
            f.write(json.dumps({"_id": qid, "text": text}) + "\n")
    (repo / "qrels").mkdir()
    for split, rows in (
        ("test", [(1, 100, 1), (2, 101, 2), (2, 102, 0)]),
        ("train", [(7, 100, 1)]),
    ):
        with open(repo / "qrels" / f"{split}.jsonl", "w", encoding="utf-8") as f:
            for q, d, g in rows:
                f.write(json.dumps({"query-id": q, "corpus-id": d, "score": g}) + "\n")
    _readme(
        repo,
        {
            "corpus": {"corpus": "corpus.jsonl"},
            "queries": {"queries": "queries.jsonl"},
            qrels_config: {"train": "qrels/train.jsonl", "test": "qrels/test.jsonl"},
        },
    )
    return repo


def write_beir_hub(root: Path, name: str) -> None:
    """BeIR/<name> (gzipped JSON Lines, configs corpus/queries) + BeIR/<name>-qrels (TSVs,
    splits named by file, no configs block)."""
    repo = root / name
    repo.mkdir(parents=True)
    with gzip.open(repo / "corpus.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write(json.dumps({"_id": "d1", "title": "Fever", "text": "Aspirin lowers fever."}) + "\n")
        f.write(json.dumps({"_id": "d2", "title": "Sleep", "text": "Adults need sleep."}) + "\n")
    with gzip.open(repo / "queries.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write(json.dumps({"_id": "q1", "title": "", "text": "fever drug"}) + "\n")
    _readme(
        repo, {"corpus": {"corpus": "corpus.jsonl.gz"}, "queries": {"queries": "queries.jsonl.gz"}}
    )
    qrepo = root / f"{name}-qrels"
    qrepo.mkdir()
    (qrepo / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n", encoding="utf-8")
    (qrepo / "train.tsv").write_text("query-id\tcorpus-id\tscore\nq9\td2\t1\n", encoding="utf-8")


def write_miracl_original(root: Path, lang: str, split: str = "dev") -> None:
    """miracl/miracl (topics + TREC qrels TSV) and miracl/miracl-corpus (docs-*.jsonl.gz)."""
    base = root / "miracl" / f"miracl-v1.0-{lang}"
    (base / "topics").mkdir(parents=True)
    (base / "qrels").mkdir(parents=True)
    (base / "topics" / f"topics.miracl-v1.0-{lang}-{split}.tsv").write_text(
        "".join(f"{q}\t{t}\n" for q, t in ML_QUERIES[lang]), encoding="utf-8"
    )
    (base / "qrels" / f"qrels.miracl-v1.0-{lang}-{split}.tsv").write_text(
        "".join(f"{q}\tQ0\t{d}\t{g}\n" for q, d, g in ML_QRELS[lang]), encoding="utf-8"
    )
    cdir = root / "miracl-corpus" / f"miracl-corpus-v1.0-{lang}"
    cdir.mkdir(parents=True)
    docs = ML_DOCS[lang]
    for shard, part in enumerate((docs[:1], docs[1:])):  # two shards, as large languages have
        with gzip.open(cdir / f"docs-{shard}.jsonl.gz", "wt", encoding="utf-8") as f:
            for did, title, text in part:
                f.write(
                    json.dumps({"docid": did, "title": title, "text": text}, ensure_ascii=False)
                    + "\n"
                )


def write_mldr_original(repo: Path, lang: str) -> None:
    """Shitao/MLDR: config ``{lang}`` (query rows with passage lists), ``corpus-{lang}``."""
    passage = pa.struct([("docid", pa.string()), ("text", pa.string())])
    docs = ML_DOCS[lang]
    rows = {
        "query_id": [f"q-{lang}-{q}" for q, _ in ML_QUERIES[lang]],
        "query": [t for _, t in ML_QUERIES[lang]],
        "positive_passages": pa.array(
            [
                [{"docid": f"doc-{lang}-{i}", "text": docs[i][2]}]
                for i in range(len(ML_QUERIES[lang]))
            ],
            pa.list_(passage),
        ),
        "negative_passages": pa.array([[] for _ in ML_QUERIES[lang]], pa.list_(passage)),
    }
    _parquet(repo / lang / "test-00000.parquet", pa.table(rows))
    _parquet(repo / lang / "dev-00000.parquet", pa.table(rows).slice(0, 1))
    _parquet(
        repo / f"corpus-{lang}" / "corpus-00000.parquet",
        pa.table(
            {"docid": [f"doc-{lang}-{i}" for i in range(len(docs))], "text": [d[2] for d in docs]}
        ),
    )
    _readme(
        repo,
        {
            lang: {"dev": f"{lang}/dev-*.parquet", "test": f"{lang}/test-*.parquet"},
            f"corpus-{lang}": {"corpus": f"corpus-{lang}/*.parquet"},
        },
    )


def _task(suite: str, dataset: str | None = None, language: str | None = None) -> LoadTask:
    tasks = resolve(suite, [dataset] if dataset else None, [language] if language else None)
    assert len(tasks) == 1, tasks
    return tasks[0]


def _docs(coll) -> dict[str, tuple[str, str]]:
    return {
        d["_id"]: (d["title"], d["text"]) for _, rows in coll.corpus.iter_slices(2) for d in rows
    }


# ------------------------------------------------------------------------------------------


def test_mteb_multilingual_layout_through_data_dir(tmp_path: Path) -> None:
    write_mteb_multilingual(tmp_path / "MIRACLRetrieval")
    for lang in ("ar", "sw", "zh"):
        coll = load(_task("miracl", language=lang), tmp_path)
        assert coll.name == "miracl" and coll.language == lang and coll.split == "dev"
        assert _docs(coll) == {d: (t, x) for d, t, x in ML_DOCS[lang]}  # Unicode intact
        assert coll.qrels == {
            q: {d: g for qq, d, g in ML_QRELS[lang] if qq == q} for q, _, _ in ML_QRELS[lang]
        }
        judged = {q for q, _, _ in ML_QRELS[lang]}
        assert coll.queries == {q: t for q, t in ML_QUERIES[lang] if q in judged}
        assert coll.ignore_identical_ids is False  # MIRACL: never drop identical ids
        assert coll.source["layout"] == "mteb" and coll.source["id"] == "mteb/MIRACLRetrieval"
        assert coll.source["path"] == [str((tmp_path / "MIRACLRetrieval").resolve())]
    # The unjudged Arabic query is dropped, as mteb drops it.
    assert "9" not in load(_task("miracl", language="ar"), tmp_path).queries


def test_corpus_is_memory_mapped_arrow_with_the_three_columns(tmp_path: Path) -> None:
    write_mteb_multilingual(tmp_path / "MIRACLRetrieval")
    corpus = load(_task("miracl", language="zh"), tmp_path).corpus
    ds = corpus.dataset
    assert ds.column_names == ["_id", "title", "text"]
    assert ds.cache_files and all(Path(f["filename"]).suffix == ".arrow" for f in ds.cache_files)
    assert [str(t) for t in ds.features.values()] == ["Value('string')"] * 3
    lengths = [len(t.encode()) + len(x.encode()) for _, t, x in ML_DOCS["zh"]]
    assert list(corpus.byte_lengths()) == lengths  # UTF-8 bytes: read from offsets alone


def test_mteb_single_config_layout_with_int_ids_and_only_split(tmp_path: Path) -> None:
    # The repository id itself points at the local folder: the Hub code path, not --data-dir.
    repo = write_mteb_single(tmp_path / "scifact-copy")
    spec = _task("beir", "scifact").spec
    spec = replace(spec, source={"id": str(repo), "revision": None})
    coll = load(LoadTask(spec, None))
    assert coll.qrels == {"1": {"100": 1}, "2": {"101": 2, "102": 0}}  # test split, not train
    assert coll.queries == {"1": "what reduces fever", "2": "what is ibuprofen"}
    assert _docs(coll) == {
        "100": ("Aspirin", "Aspirin reduces fever."),
        "101": ("Ibuprofen", "Ibuprofen is an NSAID."),
        "102": ("", "A passage without a title."),
    }
    assert coll.corpus.dataset.features["_id"].dtype == "string"
    assert coll.source == {"layout": "mteb", "id": str(repo), "revision": None, "config": "default"}


def test_mteb_qrels_config_named_qrels(tmp_path: Path) -> None:
    write_mteb_single(tmp_path / "nfcorpus", qrels_config="qrels")
    coll = load(_task("beir", "nfcorpus"), tmp_path)
    assert coll.qrels["2"] == {"101": 2, "102": 0}


def test_beir_hub_layout_is_the_alternate_when_the_copy_is_beirs(tmp_path: Path) -> None:
    # data_dir/scifact is BeIR's repository (no qrels config): the mteb reader declines it and
    # the beir-hub alternate reads it with data_dir/scifact-qrels.
    write_beir_hub(tmp_path, "scifact")
    coll = load(_task("beir", "scifact"), tmp_path)
    assert coll.source["layout"] == "beir-hub" and coll.source["id"] == "BeIR/scifact"
    assert coll.qrels == {"q1": {"d1": 1}}
    assert coll.queries == {"q1": "fever drug"}
    assert _docs(coll) == {
        "d1": ("Fever", "Aspirin lowers fever."),
        "d2": ("Sleep", "Adults need sleep."),
    }


def test_germanquad_drops_titles_like_mteb(tmp_path: Path) -> None:
    write_beir_hub(tmp_path, "germanquad-retrieval")
    coll = load(_task("mteb-de", "GermanQuAD-Retrieval"), tmp_path)
    assert {t for t, _ in _docs(coll).values()} == {""}
    assert coll.qrels == {"q1": {"d1": 1}}


def test_miracl_original_repositories(tmp_path: Path) -> None:
    for lang in ("ar", "sw"):
        write_miracl_original(tmp_path, lang)
    for lang in ("ar", "sw"):
        coll = load(_task("miracl", language=lang), tmp_path)
        assert coll.source["layout"] == "miracl"
        assert coll.source["corpus_id"] == "miracl/miracl-corpus"
        assert _docs(coll) == {d: (t, x) for d, t, x in ML_DOCS[lang]}
        assert coll.qrels == {
            q: {d: g for qq, d, g in ML_QRELS[lang] if qq == q} for q, _, _ in ML_QRELS[lang]
        }
        assert set(coll.queries) == {q for q, _, _ in ML_QRELS[lang]}


def test_mldr_original_repository_long_docs_no_title(tmp_path: Path) -> None:
    write_mldr_original(tmp_path / "MLDR", "zh")
    task = _task("mldr", language="zh")
    assert task.spec.max_doc_length == 8192 and task.spec.split == "test"
    coll = load(task, tmp_path)
    assert coll.source["layout"] == "mldr" and coll.source["id"] == "Shitao/MLDR"
    assert coll.qrels == {"q-zh-20": {"doc-zh-0": 1}}
    assert coll.queries == {"q-zh-20": "中国的首都是哪里？"}
    assert _docs(coll) == {
        "doc-zh-0": ("", ML_DOCS["zh"][0][2]),
        "doc-zh-1": ("", ML_DOCS["zh"][1][2]),
    }
    assert coll.max_doc_length == 8192


def test_syntec_layout(tmp_path: Path) -> None:
    repo = tmp_path / "mteb-fr-retrieval-syntec-s2p"
    _parquet(
        repo / "documents" / "test.parquet",
        pa.table(
            {
                "id": ["article-1", "article-2"],
                "title": ["Congés", "Salaire"],
                "content": ["Le salarié a droit à des congés.", "Le salaire minimum est fixé."],
            }
        ),
    )
    _parquet(
        repo / "queries" / "test.parquet",
        pa.table(
            {
                "Question": ["Combien de congés ?", "Quel salaire ?"],
                "Article": ["article-1", "article-2"],
            }
        ),
    )
    _readme(
        repo,
        {"documents": {"test": "documents/*.parquet"}, "queries": {"test": "queries/*.parquet"}},
    )
    coll = load(_task("mteb-fr", "SyntecRetrieval"), tmp_path)
    assert coll.queries == {"0": "Combien de congés ?", "1": "Quel salaire ?"}
    assert coll.qrels == {"0": {"article-1": 1}, "1": {"article-2": 1}}
    assert _docs(coll)["article-1"] == ("Congés", "Le salarié a droit à des congés.")


def test_beir_folder_per_language_in_data_dir(tmp_path: Path) -> None:
    write_beir(
        tmp_path / "miracl" / "sw",
        [{"_id": d, "title": t, "text": x} for d, t, x in ML_DOCS["sw"]],
        [{"_id": q, "text": t} for q, t in ML_QUERIES["sw"]],
        ML_QRELS["sw"],
        split="dev",
    )
    coll = load(_task("miracl", language="sw"), tmp_path)
    assert coll.source["layout"] == "beir-dir"
    assert coll.qrels == {"10": {"2001#0": 1, "2002#0": 0}}
    assert coll.ignore_identical_ids is False


def test_beir_folder_without_the_split_names_the_missing_qrels_file(tmp_path: Path) -> None:
    write_beir(
        tmp_path / "scifact",
        [{"_id": "d1", "text": "x"}],
        [{"_id": "q1", "text": "y"}],
        [("q1", "d1", 1)],
        split="train",
    )
    with pytest.raises(DataError, match=r"qrels/test\.tsv: no qrels for split 'test'"):
        load(_task("beir", "scifact"), tmp_path)


def test_missing_from_data_dir_is_one_line_naming_the_paths(tmp_path: Path) -> None:
    with pytest.raises(DataError) as e:
        load(_task("miracl", language="yo"), tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and "miracl/yo" in msg
    assert str(tmp_path / "miracl" / "yo") in msg and str(tmp_path / "MIRACLRetrieval") in msg


def test_malformed_local_copy_is_reported(tmp_path: Path) -> None:
    repo = write_mteb_single(tmp_path / "scifact")
    (repo / "qrels" / "test.jsonl").write_text(
        json.dumps({"query-id": 1, "corpus-id": 100, "score": "high"}) + "\n", encoding="utf-8"
    )
    with pytest.raises(DataError) as e:
        load(_task("beir", "scifact"), tmp_path)
    assert "\n" not in str(e.value) and "high" in str(e.value)


def test_offline_uncached_fails_fast_with_one_line(tmp_path: Path) -> None:
    start = time.monotonic()
    with pytest.raises(DataError) as e:
        load(_task("beir", "scifact"))
    msg = str(e.value)
    assert time.monotonic() - start < 15
    assert "\n" not in msg
    assert "mteb/scifact@d56462d0e63a" in msg and "HF_HUB_OFFLINE" in msg
    assert "--data-dir" in msg


def test_unreachable_hub_switches_to_offline_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    # Not offline by configuration, but nothing listens at the endpoint: the probe fails,
    # the read runs offline (cache only) and stops at once instead of retrying.
    import datasets.config as dc
    import huggingface_hub.constants as hc

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    for var in (
        "HF_DATASETS_OFFLINE",
        "TRANSFORMERS_OFFLINE",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(dc, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hc, "ENDPOINT", "http://127.0.0.1:9")
    hub._reachable.cache_clear()
    start = time.monotonic()
    with pytest.raises(DataError) as e:
        load(_task("miracl", language="sw"))
    assert time.monotonic() - start < 15
    assert "Hub is unreachable" in str(e.value) and "mteb/MIRACLRetrieval" in str(e.value)
    assert hc.HF_HUB_OFFLINE is False and dc.HF_HUB_OFFLINE is False  # flags restored
    hub._reachable.cache_clear()


def test_cli_offline_error_is_one_line_without_traceback(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf"),
        "EVALKIT_CACHE": str(tmp_path / "cache"),
    }
    env.pop("EVALKIT_DEBUG", None)
    start = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "evalkit",
            "run",
            "--model",
            "bm25",
            "--suite",
            "beir",
            "--dataset",
            "scifact",
            "--output-dir",
            str(tmp_path / "out"),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert time.monotonic() - start < 60
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    assert "scifact" in errors[0] and "--data-dir" in errors[0]


def test_two_data_dirs_with_same_named_copies_are_not_confused(tmp_path: Path) -> None:
    """datasets caches a local folder by its name: two --data-dir folders each holding a
    ``scifact`` copy with different qrels must each be read as they are."""
    a = write_mteb_single(tmp_path / "a" / "scifact")
    b = write_mteb_single(tmp_path / "b" / "scifact")
    with open(b / "qrels" / "test.jsonl", "w", encoding="utf-8") as f:
        f.write(json.dumps({"query-id": 1, "corpus-id": 102, "score": 2}) + "\n")
    first = load(_task("beir", "scifact"), tmp_path / "a")
    second = load(_task("beir", "scifact"), tmp_path / "b")
    assert first.qrels == {"1": {"100": 1}, "2": {"101": 2, "102": 0}}
    assert second.qrels == {"1": {"102": 2}}
    assert first.source["fingerprint"] != second.source["fingerprint"]
    assert a != b


# ------------------------------------------------------------------------------------------
# Ids are exactly what the repository holds (integrity #1): no float inference


def _mteb_jsonl_repo(repo: Path, corpus: list[str], queries: list[str], qrels: list[str]) -> Path:
    """An mteb-layout copy in JSON Lines, each line written verbatim (number tokens as given)."""
    (repo / "qrels").mkdir(parents=True, exist_ok=True)
    (repo / "corpus.jsonl").write_text("".join(x + "\n" for x in corpus), encoding="utf-8")
    (repo / "queries.jsonl").write_text("".join(x + "\n" for x in queries), encoding="utf-8")
    (repo / "qrels" / "test.jsonl").write_text("".join(x + "\n" for x in qrels), encoding="utf-8")
    _readme(
        repo,
        {
            "corpus": {"corpus": "corpus.jsonl"},
            "queries": {"queries": "queries.jsonl"},
            "default": {"test": "qrels/test.jsonl"},
        },
    )
    return repo


def test_mteb_jsonl_with_mixed_int_and_float_ids_keeps_the_written_text(tmp_path: Path) -> None:
    # One float among integer ids makes datasets type the whole column as float64: 1000 would
    # be "1000.0" and no judgement would match it. An integer above 2^63 would be rounded.
    big = "18446744073709551617"
    _mteb_jsonl_repo(
        tmp_path / "scifact",
        corpus=[
            '{"_id": 1000, "title": "A", "text": "first"}',
            '{"_id": 1.5, "title": "B", "text": "second"}',
            f'{{"_id": {big}, "title": "C", "text": "third"}}',
            '{"_id": 1e3, "title": "D", "text": "fourth"}',
        ],
        queries=['{"_id": 7, "text": "q seven"}', '{"_id": 8.0, "text": "q eight"}'],
        qrels=[
            '{"query-id": 7, "corpus-id": 1000, "score": 1}',
            f'{{"query-id": 8.0, "corpus-id": {big}, "score": 2}}',
            '{"query-id": 8.0, "corpus-id": 1.5, "score": 0}',
        ],
    )
    coll = load(_task("beir", "scifact"), tmp_path)
    assert sorted(_docs(coll)) == sorted(["1000", "1.5", big, "1e3"])
    assert coll.queries == {"7": "q seven", "8.0": "q eight"}
    assert coll.qrels == {"7": {"1000": 1}, "8.0": {big: 2, "1.5": 0}}
    assert coll.warnings == []  # every judgement matches a document and a query


def test_mteb_parquet_int64_ids_are_their_digits_and_float_ids_are_refused(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "scifact"
    ids = [1000, 2**62 + 1, 7]
    _parquet(
        repo / "corpus" / "corpus.parquet",
        pa.table({"_id": pa.array(ids, pa.int64()), "title": ["a", "b", "c"], "text": list("xyz")}),
    )
    _parquet(
        repo / "queries" / "q.parquet", pa.table({"_id": pa.array([5], pa.int64()), "text": ["q"]})
    )
    _parquet(
        repo / "qrels" / "test.parquet",
        pa.table(
            {
                "query-id": pa.array([5], pa.int64()),
                "corpus-id": pa.array([2**62 + 1], pa.int64()),
                "score": pa.array([1], pa.int64()),
            }
        ),
    )
    _readme(
        repo,
        {
            "corpus": {"corpus": "corpus/*.parquet"},
            "queries": {"queries": "queries/*.parquet"},
            "default": {"test": "qrels/*.parquet"},
        },
    )
    coll = load(_task("beir", "scifact"), tmp_path)
    assert sorted(_docs(coll)) == sorted(str(i) for i in ids)
    assert coll.qrels == {"5": {str(2**62 + 1): 1}} and coll.queries == {"5": "q"}
    # A float64 id column cannot say which digits were meant: refused, naming the column.
    _parquet(
        repo / "corpus" / "corpus.parquet",
        pa.table(
            {"_id": pa.array([1000.0, 2.0, 7.0]), "title": ["a", "b", "c"], "text": list("xyz")}
        ),
    )
    with pytest.raises(DataError, match=r"column '_id' holds float64 values"):
        load(_task("beir", "scifact"), tmp_path)


@pytest.mark.parametrize("bad", ['"d 1"', '""', '"d\\t1"', "null"])
def test_hub_id_a_run_file_cannot_carry_is_refused(tmp_path: Path, bad: str) -> None:
    _mteb_jsonl_repo(
        tmp_path / "scifact",
        corpus=['{"_id": "d0", "text": "a"}', f'{{"_id": {bad}, "text": "b"}}'],
        queries=['{"_id": "q1", "text": "q"}'],
        qrels=['{"query-id": "q1", "corpus-id": "d0", "score": 1}'],
    )
    with pytest.raises(DataError, match=r"row 2"):
        load(_task("beir", "scifact"), tmp_path)


_TOKENS = st.one_of(
    st.text(
        st.characters(
            min_codepoint=33, max_codepoint=0x2FFF, blacklist_categories=("Cs", "Cc", "Zs")
        ),
        min_size=1,
        max_size=5,
    )
    .filter(lambda s: not any(c.isspace() for c in s))
    .map(lambda s: (s, json.dumps(s, ensure_ascii=False))),
    st.integers(-(10**21), 10**21).map(lambda n: (str(n), str(n))),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: (repr(f), repr(f))),
    st.sampled_from([("1e3", "1e3"), ("1000.0", "1000.0"), ("-0", "-0")]),
)


@settings(
    max_examples=int(os.environ.get("EVALKIT_PROPERTY_EXAMPLES", "8")),
    phases=[Phase.explicit, Phase.generate],  # no shrinking: each example loads 3 configs
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    docs=st.lists(_TOKENS, min_size=1, max_size=6, unique_by=lambda t: t[0]),
    queries=st.lists(_TOKENS, min_size=1, max_size=3, unique_by=lambda t: t[0]),
)
def test_hub_jsonl_ids_of_any_spelling_read_back_exactly(
    tmp_path: Path, docs: list[tuple[str, str]], queries: list[tuple[str, str]]
) -> None:
    data_dir = Path(tempfile.mkdtemp(dir=tmp_path))
    qrels = [(q, docs[i % len(docs)], 1 + i % 3) for i, q in enumerate(queries)]
    _mteb_jsonl_repo(
        data_dir / "scifact",
        corpus=[
            f'{{"_id": {tok}, "title": "t", "text": "x{i}"}}' for i, (_, tok) in enumerate(docs)
        ],
        queries=[f'{{"_id": {tok}, "text": "q{i}"}}' for i, (_, tok) in enumerate(queries)],
        qrels=[f'{{"query-id": {q[1]}, "corpus-id": {d[1]}, "score": {g}}}' for q, d, g in qrels],
    )
    coll = load(_task("beir", "scifact"), data_dir)
    assert coll.corpus.ids == [d for d, _ in docs]
    assert coll.queries == {q: f"q{i}" for i, (q, _) in enumerate(queries)}
    assert coll.qrels == {q[0]: {d[0]: g} for q, d, g in qrels}
    assert coll.warnings == []


def test_beir_hub_tsv_qrels_keep_leading_zeros_and_decimal_text(tmp_path: Path) -> None:
    # datasets reads TSV through pandas, which types "0042" as the integer 42 (and "1.50" as
    # 1.5): the judgement would then name no document. Ids are the column text.
    repo = tmp_path / "scifact"
    repo.mkdir(parents=True)
    with gzip.open(repo / "corpus.jsonl.gz", "wt", encoding="utf-8") as f:
        for doc_id in ("0042", "1.50", "7"):
            f.write(json.dumps({"_id": doc_id, "title": "t", "text": f"doc {doc_id}"}) + "\n")
    with gzip.open(repo / "queries.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write(json.dumps({"_id": "01", "text": "q"}) + "\n")
    _readme(
        repo, {"corpus": {"corpus": "corpus.jsonl.gz"}, "queries": {"queries": "queries.jsonl.gz"}}
    )
    qrepo = tmp_path / "scifact-qrels"
    qrepo.mkdir()
    (qrepo / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n01\t0042\t1\n01\t1.50\t2\n01\t7\t0\n", encoding="utf-8"
    )
    coll = load(_task("beir", "scifact"), tmp_path)
    assert coll.qrels == {"01": {"0042": 1, "1.50": 2, "7": 0}}
    assert coll.queries == {"01": "q"}
    assert coll.warnings == []


def test_miracl_numeric_docids_keep_their_text_and_bad_files_name_the_line(
    tmp_path: Path,
) -> None:
    write_miracl_original(tmp_path, "sw")
    cdir = tmp_path / "miracl-corpus" / "miracl-corpus-v1.0-sw"
    # A shard whose docids are numbers, one a float: datasets would type them float64.
    with gzip.open(cdir / "docs-1.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write('{"docid": 2002, "title": "Dodoma", "text": "Dodoma ni mji mkuu."}\n')
        f.write('{"docid": 2003.0, "title": "Arusha", "text": "Arusha ni mji."}\n')
    topics = tmp_path / "miracl/miracl-v1.0-sw/topics/topics.miracl-v1.0-sw-dev.tsv"
    qrels = tmp_path / "miracl/miracl-v1.0-sw/qrels/qrels.miracl-v1.0-sw-dev.tsv"
    qrels.write_text("10\tQ0\t2001#0\t1\n10\tQ0\t2002\t0\n10\tQ0\t2003.0\t1\n")
    coll = load(_task("miracl", language="sw"), tmp_path)
    assert sorted(_docs(coll)) == ["2001#0", "2002", "2003.0"]
    assert coll.qrels == {"10": {"2001#0": 1, "2002": 0, "2003.0": 1}}
    assert coll.warnings == []
    topics.write_bytes(b"10\tMji mkuu\n11\t\xff\n")
    with pytest.raises(DataError, match=r"topics.miracl-v1.0-sw-dev.tsv:2: not valid UTF-8"):
        load(_task("miracl", language="sw"), tmp_path)
    topics.write_bytes(b"10\tMji mkuu\n1\x001\tq\n")
    with pytest.raises(DataError, match=r"topics.miracl-v1.0-sw-dev.tsv:2: query id"):
        load(_task("miracl", language="sw"), tmp_path)
