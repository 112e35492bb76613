"""The replay sensor: one hour of November every 10 seconds, in order, never skipping a failed hour.

Each hour is due ``INTERVAL_S`` after the previous one on the replay's clock (``started_at``). A tick
looks at the latest run of the oldest unfinished hour (runs are tagged with the replay id and the
attempt): succeeded -> request the next hour; failed -> request it again after a back-off, up to
``MAX_ATTEMPTS``, then stop and say so; still going -> wait.

Catching up: the daemon evaluates the sensor 10 or 15 s apart (its loop), and an hour sometimes takes
longer than 10 s, so one hour per tick lets a backlog grow. When the instance's run queue holds the
replay's hours in a one-run lane (``dagster.yaml``: tag ``ecom/lane``, limit 1), a tick also requests
the hours after the one in flight that are already due (at most ``MAX_AHEAD``): they wait in the queue
and each starts the moment the previous run ends. Two hours still never run at once, and a queued
hour carries ``ecom/after_hour``, so it stops at once if the hour before it failed
(:mod:`ecom_assets.replay.orchestration.ordering`); the sensor retries the failed hour and queues the following
ones again behind it. Without that lane (another instance configuration), the sensor only requests an
hour after the previous one succeeded.

A sensor stopped for a while and turned on again resumes its clock: the pause is not counted as lag.
So does a replay whose Spark Connect server or InfluxDB stopped answering: the sensor skips its ticks
(naming the server, and ``ecom spark start`` for Spark) until it answers again, then retries the hour
that failed; an outage uses up none of the hour's attempts. A run whose process was killed without
ending it (all of ``dagster dev`` killed with it) is marked failed at the next tick
(:mod:`ecom_assets.replay.orchestration.orphans`) and retried like any failed hour.

When the day's last hour (23:00) succeeds, the same tick also requests that day's roll-up
(``DAILY_JOB_NAME``): a run of its own beside the next hours, so the day's scan never delays the
cadence. A failed roll-up does not stop the replay; re-materialize its day from the UI.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import dagster as dg

from ecom_assets.lake import Lake, is_local
from ecom_assets.publishing.sinks import influx_answers
from ecom_assets.replay.orchestration.exclusive import cli_replay_holder
from ecom_assets.replay.orchestration.ordering import (
    AFTER_TAG,
    ATTEMPT_TAG,
    DUE_AT_TAG,
    HOURS_LANE,
    IN_PROGRESS,
    LANE_TAG,
    LAST_HOUR_TAG,
    REPLAY_TAG,
    REQUESTED_AT_TAG,
    latest_hour_run,
)
from ecom_assets.replay.orchestration.orphans import fail_orphaned_runs
from ecom_assets.replay.orchestration.partitions import all_hours, day_completed_by, hour_start
from ecom_assets.replay.orchestration.refit_schedule import RefitPaths, refit_day_for
from ecom_assets.replay.orchestration.retry import MAX_ATTEMPTS, REPLAY_RETRY
from ecom_assets.resources.connect_outage import server_address
from ecom_assets.resources.spark_server import url_answers

# The class dg.define_asset_job returns: Dagster does not export its name, so it is read off the public function.
AssetJob = inspect.signature(dg.define_asset_job).return_annotation
REPLAY_JOB_NAME = "november_replay"
DAILY_JOB_NAME = "november_daily_rollup"
SENSOR_NAME = "november_replay_sensor"
INTERVAL_S = 10
# Ticks further apart than this mean the sensor was stopped: its clock resumes instead of counting lag.
PAUSE_S = 3 * INTERVAL_S
# At most this many hours wait in the queue behind the one in flight.
MAX_AHEAD = 3


@dataclass(frozen=True)
class ReplayCursor:
    """Where the replay is: its id, the oldest hour not yet succeeded (``index``) and its attempt in flight
    (0: none yet), when and at which hour it started, how many hours after it are already requested
    (``ahead``), the last tick's time and a request counter (unique run keys)."""

    replay: str
    index: int = 0
    attempt: int = 0
    started_at: float = 0.0
    first_index: int = 0
    ahead: int = 0
    last_tick: float = 0.0
    requests: int = 0

    def dumps(self) -> str:
        """The cursor string."""
        return json.dumps(asdict(self))

    @staticmethod
    def loads(text: str | None, now: float | None = None) -> ReplayCursor:
        """A cursor from its string; a new replay (id = now) when there is none."""
        if not text:
            now = time.time() if now is None else now
            return ReplayCursor(replay=str(int(now)), started_at=now, last_tick=now)
        try:
            return ReplayCursor(**json.loads(text))
        except (ValueError, TypeError) as error:
            raise ValueError(
                f"the replay sensor's cursor is not a replay cursor ({error}): {text[:200]!r}. Clear it to start "
                f"a new replay (`dagster sensor cursor {SENSOR_NAME} --delete`) or set one written by "
                "ReplayCursor.dumps()") from error

    def due(self, index: int) -> float:
        """When hour ``index`` is due on the replay's clock (epoch seconds)."""
        return self.started_at + (index - self.first_index) * INTERVAL_S

    def resumed(self, now: float) -> ReplayCursor:
        """This cursor at a tick at ``now``: after a pause (ticks more than ``PAUSE_S`` apart) the clock
        moves on by the pause, so hours are not due all at once."""
        if self.last_tick and now - self.last_tick > PAUSE_S:
            return replace(self, started_at=self.started_at + (now - self.last_tick - INTERVAL_S), last_tick=now)
        return replace(self, last_tick=now)


def hours_wait_in_one_lane(instance: dg.DagsterInstance) -> bool:
    """Whether the instance's run queue runs at most one replay hour at a time (``dagster.yaml``:
    ``concurrency.runs.tag_concurrency_limits`` has ``ecom/lane`` = the hours' lane with limit 1)."""
    queue = instance.get_concurrency_config().run_queue_config
    if queue is None:
        return False
    return any(limit.get("key") == LANE_TAG and limit.get("value") == HOURS_LANE and limit.get("limit") == 1
               for limit in queue.tag_concurrency_limits or [])


def run_request(cursor: ReplayCursor, hours: list[str], index: int, attempt: int, after: str | None = None
                ) -> dg.RunRequest:
    """The request for hour ``index`` (attempt ``attempt``); ``after``: the in-flight hour it waits behind."""
    key = hours[index]
    tags = {REPLAY_TAG: cursor.replay, ATTEMPT_TAG: str(attempt), REQUESTED_AT_TAG: f"{time.time():.3f}",
            DUE_AT_TAG: f"{cursor.due(index):.3f}", LANE_TAG: HOURS_LANE, LAST_HOUR_TAG: hours[-1]}
    if after:
        tags[AFTER_TAG] = after
    return dg.RunRequest(job_name=REPLAY_JOB_NAME, partition_key=key,
                         run_key=f"{cursor.replay}:{key}:{attempt}:{cursor.requests}", tags=tags)


def day_request(cursor: ReplayCursor, hour_key: str) -> list[dg.RunRequest]:
    """The roll-up of the day that ``hour_key`` completes (none unless it is the day's last hour)."""
    day = day_completed_by(hour_key)
    if day is None:
        return []
    return [dg.RunRequest(job_name=DAILY_JOB_NAME, partition_key=day, run_key=f"{cursor.replay}:{day}:day",
                          tags={REPLAY_TAG: cursor.replay, REQUESTED_AT_TAG: f"{time.time():.3f}"})]


def retry_time(instance: dg.DagsterInstance, run: dg.DagsterRun, attempt: int) -> float:
    """When the failed ``run`` (attempt ``attempt``) may be retried: the replay's retry rule's delay
    after it ended (at once when its end is not recorded)."""
    record = instance.get_run_record_by_id(run.run_id)
    ended = record.end_time if record else None
    return ended + REPLAY_RETRY.delay_after(attempt) if ended else 0.0


def replay_tick(instance: dg.DagsterInstance, cursor_text: str | None, hours: list[str] | None = None,
                now: float | None = None, lane: bool | None = None,
                waits_for: Callable[[str], str | None] | None = None) -> dg.SensorResult | dg.SkipReason:
    """One tick of the replay, as a pure function of the instance's runs, the cursor and the time ``now``
    (``lane``: whether hours may be queued ahead, by default read from the instance; ``waits_for(hour)``:
    what an hour still waits for before it may be requested, such as its daily re-fit, or None).

    First the cursor moves past every hour that succeeded, in order, and the oldest unfinished hour is
    settled (requested, or retried after a failure); then the hours already due are queued behind the
    ones in flight, up to ``MAX_AHEAD``, so a backlog is caught up at the speed runs can go.
    """
    hours = hours or all_hours()
    now = time.time() if now is None else now
    cursor = ReplayCursor.loads(cursor_text, now)
    if cursor.index >= len(hours):
        return dg.SkipReason(f"replay complete: all {len(hours)} hours done")
    cursor = cursor.resumed(now)
    requests: list[dg.RunRequest] = []
    rollups: list[dg.RunRequest] = []  # after the hours: the queue takes the next hour first
    waiting: list[str] = []  # why the next hour is not requested yet

    def request(index: int, attempt: int, after: str | None = None) -> bool:
        nonlocal cursor
        reason = waits_for(hours[index]) if waits_for and attempt == 1 else None
        if reason:
            waiting.append(f"hour {hours[index]} waits for {reason}")
            return False
        requests.append(run_request(cursor, hours, index, attempt, after))
        cursor = replace(cursor, requests=cursor.requests + 1)
        return True

    while True:
        key = hours[cursor.index]
        if cursor.attempt == 0:
            if request(cursor.index, 1):
                cursor = replace(cursor, attempt=1)
            break
        run = latest_hour_run(instance, cursor.replay, key)
        if run is None or run.status in IN_PROGRESS:
            break
        if run.status == dg.DagsterRunStatus.SUCCESS:
            rollups += day_request(cursor, key)
            if cursor.index + 1 >= len(hours):
                done = replace(cursor, index=len(hours), attempt=0, ahead=0)
                return dg.SensorResult(run_requests=rollups, skip_reason=None if rollups else
                                       f"replay complete: all {len(hours)} hours done", cursor=done.dumps())
            if cursor.ahead:  # the next hour is already queued behind this one: look at it too
                cursor = replace(cursor, index=cursor.index + 1, attempt=1, ahead=cursor.ahead - 1)
                continue
            requested = request(cursor.index + 1, 1)
            cursor = replace(cursor, index=cursor.index + 1, attempt=1 if requested else 0)
            break
        if cursor.attempt >= MAX_ATTEMPTS:
            resume = replace(cursor, attempt=0, ahead=0).dumps()
            return dg.SensorResult(
                run_requests=rollups,
                skip_reason=f"hour {key} failed {cursor.attempt} times (last run {run.run_id}): the replay is "
                            "stopped there; fix the cause, then retry from this hour with "
                            f"`dagster sensor cursor {SENSOR_NAME} --set '{resume}'`",
                cursor=cursor.dumps())
        retry_at = retry_time(instance, run, cursor.attempt)
        if now < retry_at:  # nothing is queued behind a failed hour until its retry is in flight
            return dg.SensorResult(
                run_requests=rollups, cursor=cursor.dumps(),
                skip_reason=f"hour {key} failed (attempt {cursor.attempt} of {MAX_ATTEMPTS}); retrying in "
                            f"{retry_at - now:.0f} s")
        # The failed hour again; the hours queued behind it stop on their own and are queued anew below.
        request(cursor.index, cursor.attempt + 1)
        cursor = replace(cursor, attempt=cursor.attempt + 1, ahead=0)
        break

    overdue_without_lane = False
    while cursor.ahead < MAX_AHEAD:
        following = cursor.index + cursor.ahead + 1
        if following >= len(hours) or now < cursor.due(following):
            break
        lane = hours_wait_in_one_lane(instance) if lane is None else lane
        if not lane:
            overdue_without_lane = True
            break
        if not request(following, 1, after=hours[following - 1]):
            break
        cursor = replace(cursor, ahead=cursor.ahead + 1)
    if requests or rollups:
        return dg.SensorResult(run_requests=requests + rollups, cursor=cursor.dumps())
    if waiting and cursor.attempt == 0:
        return dg.SensorResult(skip_reason=waiting[0], cursor=cursor.dumps())
    queued = f"; {cursor.ahead} queued behind it" if cursor.ahead else ""
    if overdue_without_lane:
        queued = (f"; hour {hours[cursor.index + 1]} is due but waits: this instance has no one-run lane for the "
                  "replay's hours (add the concurrency section of the project's dagster.yaml to DAGSTER_HOME's to "
                  "let due hours queue)")
    return dg.SensorResult(skip_reason=f"waiting for hour {hours[cursor.index]} (attempt {cursor.attempt}){queued}",
                           cursor=cursor.dumps())


def refit_wait(lake: Lake, lag_days: int) -> Callable[[str], str | None]:
    """``waits_for`` of :func:`replay_tick` when the hours use the daily re-fits: an hour waits until the
    re-fit it uses is written (on a local lake; on a lake at a URI the hour itself fails until it is, and
    is retried)."""
    def waits_for(key: str) -> str | None:
        day = refit_day_for(hour_start(key), lag_days)
        if day is None or not is_local(lake.root) or RefitPaths.of(lake, day).ready():
            return None
        return f"the models re-fitted after {day} (replay_refit, in the day's roll-up run)"

    return waits_for


def build_replay_sensor(job: AssetJob, daily_job: AssetJob, lake: Lake | None = None, spark_remote: str = "",
                        influx_url: str = "", refits: bool = False, refit_lag_days: int = 2) -> dg.SensorDefinition:
    """The sensor for the hourly ``job`` and the ``daily_job`` roll-ups (off by default: turn it on in the UI
    or with ``make replay-demo``); it skips its ticks while an `ecom replay` holds ``lake``, and while the
    Spark Connect server ``spark_remote`` or the InfluxDB ``influx_url`` (when set) does not answer, so a
    server down uses up no attempt and the replay goes on by itself once it is back. With ``refits``, an hour
    is requested only once the daily re-fit it uses is written (:func:`refit_wait`)."""
    waits_for = refit_wait(lake, refit_lag_days) if refits and lake is not None else None

    @dg.sensor(name=SENSOR_NAME, jobs=[job, daily_job], minimum_interval_seconds=INTERVAL_S,
               default_status=dg.DefaultSensorStatus.STOPPED,
               description="Replays November hour by hour, one hour per 10 s, in order, retrying a failed hour "
                           f"up to {MAX_ATTEMPTS} times and queueing a due hour behind a running one; each day's "
                           "roll-up after its last hour.")
    def november_replay_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        """Request the next hour when the previous one succeeded or is overdue (see the module docstring)."""
        holder = cli_replay_holder(lake) if lake is not None else None
        if holder is not None:
            return dg.SkipReason(f"an `ecom replay` (pid {holder.get('pid', '?')}) is replaying this lake: the "
                                 "sensor waits until it ends")
        if spark_remote and not url_answers(spark_remote):
            return dg.SkipReason(f"the Spark Connect server at {server_address(spark_remote)} does not answer: start "
                                 "it with `ecom spark start`; the replay goes on from where it stopped once it answers")
        if influx_url and not influx_answers(influx_url):
            return dg.SkipReason(f"InfluxDB at {influx_url} does not answer: the replay waits for it and goes on from "
                                 "where it stopped once it answers")
        for run in fail_orphaned_runs(context.instance, (job.name, daily_job.name)):
            context.log.warning(f"run {run.run_id} ({run.tags.get('dagster/partition', '?')}) was left started by a "
                                "process that ended without finishing it: marked failed, the replay retries it")
        return replay_tick(context.instance, context.cursor, waits_for=waits_for)

    return november_replay_sensor
