"""The ``raw_events`` asset and its checks: validated ingest of the month CSVs into ``raw/``."""

import dagster as dg
from pyspark.sql import functions as F

from ecom_assets.ingest.parsing import RAW_EVENTS_SCHEMA
from ecom_assets.ingest.pipeline import QUARANTINE_COLUMNS, IngestReport, ingest_events
from ecom_assets.resources import LakeResource, SparkResource
from ecom_assets.settings import load_settings

REQUIRED_COLUMNS = ("event_time", "event_type", "product_id", "price", "user_id")
CHECK_SCHEMA = "schema_and_types"
CHECK_REQUIRED = "required_columns_not_null"
CHECK_CONSERVATION = "rows_conserved"
CHECK_QUARANTINE_RATE = "quarantine_rate_below_threshold"


def _reason_table(report: IngestReport) -> str:
    """Quarantine counts per reason as a markdown table."""
    if not report.reasons:
        return "No line was rejected."
    lines = ["| reason | lines |", "|---|---:|"]
    lines += [f"| {reason} | {count:,} |" for reason, count in sorted(report.reasons.items())]
    return "\n".join(lines)


@dg.asset(
    group_name="ingest",
    kinds={"spark", "parquet"},
    check_specs=[
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
    ],
)
def raw_events(context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource) -> dg.MaterializeResult:
    """Every event of the month CSVs, validated and typed, as Parquet partitioned by ``event_date`` (UTC).

    Lines that cannot be parsed or break the schema are kept in ``temp/quarantine/events`` with
    their file, line number and reason; re-materializing replaces both outputs.
    """
    session = spark.get_session()
    files = lake.input_files()
    context.log.info(f"ingesting {len(files)} file(s): {', '.join(files)}")
    report = ingest_events(session, files, lake.lake)

    raw = session.read.parquet(lake.lake.raw_events)
    quarantine = session.read.parquet(lake.lake.quarantine)
    null_counts = raw.select(
        [F.count_if(F.col(c).isNull()).alias(c) for c in (*REQUIRED_COLUMNS, "category_code", "brand")]
    ).collect()[0]
    rows_in_raw = sum(report.rows_per_month.values())
    rows_in_quarantine = quarantine.count()
    expected_types = {f.name: f.dataType.simpleString() for f in RAW_EVENTS_SCHEMA.fields}
    actual_types = {f.name: f.dataType.simpleString() for f in raw.schema.fields}
    max_rate = load_settings().max_quarantine_rate
    null_rate = {c: null_counts[c] / rows_in_raw if rows_in_raw else 0.0 for c in ("category_code", "brand")}

    checks = [
        dg.AssetCheckResult(
            check_name=CHECK_SCHEMA,
            passed=actual_types == expected_types and set(quarantine.columns) == set(QUARANTINE_COLUMNS),
            metadata={"columns": dg.MetadataValue.json(actual_types)},
        ),
        dg.AssetCheckResult(
            check_name=CHECK_REQUIRED,
            passed=all(null_counts[c] == 0 for c in REQUIRED_COLUMNS),
            metadata={
                **{f"nulls_{c}": int(null_counts[c]) for c in REQUIRED_COLUMNS},
                **{f"null_rate_{c}": round(rate, 4) for c, rate in null_rate.items()},
            },
        ),
        dg.AssetCheckResult(
            check_name=CHECK_CONSERVATION,
            passed=report.conserved and rows_in_raw == report.rows_accepted and rows_in_quarantine == report.rows_quarantined,
            metadata={
                "rows_read": report.rows_read,
                "rows_in_raw": rows_in_raw,
                "rows_in_quarantine": rows_in_quarantine,
            },
        ),
        dg.AssetCheckResult(
            check_name=CHECK_QUARANTINE_RATE,
            passed=report.quarantine_rate <= max_rate,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"quarantine_rate": round(report.quarantine_rate, 6), "max_rate": max_rate},
        ),
    ]
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(lake.lake.raw_events),
            "quarantine_path": dg.MetadataValue.path(lake.lake.quarantine),
            "source_files": dg.MetadataValue.json(files),
            "lines_read": report.lines_read,
            "header_lines": report.header_lines,
            "rows_read": report.rows_read,
            "dagster/row_count": report.rows_accepted,
            "rows_quarantined": report.rows_quarantined,
            "quarantine_reasons": dg.MetadataValue.md(_reason_table(report)),
            "rows_per_month": dg.MetadataValue.json(report.rows_per_month),
            "duplicate_rows": report.duplicate_rows if report.duplicate_rows is not None else -1,
            "first_event_utc": report.first_event or "",
            "last_event_utc": report.last_event or "",
            "null_rate_category_code": round(null_rate["category_code"], 4),
            "null_rate_brand": round(null_rate["brand"], 4),
        },
        check_results=checks,
    )
