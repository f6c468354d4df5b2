"""The Parquet manifest of a very large batch: the input rows written on the driver in
chunks (never all in memory as Python rows again) to a hidden file in the output folder,
which the workers read through the shared file system with ``ray.data.read_parquet``,
instead of every row travelling through the driver's object store."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

ROWS = pa.schema(
    [
        ("index", pa.int64()),
        ("source", pa.string()),
        ("relative", pa.string()),
        ("output", pa.string()),
        ("format", pa.string()),
    ]
)
PREFIX = ".stylepipe-manifest-"
CHUNK = 65_536


def write_manifest(rows: Iterable[dict[str, Any]], folder: Path) -> Path:
    """Write ``rows`` to a new hidden Parquet file in ``folder``; returns its path."""
    path = folder / f"{PREFIX}{uuid.uuid4().hex}.parquet"
    try:
        with pq.ParquetWriter(path, ROWS) as writer:
            for chunk in _chunks(rows, CHUNK):
                writer.write_table(pa.Table.from_pylist(chunk, schema=ROWS))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def _chunks(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk
