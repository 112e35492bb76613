"""Parse and validate REES46 CSV lines with Spark, keeping every rejected line with its reason.

Lines are read as text (not with the CSV reader) so that a rejected line is kept exactly as it
was, wrong column counts are caught, and CRLF endings, missing headers and a truncated last row
need no special case. Every field is cast with ``try_*`` functions: no row can fail the job.

Any RFC 4180 form is accepted: a line with a double quote is split by a quote-aware pattern (any
field quoted, separators and doubled quotes inside quotes), the others, all of the real files, by a
plain split. Quoting follows Python's ``csv`` module in strict mode, line by line: a quote inside an
unquoted field is a character; a quoted field must end before the next separator or the line's end,
else the line is quarantined as ``malformed_quoting`` (so is each piece of a record whose quoted
field holds a line break: no REES46 field can). A UTF-8 byte-order mark before a line is ignored.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ecom_assets.schema import CSV_HEADER, EVENT_TYPES

EVENT_TIME_LENGTH = len("2019-10-01 00:00:00 UTC")

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
MALFORMED_QUOTING = "malformed_quoting"
# Appended, not inserted: a reason's index is its code (the order of the checks is the rules' order).
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
    MALFORMED_QUOTING,
)

BYTE_ORDER_MARK = "\ufeff"
# One field after its separator, on the line with a separator put in front (every match then takes at
# least one character, so the matcher never skips one after an empty match): a quoted field (doubled
# quotes inside), an unquoted one (not starting with a quote), or an empty one. Possessive quantifiers:
# no backtracking, so a huge field costs linear time and no stack.
_QUOTED_FIELD = '"(?:[^"]++|"")*+"'
_FIELD = f'({_QUOTED_FIELD}|[^,"][^,]*+|)'
FIELD_PATTERN = "," + _FIELD
WELL_QUOTED_LINE_PATTERN = f"^(?:,{_FIELD})*+\\z"

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


def read_lines(spark: SparkSession, paths: list[str], with_position: bool = False) -> DataFrame:
    """Every line of ``paths`` (the text reader ends lines at LF, CRLF or CR and drops the terminator).

    With ``with_position``, also where each line came from (file, split start, a per-split row
    order), which ``number_lines`` turns into line numbers; the main pass does not pay for it.
    """
    lines = spark.read.text(paths)
    if not with_position:
        return lines.select(F.col("value").alias("raw_line"))
    return lines.select(
        F.input_file_name().alias("source_file"),
        F.input_file_block_start().alias("block_start"),
        F.monotonically_increasing_id().alias("row_id"),
        F.col("value").alias("raw_line"),
    )


def _blank_to_null(field: Column) -> Column:
    """Empty CSV fields (``,,``) become null."""
    return F.when(field == "", None).otherwise(field)


def _unquoted(field: Column) -> Column:
    """A field without its surrounding quotes and with doubled quotes made single."""
    inner = field.substr(F.lit(2), F.length(field) - 2)
    return F.when(field.startswith('"'), F.regexp_replace(inner, '""', '"')).otherwise(field)


def split_fields(lines: DataFrame, carried: list[str]) -> DataFrame:
    """``lines`` with ``_fields`` (the line's fields), ``_well_quoted`` and ``is_header``.

    A line without a double quote (every line of the real files) only pays for the plain split.
    """
    raw = F.col("raw_line")
    line = F.when(raw.startswith(BYTE_ORDER_MARK), raw.substr(F.lit(2), F.length(raw))).otherwise(raw)
    marked = lines.select(*carried, "raw_line", line.alias("_line"), line.contains('"').alias("_quoted"))
    prefixed = F.concat(F.lit(","), F.col("_line"))
    checked = marked.withColumn("_well_quoted", ~F.col("_quoted") | prefixed.rlike(WELL_QUOTED_LINE_PATTERN))
    quoted_fields = F.transform(F.regexp_extract_all(prefixed, F.lit(FIELD_PATTERN), 1), _unquoted)
    fields = F.when(F.col("_quoted") & F.col("_well_quoted"), quoted_fields).otherwise(F.split("_line", ",", -1))
    split = checked.withColumn("_fields", fields)
    header = F.when(F.col("_quoted"), F.col("_fields") == F.array(*[F.lit(c) for c in CSV_HEADER]))
    is_header = header.otherwise(F.col("_line") == ",".join(CSV_HEADER))
    return split.select(*carried, "raw_line", "_well_quoted", "_fields", is_header.alias("is_header"))


def parse_lines(lines: DataFrame) -> DataFrame:
    """Typed event columns, ``is_header`` and ``reject_code`` (null for an accepted row) for each line.

    Built in steps (split once, cast once, then judge) so that Spark evaluates each expensive
    expression once per line; other columns of ``lines`` (positions) are carried through.
    """
    carried = [c for c in lines.columns if c != "raw_line"]
    split = split_fields(lines, carried)
    text = split.select(
        *carried,
        "raw_line",
        "is_header",
        "_well_quoted",
        F.size("_fields").alias("_n_fields"),
        *[_blank_to_null(F.get(F.col("_fields"), i)).alias(f"_{name}") for i, name in enumerate(CSV_HEADER)],
    )
    typed = text.select(
        *carried,
        "raw_line",
        "is_header",
        "_well_quoted",
        "_n_fields",
        *[f"_{name}" for name in CSV_HEADER],
        # The shape is checked below (length, " UTC" suffix); the cast of the first 19 characters
        # is Spark's fast timestamp parser, several times cheaper than a format pattern.
        F.substring(F.col("_event_time"), 1, 19).try_cast("timestamp").alias("event_time"),
        F.col("_product_id").try_cast("bigint").alias("product_id"),
        F.col("_category_id").try_cast("bigint").alias("category_id"),
        F.col("_price").try_cast("double").alias("price"),
        F.col("_user_id").try_cast("bigint").alias("user_id"),
    )
    raw = {name: F.col(f"_{name}") for name in CSV_HEADER}
    rules: list[tuple[Column, str]] = [
        ((F.col("_n_fields") != len(CSV_HEADER)) & (F.trim(F.col("raw_line")) == ""), EMPTY_LINE),
        (~F.col("_well_quoted"), MALFORMED_QUOTING),
        (F.col("_n_fields") != len(CSV_HEADER), WRONG_COLUMN_COUNT),
        (raw["event_time"].isNull(), MISSING_EVENT_TIME),
        (
            (F.length(raw["event_time"]) != EVENT_TIME_LENGTH)
            | ~raw["event_time"].endswith(" UTC")
            | F.col("event_time").isNull(),
            UNPARSABLE_EVENT_TIME,
        ),
        (raw["event_type"].isNull() | ~raw["event_type"].isin(*EVENT_TYPES), UNKNOWN_EVENT_TYPE),
        (raw["product_id"].isNull(), MISSING_PRODUCT_ID),
        (F.col("product_id").isNull(), UNPARSABLE_PRODUCT_ID),
        (raw["category_id"].isNotNull() & F.col("category_id").isNull(), UNPARSABLE_CATEGORY_ID),
        (raw["price"].isNull(), MISSING_PRICE),
        (F.col("price").isNull() | F.isnan("price"), UNPARSABLE_PRICE),
        (F.col("price") < 0, NEGATIVE_PRICE),
        (raw["user_id"].isNull(), MISSING_USER_ID),
        (F.col("user_id").isNull(), UNPARSABLE_USER_ID),
    ]
    # The reason is carried as a small integer (its index in REJECT_REASONS): cheaper per row than a string.
    reason: Column = F.lit(None).cast("tinyint")
    for condition, name in reversed(rules):
        reason = F.when(condition, F.lit(REJECT_REASONS.index(name)).cast("tinyint")).otherwise(reason)
    return typed.select(
        *carried,
        "raw_line",
        "is_header",
        reason.alias("reject_code"),
        "event_time",
        raw["event_type"].alias("event_type"),
        "product_id",
        "category_id",
        raw["category_code"].alias("category_code"),
        raw["brand"].alias("brand"),
        "price",
        "user_id",
        raw["user_session"].alias("user_session"),
    )


def accepted_events(parsed: DataFrame) -> DataFrame:
    """Accepted rows in the raw-events schema (with ``event_date`` for partitioning)."""
    rows = parsed.where(~F.col("is_header") & F.col("reject_code").isNull())
    return rows.select(*EVENT_SCHEMA.fieldNames(), F.to_date("event_time").alias("event_date"))


def rejected_lines(parsed: DataFrame) -> DataFrame:
    """Rejected lines with their position and reason (line numbers are added by ``number_lines``)."""
    return parsed.where(~F.col("is_header") & F.col("reject_code").isNotNull()).select(
        *LINE_POSITION_COLUMNS, "raw_line", reason_name(F.col("reject_code")).alias("reason")
    )


def reason_name(code: Column) -> Column:
    """The reason (a name from ``REJECT_REASONS``) for a ``reject_code``."""
    return F.element_at(F.array(*[F.lit(r) for r in REJECT_REASONS]), code.cast("int") + 1)


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
