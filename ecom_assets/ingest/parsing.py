"""Parse and validate REES46 CSV lines with Spark, keeping every rejected line with its reason.

Lines are read as text (not with the CSV reader) so that a rejected line is kept exactly as it
was, wrong column counts are caught, and CRLF endings, missing headers and a truncated last row
need no special case. Every field is cast with ``try_*`` functions: no row can fail the job.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ecom_assets.schema import CSV_HEADER, EVENT_TYPES

EVENT_TIME_PATTERN = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$"
SPARK_TIME_FORMAT = "yyyy-MM-dd HH:mm:ss 'UTC'"

# Reasons a line is quarantined, checked in this order (the first that applies is recorded).
EMPTY_LINE = "empty_line"
WRONG_COLUMN_COUNT = "wrong_column_count"
MISSING_EVENT_TIME = "missing_event_time"
UNPARSABLE_EVENT_TIME = "unparsable_event_time"
UNKNOWN_EVENT_TYPE = "unknown_event_type"
MISSING_PRODUCT_ID = "missing_product_id"
UNPARSABLE_PRODUCT_ID = "unparsable_product_id"
UNPARSABLE_CATEGORY_ID = "unparsable_category_id"
MISSING_PRICE = "missing_price"
UNPARSABLE_PRICE = "unparsable_price"
NEGATIVE_PRICE = "negative_price"
MISSING_USER_ID = "missing_user_id"
UNPARSABLE_USER_ID = "unparsable_user_id"
REJECT_REASONS: tuple[str, ...] = (
    EMPTY_LINE,
    WRONG_COLUMN_COUNT,
    MISSING_EVENT_TIME,
    UNPARSABLE_EVENT_TIME,
    UNKNOWN_EVENT_TYPE,
    MISSING_PRODUCT_ID,
    UNPARSABLE_PRODUCT_ID,
    UNPARSABLE_CATEGORY_ID,
    MISSING_PRICE,
    UNPARSABLE_PRICE,
    NEGATIVE_PRICE,
    MISSING_USER_ID,
    UNPARSABLE_USER_ID,
)

EVENT_SCHEMA = T.StructType(
    [
        T.StructField("event_time", T.TimestampType(), nullable=False),
        T.StructField("event_type", T.StringType(), nullable=False),
        T.StructField("product_id", T.LongType(), nullable=False),
        T.StructField("category_id", T.LongType(), nullable=True),
        T.StructField("category_code", T.StringType(), nullable=True),
        T.StructField("brand", T.StringType(), nullable=True),
        T.StructField("price", T.DoubleType(), nullable=False),
        T.StructField("user_id", T.LongType(), nullable=False),
        T.StructField("user_session", T.StringType(), nullable=True),
    ]
)
RAW_EVENTS_SCHEMA = T.StructType([*EVENT_SCHEMA.fields, T.StructField("event_date", T.DateType(), nullable=False)])
LINE_POSITION_COLUMNS = ("source_file", "block_start", "row_id")


def read_lines(spark: SparkSession, paths: list[str]) -> DataFrame:
    """Every line of ``paths`` with where it came from (file, split start, a per-split row order)."""
    return spark.read.text(paths).select(
        F.input_file_name().alias("source_file"),
        F.input_file_block_start().alias("block_start"),
        F.monotonically_increasing_id().alias("row_id"),
        F.regexp_replace(F.col("value"), "\r$", "").alias("raw_line"),
    )


def _blank_to_null(field: Column) -> Column:
    """Empty CSV fields (``,,``) become null."""
    return F.when(field == "", None).otherwise(field)


def parse_lines(lines: DataFrame) -> DataFrame:
    """Typed event columns, ``is_header`` and ``reject_reason`` (null for an accepted row) for each line."""
    fields = F.split(F.col("raw_line"), ",", -1)
    raw = {name: _blank_to_null(F.get(fields, i)) for i, name in enumerate(CSV_HEADER)}
    event_time = F.try_to_timestamp(raw["event_time"], F.lit(SPARK_TIME_FORMAT))
    product_id = raw["product_id"].try_cast("bigint")
    category_id = raw["category_id"].try_cast("bigint")
    price = raw["price"].try_cast("double")
    user_id = raw["user_id"].try_cast("bigint")
    rules: list[tuple[Column, str]] = [
        (F.trim(F.col("raw_line")) == "", EMPTY_LINE),
        (F.size(fields) != len(CSV_HEADER), WRONG_COLUMN_COUNT),
        (raw["event_time"].isNull(), MISSING_EVENT_TIME),
        (~raw["event_time"].rlike(EVENT_TIME_PATTERN) | event_time.isNull(), UNPARSABLE_EVENT_TIME),
        (~raw["event_type"].isin(*EVENT_TYPES) | raw["event_type"].isNull(), UNKNOWN_EVENT_TYPE),
        (raw["product_id"].isNull(), MISSING_PRODUCT_ID),
        (product_id.isNull(), UNPARSABLE_PRODUCT_ID),
        (raw["category_id"].isNotNull() & category_id.isNull(), UNPARSABLE_CATEGORY_ID),
        (raw["price"].isNull(), MISSING_PRICE),
        (price.isNull() | F.isnan(price), UNPARSABLE_PRICE),
        (price < 0, NEGATIVE_PRICE),
        (raw["user_id"].isNull(), MISSING_USER_ID),
        (user_id.isNull(), UNPARSABLE_USER_ID),
    ]
    reason: Column = F.lit(None).cast("string")
    for condition, name in reversed(rules):
        reason = F.when(condition, F.lit(name)).otherwise(reason)
    header_line = ",".join(CSV_HEADER)
    return lines.select(
        *LINE_POSITION_COLUMNS,
        "raw_line",
        (F.col("raw_line") == header_line).alias("is_header"),
        reason.alias("reject_reason"),
        event_time.alias("event_time"),
        raw["event_type"].alias("event_type"),
        product_id.alias("product_id"),
        category_id.alias("category_id"),
        raw["category_code"].alias("category_code"),
        raw["brand"].alias("brand"),
        price.alias("price"),
        user_id.alias("user_id"),
        raw["user_session"].alias("user_session"),
    )


def accepted_events(parsed: DataFrame) -> DataFrame:
    """Accepted rows in the raw-events schema (with ``event_date`` for partitioning)."""
    rows = parsed.where(~F.col("is_header") & F.col("reject_reason").isNull())
    return rows.select(*EVENT_SCHEMA.fieldNames(), F.to_date("event_time").alias("event_date"))


def rejected_lines(parsed: DataFrame) -> DataFrame:
    """Rejected lines with their position and reason (line numbers are added by ``number_lines``)."""
    return parsed.where(~F.col("is_header") & F.col("reject_reason").isNotNull()).select(
        *LINE_POSITION_COLUMNS, "raw_line", F.col("reject_reason").alias("reason")
    )


def split_positions(lines: DataFrame) -> DataFrame:
    """Per file split: its first row id and line count (small: one row per split)."""
    return lines.groupBy("source_file", "block_start").agg(
        F.min("row_id").alias("first_row_id"), F.count(F.lit(1)).alias("lines")
    )


def number_lines(rejected: DataFrame, splits: DataFrame) -> DataFrame:
    """Rejected lines with their 1-based line number in the source file.

    A split's first line number is one plus the lines of the earlier splits of the same file;
    inside a split, row ids are consecutive.
    """
    from pyspark.sql.window import Window

    earlier = Window.partitionBy("source_file").orderBy("block_start").rowsBetween(Window.unboundedPreceding, -1)
    offsets = splits.select(
        "source_file",
        "block_start",
        "first_row_id",
        F.coalesce(F.sum("lines").over(earlier), F.lit(0)).alias("lines_before"),
    )
    numbered = rejected.join(F.broadcast(offsets), ["source_file", "block_start"])
    return numbered.select(
        "source_file",
        (F.col("lines_before") + F.col("row_id") - F.col("first_row_id") + 1).alias("line_number"),
        "raw_line",
        "reason",
    )
