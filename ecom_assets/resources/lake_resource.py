"""The lake resource: where input CSVs are read and where every table is written."""

from __future__ import annotations

import dagster as dg
from pyspark.sql import DataFrame, SparkSession

from ecom_assets.lake import Lake, input_month_files
from ecom_assets.settings import DEFAULT_MAX_QUARANTINE_RATE


class LakeResource(dg.ConfigurableResource):
    """The input folder (``ECOM_DATA_DIR``), the lake root (``ECOM_LAKE_DIR``) and the share of input
    lines that may be quarantined before ingestion fails (``ECOM_MAX_QUARANTINE_RATE``); for a lake at a
    Hadoop URI, the local folder of the replay's small state (``ECOM_RUN_DIR``)."""

    data_dir: str
    root: str
    max_quarantine_rate: float = DEFAULT_MAX_QUARANTINE_RATE
    local_state_root: str = ""

    @property
    def lake(self) -> Lake:
        """Path helper for the lake root."""
        return Lake(self.root, self.local_state_root)

    def input_files(self) -> list[str]:
        """The month CSVs to ingest; a clear error when there are none."""
        files = input_month_files(self.data_dir)
        if not files:
            raise FileNotFoundError(
                f"no 2019-Oct.csv or 2019-Nov.csv in ECOM_DATA_DIR={self.data_dir}; "
                "run `ecom generate --out DIR` or point ECOM_DATA_DIR at the real files"
            )
        return files

    def write_processed(self, frame: DataFrame, table: str, partition_by: str | None = None) -> str:
        """Overwrite ``processed/<table>`` with ``frame`` (Parquet); returns the path."""
        path = self.lake.processed(table)
        writer = frame.write.mode("overwrite")
        if partition_by:
            writer = writer.partitionBy(partition_by)
        writer.parquet(path)
        return path

    def read_processed(self, spark: SparkSession, table: str) -> DataFrame:
        """``processed/<table>`` as written by its asset."""
        return spark.read.parquet(self.lake.processed(table))
