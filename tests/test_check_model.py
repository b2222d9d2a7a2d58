"""``check_model`` / ``evalkit check-model``: PASS on the right numbers, FAIL on wrong ones,
one clear line when the weights are not available."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import drama_fixtures as fx
import peers
import pytest

from evalkit.check_model import (
    CARD_DOCUMENTS,
    CARD_EXPECTED,
    CARD_QUERIES,
    check_model,
    compare_scores,
    read_expected,
)
from evalkit.cli import main
from evalkit.errors import EvalkitError, ModelError
from evalkit.models.registry import load_encoder, resolve_model

DIM = 16


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fx.make_drama_checkpoint(tmp_path_factory.mktemp("drama") / "ckpt", seed=2)


@pytest.fixture(scope="module")
def expected(ckpt: Path) -> dict[int | None, list[list[float]]]:
    """The tiny model's own card numbers, from the independent reference (not evalkit)."""
    out = {}
    for dim in (None, DIM):
        q = fx.reference_embeddings(ckpt, list(CARD_QUERIES), prefix="Query: ", dim=dim)
        d = fx.reference_embeddings(ckpt, list(CARD_DOCUMENTS), dim=dim)
        out[dim] = (q @ d.T).tolist()
    return out


def card_example(card: str) -> tuple[list[str], list[str], dict[int | None, list[list[float]]]]:
    """The model card's example, read from its text: the ``queries`` and ``documents`` lists
    of its Python block and each ``# Expected output:`` matrix, keyed by the ``dim=`` of the
    block it closes (``None`` for the block without one)."""
    blocks = re.findall(r"```python\n(.*?)```", card, flags=re.S)
    queries: list[str] = []
    documents: list[str] = []
    expected: dict[int | None, list[list[float]]] = {}
    for block in blocks:
        for node in ast.walk(ast.parse(block)):
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                if node.targets[0].id == "queries":
                    queries = ast.literal_eval(node.value)
                elif node.targets[0].id == "documents":
                    documents = ast.literal_eval(node.value)
        out = re.search(r"# Expected output: (\[\[.*\]\])", block)
        if out:
            dim = re.search(r"\bdim=(\d+)", block)
            expected[int(dim.group(1)) if dim else None] = json.loads(out.group(1))
    return queries, documents, expected


def card_mismatches(card: str) -> list[str]:
    """Where check_model's constants differ from the card's text (empty: none)."""
    queries, documents, expected = card_example(card)
    wrong = []
    if queries != list(CARD_QUERIES):
        wrong.append("queries")
    if documents != list(CARD_DOCUMENTS):
        wrong.append("documents")
    if expected != CARD_EXPECTED:
        wrong.append(f"expected scores {expected} != {CARD_EXPECTED}")
    return wrong


def test_card_numbers_are_the_published_ones() -> None:
    card = peers.reference_text("drama-model-card.md")
    if card is None:
        pytest.skip(f"{peers.REFERENCE}/drama-model-card.md is absent")
    assert card_mismatches(card) == []
    # The comparison can fail: one digit of a score, one character of a text.
    assert card_mismatches(card.replace("0.6181", "0.6180")) != []
    assert card_mismatches(card.replace("意大利首都是哪里", "意大利首都在哪里")) == ["queries"]
    assert card_mismatches(card.replace("today's 21%", "today's 20%")) == ["documents"]


def test_compare_scores_pass_and_fail(ckpt: Path, expected: dict) -> None:
    enc = load_encoder(resolve_model(str(ckpt), model_type="drama"), device="cpu")
    ok = compare_scores(enc, expected)
    assert ok.passed and [c.dim for c in ok.checks] == [None, DIM]
    assert max(c.max_abs_diff for c in ok.checks) < 1e-5
    for delta, passes in ((0.0015, True), (0.0025, False), (-0.01, False)):
        off = {k: [row[:] for row in v] for k, v in expected.items()}
        off[DIM][1][0] += delta
        result = compare_scores(enc, off)
        assert result.passed is passes
        assert result.checks[0].passed and result.checks[1].passed is passes


def test_a_causal_run_fails_the_check(ckpt: Path, expected: dict) -> None:
    """What issue #20 saw on drama-base (a causal run instead of a bidirectional one), on the
    tiny model: the scores a causal run gives (independent reference, causal mask) fail the
    check of evalkit's encoder, while the bidirectional reference passes it."""
    enc = load_encoder(resolve_model(str(ckpt), model_type="drama"), device="cpu")
    causal = {}
    for dim in (None, DIM):
        q = fx.reference_embeddings(
            ckpt, list(CARD_QUERIES), prefix="Query: ", dim=dim, causal=True
        )
        d = fx.reference_embeddings(ckpt, list(CARD_DOCUMENTS), dim=dim, causal=True)
        causal[dim] = (q @ d.T).tolist()
    assert compare_scores(enc, expected).passed
    result = compare_scores(enc, causal)
    assert not result.passed and all(c.max_abs_diff > 0.002 for c in result.checks)


def test_cli_pass_fail_exit_codes(
    ckpt: Path, expected: dict, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"full": expected[None], str(DIM): expected[DIM]}))
    main(
        [
            "check-model",
            "tiny",
            "--model-dir",
            str(ckpt),
            "--model-type",
            "drama",
            "--expected",
            str(good),
            "--device",
            "cpu",
        ]
    )
    assert capsys.readouterr().out.strip().endswith("PASS")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"full": [[x + 0.01 for x in row] for row in expected[None]]}))
    with pytest.raises(SystemExit) as exit_:
        main(
            [
                "check-model",
                "tiny",
                "--model-dir",
                str(ckpt),
                "--model-type",
                "drama",
                "--expected",
                str(bad),
                "--device",
                "cpu",
            ]
        )
    assert exit_.value.code == 1
    assert capsys.readouterr().out.strip().endswith("FAIL")


def test_unavailable_weights_give_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelError, match="check-model drama-base: cannot load") as err:
        check_model("drama-base", device="cpu")
    assert "\n" not in str(err.value)
    with pytest.raises(SystemExit) as exit_:
        main(["check-model", "drama-base", "--device", "cpu"])
    assert exit_.value.code != 0
    err_lines = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert len(err_lines) == 1 and "facebook/drama-base" in err_lines[0]
    # the way out it names is check-model's own option, not run's --model DIR
    assert "--model-dir DIR" in err_lines[0] and "--model DIR" not in err_lines[0]


def test_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(EvalkitError, match="no published example scores"):
        check_model("drama-1b")
    broken = tmp_path / "e.json"
    broken.write_text('{"full": [[1, 2]],\n "x": }')
    with pytest.raises(EvalkitError, match=r"e\.json:2"):
        read_expected(broken)
    broken.write_text('{"dim": [[1]]}')
    with pytest.raises(EvalkitError, match="'dim'"):
        read_expected(broken)
    with pytest.raises(EvalkitError, match="--model-dir"):
        check_model("drama-base", local_dir=tmp_path / "nope")
