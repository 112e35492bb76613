"""The ``raw_events`` checks: schema, required columns, rows conserved, quarantine rate."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ecom_assets.ingest.parsing import RAW_EVENTS_SCHEMA
from ecom_assets.ingest.pipeline import QUARANTINE_COLUMNS, IngestReport

REQUIRED_COLUMNS = ("event_time", "event_type", "product_id", "price", "user_id")
OPTIONAL_COLUMNS = ("category_code", "brand")
CHECK_SCHEMA = "schema_and_types"
CHECK_REQUIRED = "required_columns_not_null"
CHECK_CONSERVATION = "rows_conserved"
CHECK_QUARANTINE_RATE = "quarantine_rate_below_threshold"

RAW_EVENT_CHECKS = [
    dg.AssetCheckSpec(CHECK_SCHEMA, asset="raw_events", description="raw/ has the expected columns and types."),
    dg.AssetCheckSpec(
        CHECK_REQUIRED, asset="raw_events", description="No null in event_time, event_type, product_id, price, user_id."
    ),
    dg.AssetCheckSpec(
        CHECK_CONSERVATION,
        asset="raw_events",
        description="Lines read = rows accepted (counted again in raw/) + rows quarantined (counted again in temp/quarantine/).",
    ),
    dg.AssetCheckSpec(
        CHECK_QUARANTINE_RATE,
        asset="raw_events",
        blocking=True,
        description="The share of rejected lines stays below ECOM_MAX_QUARANTINE_RATE (default 1%).",
    ),
]


@dataclass(frozen=True)
class RawFigures:
    """What was written, counted again: nulls per column, rows in raw/ and in quarantine, column types."""

    null_counts: dict[str, int]
    rows_in_raw: int
    rows_in_quarantine: int
    types: dict[str, str]
    quarantine_columns: list[str]

    @staticmethod
    def of(raw: DataFrame, quarantine: DataFrame, report: IngestReport) -> RawFigures:
        """Counted on raw/ and temp/quarantine/ as written."""
        nulls = raw.select([F.count_if(F.col(c).isNull()).alias(c) for c in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)]
                           ).collect()[0]
        return RawFigures({c: int(nulls[c]) for c in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)},
                          sum(report.rows_per_month.values()), quarantine.count(),
                          {f.name: f.dataType.simpleString() for f in raw.schema.fields}, list(quarantine.columns))

    @property
    def null_rate(self) -> dict[str, float]:
        """The share of null category codes and brands (allowed, reported)."""
        return {c: self.null_counts[c] / self.rows_in_raw if self.rows_in_raw else 0.0 for c in OPTIONAL_COLUMNS}


def raw_event_results(figures: RawFigures, report: IngestReport, max_rate: float) -> list[dg.AssetCheckResult]:
    """``RAW_EVENT_CHECKS`` from the figures, the ingest report and the quarantine rate allowed."""
    expected_types = {f.name: f.dataType.simpleString() for f in RAW_EVENTS_SCHEMA.fields}
    return [
        dg.AssetCheckResult(
            check_name=CHECK_SCHEMA,
            passed=figures.types == expected_types and set(figures.quarantine_columns) == set(QUARANTINE_COLUMNS),
            metadata={"columns": dg.MetadataValue.json(figures.types)},
        ),
        dg.AssetCheckResult(
            check_name=CHECK_REQUIRED,
            passed=all(figures.null_counts[c] == 0 for c in REQUIRED_COLUMNS),
            metadata={
                **{f"nulls_{c}": figures.null_counts[c] for c in REQUIRED_COLUMNS},
                **{f"null_rate_{c}": round(rate, 4) for c, rate in figures.null_rate.items()},
            },
        ),
        dg.AssetCheckResult(
            check_name=CHECK_CONSERVATION,
            passed=(report.conserved and figures.rows_in_raw == report.rows_accepted
                    and figures.rows_in_quarantine == report.rows_quarantined),
            metadata={"rows_read": report.rows_read, "rows_in_raw": figures.rows_in_raw,
                      "rows_in_quarantine": figures.rows_in_quarantine},
        ),
        dg.AssetCheckResult(
            check_name=CHECK_QUARANTINE_RATE,
            passed=report.quarantine_rate <= max_rate,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"quarantine_rate": round(report.quarantine_rate, 6), "max_rate": max_rate},
        ),
    ]
