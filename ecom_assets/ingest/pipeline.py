"""Ingest month CSVs into ``raw/``: parse, validate, write accepted rows and quarantine the rest."""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from ecom_assets.ingest.parsing import (
    RAW_EVENTS_SCHEMA,
    accepted_events,
    number_lines,
    parse_lines,
    read_lines,
    rejected_lines,
    split_positions,
)
from ecom_assets.lake import Lake

QUARANTINE_COLUMNS = ("source_file", "line_number", "raw_line", "reason")


@dataclass
class IngestReport:
    """Counts of one ingest run; ``lines_read = header_lines + rows_read`` and ``rows_read = accepted + quarantined``."""

    lines_read: int
    header_lines: int
    rows_accepted: int
    rows_quarantined: int
    reasons: dict[str, int] = field(default_factory=dict)
    rows_per_month: dict[str, int] = field(default_factory=dict)
    first_event: str | None = None  # UTC, "YYYY-MM-DD HH:MM:SS"
    last_event: str | None = None
    duplicate_rows: int | None = None

    @property
    def rows_read(self) -> int:
        """Data lines read (every line but the headers)."""
        return self.lines_read - self.header_lines

    @property
    def quarantine_rate(self) -> float:
        """Share of data lines that were rejected."""
        return self.rows_quarantined / self.rows_read if self.rows_read else 0.0

    @property
    def conserved(self) -> bool:
        """True when every data line was either accepted or quarantined."""
        return self.rows_read == self.rows_accepted + self.rows_quarantined


class NoValidEventsError(ValueError):
    """The input held no line that could be ingested: nothing downstream could run on it."""


def require_events(report: IngestReport, paths: list[str]) -> None:
    """Raise a one-line ``NoValidEventsError`` when ``report`` accepted no row (empty or unusable input)."""
    if report.rows_accepted:
        return
    if not report.rows_read:
        raise NoValidEventsError(f"the input holds no event line ({report.lines_read} line(s) in {', '.join(paths)}): "
                                 "point ECOM_DATA_DIR at the month CSVs")
    top = ", ".join(f"{reason} {count:,}" for reason, count in sorted(report.reasons.items(), key=lambda kv: -kv[1])[:3])
    raise NoValidEventsError(f"none of the {report.rows_read:,} data line(s) of {', '.join(paths)} is a valid event "
                             f"({top}); the lines, numbered, are in the quarantine (temp/quarantine/events)")


def _observed_counts(parsed: DataFrame) -> tuple[DataFrame, Observation]:
    """Attach the run's counters to ``parsed``: they are filled by the write, with no extra pass."""
    observation = Observation("ingest")
    accepted_time = F.when(~F.col("is_header") & F.col("reject_code").isNull(), F.col("event_time"))
    metrics = [
        F.count(F.lit(1)).alias("lines_read"),
        F.count_if(F.col("is_header")).alias("header_lines"),
        F.count_if(~F.col("is_header") & F.col("reject_code").isNull()).alias("rows_accepted"),
        F.date_format(F.min(accepted_time), "yyyy-MM-dd HH:mm:ss").alias("first_event"),
        F.date_format(F.max(accepted_time), "yyyy-MM-dd HH:mm:ss").alias("last_event"),
    ]
    return parsed.observe(observation, *metrics), observation


RAW_ROW_GROUP_BYTES = 8 * 1024 * 1024


def write_raw_events(events: DataFrame, path: str) -> None:
    """Overwrite ``path`` with ``events`` partitioned by ``event_date`` (input order kept: files are time-sorted).

    ``user_session`` is nearly unique per few rows, so Parquet's dictionary for it would overflow
    and be thrown away: it is written without one (measured ~10% faster ingest). Row groups of
    ``RAW_ROW_GROUP_BYTES`` hold about an hour of an average day, so the replay's hour filter skips
    the others by their event_time statistics.
    """
    (
        events.write.mode("overwrite")
        .partitionBy("event_date")
        .option("parquet.enable.dictionary#user_session", "false")
        .option("parquet.block.size", str(RAW_ROW_GROUP_BYTES))
        .parquet(path)
    )


def write_quarantine(spark: SparkSession, paths: list[str], target: str, any_rejected: bool) -> dict[str, int]:
    """Overwrite the quarantine with the rejected lines and their line numbers; counts per reason.

    Runs only when the main pass saw rejected lines (real files usually have none): it reads the
    input again with line positions, which the main pass does not pay for.
    """
    if not any_rejected:
        empty = spark.createDataFrame([], "source_file string, line_number long, raw_line string, reason string")
        empty.coalesce(1).write.mode("overwrite").parquet(target)
        return {}
    lines = read_lines(spark, paths, with_position=True)
    numbered = number_lines(rejected_lines(parse_lines(lines)), split_positions(lines))
    numbered.coalesce(1).write.mode("overwrite").parquet(target)
    counts = spark.read.parquet(target).groupBy("reason").count().collect()
    return {row["reason"]: int(row["count"]) for row in counts}


def count_rows_per_month(spark: SparkSession, raw_path: str) -> dict[str, int]:
    """Accepted rows per ``YYYY-MM`` read back from the written partitions."""
    rows = (
        spark.read.schema(RAW_EVENTS_SCHEMA)
        .parquet(raw_path)
        .groupBy(F.date_format("event_date", "yyyy-MM").alias("month"))
        .count()
        .collect()
    )
    return {row["month"]: int(row["count"]) for row in sorted(rows)}


def count_duplicate_rows(spark: SparkSession, raw_path: str) -> int:
    """Rows that repeat an earlier identical row (all nine fields equal).

    Shuffles two hashes per row instead of the rows themselves; a false match needs both a
    64-bit and a 32-bit hash collision.
    """
    events = spark.read.schema(RAW_EVENTS_SCHEMA).parquet(raw_path)
    columns = [F.col(name) for name in RAW_EVENTS_SCHEMA.fieldNames() if name != "event_date"]
    grouped = events.groupBy(F.xxhash64(*columns).alias("h64"), F.hash(*columns).alias("h32")).count()
    row = grouped.agg(F.sum(F.col("count") - 1).alias("duplicates")).collect()[0]
    return int(row["duplicates"] or 0)


def ingest_events(
    spark: SparkSession, paths: list[str], lake: Lake, count_duplicates: bool = True
) -> IngestReport:
    """Parse ``paths`` into ``lake.raw_events`` and ``lake.quarantine``; replaces earlier output (idempotent)."""
    parsed, observation = _observed_counts(parse_lines(read_lines(spark, paths)))
    write_raw_events(accepted_events(parsed), lake.raw_events)
    metrics = observation.get
    rows_read = int(metrics["lines_read"]) - int(metrics["header_lines"])
    reasons = write_quarantine(spark, paths, lake.quarantine, any_rejected=rows_read > int(metrics["rows_accepted"]))
    rejected = sum(reasons.values())
    return IngestReport(
        lines_read=int(metrics["lines_read"]),
        header_lines=int(metrics["header_lines"]),
        rows_accepted=int(metrics["rows_accepted"]),
        rows_quarantined=rejected,
        reasons=reasons,
        rows_per_month=count_rows_per_month(spark, lake.raw_events),
        first_event=metrics["first_event"],
        last_event=metrics["last_event"],
        duplicate_rows=count_duplicate_rows(spark, lake.raw_events) if count_duplicates else None,
    )
