"""What the report reads: the lake's small tables (with pyarrow, no Spark) and the assets' Dagster metadata.

Only aggregated tables are read whole; a large one (``user_segments``) is read one column at a time.
A lake at a Hadoop URI is read through pyarrow's file systems (``s3://``, ``hdfs://``); a missing
table or instance is ``None``, and the section that needs it says what to materialize.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import pandas as pd
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from ecom_assets.lake import Lake, is_local, local_path


def _dataset(uri: str) -> ds.Dataset | None:
    """The Parquet dataset at ``uri`` (Spark's ``_SUCCESS`` and ``.crc`` files ignored), None when absent."""
    if is_local(uri):
        filesystem, path = pafs.LocalFileSystem(), str(local_path(uri))
    else:
        filesystem, path = pafs.FileSystem.from_uri(uri)
    if filesystem.get_file_info(path).type != pafs.FileType.Directory:
        return None
    dataset = ds.dataset(path, filesystem=filesystem, format="parquet", partitioning="hive")
    return dataset if dataset.files else None


@dataclass
class Sources:
    """The lake and, when there is one, the Dagster instance that materialized it."""

    lake: Lake
    instance: dg.DagsterInstance | None = None
    _tables: dict[str, pd.DataFrame | None] = field(default_factory=dict, repr=False)

    def table(self, name: str, columns: list[str] | None = None) -> pd.DataFrame | None:
        """A table of ``processed/`` as pandas (cached), or None when it was not materialized."""
        key = f"{name}:{','.join(columns or [])}"
        if key not in self._tables:
            dataset = _dataset(self.lake.processed(name))
            self._tables[key] = dataset.to_table(columns=columns).to_pandas() if dataset else None
        return self._tables[key]

    def required(self, name: str, missing: list[str]) -> pd.DataFrame | None:
        """``table(name)``; when absent, says in ``missing`` how to materialize it."""
        table = self.table(name)
        if table is None:
            missing.append(f"no `{name}` in the lake: `ecom materialize --select {name}`")
        return table

    def quarantine_reasons(self) -> pd.Series | None:
        """Rejected lines per reason (an empty series when nothing was rejected), None without ``raw_events``."""
        if _dataset(self.lake.raw_events) is None:
            return None
        dataset = _dataset(self.lake.quarantine)
        if dataset is None:
            return pd.Series(dtype="int64")
        reasons = dataset.to_table(columns=["reason"]).group_by("reason").aggregate([("reason", "count")])
        frame = reasons.to_pandas()
        return frame.set_index("reason")["reason_count"].sort_values(ascending=False)

    def metadata(self, asset: str) -> dict[str, Any]:
        """The latest materialization's metadata of ``asset`` as plain values ({} without an instance)."""
        if self.instance is None:
            return {}
        event = self.instance.get_latest_materialization_event(dg.AssetKey(asset))
        if event is None or event.asset_materialization is None:
            return {}
        return {k: v.value for k, v in event.asset_materialization.metadata.items()}

    def hourly_metadata(self, asset: str, limit: int = 24 * 31) -> pd.DataFrame:
        """One row per materialized hour of a replay asset: its partition, time and metadata (oldest first)."""
        if self.instance is None:
            return pd.DataFrame()
        records = self.instance.fetch_materializations(dg.AssetKey(asset), limit=limit).records
        rows = []
        for record in records:
            materialization = record.asset_materialization
            if materialization is None or materialization.partition is None:
                continue
            values = {k: v.value for k, v in materialization.metadata.items()}
            rows.append({"partition": materialization.partition,
                         "materialized_at": dt.datetime.fromtimestamp(record.timestamp, dt.UTC), **values})
        if not rows:
            return pd.DataFrame()
        frame = pd.DataFrame(rows).sort_values(["partition", "materialized_at"])
        frame = frame.drop_duplicates("partition", keep="last")  # a re-run hour: its latest materialization
        return frame.reset_index(drop=True)
