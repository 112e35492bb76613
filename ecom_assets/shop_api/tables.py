"""The lake's tables as the API reads them: memory-mapped Arrow copies sorted by their key.

A lookup is a binary search on the key column and a zero-copy slice: no Spark, no scan, and the
operating system keeps the hot pages in memory. The copies are built once per version of a table
(named after its files, :func:`~ecom_assets.replay.models.keyed.sorted_copy`) under
``temp/serving/``; a snapshot keeps its tables open, so a newer copy replacing an older one never
pulls a file from under a request being answered.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds

from ecom_assets.replay.models.keyed import sorted_copy, source_stamp


def complete(folder: Path) -> bool:
    """A table Spark finished writing: its ``_SUCCESS`` marker is there (a write in progress has none)."""
    return (folder / "_SUCCESS").is_file()


def stamp(folder: Path) -> str | None:
    """The version of a finished table (its files' names, sizes and times), None when absent or unfinished."""
    return source_stamp(folder) if folder.is_dir() and complete(folder) else None


@dataclass(frozen=True)
class SortedTable:
    """A table sorted by ``key``, memory-mapped; :meth:`rows` gives the rows of one key value."""

    key: str
    table: pa.Table
    keys: np.ndarray

    @classmethod
    def open(cls, source: Path, key: str, folder: Path, label: str) -> SortedTable:
        """The sorted copy of the Parquet folder ``source`` (built when missing), opened."""
        return cls.of_copy(sorted_copy(source, key, folder, label), key)

    @classmethod
    def of_copy(cls, copy: Path, key: str) -> SortedTable:
        """An Arrow file already sorted by ``key``, memory-mapped."""
        return cls.of(pa.ipc.open_file(pa.memory_map(str(copy))).read_all(), key)

    @classmethod
    def of(cls, table: pa.Table, key: str) -> SortedTable:
        """A table already sorted by ``key``."""
        table = table.combine_chunks()
        keys = table.column(key).to_numpy() if table.num_rows else np.empty(0, dtype=np.int64)
        return cls(key, table, keys)

    def rows(self, value: int) -> pa.Table:
        """The rows whose key is ``value`` (empty when none)."""
        first = int(np.searchsorted(self.keys, value, side="left"))
        last = int(np.searchsorted(self.keys, value, side="right"))
        return self.table.slice(first, last - first)

    def __len__(self) -> int:
        return self.table.num_rows


def read_small(source: Path) -> pa.Table:
    """A small table read whole (weights, profiles, cold-start lists)."""
    return ds.dataset(str(source), format="parquet").to_table()
