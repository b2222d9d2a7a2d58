"""``check_model`` / ``evalkit check-model``: PASS on the right numbers, FAIL on wrong ones,
one clear line when the weights are not available."""

from __future__ import annotations

import json
from pathlib import Path

import drama_fixtures as fx
import numpy as np
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


def test_card_numbers_are_the_published_ones() -> None:
    assert CARD_EXPECTED[None] == [[0.5310, 0.0821], [0.1298, 0.6181]]
    assert CARD_EXPECTED[256] == [[0.6031, 0.1750], [0.2005, 0.7251]]
    assert CARD_QUERIES[1] == "意大利首都是哪里？" and CARD_DOCUMENTS[0].endswith("today's 21%.")


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
    # The numbers issue #20 got from a causal run fail the card check by construction.
    causal = {None: [[0.4585, 0.2432], [0.1273, 0.5092]]}
    assert np.abs(np.array(causal[None]) - np.array(CARD_EXPECTED[None])).max() > 0.002


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
