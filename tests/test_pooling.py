"""Each model's own pooling and similarity: CLS / mean / last-token pooling for plain
transformers checkpoints, ``similarity_fn_name`` and ``Normalize`` for sentence-transformers
models, ``--pooling`` / ``--similarity``, and, on a tiny CLS-pooled dot-product checkpoint built
here, evalkit's scores equal to mteb's and beir's, each peer loading the model and the BEIR
folder itself."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import peers
import pytest
import torch
from conftest import write_beir

import evalkit
from evalkit.errors import ModelError
from evalkit.models.base import ModelSpec
from evalkit.models.registry import load_encoder, resolve_model

HIDDEN = 32
MEASURES = ("ndcg_at_10", "recall_at_100", "map_at_100", "mrr_at_10", "precision_at_3")

CORPUS = [
    {"_id": "d1", "title": "Paris", "text": "Paris is the capital and largest city of France."},
    {"_id": "d2", "title": "Berlin", "text": "Berlin is the capital of Germany."},
    {"_id": "d3", "title": "", "text": "The Nile is a long river that flows north into the sea."},
    {"_id": "d4", "title": "Tea", "text": "Green tea is made from leaves that are not oxidised."},
    {"_id": "d5", "title": "Rome", "text": "Rome, the capital of Italy, was founded on hills."},
    {"_id": "d6", "title": "Trees", "text": "Trees grow towards the light and store carbon."},
    {"_id": "d7", "title": "Danube", "text": "The Danube flows east through Vienna and Budapest."},
    {"_id": "d8", "title": "", "text": "Coffee beans are roasted before they are ground."},
    {"_id": "d9", "title": "Madrid", "text": "Madrid is the capital of Spain, on a high plateau."},
    {"_id": "d10", "title": "Oak", "text": "An oak tree can live for many hundreds of years."},
    {"_id": "d11", "title": "Rhine", "text": "The Rhine flows north through Germany to the sea."},
    {"_id": "d12", "title": "Black tea", "text": "Black tea leaves are fully oxidised and dried."},
]
QUERIES = [
    {"_id": "q1", "text": "What is the capital of France?"},
    {"_id": "q2", "text": "Which river flows north?"},
    {"_id": "q3", "text": "how do trees grow"},
    {"_id": "q4", "text": "capital of Italy"},
    {"_id": "q5", "text": "how is tea made"},
    {"_id": "q6", "text": "rivers of Germany"},
]
QRELS = [
    ("q1", "d1", 2),
    ("q1", "d2", 0),
    ("q2", "d3", 1),
    ("q2", "d11", 2),
    ("q3", "d6", 1),
    ("q3", "d10", 1),
    ("q4", "d5", 2),
    ("q5", "d4", 1),
    ("q5", "d12", 1),
    ("q6", "d11", 1),
    ("q6", "d2", 1),
]
TEXTS = [q["text"] for q in QUERIES] + [d["text"] for d in CORPUS[:4]]


def _words(texts: list[str]) -> list[str]:
    return sorted({w for t in texts for w in re.findall(r"\w+|[^\w\s]", t.lower())})


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny random BERT with a WordPiece vocabulary written here, saved twice: ``raw`` (plain
    transformers) and ``st`` (sentence-transformers: CLS pooling, no Normalize, similarity
    'dot'), with the same weights."""
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel, BertTokenizerFast

    root = tmp_path_factory.mktemp("cls_dot")
    texts = [d["title"] + " " + d["text"] for d in CORPUS] + [q["text"] for q in QUERIES]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *_words(texts)]
    (root / "vocab").mkdir()
    (root / "vocab" / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tok = BertTokenizerFast.from_pretrained(str(root / "vocab"), model_max_length=64)
    assert tok.unk_token_id not in tok(texts[0])["input_ids"]
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=len(vocab),
        hidden_size=HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        initializer_range=0.1,  # distinct CLS vectors: no near-ties between peers' rankings
    )
    bert = BertModel(cfg).eval()
    with torch.no_grad():
        # A LayerNorm of unit gain makes every vector the same length, so dot would rank as
        # cosine; a random gain and bias make the two similarities rank differently.
        last_norm = bert.encoder.layer[-1].output.LayerNorm
        last_norm.weight.uniform_(0.1, 3.0)
        last_norm.bias.normal_(0.0, 1.0)
    bert.save_pretrained(str(root / "raw"))
    tok.save_pretrained(str(root / "raw"))
    st = SentenceTransformer(
        modules=[
            models.Transformer(str(root / "raw"), max_seq_length=64),
            models.Pooling(HIDDEN, pooling_mode="cls"),
        ],
        similarity_fn_name="dot",
        device="cpu",
    )
    st.save(str(root / "st"))
    return {"raw": root / "raw", "st": root / "st"}


@pytest.fixture(scope="module")
def beir_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_beir(tmp_path_factory.mktemp("beir") / "cls-dot", CORPUS, QUERIES, QRELS)


def hand(path: Path, texts: list[str], pooling: str) -> np.ndarray:
    """Each text alone through AutoModel, no padding, pooled by hand, not normalised."""
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path))
    model = AutoModel.from_pretrained(str(path)).eval()
    rows = []
    with torch.no_grad():
        for t in texts:
            hidden = model(**tok(t, return_tensors="pt")).last_hidden_state[0]
            rows.append({"cls": hidden[0], "last": hidden[-1], "mean": hidden.mean(0)}[pooling])
    return torch.stack(rows).numpy()


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# ---- plain transformers: the spec's pooling and similarity -----------------------------------


@pytest.mark.parametrize("pooling", ["cls", "last", "mean"])
def test_plain_pooling_equals_a_hand_computation(ckpt: dict[str, Path], pooling: str) -> None:
    enc = load_encoder(
        resolve_model(str(ckpt["raw"]), pooling=pooling, similarity="dot"), device="cpu"
    )
    assert (enc.spec.pooling, enc.spec.similarity, enc.spec.normalize) == (pooling, "dot", False)
    # batch_size 3: texts of different lengths share right-padded batches.
    got = enc.encode_documents(TEXTS, batch_size=3)
    np.testing.assert_allclose(got, hand(ckpt["raw"], TEXTS, pooling), atol=1e-5)
    assert not np.allclose(np.linalg.norm(got, axis=1), 1.0)  # dot: raw vectors


def test_plain_defaults_are_mean_and_cosine(ckpt: dict[str, Path]) -> None:
    enc = load_encoder(str(ckpt["raw"]), device="cpu")
    assert (enc.spec.pooling, enc.spec.similarity, enc.spec.normalize) == ("mean", "cosine", True)
    want = hand(ckpt["raw"], TEXTS, "mean")
    want /= np.linalg.norm(want, axis=1, keepdims=True)
    np.testing.assert_allclose(enc.encode_queries(TEXTS), want, atol=1e-5)


def test_cosine_cls_normalises_and_dot_cuts_are_not_renormalised(ckpt: dict[str, Path]) -> None:
    cos = load_encoder(
        resolve_model(str(ckpt["raw"]), pooling="cls", similarity="cosine"), device="cpu"
    )
    raw = hand(ckpt["raw"], TEXTS, "cls")
    np.testing.assert_allclose(
        cos.encode_queries(TEXTS), raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-5
    )
    dot = load_encoder(
        resolve_model(str(ckpt["raw"]), pooling="cls", similarity="dot"), device="cpu"
    )
    np.testing.assert_allclose(
        dot.encode_queries(TEXTS, dim=8, force_dim=True), raw[:, :8], atol=1e-5
    )


def test_plain_run_of_a_st_checkpoint_reads_its_pooling_and_similarity(
    ckpt: dict[str, Path], tmp_path: Path
) -> None:
    """Run as plain transformers, a sentence-transformers checkpoint is pooled and scored as
    its own files say, and gives what sentence-transformers gives."""
    from sentence_transformers import SentenceTransformer

    enc = load_encoder(str(ckpt["st"]), model_type="transformers", device="cpu")
    assert type(enc).__name__ == "TransformerEncoder"
    assert (enc.spec.pooling, enc.spec.similarity, enc.spec.normalize) == ("cls", "dot", False)
    ref = SentenceTransformer(str(ckpt["st"]), device="cpu").encode(TEXTS)
    np.testing.assert_allclose(enc.encode_documents(TEXTS), ref, atol=1e-5)
    # --pooling / --similarity beat the checkpoint's files.
    over = load_encoder(
        resolve_model(str(ckpt["st"]), "transformers", pooling="mean", similarity="cosine"),
        device="cpu",
    )
    assert (over.spec.pooling, over.spec.similarity, over.spec.normalize) == (
        "mean",
        "cosine",
        True,
    )

    # sentence-transformers < 6 wrote one boolean per mode; a Normalize module and no
    # similarity_fn_name (sentence-transformers' default: cosine).
    old = _copy(ckpt["st"], tmp_path / "old")
    (old / "1_Pooling" / "config.json").write_text(
        json.dumps(
            {
                "word_embedding_dimension": HIDDEN,
                "pooling_mode_cls_token": False,
                "pooling_mode_mean_tokens": False,
                "pooling_mode_lasttoken": True,
            }
        )
    )
    modules = json.loads((old / "modules.json").read_text())
    modules.append(
        {
            "idx": 2,
            "name": "2",
            "path": "2_Normalize",
            "type": "sentence_transformers.models.Normalize",
        }
    )
    (old / "modules.json").write_text(json.dumps(modules))
    cfg = json.loads((old / "config_sentence_transformers.json").read_text())
    del cfg["similarity_fn_name"]
    (old / "config_sentence_transformers.json").write_text(json.dumps(cfg))
    enc = load_encoder(str(old), model_type="transformers", device="cpu")
    assert (enc.spec.pooling, enc.spec.similarity, enc.spec.normalize) == ("last", "cosine", True)
    last = hand(ckpt["raw"], TEXTS, "last")
    np.testing.assert_allclose(
        enc.encode_queries(TEXTS), last / np.linalg.norm(last, axis=1, keepdims=True), atol=1e-5
    )


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("max", r"pools with max, which plain transformers does not run"),
        ("dense", r"module Dense is not run by plain transformers"),
        ("euclidean", r"similarity_fn_name is 'euclidean'"),
    ],
)
def test_a_st_layout_plain_transformers_cannot_run_is_refused(
    ckpt: dict[str, Path], tmp_path: Path, edit: str, message: str
) -> None:
    path = _copy(ckpt["st"], tmp_path / edit)
    if edit == "max":
        (path / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode": "max"}))
    elif edit == "dense":
        modules = json.loads((path / "modules.json").read_text())
        modules.append({"idx": 2, "name": "2", "path": "2_Dense", "type": "x.models.Dense"})
        (path / "modules.json").write_text(json.dumps(modules))
    else:
        cfg = json.loads((path / "config_sentence_transformers.json").read_text())
        cfg["similarity_fn_name"] = "euclidean"
        (path / "config_sentence_transformers.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelError, match=message) as err:
        load_encoder(str(path), model_type="transformers", device="cpu")
    assert "\n" not in str(err.value) and path.name in str(err.value)


# ---- sentence-transformers: the model's own similarity and Normalize --------------------------


def test_st_dot_model_is_not_normalised(ckpt: dict[str, Path]) -> None:
    from sentence_transformers import SentenceTransformer

    enc = load_encoder(str(ckpt["st"]), device="cpu")
    assert type(enc).__name__ == "SentenceTransformerEncoder"
    assert (enc.spec.pooling, enc.spec.similarity, enc.spec.normalize) == ("cls", "dot", False)
    ref = SentenceTransformer(str(ckpt["st"]), device="cpu")
    np.testing.assert_allclose(enc.encode_queries(TEXTS), ref.encode(TEXTS), atol=1e-5)
    np.testing.assert_allclose(
        enc.encode_queries(TEXTS, dim=8, force_dim=True),
        ref.encode(TEXTS, truncate_dim=8),
        atol=1e-5,
    )
    # --similarity cosine on the same model: normalised, and the model scores by cosine too.
    cos = load_encoder(resolve_model(str(ckpt["st"]), similarity="cosine"), device="cpu")
    assert (cos.spec.similarity, cos.spec.normalize) == ("cosine", True)
    assert cos.model.similarity_fn_name == "cosine"
    np.testing.assert_allclose(
        cos.encode_queries(TEXTS), ref.encode(TEXTS, normalize_embeddings=True), atol=1e-5
    )


def test_st_normalize_module_with_dot_keeps_unit_vectors(ckpt: dict[str, Path], tmp_path: Path):
    from sentence_transformers import SentenceTransformer, models

    base = SentenceTransformer(str(ckpt["st"]), device="cpu")
    st = SentenceTransformer(
        modules=[base[0], base[1], models.Normalize()], similarity_fn_name="dot", device="cpu"
    )
    st.save(str(tmp_path / "norm-dot"))
    enc = load_encoder(str(tmp_path / "norm-dot"), device="cpu")
    assert (enc.spec.similarity, enc.spec.normalize) == ("dot", True)
    np.testing.assert_allclose(np.linalg.norm(enc.encode_queries(TEXTS), axis=1), 1, atol=1e-6)


# ---- --pooling / --similarity and the spec's own checks --------------------------------------


def test_resolve_model_validates_pooling_and_similarity(ckpt: dict[str, Path]) -> None:
    spec = resolve_model(str(ckpt["raw"]), pooling="last", similarity="dot")
    assert (spec.kind, spec.pooling, spec.similarity, spec.normalize) == (
        "transformers",
        "last",
        "dot",
        False,
    )
    unset = resolve_model(str(ckpt["raw"]))
    assert (unset.pooling, unset.similarity, unset.normalize) == (None, None, None)
    cases = [
        ((str(ckpt["raw"]),), {"pooling": "max"}, r"^--pooling 'max': expected one of cls, mean"),
        ((str(ckpt["raw"]),), {"similarity": "l2"}, r"^--similarity 'l2': expected one of"),
        (("bm25",), {"pooling": "cls"}, r"^--pooling: bm25 is a sparse retriever"),
        (("bm25",), {"similarity": "dot"}, r"^--similarity: bm25 is a sparse retriever"),
        ((str(ckpt["st"]),), {"pooling": "mean"}, r"^--pooling mean: st is a sentence-transf"),
        (("drama-base",), {"pooling": "cls"}, r"^--pooling cls: drama-base is a drama model"),
        (("drama-base",), {"similarity": "dot"}, r"^--similarity dot: drama-base is a DRAMA"),
    ]
    for args, kwargs, message in cases:
        with pytest.raises(ModelError, match=message) as err:
            resolve_model(*args, **kwargs)
        assert "\n" not in str(err.value)
    st = resolve_model(str(ckpt["st"]), similarity="dot")
    assert (st.kind, st.similarity, st.normalize) == ("sentence-transformers", "dot", False)
    drama = resolve_model("drama-base", pooling="mean", similarity="cosine")
    assert (drama.pooling, drama.similarity, drama.normalize) == ("mean", "cosine", True)


def test_model_spec_similarity_and_normalize_agree() -> None:
    assert ModelSpec(name="m", kind="transformers", similarity="dot").normalize is False
    assert ModelSpec(name="m", kind="transformers", similarity="cosine").normalize is True
    assert ModelSpec(name="m", kind="transformers", similarity="dot", normalize=True).normalize
    with pytest.raises(ModelError, match="similarity 'cosine' needs normalize=True"):
        ModelSpec(name="m", kind="transformers", similarity="cosine", normalize=False)
    with pytest.raises(ModelError, match=r"--similarity 'euclidean' \(m\)"):
        ModelSpec(name="m", kind="transformers", similarity="euclidean")  # type: ignore[arg-type]


# ---- the same numbers as mteb and beir on the CLS / dot checkpoint ---------------------------


def _evalkit_run(model: str | ModelSpec, data: Path, out: Path) -> tuple[dict, dict]:
    [rec] = evalkit.evaluate(
        model, str(data), measures=MEASURES, cache=False, save_run=True, output_dir=out
    )
    [trec] = list(out.rglob("*.trec"))
    return rec, peers.read_trec_run(trec)


def _same_rankings(a: dict, b: dict, k: int = 10) -> None:
    assert sorted(a) == sorted(b)
    for q in a:
        top = peers.top_ids(a[q], k)
        assert top == peers.top_ids(b[q], k), q
        np.testing.assert_allclose([a[q][d] for d in top], [b[q][d] for d in top], rtol=1e-5)


def test_cls_dot_checkpoint_scores_equal_mteb_and_beir(
    ckpt: dict[str, Path], beir_folder: Path, tmp_path: Path
) -> None:
    """evalkit on the sentence-transformers checkpoint and on its plain-transformers weights
    with ``--pooling cls --similarity dot`` vs mteb (loading the model by path, reading the
    folder through its retrieval task) and beir (GenericDataLoader, models.SentenceBERT,
    exact search with score_function='dot'): same ranked lists and scores, same metrics."""
    import mteb
    from beir.datasets.data_loader import GenericDataLoader
    from beir.retrieval import models
    from beir.retrieval.evaluation import EvaluateRetrieval
    from beir.retrieval.search.dense import DenseRetrievalExactSearch
    from mteb.models import SentenceTransformerEncoderWrapper

    from evalkit.adapters.mteb_tasks import local_retrieval_task

    rec, run = _evalkit_run(str(ckpt["st"]), beir_folder, tmp_path / "ek-st")
    assert rec.search["similarity"] == "dot"
    assert max(max(r.values()) for r in run.values()) > 1.5  # raw dot products, not cosines
    plain, plain_run = _evalkit_run(
        resolve_model(str(ckpt["raw"]), pooling="cls", similarity="dot"),
        beir_folder,
        tmp_path / "ek-plain",
    )
    _same_rankings(plain_run, run)
    assert rec.n_queries_scored == len(QUERIES) and rec.n_queries_dropped == 0
    # The similarity matters here: cosine ranks the same vectors differently.
    _, cos_run = _evalkit_run(
        resolve_model(str(ckpt["raw"]), pooling="cls", similarity="cosine"),
        beir_folder,
        tmp_path / "ek-cos",
    )
    assert any(peers.top_ids(cos_run[q], 10) != peers.top_ids(run[q], 10) for q in run)

    # mteb: its wrapper loads the model from the path; the task reads the folder.
    task = local_retrieval_task(beir_folder)
    result = mteb.evaluate(
        SentenceTransformerEncoderWrapper(str(ckpt["st"]), device="cpu"),
        task,
        cache=mteb.ResultCache(cache_path=tmp_path / "mteb-cache"),
        overwrite_strategy="always",
        prediction_folder=tmp_path / "predictions",
        show_progress_bar=False,
    )
    shown = result.task_results[0].scores["test"][0]
    pred = json.loads((tmp_path / "predictions" / task.prediction_file_name).read_text())
    mteb_run = pred["default"]["test"]
    _same_rankings(run, mteb_run)

    # beir: its loader, its SentenceBERT, its exact search by dot product.
    corpus, queries, qrels = GenericDataLoader(data_folder=str(beir_folder)).load(split="test")
    retriever = EvaluateRetrieval(
        DenseRetrievalExactSearch(models.SentenceBERT(str(ckpt["st"]), device="cpu")),
        score_function="dot",
        k_values=list(peers.K_VALUES),
    )
    beir_run = retriever.retrieve(corpus, queries)
    _same_rankings(run, beir_run)

    for name in MEASURES:
        for ek in (rec, plain):
            assert abs(ek.scores[name] - shown[name]) <= 5e-6 + 1e-12, ("mteb", name)
    exact_mteb = peers.mteb_scores(qrels, mteb_run, ignore_identical_ids=False, rounded=False)
    exact_beir = peers.beir_scores(qrels, beir_run, ignore_identical_ids=True, rounded=False)
    for name in MEASURES:
        assert rec.scores[name] == pytest.approx(exact_mteb[name], abs=1e-12), ("mteb", name)
        if name in exact_beir:
            assert rec.scores[name] == pytest.approx(exact_beir[name], abs=1e-12), ("beir", name)
        assert plain.scores[name] == pytest.approx(rec.scores[name], abs=1e-12), name
