"""The replay sensor on a real ephemeral Dagster instance: in order, retries a failed hour, stops at the end,
and catches up by queueing a due hour behind a running one when the instance has the one-run lane."""

from __future__ import annotations

import json
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.test_utils import create_run_for_test

from ecom_assets.definitions import build_resources, defs
from ecom_assets.replay.hour import BEHAVIOUR_KEYS, replay_hour
from ecom_assets.replay.orchestration.ordering import (
    AFTER_TAG,
    ATTEMPT_TAG,
    DUE_AT_TAG,
    HOURS_LANE,
    LANE_TAG,
    LAST_HOUR_TAG,
    REPLAY_TAG,
    previous_hour_problem,
)
from ecom_assets.replay.orchestration.partitions import all_hours
from ecom_assets.replay.orchestration.retry import MAX_ATTEMPTS, RETRY_BACKOFF_S
from ecom_assets.replay.orchestration.sensor import (
    DAILY_JOB_NAME,
    INTERVAL_S,
    MAX_AHEAD,
    REPLAY_JOB_NAME,
    SENSOR_NAME,
    ReplayCursor,
    hours_wait_in_one_lane,
    replay_tick,
    retry_time,
)
from ecom_assets.settings import load_settings

# A run still waiting its turn (a test run cannot be QUEUED without a code location behind it).
WAITING = dg.DagsterRunStatus.NOT_STARTED
PROJECT_INSTANCE = yaml.safe_load((Path(__file__).resolve().parents[1] / "dagster.yaml").read_text())

HOURS = all_hours()[:3]


def _record_run(instance: dg.DagsterInstance, result: dg.SensorResult, status: dg.DagsterRunStatus) -> dict:
    """What the daemon would do with the tick's request: a run with its tags, then its outcome (a newer run
    of the same request stands for the same run's later status). Returns the run's tags."""
    request = next(r for r in result.run_requests if r.job_name == REPLAY_JOB_NAME)
    tags = {**request.tags, "dagster/partition": request.partition_key}
    create_run_for_test(instance, job_name=REPLAY_JOB_NAME, status=status, tags=tags)
    return tags


def _hours_requested(result: dg.SensorResult) -> list[str]:
    """The replay hours a tick requested."""
    return [r.partition_key for r in result.run_requests if r.job_name == REPLAY_JOB_NAME]


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
        assert retry.run_requests[0].tags[LAST_HOUR_TAG] == HOURS[-1]  # the heartbeat's hours left
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
        run_keys = set()
        for attempt in range(1, MAX_ATTEMPTS + 1):
            result = replay_tick(instance, cursor, HOURS)
            run_keys.add(result.run_requests[0].run_key)
            assert result.run_requests[0].tags[ATTEMPT_TAG] == str(attempt)
            assert result.run_requests[0].partition_key == HOURS[0]
            _record_run(instance, result, dg.DagsterRunStatus.FAILURE)
            cursor = result.cursor
        stuck = replay_tick(instance, cursor, HOURS)
        assert not stuck.run_requests
        message = stuck.skip_reason.skip_message
        assert f"failed {MAX_ATTEMPTS} times" in message
        # The message's command resumes the replay at the same hour, with fresh attempts.
        resume = message.split(f"dagster sensor cursor {SENSOR_NAME} --set '")[1].rstrip("'`")
        resumed = replay_tick(instance, resume, HOURS)
        assert _hours_requested(resumed) == [HOURS[0]] and resumed.run_requests[0].tags[ATTEMPT_TAG] == "1"
        assert resumed.run_requests[0].run_key not in run_keys  # a new run, not deduplicated
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


def test_the_projects_instance_runs_replay_hours_in_a_one_run_lane() -> None:
    with dg.instance_for_test(overrides=PROJECT_INSTANCE) as instance:
        assert hours_wait_in_one_lane(instance)
    with dg.DagsterInstance.ephemeral() as instance:  # no run queue: hours are never queued ahead
        assert not hours_wait_in_one_lane(instance)


def test_due_hours_are_queued_behind_the_running_one_and_never_requested_twice() -> None:
    t0 = 1_000_000.0
    with dg.instance_for_test(overrides=PROJECT_INSTANCE) as instance:
        cursor = ReplayCursor(replay="r5", started_at=t0, last_tick=t0).dumps()
        first = replay_tick(instance, cursor, HOURS, now=t0)
        assert _hours_requested(first) == [HOURS[0]]
        assert first.run_requests[0].tags[LANE_TAG] == HOURS_LANE
        _record_run(instance, first, dg.DagsterRunStatus.STARTED)
        early = replay_tick(instance, first.cursor, HOURS, now=t0 + 5)  # the next hour is not due yet
        assert not early.run_requests
        ahead = replay_tick(instance, early.cursor, HOURS, now=t0 + INTERVAL_S + 0.5)
        assert _hours_requested(ahead) == [HOURS[1]]
        assert ahead.run_requests[0].tags[AFTER_TAG] == HOURS[0]
        assert float(ahead.run_requests[0].tags[DUE_AT_TAG]) == pytest.approx(t0 + INTERVAL_S)
        queued_tags = _record_run(instance, ahead, WAITING)
        waiting = replay_tick(instance, ahead.cursor, HOURS, now=t0 + INTERVAL_S + 2)
        assert not waiting.run_requests and "1 queued behind it" in waiting.skip_reason.skip_message
        assert previous_hour_problem(instance, queued_tags) is not None  # hour 0 has not succeeded yet
        _record_run(instance, first, dg.DagsterRunStatus.SUCCESS)
        assert previous_hour_problem(instance, queued_tags) is None
        moved = replay_tick(instance, waiting.cursor, HOURS, now=t0 + INTERVAL_S + 3)
        assert not moved.run_requests  # hour 1 is already in flight: not requested a second time
        assert json.loads(moved.cursor)["index"] == 1
        third = replay_tick(instance, moved.cursor, HOURS, now=t0 + 2 * INTERVAL_S + 1)
        assert _hours_requested(third) == [HOURS[2]] and third.run_requests[0].tags[AFTER_TAG] == HOURS[1]
        _record_run(instance, ahead, dg.DagsterRunStatus.SUCCESS)
        _record_run(instance, third, dg.DagsterRunStatus.SUCCESS)
        done = replay_tick(instance, third.cursor, HOURS, now=t0 + 2 * INTERVAL_S + 9)  # both at once
        assert not done.run_requests and "replay complete" in done.skip_reason.skip_message


def test_a_backlog_is_queued_up_to_the_limit_behind_the_running_hour() -> None:
    hours = all_hours()[:8]
    t0 = 1_200_000.0
    with dg.instance_for_test(overrides=PROJECT_INSTANCE) as instance:
        first = replay_tick(instance, ReplayCursor(replay="r11", started_at=t0, last_tick=t0).dumps(), hours, now=t0)
        _record_run(instance, first, dg.DagsterRunStatus.STARTED)
        cursor, queued = first.cursor, []
        for tick in range(1, MAX_AHEAD + 3):  # a slow first hour: the ticks go on every 10 s
            result = replay_tick(instance, cursor, hours, now=t0 + tick * INTERVAL_S + 0.5)
            queued += result.run_requests
            cursor = result.cursor
        assert [r.partition_key for r in queued] == hours[1:1 + MAX_AHEAD]
        assert [r.tags[AFTER_TAG] for r in queued] == hours[:MAX_AHEAD]
        assert json.loads(cursor)["ahead"] == MAX_AHEAD


def test_a_late_tick_requests_the_next_hour_and_queues_the_one_after_it() -> None:
    t0 = 1_500_000.0
    with dg.instance_for_test(overrides=PROJECT_INSTANCE) as instance:
        first = replay_tick(instance, ReplayCursor(replay="r10", started_at=t0, last_tick=t0).dumps(), HOURS, now=t0)
        _record_run(instance, first, dg.DagsterRunStatus.SUCCESS)
        late = replay_tick(instance, first.cursor, HOURS, now=t0 + 2 * INTERVAL_S + 1)  # a tick came 21 s later
        assert _hours_requested(late) == HOURS[1:3]
        assert AFTER_TAG not in late.run_requests[0].tags and late.run_requests[1].tags[AFTER_TAG] == HOURS[1]
        assert len({r.run_key for r in late.run_requests}) == 2


def test_an_hour_queued_behind_a_failed_hour_stops_and_is_requested_again_after_the_retry() -> None:
    t0 = 2_000_000.0
    with dg.instance_for_test(overrides=PROJECT_INSTANCE) as instance:
        cursor = ReplayCursor(replay="r6", started_at=t0, last_tick=t0).dumps()
        first = replay_tick(instance, cursor, HOURS, now=t0)
        _record_run(instance, first, dg.DagsterRunStatus.STARTED)
        ahead = replay_tick(instance, first.cursor, HOURS, now=t0 + INTERVAL_S + 1)
        queued_tags = _record_run(instance, ahead, WAITING)
        _record_run(instance, first, dg.DagsterRunStatus.FAILURE)
        problem = previous_hour_problem(instance, queued_tags)
        assert problem and f"queued behind hour {HOURS[0]}" in problem and "FAILURE" in problem
        retry = replay_tick(instance, ahead.cursor, HOURS, now=t0 + INTERVAL_S + 2)
        # The failed hour again, and hour 1 (still due) queued anew behind the retry.
        assert _hours_requested(retry) == HOURS[:2] and retry.run_requests[0].tags[ATTEMPT_TAG] == "2"
        assert retry.run_requests[1].tags[AFTER_TAG] == HOURS[0]
        assert retry.run_requests[1].run_key != ahead.run_requests[0].run_key  # a new run, not deduplicated
        _record_run(instance, ahead, dg.DagsterRunStatus.FAILURE)  # the first hour-1 run stopped on the guard
        create_run_for_test(instance, job_name=REPLAY_JOB_NAME, status=WAITING,
                            tags={**retry.run_requests[0].tags, "dagster/partition": HOURS[0]})
        requeued_tags = {**retry.run_requests[1].tags, "dagster/partition": HOURS[1]}
        create_run_for_test(instance, job_name=REPLAY_JOB_NAME, status=WAITING, tags=requeued_tags)
        assert previous_hour_problem(instance, requeued_tags) is not None  # the retry has not run yet
        _record_run(instance, retry, dg.DagsterRunStatus.SUCCESS)
        assert previous_hour_problem(instance, requeued_tags) is None
        moved = replay_tick(instance, retry.cursor, HOURS, now=t0 + 2 * INTERVAL_S + 3)
        assert _hours_requested(moved) == [HOURS[2]]  # hour 1 is in flight; hour 2 queued behind it
        assert json.loads(moved.cursor)["index"] == 1 and json.loads(moved.cursor)["attempt"] == 1


def test_without_the_lane_the_sensor_waits_for_each_hour_even_when_the_next_is_overdue() -> None:
    t0 = 3_000_000.0
    with dg.DagsterInstance.ephemeral() as instance:
        first = replay_tick(instance, ReplayCursor(replay="r7", started_at=t0, last_tick=t0).dumps(), HOURS, now=t0)
        _record_run(instance, first, dg.DagsterRunStatus.STARTED)
        late = replay_tick(instance, first.cursor, HOURS, now=t0 + 3 * INTERVAL_S - 1)
        assert not late.run_requests
        assert "no one-run lane" in late.skip_reason.skip_message and "dagster.yaml" in late.skip_reason.skip_message


def test_a_paused_sensor_resumes_its_clock_instead_of_counting_the_pause_as_lag() -> None:
    t0 = 4_000_000.0
    with dg.DagsterInstance.ephemeral() as instance:
        first = replay_tick(instance, ReplayCursor(replay="r8", started_at=t0, last_tick=t0).dumps(), HOURS, now=t0)
        _record_run(instance, first, dg.DagsterRunStatus.SUCCESS)
        resumed = replay_tick(instance, first.cursor, HOURS, now=t0 + 600)  # stopped for ten minutes
        assert _hours_requested(resumed) == [HOURS[1]]
        assert float(resumed.run_requests[0].tags[DUE_AT_TAG]) == pytest.approx(t0 + 600)


def test_an_hour_not_queued_behind_another_is_never_held_back() -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        assert previous_hour_problem(instance, {REPLAY_TAG: "r9", "dagster/partition": HOURS[1]}) is None


def test_a_queued_hour_whose_previous_hour_failed_stops_before_any_work(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ECOM_LAKE_DIR", str(tmp_path / "lake"))  # nothing may be written there
    monkeypatch.delenv("INFLUX_URL", raising=False)
    with dg.DagsterInstance.ephemeral() as instance:
        create_run_for_test(instance, job_name=REPLAY_JOB_NAME, status=dg.DagsterRunStatus.FAILURE,
                            tags={REPLAY_TAG: "r12", "dagster/partition": HOURS[0]})
        result = dg.materialize([replay_hour], selection=list(BEHAVIOUR_KEYS), partition_key=HOURS[1],
                                instance=instance, raise_on_error=False,
                                resources=build_resources(load_settings()),
                                tags={REPLAY_TAG: "r12", AFTER_TAG: HOURS[0]})
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        assert f"queued behind hour {HOURS[0]}" in failure.step_failure_data.user_failure_data.description
        assert not result.asset_materializations_for_node("replay_hour")
    assert not (tmp_path / "lake").exists()


def test_a_failed_hour_is_retried_after_a_back_off_and_nothing_is_queued_behind_it_meanwhile() -> None:
    with dg.instance_for_test(overrides=PROJECT_INSTANCE) as instance:
        t0 = time.time()
        first = replay_tick(instance, ReplayCursor(replay="r13", started_at=t0 - 15, last_tick=t0).dumps(), HOURS,
                            now=t0)
        assert _hours_requested(first) == HOURS[:2]  # an hour behind already: the next one is queued too
        request = first.run_requests[0]
        run = create_run_for_test(instance, job_name=REPLAY_JOB_NAME, status=dg.DagsterRunStatus.STARTED,
                                  tags={**request.tags, "dagster/partition": request.partition_key})
        instance.report_run_failed(run)
        ended = instance.get_run_record_by_id(run.run_id).end_time
        assert ended is not None
        waiting = replay_tick(instance, first.cursor, HOURS, now=ended + 1)
        assert not waiting.run_requests
        assert f"retrying in {RETRY_BACKOFF_S - 1:.0f} s" in waiting.skip_reason.skip_message
        retry = replay_tick(instance, waiting.cursor, HOURS, now=ended + RETRY_BACKOFF_S + 0.5)
        assert _hours_requested(retry)[0] == HOURS[0] and retry.run_requests[0].tags[ATTEMPT_TAG] == "2"
        assert retry_time(instance, run, 2) == pytest.approx(ended + 2 * RETRY_BACKOFF_S)  # doubled next time


@pytest.mark.parametrize("cursor", ["not json", '{"index": 3}', '{"replay": "r", "speed": 2}'])
def test_a_cursor_that_is_not_a_replay_cursor_fails_the_tick_with_a_clear_message(cursor: str) -> None:
    with dg.DagsterInstance.ephemeral() as instance, pytest.raises(ValueError, match="not a replay cursor") as error:
        replay_tick(instance, cursor, HOURS)
    assert f"dagster sensor cursor {SENSOR_NAME} --delete" in str(error.value)


def test_an_hour_waits_for_its_re_fit_before_it_is_requested_or_queued() -> None:
    """The day's first hour is neither requested nor queued ahead until the re-fit it uses is written; the
    day's roll-up (which writes it) is still requested; then the hour goes."""
    hours = all_hours()[46:50]  # 2019-11-02 22:00, 23:00, 2019-11-03 00:00, 01:00
    ready: set[str] = set()
    waits_for = lambda key: None if key < "2019-11-03" or "refit" in ready else "the re-fit of 2019-11-01"
    t0 = 3_000_000.0
    with dg.instance_for_test(overrides=PROJECT_INSTANCE) as instance:
        cursor = ReplayCursor(replay="r12", started_at=t0, last_tick=t0).dumps()
        first = replay_tick(instance, cursor, hours, now=t0, waits_for=waits_for)
        _record_run(instance, first, dg.DagsterRunStatus.STARTED)
        ahead = replay_tick(instance, first.cursor, hours, now=t0 + 2 * INTERVAL_S + 1, waits_for=waits_for)
        assert _hours_requested(ahead) == [hours[1]]  # 23:00 queued; the next day's first hour is held back
        _record_run(instance, first, dg.DagsterRunStatus.SUCCESS)
        _record_run(instance, ahead, dg.DagsterRunStatus.SUCCESS)
        held = replay_tick(instance, ahead.cursor, hours, now=t0 + 3 * INTERVAL_S, waits_for=waits_for)
        assert [(r.job_name, r.partition_key) for r in held.run_requests] == [(DAILY_JOB_NAME, "2019-11-02")]
        again = replay_tick(instance, held.cursor, hours, now=t0 + 4 * INTERVAL_S, waits_for=waits_for)
        assert not again.run_requests and "waits for the re-fit of 2019-11-01" in again.skip_reason.skip_message
        ready.add("refit")
        going = replay_tick(instance, again.cursor, hours, now=t0 + 5 * INTERVAL_S, waits_for=waits_for)
        assert _hours_requested(going)[:1] == [hours[2]]
