"""Keyed state that changes hour by hour during the replay, stored as a base, hourly parts and daily snapshots.

A ledger answers "what is the latest row of each key as of hour h" without rewriting the whole
state every hour: the base table (October's state, written once by the batch graph) is never
modified; hour h writes only the rows whose key it changed (``processed/replay/<name>/hour=...``);
after a day's last hour every change of the day is folded into a snapshot of all keys changed
since the replay began (``processed/replay/<name>_daily/day=...``). Reading as of hour h takes the
base, the previous day's snapshot and the same day's earlier hours, and keeps each key's most
recent row. Hour h reads nothing written at or after h, so re-running an hour gives the same state.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema

from ecom_assets.lake import Lake, is_local, local_path
from ecom_assets.replay.models import keyed
from ecom_assets.replay.orchestration.partitions import REPLAY_START, part_name
from ecom_assets.replay.written import completed_parts

PRIORITY = "_priority"
KEYED_FOLDER = "replay/keyed"  # under temp/: the sorted copies of the bases and snapshots
HANDOFF_FOLDER = "replay/handoff"  # under temp/: the keyed lookups' rows, as files Spark reads
HANDOFF_KEEP_SECONDS = 1800  # a handoff file older than this is no longer read by any hour's step
HOUR_COLUMN = "hour"  # the partition column of the hourly parts (``hour=2019-11-01T00``)


def day_name(day: dt.datetime) -> str:
    """The folder of one day's snapshot."""
    return day.strftime("day=%Y-%m-%d")


@dataclass(frozen=True)
class SourcePaths:
    """Where a ledger's state before an hour lives (see :meth:`Ledger.source_paths`)."""

    base: str | None
    snapshot: str | None
    hours: tuple[tuple[int, str], ...]  # (hour of day, path) of the same day's earlier parts
    missing: bool


@dataclass(frozen=True)
class Ledger:
    """One keyed replay state: ``keys`` identify a row, ``schema`` is every column (keys included)."""

    lake: Lake
    name: str
    keys: tuple[str, ...]
    schema: T.StructType
    base: str | None = None

    def hour_path(self, start: dt.datetime) -> str:
        """Where hour ``start`` writes its changed rows."""
        return self.lake.replay_table(self.name, part_name(start))

    def day_path(self, day: dt.datetime) -> str:
        """Where the snapshot of every key changed up to the end of ``day`` lives."""
        return self.lake.replay_table(f"{self.name}_daily", day_name(day))

    def _read(self, session: SparkSession, path: str, priority: int) -> DataFrame:
        """One source with the ledger's columns and its priority (higher wins)."""
        return session.read.schema(self.schema).parquet(path).select(
            *self.schema.fieldNames()).withColumn(PRIORITY, F.lit(priority))

    def _read_hours(self, session: SparkSession, paths: list[str]) -> DataFrame:
        """Several hourly parts of one day in one scan; a part's priority is 2 + its hour of day."""
        schema = T.StructType([*self.schema.fields, T.StructField(HOUR_COLUMN, T.StringType())])
        parts = session.read.option("basePath", self.lake.replay_table(self.name)).schema(schema).parquet(*paths)
        hour_of_day = F.substring(F.col(HOUR_COLUMN), -2, 2).cast("int")
        return parts.select(*self.schema.fieldNames(), (F.lit(2) + hour_of_day).alias(PRIORITY))

    def source_paths(self, start: dt.datetime, with_base: bool = True, through: dt.datetime | None = None,
                     session: SparkSession | None = None) -> SourcePaths:
        """Where the state before hour ``start`` (or up to and including ``through``, on the same day)
        lives: the base, the previous day's snapshot, the day's earlier hours (with their hour of day),
        and whether a part was missing.

        Missing parts (a replay that began mid-month) are left out: the state then falls back to the
        base for the keys they would have changed. The completed parts are listed once per table folder
        (through ``session`` on a lake at a URI, see :mod:`ecom_assets.replay.written`).
        """
        base = self.base if self.base and with_base else None
        snapshot, missing = None, False
        day = start.replace(hour=0)
        if day > REPLAY_START:
            path = self.day_path(day - dt.timedelta(days=1))
            days_done = completed_parts(session, self.lake.replay_table(f"{self.name}_daily"))
            snapshot, missing = (path, False) if day_name(day - dt.timedelta(days=1)) in days_done else (None, True)
        last = through.hour if through is not None else start.hour - 1
        hours = [(h, self.hour_path(day.replace(hour=h))) for h in range(last + 1)]
        hours_done = completed_parts(session, self.lake.replay_table(self.name)) if hours else set()
        present = tuple((h, path) for h, path in hours if part_name(day.replace(hour=h)) in hours_done)
        return SourcePaths(base, snapshot, present, missing or len(present) < len(hours))

    def sources(self, session: SparkSession, start: dt.datetime, with_base: bool = True,
                through: dt.datetime | None = None) -> tuple[list[DataFrame], bool]:
        """The tables that make up the state before hour ``start`` (see :meth:`source_paths`), and
        whether a part was missing: at most three scans (the base, the previous day's snapshot, the
        day's earlier hours)."""
        paths = self.source_paths(start, with_base, through, session)
        frames = [self._read(session, paths.base, 0)] if paths.base else []
        if paths.snapshot:
            frames.append(self._read(session, paths.snapshot, 1))
        if paths.hours:
            frames.append(self._read_hours(session, [path for _, path in paths.hours]))
        return frames, paths.missing

    def _newest(self, session: SparkSession, frames: list[DataFrame]) -> DataFrame:
        """Each key's row from the source of highest priority."""
        if not frames:
            return session.createDataFrame([], self.schema)
        union = frames[0]
        for frame in frames[1:]:
            union = union.unionByName(frame)
        newest = Window.partitionBy(*self.keys).orderBy(F.desc(PRIORITY))
        return union.withColumn("_n", F.row_number().over(newest)).where(F.col("_n") == 1).drop("_n", PRIORITY)

    def latest(self, session: SparkSession, start: dt.datetime, wanted: DataFrame | None = None,
               on: tuple[str, ...] | None = None) -> tuple[DataFrame, bool]:
        """Each key's most recent row before hour ``start`` (only rows matching ``wanted`` on ``on``,
        the keys by default), and whether a part was missing."""
        frames, missing = self.sources(session, start)
        if wanted is not None:
            columns = list(on or self.keys)
            keep = F.broadcast(wanted.select(*columns).distinct())
            frames = [frame.join(keep, columns, "left_semi") for frame in frames]
        return self._newest(session, frames), missing

    def latest_for_keys(self, session: SparkSession, start: dt.datetime, keys: np.ndarray) -> tuple[DataFrame, bool]:
        """Each key's most recent row before hour ``start``, for the rows whose first key is in ``keys``,
        and whether a part was missing.

        On a local lake nothing is scanned whole: the base and the snapshot are binary-searched in their
        sorted copies (:mod:`ecom_assets.replay.models.keyed`), the day's small hourly parts are filtered,
        and the few rows found are handed to Spark. Other lakes join the keys in Spark (:meth:`latest`).
        """
        first = self.keys[0]
        keys = np.unique(np.asarray(keys, dtype=np.int64))
        if not is_local(self.lake.root):
            wanted = session.createDataFrame(pa.table({first: keys}))
            return self.latest(session, start, wanted, (first,))
        paths = self.source_paths(start)
        arrow_schema = to_arrow_schema(self.schema, timezone="UTC")
        found: list[pa.Table] = []

        def add(rows: pa.Table, priority: int) -> None:
            for name in self.schema.fieldNames():  # a column added since the table was written: null
                if name not in rows.column_names:
                    rows = rows.append_column(arrow_schema.field(name), pa.nulls(rows.num_rows, arrow_schema.field(name).type))
            rows = rows.select(self.schema.fieldNames()).cast(arrow_schema).replace_schema_metadata(None)
            found.append(rows.append_column(PRIORITY, pa.array(np.full(rows.num_rows, priority, dtype=np.int32))))

        for kind, path, priority in (("base", paths.base, 0), ("daily", paths.snapshot, 1)):
            if path:
                add(keyed.rows_with_keys(self.sorted_copy(path, kind), first, keys), priority)
        for hour, path in paths.hours:
            add(keyed.parquet_rows_with_keys(local_path(path), first, keys), 2 + hour)
        newest = keyed.newest_per_key(pa.concat_tables(found), self.keys, PRIORITY) if found else None
        if newest is None or newest.num_rows == 0:
            return session.createDataFrame([], self.schema), paths.missing
        return self._hand_over(session, newest), paths.missing

    def _hand_over(self, session: SparkSession, rows: pa.Table) -> DataFrame:
        """``rows`` as a DataFrame that Spark reads from a Parquet file under ``temp/replay/handoff/``.

        On Spark Connect, sending the rows inside the plan (``createDataFrame``) costs about 1 s for the
        490 k pairs of a sale hour's users, reading the same rows from a file 0.2-0.3 s. Each call
        writes a new file (Spark may cache a path's file status, so a path is never rewritten) and
        removes this ledger's files older than ``HANDOFF_KEEP_SECONDS``.
        """
        folder = local_path(self.lake.temp(HANDOFF_FOLDER)) / self.name
        folder.mkdir(parents=True, exist_ok=True)
        cutoff = time.time() - HANDOFF_KEEP_SECONDS
        for old in folder.glob("*.parquet"):
            try:
                if old.stat().st_mtime < cutoff:
                    old.unlink()
            except FileNotFoundError:  # removed meanwhile by another step
                pass
        target = folder / f"{uuid.uuid4().hex}.parquet"
        temporary = folder / f".{target.name}.tmp"
        pq.write_table(rows, temporary, compression="none")
        os.replace(temporary, target)
        return session.read.schema(self.schema).parquet(str(target))

    def sorted_copy(self, path: str, kind: str) -> Path:
        """The sorted Arrow copy of this ledger's base (``kind`` "base") or a snapshot ("daily") at
        ``path``, for keyed lookups on a local lake; made when missing or when the table was rewritten."""
        folder = local_path(self.lake.temp(KEYED_FOLDER))
        return keyed.sorted_copy(local_path(path), self.keys[0], folder, f"{self.name}-{kind}")

    def write_hour(self, frame: DataFrame, start: dt.datetime) -> str:
        """Write the rows hour ``start`` changed (replacing a previous run of the same hour)."""
        path = self.hour_path(start)
        frame.select(*self.schema.fieldNames()).coalesce(1).write.mode("overwrite").parquet(path)
        return path

    def compact_day(self, session: SparkSession, day: dt.datetime) -> str:
        """Fold the day's 24 hourly parts into the snapshot of every key changed since the replay began."""
        frames, _ = self.sources(session, day, with_base=False, through=day.replace(hour=23))
        path = self.day_path(day)
        self._newest(session, frames).repartition(2).write.mode("overwrite").parquet(path)
        if is_local(path):
            self.sorted_copy(path, "daily")  # made now, so the next day's first hour does not pay for it
        return path
