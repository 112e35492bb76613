"""Hostile input, fuzzed from the real rows: the ingest never crashes and every line read is accounted for.

``hypothesis`` builds files from the real REES46 heads with lines cut, separators added or removed,
unbalanced quotes, Latin-1 bytes and binary garbage, huge fields, headers in the middle, empty
lines, mixed LF / CRLF / CR ends, and empty files. For each file the real ingest runs (both passes:
the lake write and the quarantine's) and must: finish; read exactly the lines the bytes hold;
accept or quarantine every data line (accepted + quarantined = lines read, less headers); accept
every untouched real row and every row rewritten in a valid quoted form, with its values.

``ECOM_FUZZ_EXAMPLES`` sets the number of files (default 8, a few seconds each); the last longer
run is in ``docs/reliability.md``.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import SparkSession

from ecom_assets.ingest.parsing import RAW_EVENTS_SCHEMA
from ecom_assets.ingest.pipeline import ingest_events
from ecom_assets.lake import Lake
from ecom_assets.schema import CSV_HEADER

from .conftest import REAL_NOV_HEAD, REAL_OCT_HEAD

pytestmark = pytest.mark.faults

EXAMPLES = int(os.environ.get("ECOM_FUZZ_EXAMPLES", "8"))
HEADER = ",".join(CSV_HEADER)
LINE_END = re.compile(rb"\r\n|\r|\n")


def _real_lines() -> list[str]:
    october = REAL_OCT_HEAD.read_bytes().decode().split("\r\n")[1:-1]
    november = REAL_NOV_HEAD.read_bytes().decode().split("\n")
    return [line for line in october[::50] + november[::10] if line]


REAL_LINES = _real_lines()


def _quoted(line: str) -> str:
    """The same row with every field quoted (valid: must be accepted with the same values)."""
    buffer = io.StringIO()
    csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="").writerow(line.split(","))
    return buffer.getvalue()


@st.composite
def hostile_line(draw: st.DrawFn) -> tuple[bytes, str | None]:
    """One line's bytes, and the real line whose row it must give when it is valid by construction."""
    line = draw(st.sampled_from(REAL_LINES))
    kind = draw(st.sampled_from(["real", "quoted", "cut", "extra_separator", "missing_separator", "stray_quote",
                                 "latin1", "garbage", "huge_field", "header", "empty", "spaces"]))
    at = draw(st.integers(min_value=0, max_value=len(line)))
    if kind == "real":
        return line.encode(), line
    if kind == "quoted":
        return _quoted(line).encode(), line
    if kind == "cut":
        return line[:at].encode(), None
    if kind == "extra_separator":
        return (line[:at] + "," + line[at:]).encode(), None
    if kind == "missing_separator":
        return line.replace(",", "", 1).encode(), None
    if kind == "stray_quote":
        return (line[:at] + '"' + line[at:]).encode(), None
    if kind == "latin1":
        return line.replace(",", ",café ", 1).encode("latin-1"), None
    if kind == "garbage":
        return draw(st.binary(min_size=1, max_size=200)), None
    if kind == "huge_field":
        return line.replace(",", "," + "x" * draw(st.integers(10_000, 300_000)) + ",", 1).encode(), None
    if kind == "header":
        return HEADER.encode(), None
    if kind == "empty":
        return b"", None
    return b"   ", None


@st.composite
def hostile_file(draw: st.DrawFn) -> tuple[bytes, list[str]]:
    """A file's bytes and the real lines it must yield as accepted rows (mixed line ends, maybe no final one)."""
    lines = draw(st.lists(hostile_line(), min_size=0, max_size=40))
    ends = draw(st.lists(st.sampled_from([b"\n", b"\r\n", b"\r"]), min_size=len(lines), max_size=len(lines)))
    body = b"".join(content + end for (content, _), end in zip(lines, ends, strict=True))
    if lines and draw(st.booleans()):
        body = body[: -len(ends[-1])]
    return body, [real for _, real in lines if real is not None]


def lines_in(body: bytes) -> int:
    """Lines a reader that ends lines at LF, CRLF or CR finds in ``body`` (a final end adds no line)."""
    if not body:
        return 0
    pieces = LINE_END.split(body)
    return len(pieces) - (1 if pieces[-1] == b"" else 0)


def accepted_rows(spark: SparkSession, lake: Lake) -> Counter:
    """The accepted rows as the CSV text of their nine fields (empty for null)."""
    frame = spark.read.schema(RAW_EVENTS_SCHEMA).parquet(lake.raw_events).selectExpr(
        "concat_ws(',', date_format(event_time, 'yyyy-MM-dd HH:mm:ss ''UTC'''), event_type, product_id, "
        "coalesce(category_id, ''), coalesce(category_code, ''), coalesce(brand, ''), "
        "format_string('%s', price), user_id, coalesce(user_session, '')) AS line")
    return Counter(row["line"] for row in frame.collect())


def _normalised(line: str) -> str:
    """A real line with its price as Spark prints a double (``5.560`` -> ``5.56``)."""
    fields = line.split(",")
    fields[6] = repr(float(fields[6]))
    return ",".join(fields)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=os.environ.get("CI") == "true",
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(case=hostile_file())
def test_hostile_files_never_crash_and_every_line_is_accounted_for(spark: SparkSession, tmp_path_factory,
                                                                    case: tuple[bytes, list[str]]) -> None:
    body, must_accept = case
    folder = tmp_path_factory.mktemp("hostile")
    source = folder / "2019-Nov.csv"
    source.write_bytes(body)
    lake = Lake(str(folder / "lake"))
    report = ingest_events(spark, [str(source)], lake, count_duplicates=False)
    assert report.lines_read == lines_in(body)
    assert report.conserved, report
    accepted = accepted_rows(spark, lake)
    assert sum(accepted.values()) == report.rows_accepted
    assert not Counter(_normalised(line) for line in must_accept) - accepted


def test_an_empty_file_is_read_as_no_lines(spark: SparkSession, tmp_path: Path) -> None:
    source = tmp_path / "2019-Nov.csv"
    source.write_bytes(b"")
    report = ingest_events(spark, [str(source)], Lake(str(tmp_path / "lake")), count_duplicates=False)
    assert (report.lines_read, report.rows_accepted, report.rows_quarantined) == (0, 0, 0)
