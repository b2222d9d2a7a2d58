"""Collections and every reader of them, behind one entry point.

- :mod:`evalkit.data.collection`: :class:`Collection`, :class:`Corpus` (memory-mapped Arrow),
  :data:`Qrels`, :func:`doc_text`.
- :mod:`evalkit.data.beir`: BEIR-format folders (the embedded demo is one) and the file
  readers (JSON Lines, TSV qrels) the Hub layouts also use.
- :mod:`evalkit.data.hub`: the Hugging Face Hub layouts (``mteb``, ``beir-hub``, ``miracl``,
  ``mldr``, ``syntec``), pinned revisions, ``--data-dir`` copies.
- :mod:`evalkit.data.loader`: :func:`load`, which reads what a
  :class:`~evalkit.dataset_spec.LoadTask` names through the reader of its layout.

The names below were ``evalkit.data``'s before it was a package and stay importable here.
"""

from evalkit.data.beir import (
    MAX_GRADE,
    JsonNumber,
    _is_header,
    bad_id_mask,
    check_id,
    collection_warnings,
    decode_json,
    fingerprint,
    iter_jsonl,
    json_id,
    json_text,
    load_beir_dir,
    load_corpus_jsonl,
    parse_grade,
    read_qrels,
    read_queries,
)
from evalkit.data.collection import Collection, Corpus, Qrels, doc_text
from evalkit.data.loader import load
from evalkit.dataset_spec import beir_file, is_beir_dir, looks_like_beir_dir

__all__ = [
    "MAX_GRADE",
    "Collection",
    "Corpus",
    "JsonNumber",
    "Qrels",
    "_is_header",
    "bad_id_mask",
    "beir_file",
    "check_id",
    "collection_warnings",
    "decode_json",
    "doc_text",
    "fingerprint",
    "is_beir_dir",
    "iter_jsonl",
    "json_id",
    "json_text",
    "load",
    "load_beir_dir",
    "load_corpus_jsonl",
    "looks_like_beir_dir",
    "parse_grade",
    "read_qrels",
    "read_queries",
]
