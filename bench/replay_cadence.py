"""Benchmark: the replay's cadence through the real Dagster daemon, sensor, Spark Connect and InfluxDB.

1. Generates data at ``--scale`` (1.0 = the real sizes: an average November hour holds ~94 k events,
   the Nov 16-17 sale hours several times more) and ingests it once.
2. Starts a local InfluxDB 1.x, a Spark Connect server (``ecom spark start``'s code) and
   ``dagster-daemon`` on a fresh DAGSTER_HOME with the project's dagster.yaml and the warm run launcher; points the replay
   sensor's cursor at ``--from`` and turns the sensor on.
3. Polls InfluxDB every 0.1 s until ``--hours`` hours have landed, recording when each hour's
   ``replay`` point became queryable against when the sensor requested it.

Writes medians and p95 of the step time, the tick -> queryable latency and the interval between
hours, plus whether the lag grew, to ``docs/benchmarks.md`` between the ``replay`` markers.

    python bench/replay_cadence.py --scale 1.0 --hours 100 --from 2019-11-15-12:00

With ``--models on --lake L --data D`` it replays a lake the whole batch graph was materialized on
(``bench/incremental_replay.py`` prepares one) with the incremental models in every run, and writes
its table between the ``replay-models`` markers instead.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import dagster as dg
from ingest_vs_duckdb import write_results
from replay_stack import DATABASE, replay_stack

from ecom_assets.ingest.generator import generate_dataset, rows_for_scale
from ecom_assets.ingest.pipeline import ingest_events
from ecom_assets.lake import Lake
from ecom_assets.publishing.sinks import V1Sink
from ecom_assets.replay.orchestration.ordering import AFTER_TAG, REPLAY_TAG, REQUESTED_AT_TAG
from ecom_assets.replay.orchestration.partitions import all_hours, parse_hour
from ecom_assets.replay.orchestration.sensor import DAILY_JOB_NAME

START, END = "<!-- replay:start -->", "<!-- replay:end -->"
MODELS_START, MODELS_END = "<!-- replay-models:start -->", "<!-- replay-models:end -->"


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def phase_seconds(instance: dg.DagsterInstance, since: float,
                  assets: tuple[str, ...] = ("replay_progress", "customer_segments", "live_recommendations")
                  ) -> dict[str, list[float]]:
    """Each phase's seconds per replayed hour (``<asset>.<phase>``: the ``seconds`` metadata of the
    hourly assets materialized since ``since``), so a table says where an hour's time goes."""
    phases: dict[str, list[float]] = {}
    for key in assets:
        for record in instance.fetch_materializations(dg.AssetKey(key), limit=10_000).records:
            if record.timestamp < since:  # earlier replays of the same lake
                continue
            seconds = record.asset_materialization.metadata.get("seconds")
            for phase, value in (seconds.value if seconds else {}).items():
                phases.setdefault(f"{key}.{phase}", []).append(float(value))
    return phases


def stopped_by_guard(instance: dg.DagsterInstance, run_id: str) -> bool:
    """Whether a failed run stopped because the hour it was queued behind had failed (not, say, because the
    benchmark stopped the daemon while the last hour's models still ran)."""
    for record in instance.get_records_for_run(run_id, of_type={dg.DagsterEventType.STEP_FAILURE}).records:
        failure = record.event_log_entry.dagster_event.step_failure_data
        if failure.user_failure_data and "queued behind hour" in (failure.user_failure_data.description or ""):
            return True
    return False


def prepare(scale: float, work: Path) -> tuple[Path, Path]:
    """Generated CSVs and the ingested lake for ``scale`` (reused when present)."""
    data = work / f"data-scale-{scale:g}"
    lake = work / f"lake-scale-{scale:g}"
    if not (data / "2019-Nov.csv").is_file():
        generate_dataset(data, rows_for_scale(scale), seed=42, progress=False)
    if not (lake / "raw" / "events" / "_SUCCESS").is_file():
        from ecom_assets.resources import SparkResource

        session = SparkResource(master="local[2]", conf_dir=str(REPO / "spark_conf"), driver_memory="12g").get_session()
        # The replay reads November only: October is not ingested here.
        ingest_events(session, [str(data / "2019-Nov.csv")], Lake(str(lake)), count_duplicates=False)
        session.stop()
    return data, lake


def main() -> None:
    """Run the daemon-driven replay and write the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--hours", type=int, default=100)
    parser.add_argument("--from", dest="start", default="2019-11-15-12:00")
    parser.add_argument("--work-dir", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--models", choices=("on", "off"), default="off",
                        help="run the incremental models too (needs --lake and --data of a trained lake)")
    parser.add_argument("--lake", type=Path, help="an existing lake (default: generated and ingested at --scale)")
    parser.add_argument("--data", type=Path, help="the CSV folder of --lake")
    parser.add_argument("--section", help="the docs/benchmarks.md section to write (default: replay, or "
                        "replay-models with --models on); another name keeps a second size's table")
    args = parser.parse_args()
    work = args.work_dir.resolve()
    if args.models == "on" and not (args.lake and args.data):
        parser.error("--models on needs --lake and --data (a lake with the batch graph materialized)")
    data, lake = (args.data.resolve(), args.lake.resolve()) if args.lake else prepare(args.scale, work)
    markers = (MODELS_START, MODELS_END) if args.models == "on" else (START, END)
    if args.section:
        markers = (f"<!-- {args.section}:start -->", f"<!-- {args.section}:end -->")
    run = work / f"replay-run-{int(time.time())}"
    hours = all_hours()
    first = hours.index(parse_hour(args.start))
    wanted = hours[first:first + args.hours]
    seen: dict[str, float] = {}
    steps: dict[str, float] = {}
    events: dict[str, int] = {}
    lags: dict[str, float] = {}
    deadline = time.time() + args.hours * 10 * 3 + 300
    began = time.time()
    with replay_stack(run, lake, data, args.models, first) as stack:
        sink = V1Sink(stack.influx.url, DATABASE)
        while len(seen) < len(wanted) and time.time() < deadline:
            try:
                result = sink.query('SELECT simulated_hour, step_s, batch_events, lag_s FROM "ecom_30d"."replay"')
            except Exception:  # noqa: BLE001 - the database appears with the first hour
                result = {"results": [{}]}
            now = time.time()
            for series in result["results"][0].get("series", []):
                for _, hour, step, batch, lag in series["values"]:
                    key = parse_hour(hour)
                    if key not in seen:
                        seen[key], steps[key], events[key], lags[key] = now, step, batch, lag
            time.sleep(0.1)
    instance, cursor = stack.instance(), stack.cursor
    requested = {}
    rollups = []
    queued_ahead = guard_stops = 0
    queue_waits = []
    run_times = []
    for record in instance.get_runs(filters=dg.RunsFilter(tags={REPLAY_TAG: cursor.replay})):
        key = record.tags.get("dagster/partition")
        if record.job_name != DAILY_JOB_NAME and record.status == dg.DagsterRunStatus.SUCCESS:
            stats = instance.get_run_stats(record.run_id)
            if stats.launch_time:
                queue_waits.append(stats.launch_time - float(record.tags[REQUESTED_AT_TAG]))
                if stats.end_time:
                    run_times.append(stats.end_time - stats.launch_time)
        if AFTER_TAG in record.tags:
            queued_ahead += 1
            guard_stops += record.status == dg.DagsterRunStatus.FAILURE and stopped_by_guard(instance, record.run_id)
        if key in seen:
            requested[key] = min(requested.get(key, 1e18), float(record.tags[REQUESTED_AT_TAG]))
        if record.job_name == DAILY_JOB_NAME and record.status == dg.DagsterRunStatus.SUCCESS:
            stats = instance.get_run_stats(record.run_id)
            rollups.append(stats.end_time - stats.start_time)
    done = [k for k in wanted if k in seen]
    latency = [seen[k] - requested[k] for k in done if k in requested]
    arrivals = [seen[k] for k in done]
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    step_values = [steps[k] for k in done]
    sale = [k for k in done if k.startswith(("2019-11-16", "2019-11-17"))]
    tail_lag = statistics.fmean([lags[k] for k in done[-10:]]) if done else 0.0
    head_lag = statistics.fmean([lags[k] for k in done[:10]]) if done else 0.0
    rows = [
        ("step time (s)" if args.models == "off" else "step time to the replay point (behaviour part) (s)",
         step_values),
        ("step time on Nov 16-17 sale hours (s)", [steps[k] for k in sale]),
        ("sensor request -> replay point queryable (s)", latency),
        ("of which waiting in the queue (behind the previous hour, then the dequeue loop) (s)", queue_waits),
        ("hour's run, launch to end (process start, code load, step) (s)", run_times),
        ("interval between hours landing (s)", gaps),
        ("lag: points written after the hour's due time (s)", [lags[k] for k in done]),
        ("events per hour", [float(events[k]) for k in done]),
        ("day roll-up run, beside the hours (s)", rollups),
    ]
    rows += [(f"phase `{name}` (s)", values) for name, values in sorted(phase_seconds(instance, began).items())]
    command = (f"--models on --lake {args.lake.name} --data {args.data.name}" if args.models == "on"
               else f"--scale {args.scale:g}")
    lines = [
        "## Replay cadence through the daemon" + (", with the incremental models" if args.models == "on" else ""),
        "",
        (f"`python bench/replay_cadence.py {command} --hours {args.hours} --from {args.start}`, measured "
         f"{time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} cores: dagster-daemon with the "
         "project's dagster.yaml with the warm run launcher, the replay sensor (10 s), Spark Connect on 127.0.0.1 (driver 8g), InfluxDB "
         f"1.6 local; {len(done)} of {len(wanted)} hours landed."),
        "",
        "| quantity | median | p95 | max | n |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, values in rows:
        if values:
            lines.append(f"| {name} | {statistics.median(values):,.2f} | {percentile(values, 0.95):,.2f} | "
                         f"{max(values):,.2f} | {len(values)} |")
    lines += ["", (f"Lag behind the cadence: {head_lag:.1f} s over the first 10 hours, {tail_lag:.1f} s over the "
                   "last 10 (a growing backlog would show a growing lag). "
                   f"{queued_ahead} hours were requested while the previous one still ran (queued behind it); "
                   f"{guard_stops} of them stopped because the previous hour failed.")]
    write_results("\n".join(lines), *markers)
    print("\n".join(lines))
    print(json.dumps({"run_dir": str(run)}))


if __name__ == "__main__":
    main()
