"""The replay sensor on a real ephemeral Dagster instance: in order, retries a failed hour, stops at the end."""

from __future__ import annotations

import json

import dagster as dg
import pytest
from dagster._core.test_utils import create_run_for_test

from ecom_assets.definitions import defs
from ecom_assets.replay.partitions import all_hours
from ecom_assets.replay.sensor import (
    DAILY_JOB_NAME,
    MAX_ATTEMPTS,
    REPLAY_JOB_NAME,
    SENSOR_NAME,
    ReplayCursor,
    replay_tick,
)
from ecom_assets.replay.tags import ATTEMPT_TAG, DUE_AT_TAG, REPLAY_TAG

HOURS = all_hours()[:3]


def _record_run(instance: dg.DagsterInstance, result: dg.SensorResult, status: dg.DagsterRunStatus) -> None:
    """What the daemon would do with the tick's request: a run with its tags, then its outcome."""
    request = next(r for r in result.run_requests if r.job_name == REPLAY_JOB_NAME)
    create_run_for_test(instance, job_name=REPLAY_JOB_NAME, status=status,
                        tags={**request.tags, "dagster/partition": request.partition_key})


def test_sensor_is_off_by_default_and_requests_the_first_hour() -> None:
    sensor = defs.resolve_sensor_def(SENSOR_NAME)
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    assert sensor.minimum_interval_seconds == 10
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_sensor_context(instance=instance, sensor_name=SENSOR_NAME, definitions=defs)
        result = sensor.evaluate_tick(context)
        assert [r.partition_key for r in result.run_requests] == ["2019-11-01-00:00"]
        assert json.loads(result.cursor)["index"] == 0


def test_sensor_goes_in_order_retries_failures_and_stops_at_the_end() -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        cursor = ReplayCursor(replay="r1").dumps()
        seen = []
        first = replay_tick(instance, cursor, HOURS)
        seen.append(first.run_requests[0].partition_key)
        cursor = first.cursor
        # While the run is in progress the sensor waits and requests nothing.
        _record_run(instance, first, dg.DagsterRunStatus.STARTED)
        waiting = replay_tick(instance, cursor, HOURS)
        assert not waiting.run_requests and "waiting for hour 2019-11-01-00:00" in waiting.skip_reason.skip_message
        _record_run(instance, first, dg.DagsterRunStatus.SUCCESS)

        second = replay_tick(instance, cursor, HOURS)
        seen.append(second.run_requests[0].partition_key)
        cursor = second.cursor
        _record_run(instance, second, dg.DagsterRunStatus.FAILURE)
        retry = replay_tick(instance, cursor, HOURS)
        assert retry.run_requests[0].partition_key == HOURS[1]  # the failed hour again, never the next one
        assert retry.run_requests[0].tags[ATTEMPT_TAG] == "2"
        assert retry.run_requests[0].run_key != second.run_requests[0].run_key
        cursor = retry.cursor
        _record_run(instance, retry, dg.DagsterRunStatus.SUCCESS)

        third = replay_tick(instance, cursor, HOURS)
        seen.append(third.run_requests[0].partition_key)
        cursor = third.cursor
        _record_run(instance, third, dg.DagsterRunStatus.SUCCESS)
        done = replay_tick(instance, cursor, HOURS)
        assert not done.run_requests and "replay complete" in done.skip_reason.skip_message
        after = replay_tick(instance, done.cursor, HOURS)
        assert isinstance(after, dg.SkipReason) and "replay complete" in after.skip_message
        assert seen == HOURS
        due = [float(r.tags[DUE_AT_TAG]) for r in (first.run_requests[0], second.run_requests[0],
                                                    third.run_requests[0])]
        assert due[1] - due[0] == pytest.approx(10) and due[2] - due[0] == pytest.approx(20)


def test_sensor_gives_up_on_an_hour_after_the_attempt_limit() -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        cursor = ReplayCursor(replay="r2").dumps()
        for attempt in range(1, MAX_ATTEMPTS + 1):
            result = replay_tick(instance, cursor, HOURS)
            assert result.run_requests[0].tags[ATTEMPT_TAG] == str(attempt)
            assert result.run_requests[0].partition_key == HOURS[0]
            _record_run(instance, result, dg.DagsterRunStatus.FAILURE)
            cursor = result.cursor
        stuck = replay_tick(instance, cursor, HOURS)
        assert not stuck.run_requests
        assert f"failed {MAX_ATTEMPTS} times" in stuck.skip_reason.skip_message
        assert all(r.tags[REPLAY_TAG] == "r2" for r in instance.get_runs())


def test_sensor_requests_the_days_rollup_after_its_last_hour_beside_the_next_hour() -> None:
    hours = all_hours()[22:25]  # 2019-11-01 22:00, 23:00, 2019-11-02 00:00
    with dg.DagsterInstance.ephemeral() as instance:
        cursor = ReplayCursor(replay="r3").dumps()
        requested = []
        for _ in hours:
            result = replay_tick(instance, cursor, hours)
            requested.append([(r.job_name, r.partition_key) for r in result.run_requests])
            _record_run(instance, result, dg.DagsterRunStatus.SUCCESS)
            cursor = result.cursor
        last = replay_tick(instance, cursor, hours)
        assert requested == [[(REPLAY_JOB_NAME, hours[0])], [(REPLAY_JOB_NAME, hours[1])],
                             [(REPLAY_JOB_NAME, hours[2]), (DAILY_JOB_NAME, "2019-11-01")]]
        assert not last.run_requests and "replay complete" in last.skip_reason.skip_message


def test_the_last_hour_of_november_requests_the_last_day() -> None:
    hours = all_hours()[-1:]
    with dg.DagsterInstance.ephemeral() as instance:
        first = replay_tick(instance, ReplayCursor(replay="r4").dumps(), hours)
        _record_run(instance, first, dg.DagsterRunStatus.SUCCESS)
        done = replay_tick(instance, first.cursor, hours)
        assert [(r.job_name, r.partition_key) for r in done.run_requests] == [(DAILY_JOB_NAME, "2019-11-30")]
        assert isinstance(replay_tick(instance, done.cursor, hours), dg.SkipReason)
