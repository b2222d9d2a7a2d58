"""``evalkit compare`` of two models: the model and how it encodes are what is compared (named
in the header, every differing field in words), the measurement conditions must match, and the
comparison renders as one self-contained HTML file.

Every record here is written by a real evalkit run (BM25 and the offline MiniLM on the demo
suite, variants by run options), never by editing JSON."""

from __future__ import annotations

import copy
import html
import json
import re
import shutil
from pathlib import Path

import pytest
from conftest import md_squeezed, needs_chromium, needs_minilm, render_in_chromium
from hypothesis import given, settings
from hypothesis import strategies as st

from evalkit.cli import main
from evalkit.evaluation.compare import compare, to_html, to_markdown
from evalkit.results import ResultRecord, load_results
from evalkit.suites.demo import DEMO_DIR

pytestmark = needs_minilm

MINILM = "minilm (sentence-transformers/all-MiniLM-L6-v2, float32, mean pooling, cosine, 384 dims)"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder of records per variant (about 15 s on 2 cores, MiniLM's load and encoding)."""
    import evalkit

    root = tmp_path_factory.mktemp("compare-models")
    evalkit.evaluate("bm25", "demo", output_dir=root / "bm25")
    evalkit.evaluate("bm25", "demo", output_dir=root / "bm25-sample", max_queries=20)
    evalkit.evaluate("bm25", "demo", output_dir=root / "bm25-top100", top_k=100)
    # the demo data with one document rewritten: another fingerprint, the same names
    other = root / "data" / "demo"
    shutil.copytree(DEMO_DIR, other)
    lines = (other / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    doc = json.loads(lines[0])
    doc["text"] += " A sentence the shipped demo does not have."
    lines[0] = json.dumps(doc, ensure_ascii=False)
    (other / "corpus.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    evalkit.evaluate("bm25", "demo", output_dir=root / "bm25-data", data_dir=root / "data")
    # one MiniLM pass, searched at its full 384 dims and cut to 128
    for r in evalkit.evaluate("minilm", "demo", dim=[384, 128], force_dim=True):
        r.write(root / ("minilm" if r.model["dim"] == 384 else "minilm-128"))
    return root


def _compare(capsys, *args: str | Path) -> tuple[int, str, str]:
    code = 0
    try:
        main(["compare", *map(str, args)])
    except SystemExit as e:
        code = int(e.code or 0)
    cap = capsys.readouterr()
    return code, md_squeezed(cap.out), cap.err


def test_two_models_are_compared_and_named_in_the_header(runs: Path, capsys) -> None:
    code, out, err = _compare(capsys, runs / "bm25", runs / "minilm")
    assert code == 0, err
    bm25, minilm = load_results(runs / "bm25")[0], load_results(runs / "minilm")[0]
    assert f"- Baseline: bm25 (bm25s lucene, k1 0.9 b 0.4) vs current: {MINILM}\n" in out
    differ = next(x for x in out.splitlines() if x.startswith("- Model settings that differ: "))
    assert differ.startswith(
        "- Model settings that differ: model bm25 → minilm; kind bm25 → sentence-transformers; "
        "search backend bm25s → torch; "
    )
    assert "stated by the baseline only: BM25 k1 0.9, BM25 b 0.4, BM25 variant lucene" in differ
    assert "stated by the current only: checkpoint sentence-transformers/all-MiniLM-L6-v2" in differ
    for words in ("pooling mean", "similarity cosine", "dims used 384", "max document tokens 256"):
        assert words in differ
    assert "top-k 1000" in out and "metric nDCG@10" in out
    b, c = 100 * bm25.scores["ndcg_at_10"], 100 * minilm.scores["ndcg_at_10"]
    assert f"| demo | demo | {b:.2f} | {c:.2f} | {c - b:+.2f} | 34 |" in out
    assert "| suite | dataset | baseline (bm25) | current (minilm) |" in out


def test_json_lists_the_differing_model_fields(runs: Path, capsys) -> None:
    code, out, _ = _compare(capsys, runs / "bm25", runs / "minilm", "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["exit_code"] == 0
    [pair] = data["models"]
    assert pair["baseline"] == "bm25 (bm25s lucene, k1 0.9 b 0.4)" and pair["current"] == MINILM
    fields = {d["field"]: d for d in pair["differences"]}
    assert fields["search.backend"] == {
        "field": "search.backend",
        "what": "search backend",
        "baseline": "bm25s",
        "current": "torch",
    }
    assert fields["search.k1"]["current"] is None and fields["model.pooling"]["baseline"] is None
    # the empty prefixes of MiniLM are no prefix, as BM25 has none: not a difference
    assert "model.query_prefix" not in fields and "top_k" not in fields
    assert data["header"][0] == f"baseline: bm25 (bm25s lucene, k1 0.9 b 0.4) vs current: {MINILM}"
    assert "top-k 1000" in data["conditions"]


def test_one_dim_a_side_is_compared_with_the_cut_named(runs: Path, capsys) -> None:
    code, out, err = _compare(capsys, runs / "minilm", runs / "minilm-128")
    assert code in (0, 1), err
    assert "128 dims of 384)" in out and "dims used 384 → 128" in out
    assert "| demo | demo |" in out and "missing" not in out


@pytest.mark.parametrize(
    ("variant", "refused", "flag", "note"),
    [
        ("bm25-data", "data fingerprint", "--allow-query-mismatch", "data fingerprint"),
        ("bm25-sample", "query sample: 20 of 34", "--allow-query-mismatch", "20 queries both"),
        ("bm25-top100", "top-k differs (100 in BASELINE, 1000", "--allow-settings-mismatch", ""),
    ],
)
def test_conditions_are_refused_whatever_the_models(
    runs: Path, capsys, variant: str, refused: str, flag: str, note: str
) -> None:
    """Another model does not excuse other data, queries or depth: the refusal names the
    condition alone (no model field), and the flag for it lets the comparison run."""
    code, _, err = _compare(capsys, runs / variant, runs / "minilm")
    assert code == 2 and refused in err, err
    assert "pooling" not in err and "model." not in err and len(err.splitlines()) == 1
    code, out, err = _compare(capsys, runs / variant, runs / "minilm", flag)
    assert code == 0, err
    assert note in out and "vs current: minilm" in out


def test_allow_settings_mismatch_changes_nothing_for_models(runs: Path, capsys) -> None:
    plain = _compare(capsys, runs / "bm25", runs / "minilm")[1]
    code, flagged, _ = _compare(capsys, runs / "bm25", runs / "minilm", "--allow-settings-mismatch")
    assert code == 0
    assert flagged.startswith(plain.rstrip("\n"))  # the same output, one note more
    assert "--allow-settings-mismatch is no longer needed to compare two models" in flagged


def _page_text(page: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def test_html_is_one_self_contained_file(runs: Path, tmp_path: Path, capsys) -> None:
    page_file = tmp_path / "compare.html"
    code, out, _ = _compare(
        capsys, runs / "bm25", runs / "minilm", "--format", "html", "--out", page_file
    )
    page = page_file.read_text(encoding="utf-8")
    assert code == 0 and out == "" and page.startswith("<!DOCTYPE html>")
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert "src=" not in page and "href=" not in page and "<link" not in page
    text = _page_text(page)
    assert "bm25 (bm25s lucene, k1 0.9 b 0.4)" in text and MINILM in text
    assert "search backend bm25s torch" in text and "BM25 k1 0.9 – BM25 b 0.4 –" in text
    assert "top-k 1000" in text and "nDCG@10" in text
    md = md_squeezed(
        to_markdown(
            compare(load_results(runs / "bm25"), load_results(runs / "minilm"), n_resamples=10_000)
        )
    )
    row = re.search(r"\| demo \| demo \| ([^|]+) \| ([^|]+) \| ([^|]+) \|", md)
    assert row is not None
    assert " ".join(x.strip() for x in row.groups()) in text  # the same numbers as markdown


@needs_chromium
def test_html_renders_in_a_headless_browser(runs: Path, tmp_path: Path, capsys) -> None:
    """Chromium, with the network off, renders the page: the two models, both score tables and
    the settings table are in the DOM, and the improvement is drawn in the page's green."""
    page_file = tmp_path / "compare.html"
    _compare(capsys, runs / "bm25", runs / "minilm", "-f", "html", "-o", page_file)
    dom, colours = render_in_chromium(page_file, tmp_path, "1200,1100")
    assert dom.count("<table") == 4 and 'class="models"' in dom
    green = sum(n for n, (r, g, b) in colours if r < 60 and 90 < g < 140 and b < 60)
    assert green > 50  # "improved" in #070: the status cells were styled


# ---- any model fields: compared, never refused; each difference named once; HTML escaped -----

_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
_MODEL_FIELDS = {
    "name": _TEXT,
    "hf_id": st.none() | _TEXT,
    "revision": st.none() | _TEXT,
    "dtype": st.sampled_from(["float32", "float16", "bfloat16"]),
    "max_doc_length": st.integers(1, 8192),
    "query_prefix": st.sampled_from(["", "query: ", "<b>&"]),
    "pooling": st.sampled_from(["mean", "cls", "last"]),
    "similarity": st.sampled_from(["cosine", "dot"]),
}
_SEARCH_FIELDS = {"backend": st.sampled_from(["torch", "faiss"]), "k1": st.none() | st.floats(0, 3)}


@pytest.fixture(scope="module")
def minilm_record(runs: Path) -> ResultRecord:
    return load_results(runs / "minilm")[0]


# few examples: each compare() pays statsmodels' gc.collect() in holm (~0.6 s with torch loaded)
@settings(max_examples=10, deadline=None)
@given(
    model=st.fixed_dictionaries({}, optional=_MODEL_FIELDS),
    search=st.fixed_dictionaries({}, optional=_SEARCH_FIELDS),
)
def test_any_model_fields_are_compared_and_named(
    minilm_record: ResultRecord, model: dict, search: dict
) -> None:
    current = copy.deepcopy(minilm_record)
    current.model.update(model)
    current.search.update(search)
    cmp = compare([minilm_record], [current], n_resamples=64)

    def norm(v: object) -> object:
        return None if v == "" else v  # an empty prefix is no prefix

    changed = {
        f"{group}.{k}"
        for group, new in (("model", model), ("search", search))
        for k, v in new.items()
        if norm(getattr(minilm_record, group).get(k)) != norm(v)
    }
    [pair] = cmp.models
    named = [d.field for d in pair.differences]
    assert sorted(named) == sorted(changed) and len(named) == len(set(named))
    # every value shown, escaped: a name or prefix with markup stays text
    page = to_html(cmp)
    for d in pair.differences:
        for v in (d.baseline, d.current):
            assert v is None or html.escape(v) in page
    assert "<b>" not in page and "<script" not in page
    if pair.baseline == pair.current:  # equal descriptions never read as equal runs
        what = html.escape(pair.differences_in_words())
        assert re.search(r">differs in</th>\s*<td[^>]*>" + re.escape(what), page)
        assert bool(pair.differences) == ("the same settings" not in page)
