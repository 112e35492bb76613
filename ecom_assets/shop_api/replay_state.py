"""The replay's lists and pairs as of its newest completed hour, looked up by user without Spark.

A ledger's state after hour h is its base, the previous day's snapshot and the day's hours up to h
(:class:`~ecom_assets.replay.models.ledger.Ledger`); each key's newest row wins. The base and the
snapshot are the sorted copies the replay itself keeps (memory-mapped); each of the day's hours is
read into memory once, sorted by user, when it lands.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ecom_assets.lake import Lake, local_path
from ecom_assets.replay.models.keyed import newest_per_key, source_stamp
from ecom_assets.replay.models.ledger import Ledger
from ecom_assets.replay.models.state import Ledgers
from ecom_assets.replay.written import completed_parts, written
from ecom_assets.shop_api.tables import SortedTable

PRIORITY = "_priority"
HOUR_PART = "hour=%Y-%m-%dT%H"


def newest_hour(lake: Lake) -> dt.datetime | None:
    """The latest hour whose served lists the replay finished writing (None before the replay)."""
    parts = sorted(p for p in completed_parts(None, lake.replay_table("served_recs")) if p.startswith("hour="))
    return dt.datetime.strptime(parts[-1], HOUR_PART).replace(tzinfo=dt.UTC) if parts else None


@dataclass(frozen=True)
class LedgerView:
    """One ledger as of the end of an hour: its layers, lowest priority first (the base, the previous day's
    snapshot, then each of the day's hours), and the path each layer was read from."""

    keys: tuple[str, ...]
    layers: tuple[SortedTable, ...]
    sources: tuple[str, ...]
    has_base: bool

    @classmethod
    def open(cls, ledger: Ledger, hour: dt.datetime, previous: LedgerView | None = None) -> LedgerView:
        """The state of ``ledger`` including hour ``hour``; layers of ``previous`` read from the same paths are
        reused (written once, never modified), so a new hour reads only its own part."""
        paths = ledger.source_paths(hour, through=hour)
        known = dict(zip(previous.sources, previous.layers, strict=True)) if previous is not None else {}
        key = ledger.keys[0]
        layers, sources = [], []
        has_base = bool(paths.base and written(paths.base))
        for path, kind in ((paths.base, "base"), (paths.snapshot, "daily")):
            if path and written(path):
                version = f"{path}@{source_stamp(local_path(path))}"  # a rewritten table is read again
                layers.append(known.get(version) or SortedTable.of_copy(ledger.sorted_copy(path, kind), key))
                sources.append(version)
        for _, path in paths.hours:
            version = f"{path}@{source_stamp(local_path(path))}"
            if version not in known:
                part = pq.read_table(local_path(path)).select(ledger.schema.fieldNames())
                known[version] = SortedTable.of(part.sort_by(key), key)
            layers.append(known[version])
            sources.append(version)
        return cls(ledger.keys, tuple(layers), tuple(sources), has_base)

    def newest(self, key: int) -> tuple[dict, bool] | None:
        """The newest row of a single-key ledger, and whether it is still the base's (unchanged by the replay)."""
        for priority in range(len(self.layers) - 1, -1, -1):
            rows = self.layers[priority].rows(key)
            if rows.num_rows:
                return rows.to_pylist()[0], self.has_base and priority == 0
        return None

    def rows(self, first_key: int) -> pa.Table | None:
        """The rows of one value of the first key, each full key's newest row; None when no layer has it."""
        found = [(priority, layer.rows(first_key)) for priority, layer in enumerate(self.layers)]
        found = [(priority, rows) for priority, rows in found if rows.num_rows]
        if not found:
            return None
        tables = [rows.append_column(PRIORITY, pa.array(np.full(rows.num_rows, priority, dtype=np.int32)))
                  for priority, rows in found]
        return newest_per_key(pa.concat_tables(tables, promote_options="permissive"), self.keys, PRIORITY)


@dataclass(frozen=True)
class ReplayState:
    """The replay's served lists and pairs, both as of ``hour``."""

    hour: dt.datetime
    served: LedgerView
    pairs: LedgerView

    @classmethod
    def open(cls, lake: Lake, hour: dt.datetime, previous: ReplayState | None = None) -> ReplayState:
        """The state including hour ``hour`` (reusing what ``previous`` already read)."""
        ledgers = Ledgers.of(lake)
        return cls(hour, LedgerView.open(ledgers.served, hour, previous.served if previous else None),
                   LedgerView.open(ledgers.pairs, hour, previous.pairs if previous else None))
