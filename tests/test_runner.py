"""The runner's mechanics: order, caching, identical ids, Matryoshka cut, records, run files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import needs_minilm

import evalkit
from evalkit.errors import EvalkitError
from evalkit.models.base import ModelSpec, as_doc_texts, truncate_dim
from evalkit.results import load_results


class HashingEncoder:
    """A real (if crude) encoder: hashed bag of words, unit-normalised. It records the order
    in which documents arrive so the tests can check the runner's length sorting."""

    def __init__(self, dim: int = 64) -> None:
        self.spec = ModelSpec(name="hashing", kind="transformers", dim=dim, revision="r1")
        self.device = "cpu"
        self.max_query_length: int | None = None
        self.max_doc_length: int | None = None
        self.seen: list[str] = []

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self.spec.dim, np.float32)
        for w in text.lower().replace("?", " ").replace(".", " ").replace(",", " ").split():
            h = int(hashlib.md5(w.encode()).hexdigest(), 16)
            v[h % self.spec.dim] += 1.0
        return v / max(np.linalg.norm(v), 1e-12)

    def encode_queries(self, texts, dim=None, batch_size=None):  # no max_length: allowed
        return truncate_dim(np.stack([self._vec(t) for t in texts]), dim, self.spec.dim)

    def encode_documents(self, texts_or_dicts, dim=None, batch_size=None):
        texts = as_doc_texts(texts_or_dicts)
        self.seen.extend(texts)
        return truncate_dim(np.stack([self._vec(t) for t in texts]), dim, self.spec.dim)


def test_record_contents_and_written_file(beir_dir: Path, tmp_path: Path) -> None:
    enc = HashingEncoder()
    [rec] = evalkit.evaluate(
        enc,
        str(beir_dir),
        output_dir=tmp_path / "out",
        save_run=True,
        measures=["ndcg_at_10", "recall_at_100", "mrr_at_10"],
    )
    assert set(rec.scores) == {"ndcg_at_10", "recall_at_100", "mrr_at_10"}
    assert all(0.0 <= v <= 1.0 for v in rec.scores.values())
    # q1..q4 have positive judgements; q5 only grade 0 (dropped); q6 none (not a qrels query).
    assert (rec.n_queries_scored, rec.n_queries_dropped) == (4, 1)
    assert rec.model["revision"] == "r1" and rec.model["dim"] == 64
    assert rec.dataset["source"]["fingerprint"]
    assert rec.dataset["ignore_identical_ids"] is False
    assert rec.top_k == 1000 and rec.environment["packages"]["torch"]
    assert {"encode_corpus_s", "search_s", "score_s"} <= set(rec.timings)
    files = list((tmp_path / "out").rglob("*.json"))
    assert len(files) == 1
    [back] = load_results(tmp_path / "out")
    assert back.scores == rec.scores
    trec = files[0].with_suffix(".trec").read_text().splitlines()
    qid, q0, did, rank, score, tag = trec[0].split()
    assert (q0, rank, tag) == ("Q0", "1", "hashing")
    ranks = [int(line.split()[3]) for line in trec if line.startswith(qid + " ")]
    assert ranks == list(range(1, len(ranks) + 1))


def test_shards_go_longest_first_and_rows_stay_in_place(beir_dir: Path) -> None:
    from evalkit.retrieval import RetrievalSettings
    from evalkit.runner import evaluate_collection

    enc = HashingEncoder()
    coll = evalkit.load_beir_dir(beir_dir)
    [(rec, _)] = evaluate_collection(enc, coll, RetrievalSettings(cache=False, shard_size=2))
    # Shards of 2 by corpus position; inside a shard the longer text goes first.
    for a, b in zip(enc.seen[0::2], enc.seen[1::2]):
        assert len(a) >= len(b) - 1  # -1: the joining space is not in the byte length
    # Independent check of the scores: brute force over all docs with the same encoder.
    docs = coll.corpus.rows(range(len(coll.corpus)))
    d = enc.encode_documents(docs)
    run = {}
    for q in ["q1", "q2", "q3", "q4"]:
        s = d @ enc.encode_queries([coll.queries[q]])[0]
        run[q] = {doc["_id"]: float(x) for doc, x in zip(docs, s)}
    expect = evalkit.evaluate_run(coll.qrels, run, ["ndcg_at_10", "recall_at_100"])
    assert rec.scores == pytest.approx(expect.means, abs=1e-6)


def test_identical_ids_follow_mteb_at_depth(beir_dir: Path) -> None:
    """mteb keeps its top k and removes the query's own id afterwards (k - 1 left)."""
    from evalkit.data import load_beir_dir
    from evalkit.retrieval import RetrievalSettings
    from evalkit.runner import evaluate_collection

    enc = HashingEncoder()
    coll = load_beir_dir(beir_dir)
    [(keep, run_keep)] = evaluate_collection(enc, coll, RetrievalSettings(top_k=3, cache=False))
    coll.ignore_identical_ids = True
    [(drop, run_drop)] = evaluate_collection(enc, coll, RetrievalSettings(top_k=3, cache=False))
    assert "q3" in run_keep["q3"] and "q3" not in run_drop["q3"]
    assert list(run_drop["q3"]) == [d for d in run_keep["q3"] if d != "q3"]
    assert len(run_drop["q3"]) == 2
    assert drop.dataset["ignore_identical_ids"] is True
    assert keep.scores != drop.scores


def test_embedding_cache_is_reused_and_keyed(beir_dir: Path, tmp_path: Path) -> None:
    enc = HashingEncoder()
    [a] = evalkit.evaluate(enc, str(beir_dir), cache_dir=tmp_path / "c")
    n_first = len(enc.seen)
    [b] = evalkit.evaluate(enc, str(beir_dir), cache_dir=tmp_path / "c")
    assert len(enc.seen) == n_first  # nothing re-encoded
    assert b.search["corpus_from_cache"] and not a.search["corpus_from_cache"]
    assert b.search["shards"] == {"total": 1, "reused": 1, "computed": 0}
    assert a.scores == b.scores
    enc.spec = ModelSpec(name="hashing", kind="transformers", dim=64, revision="r2")
    [c] = evalkit.evaluate(enc, str(beir_dir), cache_dir=tmp_path / "c")
    assert not c.search["corpus_from_cache"]  # another revision is another key


def test_matryoshka_dim_cut(beir_dir: Path) -> None:
    [full] = evalkit.evaluate(HashingEncoder(), str(beir_dir))
    [cut] = evalkit.evaluate(HashingEncoder(), str(beir_dir), dim=8, force_dim=True)
    assert cut.model["dim"] == 8 and cut.model["full_dim"] == 64
    assert cut.search["dim"] == 8
    assert full.scores != cut.scores


def test_max_queries_sample_is_recorded(beir_dir: Path, tmp_path: Path) -> None:
    [rec] = evalkit.evaluate(
        HashingEncoder(), str(beir_dir), max_queries=2, seed=3, output_dir=tmp_path
    )
    assert rec.dataset["sampled_queries"] == {"n": 2, "seed": 3, "of": 4}
    assert not rec.is_full_run and rec.n_queries_scored == 2
    assert "sample2" in str(rec.relative_path())


def test_folder_of_beir_folders(beir_dir: Path) -> None:
    import shutil

    shutil.copytree(beir_dir, beir_dir.parent / "tiny2")
    recs = evalkit.evaluate("bm25", str(beir_dir.parent))
    assert [r.dataset["name"] for r in recs] == ["tiny", "tiny2"]
    assert recs[0].scores == recs[1].scores


def test_bm25_finds_keyword_matches(beir_dir: Path) -> None:
    [rec] = evalkit.evaluate("bm25", str(beir_dir), measures=["mrr_at_10"])
    assert rec.per_query["q1"]["mrr_at_10"] == 1.0  # "capital of France" -> d1
    assert rec.search["backend"] == "bm25s"


def test_bad_options(beir_dir: Path) -> None:
    with pytest.raises(EvalkitError, match="--top-k"):
        evalkit.evaluate("bm25", str(beir_dir), top_k=0)
    with pytest.raises(EvalkitError, match="--suite 'nope'"):
        evalkit.evaluate("bm25", "nope")
    with pytest.raises(EvalkitError, match="--model 'no-such-model'"):
        evalkit.evaluate("no-such-model", str(beir_dir))


@needs_minilm
def test_demo_suite_with_minilm_end_to_end(tmp_path: Path) -> None:
    recs = evalkit.evaluate("minilm", "demo", output_dir=tmp_path)
    [rec] = recs
    assert rec.model["hf_id"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert rec.model["max_doc_length"] == 256  # the model's own max_seq_length
    assert 0.3 < rec.scores["ndcg_at_10"] <= 1.0
    data = json.loads(next(tmp_path.rglob("*.json")).read_text())
    assert data["dataset"]["name"] == "demo" and data["model"]["name"] == "minilm"


def test_revision_is_for_hub_models_only(beir_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{}")
    with pytest.raises(EvalkitError, match="--revision abc: .* local directory"):
        evalkit.evaluate(str(tmp_path / "m"), str(beir_dir), revision="abc")


def test_missing_data_is_reported_before_the_model_loads() -> None:
    from evalkit.errors import DataError

    # drama-base is not cached either; the data error must come first (and fast).
    with pytest.raises(DataError, match="scifact"):
        evalkit.evaluate("drama-base", "beir", datasets=["scifact"])


def test_no_positively_judged_query_is_one_clear_error(tmp_path: Path) -> None:
    from conftest import SMALL_CORPUS, write_beir

    from evalkit.errors import DataError

    root = write_beir(tmp_path / "z", SMALL_CORPUS, [{"_id": "a", "text": "x"}], [("b", "d1", 1)])
    with pytest.raises(DataError, match="no query has a judgement > 0"):
        evalkit.evaluate("bm25", str(root))


def test_registered_suite_wins_over_a_folder_of_the_same_name(
    beir_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from evalkit.suites import resolve

    shutil.copytree(beir_dir, tmp_path / "beir" / "arguana")
    monkeypatch.chdir(tmp_path)
    assert {t.spec.suite for t in resolve("beir")} == {"beir"}
    assert [t.spec.suite for t in resolve("./beir")] == ["local"]


def test_reused_encoder_keeps_its_own_limits(beir_dir: Path) -> None:
    enc = HashingEncoder()
    enc.max_doc_length = 77
    [short] = evalkit.evaluate(enc, str(beir_dir), max_length=32)
    assert short.model["max_doc_length"] == 32
    assert enc.max_doc_length == 77
    [again] = evalkit.evaluate(enc, str(beir_dir))
    assert again.model["max_doc_length"] == 77


def test_record_identity_separates_settings() -> None:
    """Records that differ in anything that changes scores get different identities (and so
    different files); the same settings on the same data get the same one."""
    from evalkit.results import ResultRecord

    base = ResultRecord(
        model={
            "name": "m",
            "hf_id": "org/m",
            "revision": "abc",
            "dim": 8,
            "full_dim": 8,
            "max_doc_length": 512,
            "dtype": "float32",
        },
        dataset={
            "name": "d",
            "suite": "local",
            "split": "test",
            "language": None,
            "source": {"path": "/a/d", "fingerprint": "f1"},
        },
        scores={"ndcg_at_10": 0.5},
        n_queries_scored=1,
        n_queries_dropped=0,
        top_k=1000,
        search={"backend": "torch"},
    )
    same = ResultRecord.from_dict(base.to_dict())
    same.dataset = {**same.dataset, "source": {"path": "/elsewhere/d", "fingerprint": "f1"}}
    assert same.identity_key == base.identity_key
    variants = []
    for model in ({"max_doc_length": 256}, {"dtype": "bfloat16"}, {"revision": "def"}, {"dim": 4}):
        r = ResultRecord.from_dict(base.to_dict())
        r.model = {**r.model, **model}
        variants.append(r)
    r = ResultRecord.from_dict(base.to_dict())
    r.search = {"backend": "faiss"}
    variants.append(r)
    r = ResultRecord.from_dict(base.to_dict())
    r.dataset = {**r.dataset, "source": {"path": "/a/d", "fingerprint": "f2"}}
    variants.append(r)
    keys = {v.identity_key for v in variants} | {base.identity_key}
    assert len(keys) == len(variants) + 1
    assert len({v.relative_path() for v in variants} | {base.relative_path()}) == len(keys)
    # settings ignore the data side: a report row groups one model's datasets by it
    assert variants[-1].settings_key == base.settings_key


def test_max_length_past_the_model_is_refused_clearly(beir_dir: Path) -> None:
    """An index error deep in torch becomes one line with the model's real limit."""
    from evalkit.errors import EvalkitError

    with pytest.raises(EvalkitError, match=r"--max-length 1024: minilm takes at most 512"):
        evalkit.evaluate("minilm", str(beir_dir), max_length=1024, cache=False)


def _beir(root: Path, name: str, *, qrels: str | None) -> Path:
    d = root / name
    (d / "qrels").mkdir(parents=True)
    docs = [("d1", "rivers flow to the sea"), ("d2", "mountains are high"), ("d3", "tea")]
    (d / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": i, "title": "", "text": t}) + "\n" for i, t in docs)
    )
    (d / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "sea rivers"}) + "\n")
    if qrels is not None:
        (d / "qrels" / "test.tsv").write_text(qrels)
    return d


def test_folder_of_folders_scores_the_rest_and_fails(tmp_path: Path, capsys) -> None:
    """A broken sub-folder is reported in one line; the others are scored; the mean is
    marked incomplete; the exit code is 1. Warnings reach the user and the record."""
    from evalkit.cli import main

    root = tmp_path / "many"
    _beir(root, "good", qrels="query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\tghost\t1\n")
    _beir(root, "other", qrels="query-id\tcorpus-id\tscore\nq1\td2\t1\n")
    _beir(root, "broken", qrels=None)  # no qrels for the split
    with pytest.raises(SystemExit) as e:
        main(
            ["run", "-m", "bm25", "--suite", str(root), "-o", str(tmp_path / "o"), "--no-progress"]
        )
    assert e.value.code == 1
    out, err = capsys.readouterr()
    assert "failed" in err and "broken" in err and "Traceback" not in err
    assert "mean (incomplete)" in out
    assert "warning" in err and "not in corpus.jsonl" in err.replace("\n", " ")
    records = evalkit.load_results(tmp_path / "o")
    assert sorted(r.dataset["name"] for r in records) == ["good", "other"]
    good = next(r for r in records if r.dataset["name"] == "good")
    assert any("ghost" in w for w in good.dataset["warnings"])


@pytest.mark.parametrize(
    "args, message",
    [
        (["-m", "drama-base", "--dim", "100"], "--dim 100: drama-base was not trained"),
        (["-m", "drama-1b", "--dim", "4096"], "--dim 4096: drama-1b has 2048 dims"),
        (["-m", "minilm", "--device", "cuda"], "--device cuda: CUDA is not available"),
        (["-m", "bm25", "--dim", "64"], "--dim: bm25 has no embedding dimension"),
        (["-m", "minilm", "--dim", "12x"], "--dim '12x': expected a number"),
    ],
)
def test_options_refused_before_any_loading(
    args: list[str], message: str, tmp_path: Path, capsys, monkeypatch
) -> None:
    """Checked against the registry, not the loaded model: refused in well under a second,
    and no data or model is touched (loading either would fail this test)."""
    import evalkit.data as suites_mod
    import evalkit.runner as runner

    def boom(*a, **k):
        raise AssertionError("loaded something before refusing")

    monkeypatch.setattr(runner, "load_model", boom)
    monkeypatch.setattr(suites_mod, "load", boom)
    from evalkit.cli import main

    with pytest.raises(SystemExit) as e:
        main(["run", *args, "--suite", "demo", "-o", str(tmp_path), "--no-progress"])
    assert e.value.code == 2
    assert message in capsys.readouterr().err.replace("\n", " ")
