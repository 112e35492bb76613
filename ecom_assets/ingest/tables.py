"""Reading what the ingest stage wrote, for the later stages."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

from ecom_assets.ingest.parsing import RAW_EVENTS_SCHEMA
from ecom_assets.lake import Lake


def read_raw_events(spark: SparkSession, lake: Lake) -> DataFrame:
    """The validated events of ``raw/`` with their declared schema (no inference)."""
    return spark.read.schema(RAW_EVENTS_SCHEMA).parquet(lake.raw_events)
