"""The ``raw_events`` asset and its checks: validated ingest of the month CSVs into ``raw/``."""

import dagster as dg

from ecom_assets.ingest import checks
from ecom_assets.ingest.pipeline import IngestReport, ingest_events, require_events
from ecom_assets.resources import LakeResource, SparkResource


def _reason_table(report: IngestReport) -> str:
    """Quarantine counts per reason as a markdown table."""
    if not report.reasons:
        return "No line was rejected."
    lines = ["| reason | lines |", "|---|---:|"]
    lines += [f"| {reason} | {count:,} |" for reason, count in sorted(report.reasons.items())]
    return "\n".join(lines)


@dg.multi_asset(
    specs=[
        dg.AssetSpec("raw_events", group_name="ingest", kinds={"spark", "parquet"}, description=(
            "Every event of the month CSVs, validated and typed, as Parquet partitioned by event_date (UTC) "
            "under raw/events.")),
        dg.AssetSpec("quarantined_lines", group_name="ingest", kinds={"parquet"}, description=(
            "The input lines that could not be parsed or broke the schema, with their file, line number and "
            "reason (temp/quarantine/events); re-materializing raw_events replaces both.")),
    ],
    check_specs=checks.RAW_EVENT_CHECKS,
)
def raw_events(context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource):
    """Validated ingest of the month CSVs into raw/, rejected lines into quarantine."""
    session = spark.get_session()
    files = lake.input_files()
    context.log.info(f"ingesting {len(files)} file(s): {', '.join(files)}")
    report = ingest_events(session, files, lake.lake)
    require_events(report, files)
    quarantine = session.read.parquet(lake.lake.quarantine)
    figures = checks.RawFigures.of(session.read.parquet(lake.lake.raw_events), quarantine, report)
    yield dg.MaterializeResult(
        asset_key="raw_events",
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
            **{f"null_rate_{c}": round(rate, 4) for c, rate in figures.null_rate.items()},
        },
        check_results=checks.raw_event_results(figures, report, lake.max_quarantine_rate),
    )
    yield dg.MaterializeResult(asset_key="quarantined_lines", metadata={
        "path": dg.MetadataValue.path(lake.lake.quarantine), "dagster/row_count": figures.rows_in_quarantine})
