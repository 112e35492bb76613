"""Benchmark: wall time of each batch asset on a generated dataset of N rows (default 10 M).

Materializes the batch graph through Dagster on a fresh lake and reads each step's duration from
the run's events; writes the table to ``docs/benchmarks.md`` between the ``batch`` markers.

    python bench/batch_graph_scale.py --rows 10000000
    python bench/batch_graph_scale.py --scale 1     # the real files' size (110 M rows; shares the replay bench's data)
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import dagster as dg  # noqa: E402
from ingest_vs_duckdb import write_results  # noqa: E402

from ecom_assets.ingest.generator import generate_dataset, rows_for_scale  # noqa: E402
from ecom_assets.settings import load_settings  # noqa: E402


def main() -> None:
    """Generate N rows (once), materialize the batch graph, write per-asset times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--rows", type=int, default=10_000_000)
    size.add_argument("--scale", type=float, help="a share of the real files' size instead of --rows")
    parser.add_argument("--work-dir", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--keep-raw", action="store_true",
                        help="reuse the lake's raw events when complete (raw_events is then not timed)")
    parser.add_argument("--skip", nargs="+", default=[], metavar="ASSET",
                        help="assets an earlier run already wrote to this lake: not re-run, not timed "
                             "(the results go to their own section, marked resumed)")
    args = parser.parse_args()
    name = f"scale-{args.scale:g}" if args.scale else str(args.rows)
    invocation = f"--scale {args.scale:g}" if args.scale else f"--rows {args.rows}"
    if args.scale:
        args.rows = rows_for_scale(args.scale)
    data = args.work_dir / f"data-{name}"
    if not (data / "2019-Nov.csv").is_file():
        generate_dataset(data, args.rows, seed=42, progress=False)
    os.environ["ECOM_DATA_DIR"] = str(data)
    os.environ["ECOM_LAKE_DIR"] = str(args.work_dir / f"lake-batch-{name}")
    os.environ.setdefault("ECOM_SPARK_CONF", "spark.ui.enabled=false")
    from ecom_assets.definitions import BATCH_ASSETS, build_resources

    instance = dg.DagsterInstance.ephemeral()
    started = time.perf_counter()
    lake = args.work_dir / f"lake-batch-{name}"
    kept = args.keep_raw and (lake / "raw" / "events" / "_SUCCESS").is_file()
    skipped = set(args.skip) | ({"raw_events"} if kept else set())
    keys = [key for asset in BATCH_ASSETS for key in asset.keys]
    unknown = skipped - {key.to_user_string() for key in keys}
    if unknown:
        parser.error(f"--skip: no batch asset named {', '.join(sorted(unknown))}")
    # An asset that writes tables beside its main one runs whole: skipping one of its keys skips it.
    selection = [key for asset in BATCH_ASSETS if not {k.to_user_string() for k in asset.keys} & skipped
                 for key in asset.keys]
    result = dg.materialize(BATCH_ASSETS, selection=selection,
                            resources=build_resources(load_settings()), instance=instance, raise_on_error=False)
    total = time.perf_counter() - started
    records = instance.get_records_for_run(result.run_id).records
    begin: dict[str, float] = {}
    seconds: dict[str, float] = {}
    failures: dict[str, str] = {}
    for record in records:
        entry = record.event_log_entry
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.is_step_start:
            begin[event.step_key] = entry.timestamp
        elif event.is_step_success:
            seconds[event.step_key] = entry.timestamp - begin[event.step_key]
        elif event.is_step_failure:
            seconds[event.step_key] = entry.timestamp - begin[event.step_key]
            error = event.step_failure_data.error
            failures[event.step_key] = error.message.strip().splitlines()[0] if error else "failed"
    rows = "\n".join(
        f"| `{step}` | {secs:,.1f} | {args.rows / secs:,.0f} |"
        + (f" FAILED: {failures[step]} |" if step in failures else " ok |")
        for step, secs in seconds.items())
    section = f"""
## Batch graph at {args.rows:,} rows

`python bench/batch_graph_scale.py {invocation}{' --keep-raw' if kept else ''}` on {platform.machine()}, {os.cpu_count()} cores,
embedded Spark (`local[*]`, driver memory {os.environ.get('ECOM_SPARK_DRIVER_MEMORY') or 'from `spark_conf/`'}); one run of the
{'batch graph without ' + ', '.join(f'`{name}`' for name in sorted(skipped)) + ' (written by an earlier run)' if skipped else 'whole batch graph'} through
Dagster, {'success' if result.success else 'FAILED'}, {total:,.0f} s in all. Measured {time.strftime('%Y-%m-%d')}.

| asset | seconds | input rows/s | outcome |
|---|---:|---:|---|
{rows}
"""
    marker = f"batch-{name}" + ("-resumed" if args.skip else "")
    write_results(section, f"<!-- {marker}:start -->", f"<!-- {marker}:end -->")
    print(section)


if __name__ == "__main__":
    main()
