"""``ecom replay``: run hours of the replay job in order, on a cadence, without the Dagster daemon.

The same job and assets as the sensor's runs, executed in this process on the persistent instance
(so the UI shows them), with the same tags, the same retry rule and the same order; after a day's
last hour, the day's roll-up (a failed roll-up is reported and does not stop the replay, as with the
sensor).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from ecom_assets.commands.materialize import ensure_dagster_home, root_error_message
from ecom_assets.commands.progress import clock_text
from ecom_assets.replay.orchestration.exclusive import CliReplayLock, lock_path, refuse_beside_sensor_runs
from ecom_assets.replay.orchestration.ordering import (
    ATTEMPT_TAG,
    DUE_AT_TAG,
    LAST_HOUR_TAG,
    REPLAY_TAG,
    REQUESTED_AT_TAG,
)
from ecom_assets.replay.orchestration.partitions import all_hours, day_completed_by
from ecom_assets.replay.orchestration.retry import MAX_ATTEMPTS, RETRY_BACKOFF_S, RetryRule
from ecom_assets.replay.orchestration.sensor import DAILY_JOB_NAME, REPLAY_JOB_NAME, SENSOR_NAME
from ecom_assets.settings import Settings, load_settings


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
    """The hour after the last one ``replay_progress`` recorded, or November's first hour."""
    hours = all_hours()
    done = instance.get_materialized_partitions(dg.AssetKey("replay_progress"))
    if not done:
        return hours[0]
    last = max(hours.index(k) for k in done if k in hours)
    return hours[min(last + 1, len(hours) - 1)]


def run_replay(count: int, start: str | None = None, interval_s: float = 10.0, settings: Settings | None = None,
               log: Callable[[str], None] = print, max_attempts: int = MAX_ATTEMPTS,
               retry_backoff_s: float = RETRY_BACKOFF_S) -> ReplaySummary:
    """Run ``count`` hours from ``start`` (default: where the last replay stopped), one every ``interval_s``;
    a failed hour is retried by the replay's retry rule (:mod:`ecom_assets.replay.orchestration.retry`), as
    the sensor does; ``max_attempts`` and ``retry_backoff_s`` change it (the tests shorten the waits).

    One replay of a lake at a time (:mod:`ecom_assets.replay.orchestration.exclusive`): raises
    ``ReplayBusyError`` beside another `ecom replay` or the sensor's runs in flight."""
    settings = settings or load_settings()
    instance = ensure_dagster_home(settings)
    replay_id = f"cli-{int(time.time())}"
    with CliReplayLock(lock_path(settings.lake), replay_id):
        refuse_beside_sensor_runs(instance, REPLAY_JOB_NAME, SENSOR_NAME)
        return _replay_hours(instance, settings, count, start, interval_s, replay_id,
                             RetryRule(max_attempts, retry_backoff_s), log)


def _replay_hours(instance: dg.DagsterInstance, settings: Settings, count: int, start: str | None,
                  interval_s: float, replay_id: str, rule: RetryRule, log: Callable[[str], None]) -> ReplaySummary:
    """The hours of ``run_replay``, run while it holds the lake."""
    from ecom_assets.definitions import build_definitions

    definitions = build_definitions(settings)
    job = definitions.resolve_job_def(REPLAY_JOB_NAME)
    daily_job = definitions.resolve_job_def(DAILY_JOB_NAME)
    hours = all_hours()
    first = start or next_hour(instance)
    index = hours.index(first)
    todo = hours[index:index + count]
    summary = ReplaySummary()
    began = time.time()
    for position, key in enumerate(todo):
        requested = time.time()
        for attempt in range(1, rule.max_attempts + 1):
            if attempt > 1:
                time.sleep(rule.delay_after(attempt - 1))
            result = job.execute_in_process(
                partition_key=key, instance=instance, raise_on_error=False,
                tags={REPLAY_TAG: replay_id, ATTEMPT_TAG: str(attempt), REQUESTED_AT_TAG: f"{requested:.3f}",
                      DUE_AT_TAG: f"{began + position * interval_s:.3f}", LAST_HOUR_TAG: todo[-1]},
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            )
            if result.success:
                break
            summary.error = _failure(result)
            log(f"hour {key}: attempt {attempt} failed: {summary.error}")
        else:
            summary.failed_hour = key
            return summary
        elapsed = time.time() - requested
        summary.done.append(key)
        summary.seconds.append(elapsed)
        log(f"hour {key} ({position + 1}/{len(todo)}): done in {elapsed:.2f} s (run {result.run_id[:8]}), "
            f"{clock_text(time.time() - began)} so far")
        day = day_completed_by(key)
        if day is not None:
            rolled = daily_job.execute_in_process(
                partition_key=day, instance=instance, raise_on_error=False, tags={REPLAY_TAG: replay_id},
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})
            (summary.days if rolled.success else summary.failed_days).append(day)
            log(f"day {day}: rolled up" if rolled.success else f"day {day}: roll-up failed: {_failure(rolled)}")
        if key != todo[-1]:
            time.sleep(max(0.0, began + (position + 1) * interval_s - time.time()))
    return summary


def _failure(result: dg.ExecuteInProcessResult) -> str:
    """The root error message of a failed in-process run."""
    failures = [e for e in result.all_events if e.is_step_failure]
    error = failures[0].step_failure_data.error if failures and failures[0].step_failure_data else None
    return root_error_message(error) if error else "run failed"
