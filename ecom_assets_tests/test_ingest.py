"""Ingest of real and generated files into the lake: exact counts, quarantine, line numbers, idempotence."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import SparkSession

from ecom_assets.ingest.generator import generate_dataset
from ecom_assets.ingest.pipeline import QUARANTINE_COLUMNS, ingest_events
from ecom_assets.lake import Lake

GOOD = "2019-11-02 10:00:00 UTC,view,1004237,2053013555631882655,electronics.smartphone,apple,1081.98,535871217,c6bd7419-2748-4c56-95b4-8cec9ff8b80d"


def quarantine_rows(spark: SparkSession, lake: Lake) -> list[dict]:
    """The quarantine table as dicts, ordered by file and line."""
    rows = spark.read.parquet(lake.quarantine).orderBy("source_file", "line_number").collect()
    return [row.asDict() for row in rows]


def test_real_heads_byte_for_byte(spark: SparkSession, real_heads: tuple[Path, Path], tmp_path: Path) -> None:
    october, november = real_heads
    lake = Lake(str(tmp_path / "lake"))
    report = ingest_events(spark, [str(october), str(november)], lake)
    # October: header + 17,434 complete rows + 1 truncated row (CRLF); November: 683 rows, no header, no final newline.
    assert report.header_lines == 1
    assert report.rows_read == 17_434 + 1 + 683
    assert report.rows_accepted == 17_434 + 683
    assert report.rows_quarantined == 1
    assert report.reasons == {"wrong_column_count": 1}
    assert report.conserved
    assert report.rows_per_month == {"2019-10": 17_434, "2019-11": 683}
    assert report.first_event == "2019-10-01 00:00:00"
    assert report.last_event == "2019-11-01 00:04:38"
    [rejected] = quarantine_rows(spark, lake)
    assert rejected["line_number"] == 17_436
    assert rejected["source_file"].endswith("2019-Oct-head-raw.csv")
    assert rejected["raw_line"] == october.read_bytes().decode().split("\r\n")[-1]
    assert set(rejected) == set(QUARANTINE_COLUMNS)
    # The values survive exactly: compare with an independent parse of the same file by pandas.
    expected = pd.read_csv(november, header=None, names=[
        "event_time", "event_type", "product_id", "category_id", "category_code", "brand", "price", "user_id",
        "user_session"])
    raw = spark.read.parquet(lake.raw_events).where("event_date = '2019-11-01'").toPandas()
    assert len(raw) == len(expected)
    assert raw["price"].sum() == pytest.approx(expected["price"].sum())
    assert sorted(raw["product_id"]) == sorted(expected["product_id"])
    assert sorted(raw["category_id"]) == sorted(expected["category_id"])
    assert raw["brand"].isna().sum() == expected["brand"].isna().sum()
    assert (raw["event_time"].dt.strftime("%Y-%m-%d %H:%M:%S UTC").sort_values().tolist()
            == expected["event_time"].sort_values().tolist())


def test_real_data_has_exact_duplicates_and_they_are_kept(spark: SparkSession, real_heads: tuple[Path, Path],
                                                          tmp_path: Path) -> None:
    october, _ = real_heads
    lines = october.read_bytes().decode().split("\r\n")[1:-1]
    expected_duplicates = len(lines) - len(set(lines))
    report = ingest_events(spark, [str(october)], Lake(str(tmp_path / "lake")))
    assert expected_duplicates > 0
    assert report.duplicate_rows == expected_duplicates
    assert report.rows_accepted == len(lines)


def test_generated_files_are_accepted_whole_and_reingest_is_idempotent(spark: SparkSession, tmp_path: Path) -> None:
    data = tmp_path / "input"
    generated = generate_dataset(data, 60_000, seed=3, progress=False)
    lake = Lake(str(tmp_path / "lake"))
    paths = [str(data / "2019-Oct.csv"), str(data / "2019-Nov.csv")]
    first = ingest_events(spark, paths, lake)
    second = ingest_events(spark, paths, lake)
    assert first.rows_accepted == generated.rows == second.rows_accepted
    assert first.rows_quarantined == 0 and first.header_lines == 2
    assert spark.read.parquet(lake.raw_events).count() == generated.rows  # replaced, not appended
    assert quarantine_rows(spark, lake) == []
    october_rows = sum(n for path, n in generated.files.items() if path.endswith("Oct.csv"))
    assert second.rows_per_month["2019-10"] == october_rows
    dates = {r["event_date"].isoformat() for r in spark.read.parquet(lake.raw_events).select("event_date").distinct().collect()}
    assert len(dates) == 61 and min(dates) == "2019-10-01" and max(dates) == "2019-11-30"


def test_every_bad_line_is_quarantined_with_its_line_number(spark: SparkSession, tmp_path: Path) -> None:
    bad = {
        3: "2019-11-02 10:00:00 UTC,view,1004237",
        4: "",
        6: GOOD.replace("view", "click"),
        7: GOOD.replace("1081.98", "-3.00"),
        9: GOOD.replace("535871217", ""),
        10: GOOD.replace(",1004237,", ",,"),
        11: GOOD.replace("2019-11-02 10:00:00 UTC", "02/11/2019 10:00"),
        12: GOOD.replace("1081.98", "abc"),
    }
    lines = [bad.get(n, GOOD) for n in range(2, 14)]
    source = tmp_path / "2019-Nov.csv"
    source.write_text("event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\n"
                      + "\n".join(lines) + "\n")
    lake = Lake(str(tmp_path / "lake"))
    report = ingest_events(spark, [str(source)], lake)
    assert report.rows_read == 12
    assert report.rows_quarantined == len(bad)
    assert report.rows_accepted == 12 - len(bad)
    assert report.conserved
    found = {row["line_number"]: (row["raw_line"], row["reason"]) for row in quarantine_rows(spark, lake)}
    assert {n: raw for n, (raw, _) in found.items()} == bad
    assert {n: reason for n, (_, reason) in found.items()} == {
        3: "wrong_column_count", 4: "empty_line", 6: "unknown_event_type", 7: "negative_price",
        9: "missing_user_id", 10: "missing_product_id", 11: "unparsable_event_time", 12: "unparsable_price",
    }


def test_line_numbers_stay_exact_when_files_are_split(spark: SparkSession, real_heads: tuple[Path, Path],
                                                      tmp_path: Path) -> None:
    october, _ = real_heads
    lines = october.read_bytes().decode().split("\r\n")
    broken = {500: "garbage", 9_001: lines[9_000].replace(",view,", ",look,"), 17_000: ""}
    for number, text in broken.items():
        lines[number - 1] = text
    source = tmp_path / "2019-Oct.csv"
    source.write_bytes("\r\n".join(lines).encode())
    shutil.copy(source, tmp_path / "copy-2019-Oct.csv")
    spark.conf.set("spark.sql.files.maxPartitionBytes", "200k")  # about a dozen splits per file
    try:
        lake = Lake(str(tmp_path / "lake"))
        report = ingest_events(spark, [str(source), str(tmp_path / "copy-2019-Oct.csv")], lake)
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
    assert report.rows_quarantined == 2 * (len(broken) + 1)  # + the truncated last row
    for row in quarantine_rows(spark, lake):
        assert lines[row["line_number"] - 1] == row["raw_line"], row
    assert report.rows_accepted == 2 * (17_434 - 3)
