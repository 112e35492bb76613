"""Robustness check: InfluxDB stops for a while during a daemon-driven replay with hours queued ahead.

Starts the real stack (``replay_stack``) with the sensor's clock a minute behind, so hours are queued
behind the one in flight from the start; once ``--fail-after`` hours have succeeded, stops InfluxDB for
``--outage`` seconds, then starts it again on the same files and port. Waits until ``--hours`` hours
have succeeded and writes, between the ``replay-outage`` markers of ``docs/benchmarks.md``: every
replay run in order (hour, attempt, queued behind which hour, outcome, why it failed), and whether
each hour's successful run started only after the previous hour's had ended.

    python bench/replay_outage.py --lake bench/results/lake-incremental-1000000 \
        --data bench/results/data-1000000 --hours 10 --outage 45
"""

from __future__ import annotations

import argparse
import itertools
import signal
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import dagster as dg
from ingest_vs_duckdb import write_results
from replay_cadence import prepare, stopped_by_guard
from replay_stack import replay_stack

from ecom_assets.commands.materialize import root_error_message
from ecom_assets.replay.orchestration.ordering import AFTER_TAG, ATTEMPT_TAG
from ecom_assets.replay.orchestration.partitions import all_hours, parse_hour
from ecom_assets.replay.orchestration.sensor import REPLAY_JOB_NAME

START, END = "<!-- replay-outage:start -->", "<!-- replay-outage:end -->"


def replay_runs(instance: dg.DagsterInstance) -> list[dg.RunRecord]:
    """The replay's hour runs, oldest first."""
    return list(reversed(instance.get_run_records(filters=dg.RunsFilter(job_name=REPLAY_JOB_NAME))))


def why(instance: dg.DagsterInstance, record: dg.RunRecord) -> str:
    """A failed run's cause: the guard, or its step's root error."""
    run = record.dagster_run
    if run.status != dg.DagsterRunStatus.FAILURE:
        return ""
    if stopped_by_guard(instance, run.run_id):
        return "stopped at once: the hour before it had not succeeded"
    for event in instance.get_records_for_run(run.run_id, of_type={dg.DagsterEventType.STEP_FAILURE}).records:
        error = event.event_log_entry.dagster_event.step_failure_data.error
        if error:
            return root_error_message(error).replace("|", "/")[:140]
    return "run failed"


def main() -> None:
    """Run the outage scenario and write what happened."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=int, default=10)
    parser.add_argument("--from", dest="start", default="2019-11-01-00:00")
    parser.add_argument("--fail-after", type=int, default=3, help="hours that succeed before InfluxDB stops")
    parser.add_argument("--outage", type=float, default=45.0, help="seconds InfluxDB stays down")
    parser.add_argument("--work-dir", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--lake", type=Path, help="an existing lake (default: generated and ingested at scale 0.01)")
    parser.add_argument("--data", type=Path, help="the CSV folder of --lake")
    args = parser.parse_args()
    work = args.work_dir.resolve()
    data, lake = (args.data.resolve(), args.lake.resolve()) if args.lake else prepare(0.01, work)
    hours = all_hours()
    first = hours.index(parse_hour(args.start))
    wanted = hours[first:first + args.hours]
    stopped_at = restarted_at = None
    deadline = time.time() + 60 * 15
    with replay_stack(work / f"outage-run-{int(time.time())}", lake, data, "off", first, behind_s=60) as stack:
        instance = stack.instance()
        while time.time() < deadline:
            ok = [r.dagster_run.tags["dagster/partition"] for r in replay_runs(instance)
                  if r.dagster_run.status == dg.DagsterRunStatus.SUCCESS]
            if stopped_at is None and len(ok) >= args.fail_after:
                stack.influx.process.send_signal(signal.SIGTERM)
                stack.influx.process.wait()
                stopped_at = time.time()
            if stopped_at and restarted_at is None and time.time() - stopped_at >= args.outage:
                stack.restart_influx()
                restarted_at = time.time()
            if all(h in ok for h in wanted):
                break
            time.sleep(1)
    # Runs of later hours were still queued or starting when the stack stopped: they are not part of the check.
    records = [r for r in replay_runs(instance) if r.dagster_run.tags["dagster/partition"] in wanted]
    ok_runs = {r.dagster_run.tags["dagster/partition"]: r for r in records
               if r.dagster_run.status == dg.DagsterRunStatus.SUCCESS}
    in_order = all(ok_runs[b].start_time >= ok_runs[a].end_time
                   for a, b in itertools.pairwise(wanted) if a in ok_runs and b in ok_runs)
    lines = [
        "## Replay through an InfluxDB outage",
        "",
        (f"`python bench/replay_outage.py --hours {args.hours} --from {args.start} --fail-after {args.fail_after} "
         f"--outage {args.outage:g}`, measured {time.strftime('%Y-%m-%d')}: the daemon stack of the cadence "
         f"benchmark, the sensor's clock a minute behind (hours queue ahead from the start); InfluxDB stopped "
         f"after {args.fail_after} hours and started again {args.outage:g} s later. {len(ok_runs)} of "
         f"{len(wanted)} hours succeeded; each hour's successful run started after the previous hour's ended: "
         f"{'yes' if in_order else 'NO'}."),
        "",
        "| run | hour | attempt | queued behind | outcome | why |",
        "|---:|---|---:|---|---|---|",
    ]
    began = (records[0].start_time or 0.0) if records else 0.0
    for record in records:
        run = record.dagster_run
        at = (record.start_time or record.create_timestamp.timestamp()) - began
        lines.append(f"| {at:.0f} s | {run.tags['dagster/partition']} | {run.tags.get(ATTEMPT_TAG, '')} | "
                     f"{run.tags.get(AFTER_TAG, '-')} | {run.status.value} | {why(instance, record)} |")
    write_results("\n".join(lines), START, END)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
