"""Keyed reads of a ledger's large tables: the rows of a few thousand keys without scanning the tables.

Spark has no index, so finding the hour's active users in October's base, and in the daily snapshot
(which grows toward every user changed in November), scans those tables whole every hour. Both are
written once and never modified, so on a local lake each is copied once into an Arrow file sorted by
its first key (under ``temp/replay/keyed/``, named after the source's files so that a rewritten
source gets a new copy). The copy is memory-mapped and binary-searched: an hour reads only the pages
that hold its keys' rows.

Speed machinery, justified by ``bench/replay_cadence.py --models on`` (docs/benchmarks.md,
``replay-models-scale-1``: the state lookup of a full-size hour) and tested equal to the Spark join it
replaces on a remote lake (``test_incremental.py``).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ecom_assets.speedups.sorted_lookup import run_indices


def source_stamp(source: Path) -> str:
    """A digest of a Spark-written folder's data files (names, sizes, modification times)."""
    digest = hashlib.sha256()
    for file in sorted(source.iterdir()):
        if not file.name.startswith((".", "_")) or file.name == "_SUCCESS":
            stat = file.stat()
            digest.update(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def sorted_copy(source: Path, key: str, folder: Path, label: str) -> Path:
    """The Arrow copy of the Parquet folder ``source`` sorted by ``key`` (one record batch), built when
    missing; older copies under the same ``label`` are removed."""
    target = folder / f"{label}-{source_stamp(source)}.arrow"
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    table = pq.read_table(source).sort_by([(key, "ascending")]).combine_chunks()
    temporary = folder / f".{target.name}.{os.getpid()}.tmp"
    with pa.OSFile(str(temporary), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=max(table.num_rows, 1))
    os.replace(temporary, target)
    for stale in folder.glob(f"{label}-*.arrow"):
        if stale != target:
            stale.unlink(missing_ok=True)
    return target


def rows_with_keys(copy: Path, key: str, keys: np.ndarray) -> pa.Table:
    """The rows of the sorted copy whose ``key`` is in ``keys`` (sorted, unique), by binary search."""
    table = pa.ipc.open_file(pa.memory_map(str(copy))).read_all()
    if table.num_rows == 0 or keys.size == 0:
        return table.slice(0, 0)
    column = table.column(key).chunk(0).to_numpy(zero_copy_only=False)
    first = np.searchsorted(column, keys, side="left")
    counts = np.searchsorted(column, keys, side="right") - first
    if counts.sum() == 0:
        return table.slice(0, 0)
    return table.take(pa.array(run_indices(first, counts)))


def parquet_rows_with_keys(source: Path, key: str, keys: np.ndarray) -> pa.Table:
    """The rows of a (small) Parquet folder whose ``key`` is in ``keys``."""
    table = pq.read_table(source)
    return table.filter(pc.is_in(table.column(key), value_set=pa.array(keys, type=table.schema.field(key).type)))


def newest_per_key(table: pa.Table, keys: tuple[str, ...], priority: str) -> pa.Table:
    """Each key's row of highest ``priority`` (the priority column dropped)."""
    if table.num_rows == 0:
        return table.drop_columns([priority])
    ordered = table.sort_by([*((k, "ascending") for k in keys), (priority, "descending")])
    columns = [ordered.column(k).to_numpy() for k in keys]
    first = np.ones(ordered.num_rows, dtype=bool)
    first[1:] = np.logical_or.reduce([c[1:] != c[:-1] for c in columns])
    return ordered.filter(pa.array(first)).drop_columns([priority])
