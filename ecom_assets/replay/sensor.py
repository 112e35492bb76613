"""The replay sensor: one hour of November every 10 seconds, in order, never skipping a failed hour.

The cursor holds the replay id, the index of the hour in progress and its attempt number. A tick
looks at the latest run of that hour (runs are tagged with the replay id and the attempt):
still going -> wait; succeeded -> request the next hour; failed -> request it again, up to
``MAX_ATTEMPTS``, then stop and say so. So two hours never run at once and none is skipped.

When the day's last hour (23:00) succeeds, the same tick also requests that day's roll-up
(``DAILY_JOB_NAME``): a run of its own beside the next hours, so the day's scan never delays the
cadence. A failed roll-up does not stop the replay; re-materialize its day from the UI.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

import dagster as dg

from ecom_assets.replay.partitions import all_hours, day_completed_by
from ecom_assets.replay.tags import ATTEMPT_TAG, DUE_AT_TAG, REPLAY_TAG, REQUESTED_AT_TAG

REPLAY_JOB_NAME = "november_replay"
DAILY_JOB_NAME = "november_daily_rollup"
SENSOR_NAME = "november_replay_sensor"
MAX_ATTEMPTS = 3
INTERVAL_S = 10
IN_PROGRESS = {
    dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING,
}


@dataclass(frozen=True)
class ReplayCursor:
    """Where the replay is: its id, the index of the current hour, the attempt in flight (0: none yet),
    and when and at which hour it started (each hour is due ``INTERVAL_S`` after the previous one)."""

    replay: str
    index: int = 0
    attempt: int = 0
    started_at: float = 0.0
    first_index: int = 0

    def dumps(self) -> str:
        """The cursor string."""
        return json.dumps(asdict(self))

    @staticmethod
    def loads(text: str | None) -> ReplayCursor:
        """A cursor from its string; a new replay (id = now) when there is none."""
        if not text:
            now = time.time()
            return ReplayCursor(replay=str(int(now)), started_at=now)
        return ReplayCursor(**json.loads(text))


def run_request(cursor: ReplayCursor, hours: list[str]) -> dg.RunRequest:
    """The request for the cursor's hour and attempt."""
    key = hours[cursor.index]
    return dg.RunRequest(
        job_name=REPLAY_JOB_NAME,
        partition_key=key,
        run_key=f"{cursor.replay}:{key}:{cursor.attempt}",
        tags={REPLAY_TAG: cursor.replay, ATTEMPT_TAG: str(cursor.attempt), REQUESTED_AT_TAG: f"{time.time():.3f}",
              DUE_AT_TAG: f"{cursor.started_at + (cursor.index - cursor.first_index) * INTERVAL_S:.3f}"},
    )


def day_request(cursor: ReplayCursor, hour_key: str) -> list[dg.RunRequest]:
    """The roll-up of the day that ``hour_key`` completes (none unless it is the day's last hour)."""
    day = day_completed_by(hour_key)
    if day is None:
        return []
    return [dg.RunRequest(job_name=DAILY_JOB_NAME, partition_key=day, run_key=f"{cursor.replay}:{day}:day",
                          tags={REPLAY_TAG: cursor.replay, REQUESTED_AT_TAG: f"{time.time():.3f}"})]


def latest_run(instance: dg.DagsterInstance, cursor: ReplayCursor, key: str) -> dg.DagsterRun | None:
    """The most recent run of ``key`` in this replay."""
    runs = instance.get_runs(filters=dg.RunsFilter(tags={REPLAY_TAG: cursor.replay, "dagster/partition": key}),
                             limit=1)
    return runs[0] if runs else None


def replay_tick(instance: dg.DagsterInstance, cursor_text: str | None,
                hours: list[str] | None = None) -> dg.SensorResult | dg.SkipReason:
    """One tick of the replay, as a pure function of the instance's runs and the cursor."""
    hours = hours or all_hours()
    cursor = ReplayCursor.loads(cursor_text)
    if cursor.index >= len(hours):
        return dg.SkipReason(f"replay complete: all {len(hours)} hours done")
    key = hours[cursor.index]
    if cursor.attempt == 0:
        nxt = ReplayCursor(cursor.replay, cursor.index, 1, cursor.started_at, cursor.first_index)
        return dg.SensorResult(run_requests=[run_request(nxt, hours)], cursor=nxt.dumps())
    run = latest_run(instance, cursor, key)
    if run is None or run.status in IN_PROGRESS:
        return dg.SensorResult(skip_reason=f"waiting for hour {key} (attempt {cursor.attempt})", cursor=cursor.dumps())
    if run.status == dg.DagsterRunStatus.SUCCESS:
        rollup = day_request(cursor, key)
        if cursor.index + 1 >= len(hours):
            done = ReplayCursor(cursor.replay, len(hours), 0, cursor.started_at, cursor.first_index)
            return dg.SensorResult(run_requests=rollup, skip_reason=None if rollup else
                                   f"replay complete: all {len(hours)} hours done", cursor=done.dumps())
        nxt = ReplayCursor(cursor.replay, cursor.index + 1, 1, cursor.started_at, cursor.first_index)
        return dg.SensorResult(run_requests=[run_request(nxt, hours), *rollup], cursor=nxt.dumps())
    if cursor.attempt >= MAX_ATTEMPTS:
        return dg.SensorResult(
            skip_reason=f"hour {key} failed {cursor.attempt} times (last run {run.run_id}): the replay is stopped "
                        "there; fix the cause, then reset the sensor's cursor to retry from this hour",
            cursor=cursor.dumps())
    nxt = ReplayCursor(cursor.replay, cursor.index, cursor.attempt + 1, cursor.started_at, cursor.first_index)
    return dg.SensorResult(run_requests=[run_request(nxt, hours)], cursor=nxt.dumps())


def build_replay_sensor(job: dg.UnresolvedAssetJobDefinition, daily_job: dg.UnresolvedAssetJobDefinition
                        ) -> dg.SensorDefinition:
    """The sensor for the hourly ``job`` and the ``daily_job`` roll-ups (off by default: turn it on in the UI
    or with ``make replay-demo``)."""

    @dg.sensor(name=SENSOR_NAME, jobs=[job, daily_job], minimum_interval_seconds=INTERVAL_S,
               default_status=dg.DefaultSensorStatus.STOPPED,
               description="Replays November hour by hour, one hour per 10 s, in order, retrying a failed hour "
                           f"up to {MAX_ATTEMPTS} times; each day's roll-up after its last hour.")
    def november_replay_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        """Request the next hour when the previous one succeeded (see the module docstring)."""
        return replay_tick(context.instance, context.cursor)

    return november_replay_sensor
