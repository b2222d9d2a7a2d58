"""``evalkit encode``: right vectors, ids in row order, one-line errors, atomic output."""

from __future__ import annotations

import json
from pathlib import Path

import drama_fixtures as fx
import numpy as np
import pytest

from evalkit.cli import main


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fx.make_drama_checkpoint(tmp_path_factory.mktemp("drama") / "ckpt", seed=3)


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text(
        "".join(
            (r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows
        ),
        encoding="utf-8",
    )
    return path


def encode(ckpt: Path, inp: Path, out: Path, kind: str, *extra: str) -> None:
    main(
        [
            "encode",
            "--model",
            str(ckpt),
            "--model-type",
            "drama",
            "--input",
            str(inp),
            "--kind",
            kind,
            "--output",
            str(out),
            "--device",
            "cpu",
            *extra,
        ]
    )


def test_queries_and_documents(ckpt: Path, tmp_path: Path) -> None:
    texts = fx.TEXTS[:5]
    q_in = write_jsonl(
        tmp_path / "q.jsonl", [{"_id": f"q{i}", "text": t} for i, t in enumerate(texts)]
    )
    encode(ckpt, q_in, tmp_path / "q.npy", "query", "--batch-size", "2")
    got = np.load(tmp_path / "q.npy")
    assert got.dtype == np.float32 and got.shape == (5, fx.SMALL["hidden_size"])
    np.testing.assert_allclose(
        got, fx.reference_embeddings(ckpt, texts, prefix="Query: "), atol=1e-5
    )
    assert (tmp_path / "q.ids.txt").read_text().split("\n")[:-1] == [f"q{i}" for i in range(5)]

    # Documents: title joined with a space; ids fall back to line numbers; blank lines skipped.
    d_in = write_jsonl(
        tmp_path / "d.jsonl", [{"title": "Roma", "text": texts[2]}, "", {"text": texts[1], "id": 7}]
    )
    encode(ckpt, d_in, tmp_path / "d.npy", "document", "--dim", "16", "--force-dim")
    got = np.load(tmp_path / "d.npy")
    assert got.shape == (2, 16)
    np.testing.assert_allclose(
        got, fx.reference_embeddings(ckpt, ["Roma " + texts[2], texts[1]], dim=16), atol=1e-5
    )
    assert (tmp_path / "d.ids.txt").read_text() == "1\n7\n"


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"text": "ok"}, "{not json", {"text": "x"}], ":2: not valid JSON"),
        ([{"text": "ok"}, {"title": "t"}], ":2: needs a string field 'text'"),
        ([{"text": "ok"}, ["a"]], ":2: expected a JSON object"),
        ([{"text": "ok"}, {"text": "x", "title": 3}], ":2: field 'title' must be a string"),
        ([{"text": 5}], ":1: needs a string field 'text'"),
        ([], "no records"),
    ],
)
def test_bad_lines_give_file_and_line(
    ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture, rows: list, message: str
) -> None:
    inp = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.npy"
    with pytest.raises(SystemExit) as exit_:
        encode(ckpt, inp, out, "document")
    assert exit_.value.code != 0
    err = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert len(err) == 1 and message in err[0]
    if ":" in message[:3]:
        assert f"{inp}{message.split(' ')[0]}" in err[0]
    assert not out.exists()


def test_bad_options_and_atomic_output(
    ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    inp = write_jsonl(tmp_path / "in.jsonl", [{"text": "a"}, {"text": "b"}])
    out = tmp_path / "out.npy"
    np.save(out, np.zeros((1, 1), dtype=np.float32))
    before = out.read_bytes()
    for args, message in (
        (["--kind", "passage"], "--kind 'passage'"),
        (["--dim", "999"], "--dim 999"),
        (["--batch-size", "0"], "--batch-size 0"),
    ):
        argv = [
            "encode",
            "--model",
            str(ckpt),
            "--model-type",
            "drama",
            "--input",
            str(inp),
            "--output",
            str(out),
            "--device",
            "cpu",
            *args,
        ]
        if "--kind" not in args:
            argv += ["--kind", "query"]
        with pytest.raises(SystemExit):
            main(argv)
        assert message in capsys.readouterr().err
        assert out.read_bytes() == before  # the old file is untouched
    with pytest.raises(SystemExit):
        encode(ckpt, inp, tmp_path / "out.txt", "query")
    assert ".npy" in capsys.readouterr().err
    encode(ckpt, inp, out, "query")
    assert np.load(out).shape == (2, fx.SMALL["hidden_size"])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "in.jsonl",
        "out.ids.txt",
        "out.npy",
        "out.sha256",
    ]
