"""A memory-mapped Arrow file with the few ``datasets.Dataset`` operations a corpus needs.

A local BEIR corpus is read once into an Arrow file named after its content hash; every later
run only memory-maps it. Opening it as a ``datasets.Dataset`` imports ``datasets`` (and
pandas, huggingface_hub: about 0.9 s), which a run whose vectors are all cached otherwise never
needs. :class:`ArrowFileDataset` does what :class:`evalkit.data.Corpus` and the retrieval loop
ask of a dataset (length, column names, column selection, the ``"arrow"`` format, contiguous
slices, row gathers, ``cache_files``) with pyarrow alone, with ``datasets``' results; any other
attribute (``map``, ``filter``, ``to_pandas``...) is the real ``datasets.Dataset`` over the
same file, opened on first use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


class ArrowFileDataset:
    """``datasets.Dataset.from_file(path)`` for the operations above, without ``datasets``."""

    def __init__(
        self, path: str | Path, table: Any = None, columns: list[str] | None = None, fmt: str = ""
    ) -> None:
        import pyarrow as pa

        self._path = str(path)
        if table is None:
            # The IPC stream evalkit writes, mapped: zero-copy, as datasets maps it.
            table = pa.ipc.open_stream(pa.memory_map(self._path)).read_all()
        self._table = table if columns is None else table.select(columns)
        self._fmt = fmt
        self._real: Any = None

    # -- what datasets.Dataset gives, the same way ------------------------------------------

    @property
    def column_names(self) -> list[str]:
        return list(self._table.column_names)

    @property
    def num_rows(self) -> int:
        return self._table.num_rows

    def __len__(self) -> int:
        return self._table.num_rows

    @property
    def cache_files(self) -> list[dict[str, str]]:
        return [{"filename": self._path}]

    def select_columns(self, column_names: str | list[str]) -> ArrowFileDataset:
        names = [column_names] if isinstance(column_names, str) else list(column_names)
        missing = set(names) - set(self._table.column_names)
        if missing:
            raise ValueError(f"columns {sorted(missing)} not in the dataset")
        return ArrowFileDataset(self._path, self._table, names, self._fmt)

    def with_format(self, type: str | None = None) -> ArrowFileDataset:  # noqa: A002
        if type not in (None, "arrow"):
            return self._dataset().with_format(type)
        return ArrowFileDataset(self._path, self._table, None, type or "")

    def __getitem__(self, key: Any) -> Any:
        table = self._table
        if isinstance(key, str):
            col = table.column(key)
            return col if self._fmt == "arrow" else col.to_pylist()
        if isinstance(key, slice):
            start, stop, step = key.indices(table.num_rows)
            if step != 1:
                return self._dataset()[key]
            part = table.slice(start, max(stop - start, 0))
        elif isinstance(key, int):
            if not -table.num_rows <= key < table.num_rows:
                raise IndexError(f"index {key} out of range for {table.num_rows} rows")
            row = table.slice(key % table.num_rows, 1)
            return row if self._fmt == "arrow" else {c: v[0] for c, v in row.to_pydict().items()}
        else:  # a sequence of row indices
            part = table.take(np.asarray(list(key), dtype=np.int64))
        return part if self._fmt == "arrow" else part.to_pydict()

    # -- anything else: the real dataset over the same file ---------------------------------

    def _dataset(self) -> Any:
        if self._real is None:
            import datasets

            real = datasets.Dataset.from_file(self._path)
            if real.column_names != self.column_names:
                real = real.select_columns(self.column_names)
            self._real = real.with_format("arrow") if self._fmt == "arrow" else real
        return self._real

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_real", "_table", "_path", "_fmt"):
            raise AttributeError(name)
        return getattr(self._dataset(), name)

    def __repr__(self) -> str:
        return f"ArrowFileDataset({self._path!r}, columns={self.column_names}, rows={len(self)})"


def datasets_cache_dir() -> Path:
    """``datasets.config.HF_DATASETS_CACHE`` without importing ``datasets``: its value where
    it is imported (a test or a user may have set it), else the same environment rule."""
    import os
    import sys

    config = sys.modules.get("datasets.config")
    if config is not None:
        return Path(config.HF_DATASETS_CACHE)
    home = os.path.expanduser(
        os.getenv("HF_HOME", os.path.join(os.getenv("XDG_CACHE_HOME", "~/.cache"), "huggingface"))
    )
    return Path(os.getenv("HF_DATASETS_CACHE", os.path.join(home, "datasets")))


def string_array(values: list[str]) -> Any:
    """``pa.array(values, pa.string())`` built from buffers: ``pa.array`` imports pandas
    (0.5 s or more) to ask whether its input is a pandas object, on every run that reads a
    local collection."""
    import pyarrow as pa

    data = [v.encode("utf-8") for v in values]
    offsets = np.zeros(len(data) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in data], out=offsets[1:])
    if offsets[-1] >= 2**31:
        return pa.LargeStringArray.from_buffers(
            len(data), pa.py_buffer(offsets), pa.py_buffer(b"".join(data))
        ).cast(pa.string())
    return pa.StringArray.from_buffers(
        len(data), pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(b"".join(data))
    )


def utf8_lengths(column: Any) -> np.ndarray:
    """Bytes of each string of an Arrow (chunked) string column, 0 for a null, as int64,
    read from the offsets buffers with numpy: Arrow's own conversions to numpy import pandas
    first. A null's offsets may span bytes (the format allows it): the validity bitmap
    zeroes it."""
    import pyarrow as pa

    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    out = [np.zeros(0, dtype=np.int64)]
    for chunk in chunks:
        n, off = len(chunk), chunk.offset
        validity, offsets = chunk.buffers()[:2]
        if n == 0:
            continue
        wide = pa.types.is_large_string(chunk.type) or pa.types.is_large_binary(chunk.type)
        pos = np.frombuffer(offsets, dtype=np.int64 if wide else np.int32)[off : off + n + 1]
        lengths = np.diff(pos).astype(np.int64)
        if validity is not None and chunk.null_count:
            bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
            lengths[bits[off : off + n] == 0] = 0
        out.append(lengths)
    return np.concatenate(out)


def plain_numpy(array: Any) -> np.ndarray:
    """A null-free fixed-width Arrow (chunked) array as numpy, read from its data buffers
    (``to_numpy`` imports pandas first)."""
    import pyarrow as pa

    chunks = array.chunks if isinstance(array, pa.ChunkedArray) else [array]
    dtype = np.dtype(array.type.to_pandas_dtype())
    out = [np.zeros(0, dtype=dtype)]
    for chunk in chunks:
        if chunk.null_count:
            raise ValueError("plain_numpy: the array has nulls")
        data = np.frombuffer(chunk.buffers()[1], dtype=dtype)
        out.append(data[chunk.offset : chunk.offset + len(chunk)])
    return np.concatenate(out)


def index_array(values: np.ndarray) -> Any:
    """An int64 numpy array as an Arrow array over the same memory, for ``take`` (which
    would import pandas to convert numpy itself)."""
    import pyarrow as pa

    data = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(data), [None, pa.py_buffer(data)])
