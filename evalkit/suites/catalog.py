"""The paper's suites as data: BEIR-13, MIRACL-18, MLDR-13, MTEB-FR/ZH/DE, and ``paper``.

Every dataset mteb defines is recorded with mteb's own definition (Hub repository, pinned
revision, split, subsets, identical-ids rule), so evalkit scores the same data mteb scores.
The literals were generated once from the task metadata of mteb 2.26.24
(``mteb.get_task(name).metadata``, the class attribute ``ignore_identical_ids`` and
``metadata.descriptive_stats`` for the sizes) and are committed as data;
``tests/test_suites.py`` compares them with the installed mteb so drift is caught.

Choices that are evalkit's, not mteb's (README, "Suites"):

- MIRACL reads ``mteb/MIRACLRetrieval``: the **full** per-language corpora (106,332,152
  passages, 13,495 dev queries, as in the original ``miracl/miracl-corpus``), not the pooled
  ``MIRACLRetrievalHardNegatives``. The original repositories are recorded as an alternate
  source (a local copy under ``--data-dir`` is read with the ``miracl`` loader).
- ``main_metric`` is nDCG@10 everywhere (the paper's Table 1 metric); where mteb's main score
  differs (BSARD: recall@100, GermanQuAD: MRR@5) ``source["mteb_main_score"]`` records it.
- Token limits are not given in the paper: 512 for queries and documents (what a public DRAMA
  MIRACL script used) and 8192 for MLDR documents (encoded whole, no chunking). ``evalkit run
  --max-length`` overrides them.
"""

from __future__ import annotations

from typing import Any

from evalkit.suites.base import DatasetSpec, Suite, register_suite

MTEB_VERSION = "2.26.24"
"""The mteb release the literals below were read from."""

MAX_QUERY_TOKENS = 512
MAX_DOC_TOKENS = 512
MLDR_DOC_TOKENS = 8192


def _spec(
    name: str,
    suite: str,
    mteb_task: str,
    hub_id: str,
    revision: str,
    split: str,
    size: dict[str, Any],
    citation: str,
    *,
    languages: tuple[str, ...] = (),
    ignore_identical_ids: bool = False,
    layout: str = "mteb",
    max_doc_length: int = MAX_DOC_TOKENS,
    mteb_main_score: str | None = None,
    alternates: tuple[dict[str, Any], ...] = (),
    **source: Any,
) -> DatasetSpec:
    """One row of the catalog; keeps each dataset to a few lines."""
    src: dict[str, Any] = {"id": hub_id, "revision": revision, **source}
    if mteb_main_score:
        src["mteb_main_score"] = mteb_main_score
    if alternates:
        src["alternates"] = alternates
    return DatasetSpec(
        name=name,
        suite=suite,
        layout=layout,
        split=split,
        languages=languages,
        source=src,
        ignore_identical_ids=ignore_identical_ids,
        max_query_length=MAX_QUERY_TOKENS,
        max_doc_length=max_doc_length,
        main_metric="ndcg_at_10",
        mteb_task=mteb_task,
        citation=citation,
        size=size,
    )


def _beir_hub(name: str) -> dict[str, Any]:
    # BeIR's own repositories (corpus/queries configs + a ``-qrels`` repository). No commit
    # could be verified without Hub access, so they are unpinned: use them through --data-dir.
    return {
        "layout": "beir-hub",
        "id": f"BeIR/{name}",
        "revision": None,
        "qrels_id": f"BeIR/{name}-qrels",
        "qrels_revision": None,
    }


# The original MIRACL repositories (topics and qrels TSV files per language; corpus as
# ``docs-*.jsonl.gz`` with ``docid, title, text``). Revisions as pinned by two independent
# public projects that read these files; not re-verified here (no Hub access).
_MIRACL_ORIGINAL: dict[str, Any] = {
    "layout": "miracl",
    "id": "miracl/miracl",
    "revision": "5be20db9509754dadad47689368639fcec739c00",
    "corpus_id": "miracl/miracl-corpus",
    "corpus_revision": "d921ec7e349ce0d28daf30b2da9da5ee698bef0d",
}

# BGE-M3's release of MLDR (configs ``{lang}`` and ``corpus-{lang}``); the Parquet revision
# that later mteb releases read for MultiLongDocReranking.
_MLDR_ORIGINAL: dict[str, Any] = {
    "layout": "mldr",
    "id": "Shitao/MLDR",
    "revision": "b38336456b0e2a0dc1f6b8b3ce3a0e1f3c436d16",
}

BEIR: tuple[DatasetSpec, ...] = (
    _spec(
        "trec-covid",
        "beir",
        "TRECCOVID",
        "mteb/trec-covid",
        "bb9466bac8153a0349341eb1b22e06409e78ef4e",
        "test",
        {"queries": 50, "docs": 171332},
        "Roberts et al. (2021). Searching for Scientific Evidence in a Pandemic: An Overview "
        "of TREC-COVID.",
        alternates=(_beir_hub("trec-covid"),),
    ),
    _spec(
        "nfcorpus",
        "beir",
        "NFCorpus",
        "mteb/nfcorpus",
        "ec0fa4fe99da2ff19ca1214b7966684033a58814",
        "test",
        {"queries": 323, "docs": 3633},
        "Boteva et al. (2016). A Full-Text Learning to Rank Dataset for Medical Information "
        "Retrieval.",
        alternates=(_beir_hub("nfcorpus"),),
    ),
    _spec(
        "nq",
        "beir",
        "NQ",
        "mteb/nq",
        "b774495ed302d8c44a3a7ea25c90dbce03968f31",
        "test",
        {"queries": 3452, "docs": 2681468},
        "Kwiatkowski et al. (2019). Natural Questions: a Benchmark for Question Answering "
        "Research.",
        alternates=(_beir_hub("nq"),),
    ),
    _spec(
        "hotpotqa",
        "beir",
        "HotpotQA",
        "mteb/hotpotqa",
        "ab518f4d6fcca38d87c25209f94beba119d02014",
        "test",
        {"queries": 7405, "docs": 5233329},
        "Yang et al. (2018). HotpotQA: A Dataset for Diverse, Explainable Multi-hop Question "
        "Answering.",
        alternates=(_beir_hub("hotpotqa"),),
    ),
    _spec(
        "fiqa",
        "beir",
        "FiQA2018",
        "mteb/fiqa",
        "27a168819829fe9bcd655c2df245fb19452e8e06",
        "test",
        {"queries": 648, "docs": 57638},
        "Thakur et al. (2021). BEIR: A Heterogeneous Benchmark for Zero-shot Evaluation of "
        "Information Retrieval Models.",
        ignore_identical_ids=True,
        alternates=(_beir_hub("fiqa"),),
    ),
    _spec(
        "arguana",
        "beir",
        "ArguAna",
        "mteb/arguana",
        "c22ab2a51041ffd869aaddef7af8d8215647e41a",
        "test",
        {"queries": 1406, "docs": 8674},
        "Wachsmuth et al. (2018). Retrieval of the Best Counterargument without Prior Topic "
        "Knowledge.",
        ignore_identical_ids=True,
        alternates=(_beir_hub("arguana"),),
    ),
    _spec(
        "webis-touche2020",
        "beir",
        "Touche2020",
        "mteb/touche2020",
        "a34f9a33db75fa0cbb21bb5cfc3dae8dc8bec93f",
        "test",
        {"queries": 49, "docs": 382545},
        "Potthast et al. (2022). Touché20-Argument-Retrieval-for-Controversial-Questions.",
        alternates=(_beir_hub("webis-touche2020"),),
    ),
    _spec(
        "quora",
        "beir",
        "QuoraRetrieval",
        "mteb/quora",
        "e4e08e0b7dbe3c8700f0daef558ff32256715259",
        "test",
        {"queries": 10000, "docs": 522931},
        "DataCanary (2017). Quora Question Pairs.",
        ignore_identical_ids=True,
        alternates=(_beir_hub("quora"),),
    ),
    _spec(
        "dbpedia-entity",
        "beir",
        "DBPedia",
        "mteb/dbpedia",
        "c0f706b76e590d620bd6618b3ca8efdd34e2d659",
        "test",
        {"queries": 400, "docs": 4635922},
        "Hasibi et al. (2017). DBpedia-Entity V2: A Test Collection for Entity Search.",
        alternates=(_beir_hub("dbpedia-entity"),),
    ),
    _spec(
        "scidocs",
        "beir",
        "SCIDOCS",
        "mteb/scidocs",
        "f8c2fcf00f625baaa80f62ec5bd9e1fff3b8ae88",
        "test",
        {"queries": 1000, "docs": 25657},
        "Cohan et al. (2020). SPECTER: Document-level Representation Learning using Citation-"
        "informed Transformers.",
        alternates=(_beir_hub("scidocs"),),
    ),
    _spec(
        "fever",
        "beir",
        "FEVER",
        "mteb/fever",
        "bea83ef9e8fb933d90a2f1d5515737465d613e12",
        "test",
        {"queries": 6666, "docs": 5416568},
        "Thorne et al. (2018). FEVER: a Large-scale Dataset for Fact Extraction and VERification.",
        ignore_identical_ids=True,
        alternates=(_beir_hub("fever"),),
    ),
    _spec(
        "climate-fever",
        "beir",
        "ClimateFEVER",
        "mteb/climate-fever",
        "47f2ac6acb640fc46020b02a5b59fdda04d39380",
        "test",
        {"queries": 1535, "docs": 5416593},
        "Diggelmann et al. (2021). CLIMATE-FEVER: A Dataset for Verification of Real-World "
        "Climate Claims.",
        alternates=(_beir_hub("climate-fever"),),
    ),
    _spec(
        "scifact",
        "beir",
        "SciFact",
        "mteb/scifact",
        "d56462d0e63a25450459c4f213e49ffdb866f7f9",
        "test",
        {"queries": 300, "docs": 5183},
        "Cohan et al. (2020). SPECTER: Document-level Representation Learning using Citation-"
        "informed Transformers.",
        alternates=(_beir_hub("scifact"),),
    ),
)

MIRACL: tuple[DatasetSpec, ...] = (
    _spec(
        "miracl",
        "miracl",
        "MIRACLRetrieval",
        "mteb/MIRACLRetrieval",
        "9c09abc13478308c27598f350e31d8f06b9b5481",
        "dev",
        {
            "queries": 13495,
            "docs": 106332152,
            "per_language": {
                "ar": {"queries": 2896, "docs": 2061414},
                "bn": {"queries": 411, "docs": 297265},
                "de": {"queries": 305, "docs": 15866222},
                "en": {"queries": 799, "docs": 32893221},
                "es": {"queries": 648, "docs": 10373953},
                "fa": {"queries": 632, "docs": 2207172},
                "fi": {"queries": 1271, "docs": 1883509},
                "fr": {"queries": 343, "docs": 14636953},
                "hi": {"queries": 350, "docs": 506264},
                "id": {"queries": 960, "docs": 1446315},
                "ja": {"queries": 860, "docs": 6953614},
                "ko": {"queries": 213, "docs": 1486752},
                "ru": {"queries": 1252, "docs": 9543918},
                "sw": {"queries": 482, "docs": 131924},
                "te": {"queries": 828, "docs": 518079},
                "th": {"queries": 733, "docs": 542166},
                "yo": {"queries": 119, "docs": 49043},
                "zh": {"queries": 393, "docs": 4934368},
            },
        },
        "Zhang et al. (2023). MIRACL: A Multilingual Retrieval Dataset Covering 18 Diverse "
        "Languages.",
        languages=(
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
            "ja",
            "ko",
            "ru",
            "sw",
            "te",
            "th",
            "yo",
            "zh",
        ),
        alternates=(_MIRACL_ORIGINAL,),
    ),
)

MLDR: tuple[DatasetSpec, ...] = (
    _spec(
        "mldr",
        "mldr",
        "MultiLongDocRetrieval",
        "mteb/MultiLongDocRetrieval",
        "837028901907a7d419b4ab906f28e011ce1cc824",
        "test",
        {
            "queries": 3800,
            "docs": 493709,
            "per_language": {
                "ar": {"queries": 200, "docs": 7607},
                "de": {"queries": 200, "docs": 10000},
                "en": {"queries": 800, "docs": 200000},
                "es": {"queries": 200, "docs": 9551},
                "fr": {"queries": 200, "docs": 10000},
                "hi": {"queries": 200, "docs": 3806},
                "it": {"queries": 200, "docs": 10000},
                "ja": {"queries": 200, "docs": 10000},
                "ko": {"queries": 200, "docs": 6176},
                "pt": {"queries": 200, "docs": 6569},
                "ru": {"queries": 200, "docs": 10000},
                "th": {"queries": 200, "docs": 10000},
                "zh": {"queries": 800, "docs": 200000},
            },
        },
        "Chen et al. (2024). BGE M3-Embedding: Multi-Lingual, Multi-Functionality, Multi-"
        "Granularity Text Embeddings Through Self-Knowledge Distillation.",
        languages=(
            "ar",
            "de",
            "en",
            "es",
            "fr",
            "hi",
            "it",
            "ja",
            "ko",
            "pt",
            "ru",
            "th",
            "zh",
        ),
        max_doc_length=MLDR_DOC_TOKENS,
        alternates=(_MLDR_ORIGINAL,),
    ),
)

MTEB_FR: tuple[DatasetSpec, ...] = (
    _spec(
        "AlloprofRetrieval",
        "mteb-fr",
        "AlloprofRetrieval",
        "mteb/AlloprofRetrieval",
        "96a52a1744e2d1981a66d93ff3b5a595f9a150d5",
        "test",
        {"queries": 2316, "docs": 2556},
        "Lefebvre-Brossard et al. (2023). Alloprof: a new French question-answer education "
        "dataset and its use in an information retrieval case study.",
    ),
    _spec(
        "BSARDRetrieval",
        "mteb-fr",
        "BSARDRetrieval",
        "mteb/BSARDRetrieval",
        "8c492add6a14ac188f2debdaf6cbdfb406fd6be3",
        "test",
        {"queries": 222, "docs": 22633},
        "Louis et al. (2022). A Statutory Article Retrieval Dataset in French.",
        ignore_identical_ids=True,
        mteb_main_score="recall_at_100",
    ),
    _spec(
        "MintakaRetrieval",
        "mteb-fr",
        "MintakaRetrieval",
        "mteb/MintakaRetrieval",
        "43bc699486e768138ce3a6d4cd859da306ac9eef",
        "test",
        {
            "queries": 2442,
            "docs": 1714,
            "per_language": {
                "fr": {"queries": 2442, "docs": 1714},
            },
        },
        "Sen et al. (2022). Mintaka: A Complex, Natural, and Multilingual Dataset for End-to-"
        "End Question Answering.",
        languages=("fr",),
    ),
    _spec(
        "SyntecRetrieval",
        "mteb-fr",
        "SyntecRetrieval",
        "lyon-nlp/mteb-fr-retrieval-syntec-s2p",
        "19661ccdca4dfc2d15122d776b61685f48c68ca9",
        "test",
        {"queries": 100, "docs": 90},
        "Ciancone et al. (2024). MTEB-French: Resources for French Sentence Embedding "
        "Evaluation and Analysis.",
        layout="syntec",
    ),
    _spec(
        "XPQARetrieval",
        "mteb-fr",
        "XPQARetrieval",
        "mteb/XPQARetrieval",
        "fc4624be978945a0ceebbc4b85737258fe26330b",
        "test",
        {
            "queries": 2247,
            "docs": 4770,
            "per_language": {
                "fra-fra": {"queries": 749, "docs": 1548},
                "eng-fra": {"queries": 749, "docs": 1674},
                "fra-eng": {"queries": 749, "docs": 1548},
            },
        },
        "Shen et al. (2023). xPQA: Cross-Lingual Product Question Answering in 12 Languages.",
        languages=("fra-fra", "eng-fra", "fra-eng"),
    ),
)

MTEB_ZH: tuple[DatasetSpec, ...] = (
    _spec(
        "T2Retrieval",
        "mteb-zh",
        "T2Retrieval",
        "mteb/T2Retrieval",
        "cf778c0ea4168ec5174a34d888d6453e4cde9222",
        "dev",
        {"queries": 22812, "docs": 118605},
        "Xie et al. (2023). T2Ranking: A large-scale Chinese Benchmark for Passage Ranking.",
        ignore_identical_ids=True,
    ),
    _spec(
        "MMarcoRetrieval",
        "mteb-zh",
        "MMarcoRetrieval",
        "mteb/MMarcoRetrieval",
        "4940a7b26bf53463cfe3435bb8e201963e9c31ae",
        "dev",
        {"queries": 6980, "docs": 106813},
        "Xiao et al. (2024). C-Pack: Packed Resources For General Chinese Embeddings.",
        ignore_identical_ids=True,
    ),
    _spec(
        "DuRetrieval",
        "mteb-zh",
        "DuRetrieval",
        "mteb/DuRetrieval",
        "313c81b51311893c8fd09ca432f96b841ed0ebb3",
        "dev",
        {"queries": 2000, "docs": 100001},
        "Qiu et al. (2022). DuReader_retrieval: A Large-scale Chinese Benchmark for Passage "
        "Retrieval from Web Search Engine.",
    ),
    _spec(
        "CovidRetrieval",
        "mteb-zh",
        "CovidRetrieval",
        "mteb/CovidRetrieval",
        "9c6dc4b276bb47c3ff725bbc5ffcafd56dded38b",
        "dev",
        {"queries": 949, "docs": 100001},
        "Long et al. (2022). Multi-CPR: A Multi Domain Chinese Dataset for Passage Retrieval.",
    ),
    _spec(
        "CmedqaRetrieval",
        "mteb-zh",
        "CmedqaRetrieval",
        "mteb/CmedqaRetrieval",
        "c476f85bf03d6642ec66bf54b9a551c88108bbb4",
        "dev",
        {"queries": 3999, "docs": 100001},
        "Qiu et al. (2022). DuReader_retrieval: A Large-scale Chinese Benchmark for Passage "
        "Retrieval from Web Search Engine.",
    ),
    _spec(
        "EcomRetrieval",
        "mteb-zh",
        "EcomRetrieval",
        "mteb/EcomRetrieval",
        "fa705ce5418e91636b1eaeaf43f34c15aa3f5a8a",
        "dev",
        {"queries": 1000, "docs": 100902},
        "Long et al. (2022). Multi-CPR: A Multi Domain Chinese Dataset for Passage Retrieval.",
        ignore_identical_ids=True,
    ),
    _spec(
        "MedicalRetrieval",
        "mteb-zh",
        "MedicalRetrieval",
        "mteb/MedicalRetrieval",
        "023ae3b2c6b96f583c4ff9b3f9239c93f7885c20",
        "dev",
        {"queries": 1000, "docs": 100999},
        "Long et al. (2022). Multi-CPR: A Multi Domain Chinese Dataset for Passage Retrieval.",
        ignore_identical_ids=True,
    ),
    _spec(
        "VideoRetrieval",
        "mteb-zh",
        "VideoRetrieval",
        "mteb/VideoRetrieval",
        "146a9d5e4fd7a9c182b6b92cccb6a3753994305c",
        "dev",
        {"queries": 1000, "docs": 100930},
        "Long et al. (2022). Multi-CPR: A Multi Domain Chinese Dataset for Passage Retrieval.",
        ignore_identical_ids=True,
    ),
)

MTEB_DE: tuple[DatasetSpec, ...] = (
    _spec(
        "GermanQuAD-Retrieval",
        "mteb-de",
        "GermanQuAD-Retrieval",
        "mteb/germanquad-retrieval",
        "f5c87ae5a2e7a5106606314eef45255f03151bb3",
        "test",
        {"queries": 2204, "docs": 474},
        "Möller et al. (2021). GermanQuAD and GermanDPR: Improving Non-English Question "
        "Answering and Passage Retrieval.",
        mteb_main_score="mrr_at_5",
        layout="beir-hub",
        qrels_id="mteb/germanquad-retrieval-qrels",
        qrels_revision=None,
        use_title=False,
    ),
    _spec(
        "GermanDPR",
        "mteb-de",
        "GermanDPR",
        "mteb/GermanDPR",
        "64a4860e55ba6d8fcb923d5306d08e08b1c72794",
        "test",
        {"queries": 1025, "docs": 2876},
        "Möller et al. (2021). GermanQuAD and GermanDPR: Improving Non-English Question "
        "Answering and Passage Retrieval.",
    ),
    _spec(
        "XMarket",
        "mteb-de",
        "XMarket",
        "mteb/XMarket",
        "07b0172d008ab25b0a9702119f521bf477267090",
        "test",
        {
            "queries": 4037,
            "docs": 70526,
            "per_language": {
                "de": {"queries": 4037, "docs": 70526},
            },
        },
        "Bonab et al. (2021). Cross-Market Product Recommendation.",
        languages=("de",),
    ),
    _spec(
        "GerDaLIR",
        "mteb-de",
        "GerDaLIR",
        "mteb/GerDaLIR",
        "735f2cca1298426b3c792de3527b4bdc18537fc0",
        "test",
        {"queries": 12298, "docs": 131445},
        "Wrzalik et al. (2021). GerDaLIR: A German Dataset for Legal Information Retrieval.",
    ),
)


SUITES: tuple[Suite, ...] = (
    Suite(
        "beir",
        "BEIR-13: the public BEIR sets without CQADupStack and MS MARCO (test splits)",
        BEIR,
        language="en",
        reference="Thakur et al. (2021). BEIR: A Heterogeneous Benchmark for Zero-shot "
        "Evaluation of Information Retrieval Models.",
    ),
    Suite(
        "miracl",
        "MIRACL-18: dev queries against the full per-language Wikipedia corpora",
        MIRACL,
        reference=MIRACL[0].citation,
    ),
    Suite(
        "mldr",
        "MLDR-13: long documents encoded whole (8192 tokens, no chunking), test split",
        MLDR,
        reference=MLDR[0].citation,
    ),
    Suite(
        "mteb-fr",
        "MTEB-FR: the 5 retrieval tasks of MTEB(fra, v1)",
        MTEB_FR,
        language="fr",
        reference="Ciancone et al. (2024). MTEB-French: Resources for French Sentence "
        "Embedding Evaluation and Analysis.",
    ),
    Suite(
        "mteb-zh",
        "MTEB-ZH: the 8 retrieval tasks of MTEB(cmn, v1) (C-MTEB, dev splits)",
        MTEB_ZH,
        language="zh",
        reference="Xiao et al. (2024). C-Pack: Packed Resources For General Chinese Embeddings.",
    ),
    Suite(
        "mteb-de",
        "MTEB-DE: the 4 retrieval tasks of MTEB(deu, v1)",
        MTEB_DE,
        language="de",
        reference="Enevoldsen et al. (2025). MMTEB: Massive Multilingual Text Embedding Benchmark.",
    ),
    Suite(
        "paper",
        "Everything the DRAMA paper's Table 1 and the model card's MLDR column need",
        BEIR + MIRACL + MTEB_FR + MTEB_ZH + MTEB_DE + MLDR,
        reference="Ma et al. (2025). DRAMA: Diverse Augmentation from Large Language Models "
        "to Smaller Dense Retrievers. arXiv 2502.18460.",
    ),
)

for _suite in SUITES:
    register_suite(_suite)
