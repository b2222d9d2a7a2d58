"""``evalkit encode``: embed a JSON-lines file into a ``.npy`` matrix.

Input: one JSON object per line with ``text`` (documents may add ``title``; an ``_id`` or
``id`` names the row). Output: ``FILE.npy`` (float32, one row per input line, in file order)
and ``FILE.ids.txt`` (one id per row: the record's ``_id``/``id``, else its line number).
and ``FILE.sha256`` (``sha256sum -c`` format: the digests of both). The pair is written all or
nothing: both go to temp files first; then the old ``.sha256`` is removed, both are renamed
into place, and the new ``.sha256`` is written last. A run killed between the renames leaves
no ``.sha256`` (or an old one that disagrees), so :func:`load_embeddings` and ``sha256sum -c``
detect a pair that does not belong together; numpy code still reads ``FILE.npy`` as it is.
"""

from __future__ import annotations

import glob
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import typer

from evalkit import faults
from evalkit.cli import app, console
from evalkit.data import iter_jsonl
from evalkit.errors import EvalkitError
from evalkit.paths import check_output_file, remove_stale_temp, temp_prefix
from evalkit.results import atomic_write_text, file_sha256


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


def sums_path_for(output: Path) -> Path:
    return output.with_name(output.name[: -len(".npy")] + ".sha256")


def _temp(path: Path, write: Callable[[IO[bytes]], object]) -> Path:
    """A complete, synced temp file beside ``path`` (named by host and pid)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path.name), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def write_embeddings(output: Path, ids: list[str], emb: Any) -> None:
    """Write ``output`` (.npy), its ``.ids.txt`` and the ``.sha256`` binding them, all or
    nothing (see the module's docstring)."""
    import numpy as np

    ids_file, sums = ids_path_for(output), sums_path_for(output)
    for p in (output, ids_file, sums):  # temp files of killed runs (dead pid, this host)
        remove_stale_temp(p.parent, f".{glob.escape(p.name)}.*.tmp")
    temps: list[Path] = []
    try:
        temps.append(_temp(output, lambda f: np.save(f, emb, allow_pickle=False)))
        temps.append(_temp(ids_file, lambda f: f.write("".join(f"{i}\n" for i in ids).encode())))
        digests = [file_sha256(t) for t in temps]
        sums.unlink(missing_ok=True)  # from here until it is rewritten, the pair is unverified
        os.replace(temps[1], ids_file)
        faults.point("encode-renamed")  # killed here: new ids, old matrix, no .sha256
        os.replace(temps[0], output)
    finally:
        for t in temps:
            t.unlink(missing_ok=True)
    atomic_write_text(
        sums, "".join(f"{d}  {p.name}\n" for d, p in zip(digests, (output, ids_file)))
    )


def load_embeddings(path: str | Path) -> tuple[list[str], Any]:
    """``(ids, matrix)`` of an ``evalkit encode`` output, checked: the ``.sha256`` written
    last must be there and match both files, and there must be one id per row. A pair from
    an interrupted encode, or edited since, is refused in one line naming the file."""
    import numpy as np

    output = Path(path)
    ids_file, sums = ids_path_for(output), sums_path_for(output)
    for p in (output, ids_file):
        if not p.is_file():
            raise EvalkitError(f"{p}: not found")
    if not sums.is_file():
        raise EvalkitError(
            f"{output}: {sums.name} is missing, so {output.name} and {ids_file.name} may not "
            "belong together (an interrupted evalkit encode?); encode again"
        )
    want: dict[str, str] = {}
    for line in sums.read_text(encoding="utf-8").splitlines():
        digest, _, name = line.partition("  ")
        want[name] = digest
    for p in (output, ids_file):
        if want.get(p.name) != file_sha256(p):
            raise EvalkitError(
                f"{p}: does not match {sums.name} (written by another or an interrupted "
                "evalkit encode, or edited since); encode again"
            )
    ids = ids_file.read_text(encoding="utf-8").splitlines()
    emb = np.load(output, allow_pickle=False)
    if emb.ndim != 2 or emb.shape[0] != len(ids):
        raise EvalkitError(f"{output}: {emb.shape} rows for {len(ids)} ids in {ids_file.name}")
    return ids, emb


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
    force_dim: bool = typer.Option(
        False, "--force-dim", help="Allow a --dim the model was not trained to be cut to."
    ),
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

    from evalkit.models.base import check_trained_dim
    from evalkit.models.registry import load_encoder
    from evalkit.retrieval.dense import check_finite

    if kind not in ("query", "document"):
        raise EvalkitError(f"--kind {kind!r}: expected 'query' or 'document'")
    if output.suffix != ".npy":
        raise EvalkitError(f"--output {output}: must end in .npy")
    if not output.parent.is_dir():
        raise EvalkitError(f"--output {output}: directory {output.parent} does not exist")
    for p in (output, ids_path_for(output), sums_path_for(output)):
        check_output_file(p, "--output")
    if batch_size is not None and batch_size < 1:
        raise EvalkitError(f"--batch-size {batch_size}: must be at least 1")
    ids, items = read_records(input_path, kind)
    encoder = load_encoder(model, model_type=model_type, device=device, dtype=dtype)
    check = getattr(encoder, "check_dim", None)
    if dim is not None and callable(check):
        check(dim)  # fail before encoding, not after
    check_trained_dim(encoder.spec, getattr(encoder, "dim", None), dim, force=force_dim)
    limit = getattr(encoder, "length_limit", None)
    if max_length and limit and max_length > limit:
        raise EvalkitError(f"--max-length {max_length}: {model} takes at most {limit} tokens")
    if kind == "query":
        emb = encoder.encode_queries(
            items,  # type: ignore[arg-type]
            dim=dim,
            batch_size=batch_size,
            max_length=max_length,
            force_dim=True,  # checked above, with the option's name
        )
    else:
        emb = encoder.encode_documents(
            items, dim=dim, batch_size=batch_size, max_length=max_length, force_dim=True
        )
    emb = np.ascontiguousarray(emb, dtype=np.float32)
    # run's rule: a NaN vector would be written and later rank first for every query
    check_finite(emb, kind, ids, model)
    write_embeddings(output, ids, emb)
    ids_file = ids_path_for(output)
    console.print(f"{emb.shape[0]} x {emb.shape[1]} -> {output} (ids: {ids_file})", highlight=False)
