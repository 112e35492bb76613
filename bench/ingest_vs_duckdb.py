"""Benchmark: the ``raw_events`` ingest on Spark against DuckDB's CSV -> Parquet on the same files.

Both sides parse the two month CSVs with explicit types and write Parquet partitioned by date
(zstd). Spark also validates every line and keeps the rejects (the work the asset does); DuckDB
does no validation. Runs alternate between the two; the first Spark run (JVM warm-up) is not
counted. Results go to ``docs/benchmarks.md`` between the ``ingest`` markers.

    python bench/ingest_vs_duckdb.py --rows 10000000 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ecom_assets.ingest.generator import generate_dataset  # noqa: E402
from ecom_assets.ingest.pipeline import count_duplicate_rows, ingest_events  # noqa: E402
from ecom_assets.lake import Lake  # noqa: E402
from ecom_assets.resources import SparkResource  # noqa: E402

RESULTS = REPO / "docs" / "benchmarks.md"
START, END = "<!-- ingest:start -->", "<!-- ingest:end -->"
DUCKDB_COLUMNS = (
    "{'event_time':'TIMESTAMP','event_type':'VARCHAR','product_id':'BIGINT','category_id':'BIGINT',"
    "'category_code':'VARCHAR','brand':'VARCHAR','price':'DOUBLE','user_id':'BIGINT','user_session':'VARCHAR'}"
)


def duckdb_ingest(files: list[Path], out: Path, threads: int) -> None:
    """DuckDB: typed CSV read, Parquet partitioned by date."""
    import duckdb

    shutil.rmtree(out, ignore_errors=True)
    con = duckdb.connect()
    con.execute(f"SET threads={threads}")
    file_list = ", ".join(f"'{f}'" for f in files)
    con.execute(
        f"COPY (SELECT *, CAST(event_time AS DATE) AS event_date FROM read_csv([{file_list}], header=true, "
        f"columns={DUCKDB_COLUMNS}, timestampformat='%Y-%m-%d %H:%M:%S UTC')) "
        f"TO '{out}' (FORMAT parquet, PARTITION_BY (event_date), COMPRESSION zstd)"
    )
    con.close()


def timed(fn) -> float:
    """Wall seconds of ``fn()``."""
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def write_results(section: str, start: str = START, end: str = END) -> None:
    """Replace the section between ``start`` and ``end`` in docs/benchmarks.md (creating the file if needed)."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmarks\n\n"
    block = f"{start}\n{section.strip()}\n{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(text, encoding="utf-8")


def main() -> None:
    """Generate (once), run both ingests alternately, write the medians and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work-dir", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()

    data = args.work_dir / f"data-{args.rows}"
    files = [data / "2019-Oct.csv", data / "2019-Nov.csv"]
    if not all(f.is_file() for f in files):
        print(f"generating {args.rows:,} rows into {data}", flush=True)
        generate_dataset(data, args.rows, seed=42, progress=False)
    size_gb = sum(f.stat().st_size for f in files) / 1e9
    threads = os.cpu_count() or 2

    os.environ.setdefault("ECOM_SPARK_CONF", "spark.ui.enabled=false")
    spark = SparkResource(conf_dir=str(REPO / "spark_conf")).get_session()
    spark.sparkContext.setLogLevel("ERROR")
    lake = Lake(str(args.work_dir / "lake"))
    paths = [str(f) for f in files]
    warmup = timed(lambda: ingest_events(spark, paths, lake, count_duplicates=False))
    print(f"spark warm-up run: {warmup:.1f} s", flush=True)

    spark_s, duck_s, dup_s = [], [], []
    for run in range(args.repeats):
        spark_s.append(timed(lambda: ingest_events(spark, paths, lake, count_duplicates=False)))
        duck_s.append(timed(lambda: duckdb_ingest(files, args.work_dir / "duckdb-out", threads)))
        dup_s.append(timed(lambda: count_duplicate_rows(spark, lake.raw_events)))
        print(f"run {run + 1}: spark {spark_s[-1]:.1f} s, duckdb {duck_s[-1]:.1f} s, "
              f"duplicate count {dup_s[-1]:.1f} s", flush=True)

    spark_med, duck_med, dup_med = (statistics.median(x) for x in (spark_s, duck_s, dup_s))
    section = f"""
## Ingest: `raw_events` on Spark vs DuckDB CSV -> Parquet

`python bench/ingest_vs_duckdb.py --rows {args.rows} --repeats {args.repeats}` on {platform.machine()},
{threads} cores, Python {platform.python_version()}; {args.rows:,} generated rows ({size_gb:.2f} GB of CSV),
both writing zstd Parquet partitioned by date. Medians of {args.repeats} alternating runs (Spark's JVM
warm-up run, {warmup:.1f} s, not counted). Measured {time.strftime('%Y-%m-%d')}.

| engine | median s | rows/s | runs (s) |
|---|---:|---:|---|
| Spark `ingest_events` (validate, quarantine, write) | {spark_med:.1f} | {args.rows / spark_med:,.0f} | {', '.join(f'{x:.1f}' for x in spark_s)} |
| DuckDB `COPY ... TO parquet` (no validation) | {duck_med:.1f} | {args.rows / duck_med:,.0f} | {', '.join(f'{x:.1f}' for x in duck_s)} |
| Spark duplicate-row count (the asset's extra pass) | {dup_med:.1f} | {args.rows / dup_med:,.0f} | {', '.join(f'{x:.1f}' for x in dup_s)} |

**Ratio Spark / DuckDB: {spark_med / duck_med:.2f}x** (goal: within 3x). With the duplicate count, the
asset's whole ingest is {(spark_med + dup_med) / duck_med:.2f}x DuckDB's time.
"""
    write_results(section)
    print(section)


if __name__ == "__main__":
    main()
