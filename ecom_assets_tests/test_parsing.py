"""Line parsing and validation on small DataFrames: every quarantine reason, types, headers."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import SparkSession

from ecom_assets.ingest import parsing as p

GOOD = "2019-10-01 00:00:04 UTC,view,1004237,2053013555631882655,electronics.smartphone,apple,1081.98,535871217,c6bd7419-2748-4c56-95b4-8cec9ff8b80d"
HEADER = "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session"


def parse(spark: SparkSession, lines: list[str]) -> list[dict]:
    """Parse ``lines`` as if read from one file, in order."""
    frame = spark.createDataFrame(
        [("file:/x.csv", 0, i, line) for i, line in enumerate(lines)],
        "source_file string, block_start long, row_id long, raw_line string",
    )
    return [row.asDict() for row in p.parse_lines(frame).orderBy("row_id").collect()]


def with_field(index: int, value: str) -> str:
    fields = GOOD.split(",")
    fields[index] = value
    return ",".join(fields)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("", p.EMPTY_LINE),
        ("   ", p.EMPTY_LINE),
        (GOOD.rsplit(",", 1)[0], p.WRONG_COLUMN_COUNT),
        (GOOD + ",extra", p.WRONG_COLUMN_COUNT),
        (with_field(0, ""), p.MISSING_EVENT_TIME),
        (with_field(0, "2019-10-01 00:00:04"), p.UNPARSABLE_EVENT_TIME),
        (with_field(0, "2019-13-01 00:00:04 UTC"), p.UNPARSABLE_EVENT_TIME),
        (with_field(0, "yesterday"), p.UNPARSABLE_EVENT_TIME),
        (with_field(1, "click"), p.UNKNOWN_EVENT_TYPE),
        (with_field(1, ""), p.UNKNOWN_EVENT_TYPE),
        (with_field(2, ""), p.MISSING_PRODUCT_ID),
        (with_field(2, "12ab"), p.UNPARSABLE_PRODUCT_ID),
        (with_field(3, "2.05e18"), p.UNPARSABLE_CATEGORY_ID),
        (with_field(6, ""), p.MISSING_PRICE),
        (with_field(6, "12,5".replace(",", ";")), p.UNPARSABLE_PRICE),
        (with_field(6, "NaN"), p.UNPARSABLE_PRICE),
        (with_field(6, "-1.00"), p.NEGATIVE_PRICE),
        (with_field(7, ""), p.MISSING_USER_ID),
        (with_field(7, "user42"), p.UNPARSABLE_USER_ID),
        (with_field(5, '"apple'), p.MALFORMED_QUOTING),
        (with_field(5, '"app"le'), p.MALFORMED_QUOTING),
        (with_field(5, '"apple" '), p.MALFORMED_QUOTING),
        (with_field(5, '"app,le'), p.MALFORMED_QUOTING),
        (with_field(5, '"app,le"') + ",x", p.WRONG_COLUMN_COUNT),
    ],
)
def test_each_bad_line_gets_its_reason(spark: SparkSession, line: str, reason: str) -> None:
    [row] = parse(spark, [line])
    assert p.REJECT_REASONS[row["reject_code"]] == reason
    assert row["raw_line"] == line


def test_a_good_line_is_typed(spark: SparkSession) -> None:
    [row] = parse(spark, [GOOD])
    assert row["reject_code"] is None
    assert row["event_time"] == dt.datetime(2019, 10, 1, 0, 0, 4)  # session time zone is UTC
    assert row["product_id"] == 1004237
    assert row["category_id"] == 2053013555631882655  # does not fit 32 bits
    assert row["price"] == pytest.approx(1081.98)
    assert row["user_id"] == 535871217
    assert row["user_session"] == "c6bd7419-2748-4c56-95b4-8cec9ff8b80d"


def test_empty_optional_fields_become_null_and_zero_price_is_valid(spark: SparkSession) -> None:
    line = "2019-10-01 00:00:00 UTC,cart,44600062,,,,0.00,541312140,"
    [row] = parse(spark, [line])
    assert row["reject_code"] is None
    assert row["category_id"] is None and row["category_code"] is None and row["brand"] is None
    assert row["user_session"] is None
    assert row["price"] == 0.0


def test_remove_from_cart_is_a_known_event_type(spark: SparkSession) -> None:
    [row] = parse(spark, [with_field(1, "remove_from_cart")])
    assert row["reject_code"] is None


def test_header_lines_are_recognised_not_rejected(spark: SparkSession) -> None:
    rows = parse(spark, [HEADER, GOOD])
    assert rows[0]["is_header"] and not rows[1]["is_header"]
    accepted = p.accepted_events(p.parse_lines(spark.createDataFrame(
        [("f", 0, 0, HEADER), ("f", 0, 1, GOOD)], "source_file string, block_start long, row_id long, raw_line string"
    )))
    assert accepted.count() == 1
    assert [(f.name, f.dataType) for f in accepted.schema] == [(f.name, f.dataType) for f in p.RAW_EVENTS_SCHEMA]


def test_line_numbers_count_lines_of_earlier_splits(spark: SparkSession) -> None:
    splits = spark.createDataFrame(
        [("a", 0, 0, 10), ("a", 100, 8589934592, 5), ("b", 0, 17179869184, 3)],
        "source_file string, block_start long, first_row_id long, lines long",
    )
    rejected = spark.createDataFrame(
        [("a", 0, 3, "x", "r"), ("a", 100, 8589934592 + 4, "y", "r"), ("b", 0, 17179869184, "z", "r")],
        "source_file string, block_start long, row_id long, raw_line string, reason string",
    )
    numbered = {r["raw_line"]: r["line_number"] for r in p.number_lines(rejected, splits).collect()}
    assert numbered == {"x": 4, "y": 15, "z": 1}


def test_quoted_fields_byte_order_marks_and_quoted_headers(spark: SparkSession) -> None:
    quoted_header = ",".join(f'"{name}"' for name in HEADER.split(","))
    rows = parse(spark, [quoted_header, "\ufeff" + HEADER, "\ufeff" + GOOD, with_field(5, '"a ""b"", c"'),
                         with_field(5, 'a"b'), with_field(5, '""')])
    assert [row["is_header"] for row in rows] == [True, True, False, False, False, False]
    assert [row["reject_code"] for row in rows[2:]] == [None] * 4
    assert [row["brand"] for row in rows[2:]] == ["apple", 'a "b", c', 'a"b', None]
    assert rows[2]["event_time"] == dt.datetime(2019, 10, 1, 0, 0, 4)
