"""Every form of valid CSV is accepted, not quarantined: the real rows rewritten each way a CSV may be.

RFC 4180 quoting (every field quoted; separators and doubled quotes inside quotes), a UTF-8
byte-order mark, CRLF, LF or CR line ends, a last line with or without its newline, gzip and bzip2
files. Each form of the same real rows must give the same table as Python's ``csv`` module reads
from that file.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from ecom_assets.ingest.parsing import EVENT_SCHEMA
from ecom_assets.ingest.pipeline import ingest_events
from ecom_assets.lake import Lake
from ecom_assets.schema import CSV_HEADER

pytestmark = pytest.mark.faults

BRAND = CSV_HEADER.index("brand")
# Values a shop's own export may hold: a separator, quotes, both (written quoted, quotes doubled).
AWKWARD_BRANDS = ('acme, inc.', 'the "pro" line', '"quoted", and, more', '""')


def real_rows(real_heads: tuple[Path, Path]) -> list[list[str]]:
    """The real data rows of both heads (the October head's header and its truncated last row left out)."""
    october, november = real_heads
    rows = list(csv.reader(io.StringIO(october.read_bytes().decode())))[1:-1]
    rows += list(csv.reader(io.StringIO(november.read_bytes().decode())))
    assert rows and all(len(row) == len(CSV_HEADER) for row in rows)
    return rows[::7]  # every 7th: all event types, nulls and both months, in a second


def with_awkward_brands(rows: list[list[str]]) -> list[list[str]]:
    """Every fifth row's brand replaced by a value that needs quoting."""
    changed = [list(row) for row in rows]
    for i, row in enumerate(changed[::5]):
        row[BRAND] = AWKWARD_BRANDS[i % len(AWKWARD_BRANDS)]
    return changed


def csv_text(rows: list[list[str]], *, quoting: int = csv.QUOTE_MINIMAL, line_end: str = "\n",
             header: bool = True, final_newline: bool = True) -> str:
    """The rows written by Python's ``csv`` writer in one of the forms the format allows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=quoting, lineterminator=line_end)
    if header:
        writer.writerow(CSV_HEADER)
    writer.writerows(rows)
    text = buffer.getvalue()
    return text if final_newline else text[: -len(line_end)]


Form = Callable[[list[list[str]], Path], tuple[Path, list[list[str]]]]


def _plain(name: str, **options) -> Form:
    def write(rows: list[list[str]], folder: Path) -> tuple[Path, list[list[str]]]:
        path = folder / name
        path.write_bytes(csv_text(rows, **options).encode())
        return path, rows
    return write


def _awkward(rows: list[list[str]], folder: Path) -> tuple[Path, list[list[str]]]:
    changed = with_awkward_brands(rows)
    path = folder / "2019-Oct.csv"
    path.write_bytes(csv_text(changed, line_end="\r\n").encode())
    return path, changed


def _byte_order_mark(rows: list[list[str]], folder: Path) -> tuple[Path, list[list[str]]]:
    path = folder / "2019-Oct.csv"
    path.write_bytes(csv_text(rows).encode("utf-8-sig"))
    return path, rows


def _gzip(rows: list[list[str]], folder: Path) -> tuple[Path, list[list[str]]]:
    path = folder / "2019-Oct.csv.gz"
    path.write_bytes(gzip.compress(csv_text(with_awkward_brands(rows)).encode()))
    return path, with_awkward_brands(rows)


def _bzip2(rows: list[list[str]], folder: Path) -> tuple[Path, list[list[str]]]:
    path = folder / "2019-Oct.csv.bz2"
    path.write_bytes(bz2.compress(csv_text(rows, line_end="\r\n").encode()))
    return path, rows


FORMS: dict[str, Form] = {
    "lf": _plain("2019-Oct.csv"),
    "crlf": _plain("2019-Oct.csv", line_end="\r\n"),
    "cr": _plain("2019-Oct.csv", line_end="\r"),
    "no final newline": _plain("2019-Oct.csv", final_newline=False),
    "crlf, no final newline, no header": _plain("2019-Oct.csv", line_end="\r\n", final_newline=False, header=False),
    "every field quoted": _plain("2019-Oct.csv", quoting=csv.QUOTE_ALL),
    "every field quoted, crlf": _plain("2019-Oct.csv", quoting=csv.QUOTE_ALL, line_end="\r\n"),
    "separators and doubled quotes inside quotes": _awkward,
    "utf-8 byte-order mark": _byte_order_mark,
    "gzip": _gzip,
    "bzip2": _bzip2,
}


def expected_table(rows: list[list[str]]) -> list[tuple]:
    """The rows as the lake must hold them: typed, empty fields null."""
    typed = []
    for row in rows:
        value = [field if field != "" else None for field in row]
        typed.append((value[0][:19], value[1], int(value[2]), int(value[3]) if value[3] else None, value[4], value[5],
                      float(value[6]), int(value[7]), value[8]))
    return sorted(typed, key=repr)


def lake_table(spark: SparkSession, lake: Lake) -> list[tuple]:
    """The raw events, typed as ``expected_table`` writes them."""
    frame = spark.read.parquet(lake.raw_events).selectExpr(
        "date_format(event_time, 'yyyy-MM-dd HH:mm:ss') AS t", *EVENT_SCHEMA.fieldNames()[1:])
    return sorted((tuple(row) for row in frame.collect()), key=repr)


@pytest.mark.parametrize("form", list(FORMS))
def test_each_valid_form_is_accepted_whole(spark: SparkSession, real_heads: tuple[Path, Path], tmp_path: Path,
                                           form: str) -> None:
    path, rows = FORMS[form](real_rows(real_heads), tmp_path)
    lake = Lake(str(tmp_path / "lake"))
    report = ingest_events(spark, [str(path)], lake, count_duplicates=False)
    assert (report.rows_quarantined, report.reasons) == (0, {})
    assert report.rows_accepted == len(rows) and report.conserved
    assert lake_table(spark, lake) == expected_table(rows)
