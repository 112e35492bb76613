"""``ecom replay``: run hours of the replay job in order, on a cadence, without the Dagster daemon.

The same job and assets as the sensor's runs, executed in this process on the persistent instance
(so the UI shows them), with the same tags, the same retry rule and the same order; after a day's
last hour, the day's roll-up (a failed roll-up is reported and does not stop the replay, as with the
sensor). A day's re-fit of the models (``replay_refit``) is materialized before the first hour that
uses it, not with the roll-up: a replay that stops before that hour never pays for it (at the real size
it is an ALS fit of half an hour), and one that goes on gets the same re-fit, from the same state.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from ecom_assets.commands.materialize import DISK_FULL, ensure_dagster_home, root_error_message
from ecom_assets.commands.progress import clock_text
from ecom_assets.lake import is_local
from ecom_assets.publishing.sinks import influx_answers
from ecom_assets.replay.orchestration.exclusive import CliReplayLock, lock_path, refuse_beside_sensor_runs
from ecom_assets.replay.orchestration.ordering import (
    ATTEMPT_TAG,
    CLI_REPLAY_PREFIX,
    DUE_AT_TAG,
    LAST_HOUR_TAG,
    REPLAY_TAG,
    REQUESTED_AT_TAG,
)
from ecom_assets.replay.orchestration.partitions import all_hours, day_completed_by, hour_start
from ecom_assets.replay.orchestration.refit_schedule import RefitPaths, refit_day_for
from ecom_assets.replay.orchestration.retry import MAX_ATTEMPTS, RETRY_BACKOFF_S, RetryRule
from ecom_assets.replay.orchestration.orphans import fail_orphaned_runs, fail_run, process_tags
from ecom_assets.replay.orchestration.sensor import DAILY_JOB_NAME, REPLAY_JOB_NAME, SENSOR_NAME
from ecom_assets.resources.spark_server import url_answers
from ecom_assets.settings import Settings, load_settings

# How long `ecom replay` waits for an InfluxDB that stopped answering before it gives up.
INFLUX_WAIT_S = 600.0


@dataclass
class ReplaySummary:
    """What a replay did: hours done, seconds per hour, days rolled up or not, and the error that stopped
    it, if any."""

    done: list[str] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    failed_hour: str = ""
    error: str = ""
    days: list[str] = field(default_factory=list)
    failed_days: list[str] = field(default_factory=list)

    @property
    def success(self) -> bool:
        """True when every requested hour succeeded."""
        return not self.failed_hour


def next_hour(instance: dg.DagsterInstance) -> str:
    """Where the last replay stopped: the last hour ``replay_progress`` recorded, again when that hour's latest
    run failed (one part of a failed hour records its assets: the other part's failure stops the run), else
    the hour after it; November's first hour when nothing was replayed."""
    hours = all_hours()
    done = instance.get_materialized_partitions(dg.AssetKey("replay_progress"))
    if not done:
        return hours[0]
    last = max(hours.index(k) for k in done if k in hours)
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=REPLAY_JOB_NAME, tags={"dagster/partition": hours[last]}),
                             limit=1)
    if runs and runs[0].status == dg.DagsterRunStatus.FAILURE:
        return hours[last]
    return hours[min(last + 1, len(hours) - 1)]


def run_replay(count: int, start: str | None = None, interval_s: float = 10.0, settings: Settings | None = None,
               log: Callable[[str], None] = print, max_attempts: int = MAX_ATTEMPTS,
               retry_backoff_s: float = RETRY_BACKOFF_S) -> ReplaySummary:
    """Run ``count`` hours from ``start`` (default: where the last replay stopped), one every ``interval_s``;
    a failed hour is retried by the replay's retry rule (:mod:`ecom_assets.replay.orchestration.retry`), as
    the sensor does; ``max_attempts`` and ``retry_backoff_s`` change it (the tests shorten the waits). A
    failure while the Spark Connect server does not answer stops at once: the error names the server and
    ``ecom spark start``, and the same command then resumes at that hour; so does a full disk; one while
    InfluxDB does not answer waits for it (:func:`_run_hour`). Runs a killed `ecom replay` left started are
    marked failed first (:func:`end_runs_of_killed_replays`), so the replay resumes at the killed hour.

    One replay of a lake at a time (:mod:`ecom_assets.replay.orchestration.exclusive`): raises
    ``ReplayBusyError`` beside another `ecom replay` or the sensor's runs in flight."""
    settings = settings or load_settings()
    instance = ensure_dagster_home(settings)
    replay_id = f"{CLI_REPLAY_PREFIX}{int(time.time())}"
    with CliReplayLock(lock_path(settings.lake), replay_id):
        orphans = end_runs_of_killed_replays(instance, log)
        refuse_beside_sensor_runs(instance, REPLAY_JOB_NAME, SENSOR_NAME)
        return _replay_hours(instance, settings, count, start, interval_s, replay_id,
                             RetryRule(max_attempts, retry_backoff_s), log, orphans)


def end_runs_of_killed_replays(instance: dg.DagsterInstance, log: Callable[[str], None]) -> list[dg.DagsterRun]:
    """Mark failed the runs a killed process left started (:mod:`ecom_assets.replay.orchestration.orphans`):
    those whose process is gone, and every run of an earlier `ecom replay`, even one that predates the
    process tags (this process holds the lake's lock, so that replay has ended); the runs so marked."""
    jobs = (REPLAY_JOB_NAME, DAILY_JOB_NAME)
    ended = fail_orphaned_runs(instance, jobs)
    marked = {run.run_id for run in ended}
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
        if (run.job_name in jobs and run.run_id not in marked
                and run.tags.get(REPLAY_TAG, "").startswith(CLI_REPLAY_PREFIX)):
            fail_run(instance, run, f"the `ecom replay` that ran this run ({run.tags[REPLAY_TAG]}) ended without "
                                    "finishing it (killed?): marked failed so that its work is run again")
            ended.append(run)
    for run in ended:
        what = "day" if run.job_name == DAILY_JOB_NAME else "hour"
        log(f"{what} {run.tags.get('dagster/partition', '?')}: run {run.run_id[:8]} was left started by a process "
            "that ended without finishing it (killed?): marked failed, its work runs again")
    return ended


def _replay_hours(instance: dg.DagsterInstance, settings: Settings, count: int, start: str | None,
                  interval_s: float, replay_id: str, rule: RetryRule, log: Callable[[str], None],
                  orphans: list[dg.DagsterRun]) -> ReplaySummary:
    """The hours of ``run_replay``, run while it holds the lake, after the roll-ups of ``orphans`` (the
    runs a killed replay left started) are run again."""
    from ecom_assets.definitions import build_definitions, uses_refits

    definitions = build_definitions(settings)
    refits = uses_refits(settings)
    job = definitions.resolve_job_def(REPLAY_JOB_NAME)
    daily_job = definitions.resolve_job_def(DAILY_JOB_NAME)
    hours = all_hours()
    first = start or next_hour(instance)
    index = hours.index(first)
    todo = hours[index:index + count]
    summary = ReplaySummary()
    for run in orphans:
        if run.job_name == DAILY_JOB_NAME and "dagster/partition" in run.tags:
            _roll_up(daily_job, instance, run.tags["dagster/partition"], replay_id, summary, log)
    began = time.time()
    for position, key in enumerate(todo):
        if refits and not _ensure_refit(daily_job, instance, settings, key, replay_id, summary, log):
            return summary
        requested = time.time()
        tags = {REPLAY_TAG: replay_id, REQUESTED_AT_TAG: f"{requested:.3f}",
                DUE_AT_TAG: f"{began + position * interval_s:.3f}", LAST_HOUR_TAG: todo[-1]}
        result = _run_hour(job, instance, settings, key, tags, rule, summary, log)
        if not result.success:
            summary.failed_hour = key
            return summary
        elapsed = time.time() - requested
        summary.done.append(key)
        summary.seconds.append(elapsed)
        log(f"hour {key} ({position + 1}/{len(todo)}): done in {elapsed:.2f} s (run {result.run_id[:8]}), "
            f"{clock_text(time.time() - began)} so far")
        day = day_completed_by(key)
        if day is not None:
            _roll_up(daily_job, instance, day, replay_id, summary, log)
        if key != todo[-1]:
            time.sleep(max(0.0, began + (position + 1) * interval_s - time.time()))
    return summary


def refit_to_write(hour_key: str, lag_days: int, written: Callable[[dt.date], bool]) -> dt.date | None:
    """The day whose re-fit must be materialized before hour ``hour_key`` runs: the re-fit the hour uses
    (:func:`refit_day_for`) when ``written(day)`` says it is not there yet; None otherwise."""
    day = refit_day_for(hour_start(hour_key), lag_days)
    return day if day is not None and not written(day) else None


def _refit_written(instance: dg.DagsterInstance, settings: Settings, day: dt.date) -> bool:
    """Whether ``day``'s re-fit is there: on a local lake, its files; on a lake at a URI (which this process
    does not list), a materialization of ``replay_refit`` for the day on this instance."""
    from ecom_assets.replay.models.assets import replay_refit

    if is_local(settings.lake_dir):
        return RefitPaths.of(settings.lake, day).ready()
    return day.isoformat() in instance.get_materialized_partitions(replay_refit.key)


def _ensure_refit(daily_job: dg.JobDefinition, instance: dg.DagsterInstance, settings: Settings, key: str,
                  replay_id: str, summary: ReplaySummary, log: Callable[[str], None]) -> bool:
    """Materialize the re-fit hour ``key`` uses when it is not written yet; False (the replay stops at
    ``key``, which would fail without it) when that fails."""
    from ecom_assets.replay.models.assets import replay_refit

    day = refit_to_write(key, settings.replay_refit_lag_days, lambda d: _refit_written(instance, settings, d))
    if day is None:
        return True
    began = time.time()
    log(f"day {day}: re-fitting the models, which hour {key} uses")
    fitted = daily_job.execute_in_process(
        partition_key=day.isoformat(), instance=instance, raise_on_error=False, asset_selection=[replay_refit.key],
        tags={REPLAY_TAG: replay_id, **process_tags()},
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})
    if fitted.success:
        log(f"day {day}: models re-fitted in {clock_text(time.time() - began)}")
        return True
    summary.failed_hour, summary.error = key, f"the re-fit of {day}, which hour {key} uses, failed: {_failure(fitted)}"
    log(f"hour {key}: not run: {summary.error}")
    return False


def _roll_up(daily_job: dg.JobDefinition, instance: dg.DagsterInstance, day: str, replay_id: str,
             summary: ReplaySummary, log: Callable[[str], None]) -> None:
    """The roll-up of ``day`` (its re-fit waits for the first hour that uses it: :func:`_ensure_refit`); a
    failure is reported and does not stop the replay (as with the sensor)."""
    from ecom_assets.replay.behaviour.assets import DAILY_REPLAY_ASSETS

    rolled = daily_job.execute_in_process(
        partition_key=day, instance=instance, raise_on_error=False, tags={REPLAY_TAG: replay_id, **process_tags()},
        asset_selection=[asset.key for asset in DAILY_REPLAY_ASSETS],
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})
    (summary.days if rolled.success else summary.failed_days).append(day)
    log(f"day {day}: rolled up" if rolled.success else f"day {day}: roll-up failed: {_failure(rolled)}")


def _run_hour(job: dg.JobDefinition, instance: dg.DagsterInstance, settings: Settings, key: str, tags: dict[str, str],
              rule: RetryRule, summary: ReplaySummary, log: Callable[[str], None]) -> dg.ExecuteInProcessResult:
    """One hour's runs until one succeeds or the retry rule gives up (the last run's result).

    A failure while the Spark Connect server does not answer ends at once (only ``ecom spark start`` helps);
    while InfluxDB does not answer, the replay waits for it (up to ``INFLUX_WAIT_S``) and the failure uses
    up no attempt: a restarting database loses nothing, as with the sensor."""
    attempt, runs = 1, 0
    while True:
        runs += 1
        result = job.execute_in_process(
            partition_key=key, instance=instance, raise_on_error=False, tags={**tags, ATTEMPT_TAG: str(runs), **process_tags()},
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})
        if result.success:
            return result
        summary.error = _failure(result)
        log(f"hour {key}: attempt {attempt} failed: {summary.error}")
        if settings.spark_remote and not url_answers(settings.spark_remote):
            return result  # no retry can succeed before the server is started again: say so now
        if DISK_FULL in summary.error:
            return result  # nor before space is freed: the message says where and what to do
        if settings.influx_url and not influx_answers(settings.influx_url):
            log(f"InfluxDB at {settings.influx_url} does not answer: waiting for it (at most {INFLUX_WAIT_S:.0f} s)")
            if _wait_until(lambda: influx_answers(settings.influx_url), INFLUX_WAIT_S):
                continue
            summary.error = f"InfluxDB at {settings.influx_url} did not answer for {INFLUX_WAIT_S:.0f} s: {summary.error}"
            return result
        if attempt >= rule.max_attempts:
            return result
        time.sleep(rule.delay_after(attempt))
        attempt += 1


def _wait_until(ready: Callable[[], bool], timeout_s: float, poll_s: float = 1.0) -> bool:
    """Poll ``ready`` until it is true (True) or ``timeout_s`` has passed (False)."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)
    return True


def _failure(result: dg.ExecuteInProcessResult) -> str:
    """The root error message of a failed in-process run."""
    failures = [e for e in result.all_events if e.is_step_failure]
    error = failures[0].step_failure_data.error if failures and failures[0].step_failure_data else None
    return root_error_message(error) if error else "run failed"
