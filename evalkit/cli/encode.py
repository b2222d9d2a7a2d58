"""``evalkit encode``: embed a JSON-lines file into a ``.npy`` matrix.

Input: one JSON object per line with ``text`` (documents may add ``title``; an ``_id`` or
``id`` names the row). Output: ``FILE.npy`` (float32, one row per input line, in file order)
and ``FILE.ids.txt`` (one id per row: the record's ``_id``/``id``, else its line number).
Both are written to temporary files and renamed into place, so an interrupted run leaves no
half-written output.
"""

from __future__ import annotations

from pathlib import Path

import typer

from evalkit.cli import app, console
from evalkit.data import iter_jsonl
from evalkit.errors import EvalkitError
from evalkit.results import atomic_write


def read_records(path: Path, kind: str) -> tuple[list[str], list[str] | list[dict[str, str]]]:
    """Ids and texts (queries) or ``{"title", "text"}`` dicts (documents) of a JSONL file;
    the first malformed line raises with ``file:line``."""
    if not path.is_file():
        raise EvalkitError(f"--input {path}: file not found")
    ids: list[str] = []
    items: list = []
    for lineno, rec in iter_jsonl(path):
        text = rec.get("text")
        if not isinstance(text, str):
            raise EvalkitError(f"{path}:{lineno}: needs a string field 'text'")
        title = rec.get("title", "")
        if title is None:
            title = ""
        if not isinstance(title, str):
            raise EvalkitError(f"{path}:{lineno}: field 'title' must be a string")
        rid = rec.get("_id", rec.get("id", lineno))
        if (
            not isinstance(rid, (str, int))
            or isinstance(rid, bool)
            or any(c in str(rid) for c in "\r\n")
        ):
            raise EvalkitError(f"{path}:{lineno}: '_id' must be a one-line string or an integer")
        ids.append(str(rid))
        items.append({"title": title, "text": text} if kind == "document" else text)
    if not items:
        raise EvalkitError(f"--input {path}: no records")
    return ids, items


def ids_path_for(output: Path) -> Path:
    return output.with_name(output.name[: -len(".npy")] + ".ids.txt")


@app.command("encode")
def encode(
    model: str = typer.Option(
        ..., "--model", "-m", help="Registered name, Hugging Face id or local directory."
    ),
    input_path: Path = typer.Option(
        ..., "--input", "-i", help="JSON lines with 'text' (and 'title', '_id')."
    ),
    kind: str = typer.Option(..., "--kind", help="query or document."),
    output: Path = typer.Option(..., "--output", "-o", help="Embeddings file (.npy)."),
    dim: int = typer.Option(None, "--dim", help="Matryoshka dimension (first DIM features)."),
    model_type: str = typer.Option(
        None,
        "--model-type",
        help="Force the model kind: drama, transformers, sentence-transformers.",
    ),
    batch_size: int = typer.Option(None, "--batch-size", help="Encoder batch size."),
    max_length: int = typer.Option(None, "--max-length", help="Token limit per text."),
    device: str = typer.Option(None, "--device", help="cpu or cuda (default: cuda if present)."),
    dtype: str = typer.Option(None, "--dtype", help="float32, bfloat16 or float16."),
) -> None:
    """Encode queries or documents; writes OUTPUT (.npy) and OUTPUT-stem.ids.txt."""
    import numpy as np

    from evalkit.models.registry import load_encoder
    from evalkit.retrieval.dense import check_finite

    if kind not in ("query", "document"):
        raise EvalkitError(f"--kind {kind!r}: expected 'query' or 'document'")
    if output.suffix != ".npy":
        raise EvalkitError(f"--output {output}: must end in .npy")
    if not output.parent.is_dir():
        raise EvalkitError(f"--output {output}: directory {output.parent} does not exist")
    if batch_size is not None and batch_size < 1:
        raise EvalkitError(f"--batch-size {batch_size}: must be at least 1")
    ids, items = read_records(input_path, kind)
    encoder = load_encoder(model, model_type=model_type, device=device, dtype=dtype)
    check = getattr(encoder, "check_dim", None)
    if dim is not None and callable(check):
        check(dim)  # fail before encoding, not after
    limit = getattr(encoder, "length_limit", None)
    if max_length and limit and max_length > limit:
        raise EvalkitError(f"--max-length {max_length}: {model} takes at most {limit} tokens")
    if kind == "query":
        emb = encoder.encode_queries(
            items,  # type: ignore[arg-type]
            dim=dim,
            batch_size=batch_size,
            max_length=max_length,
        )
    else:
        emb = encoder.encode_documents(items, dim=dim, batch_size=batch_size, max_length=max_length)
    emb = np.ascontiguousarray(emb, dtype=np.float32)
    # run's rule: a NaN vector would be written and later rank first for every query
    check_finite(emb, kind, ids, model)
    atomic_write(output, lambda f: np.save(f, emb))
    ids_file = ids_path_for(output)
    atomic_write(ids_file, lambda f: f.write("".join(f"{i}\n" for i in ids).encode("utf-8")))
    console.print(f"{emb.shape[0]} x {emb.shape[1]} -> {output} (ids: {ids_file})", highlight=False)
