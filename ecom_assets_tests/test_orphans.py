"""Runs left "started" by a process that died are marked failed, and `ecom replay` resumes where it stopped (no Spark)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import dagster as dg
from dagster._core.events import EngineEventData  # test only: how Dagster's run worker reports its pid
from dagster._core.test_utils import create_run_for_test

from ecom_assets.commands.replay import end_runs_of_killed_replays
from ecom_assets.replay.orchestration.ordering import REPLAY_TAG
from ecom_assets.replay.orchestration.partitions import all_hours
from ecom_assets.replay.orchestration.sensor import DAILY_JOB_NAME, REPLAY_JOB_NAME
from ecom_assets.replay.orchestration.orphans import GRPC_INFO_TAG, PID_TAG, fail_orphaned_runs, process_ended, process_tags, run_process_pid


def ended_pid() -> int:
    """The pid of a process that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def started_run(instance: dg.DagsterInstance, tags: dict[str, str], job_name: str = REPLAY_JOB_NAME) -> dg.DagsterRun:
    """A run recorded as started, as a killed process leaves it."""
    return create_run_for_test(instance, job_name=job_name, status=dg.DagsterRunStatus.STARTED,
                               tags={"dagster/partition": all_hours()[5], **tags})


def test_a_run_whose_tagged_process_ended_is_marked_failed_and_a_live_ones_is_not() -> None:
    with dg.instance_for_test() as instance:
        dead = started_run(instance, {PID_TAG: str(ended_pid())})
        alive = started_run(instance, process_tags())
        other_job = started_run(instance, {PID_TAG: str(ended_pid())}, job_name="batch_job")
        failed = fail_orphaned_runs(instance, (REPLAY_JOB_NAME, DAILY_JOB_NAME))
        assert [run.run_id for run in failed] == [dead.run_id]
        assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(alive.run_id).status == dg.DagsterRunStatus.STARTED
        assert instance.get_run_by_id(other_job.run_id).status == dg.DagsterRunStatus.STARTED
        messages = [entry.message for entry in instance.all_logs(dead.run_id)]
        assert any("ended without finishing the run (killed?)" in message for message in messages), messages


def test_the_pid_dagsters_run_worker_reports_is_used_when_its_code_server_is_on_this_machine() -> None:
    with dg.instance_for_test() as instance:
        here = started_run(instance, {GRPC_INFO_TAG: json.dumps({"host": "localhost", "port": 4266})})
        elsewhere = started_run(instance, {GRPC_INFO_TAG: json.dumps({"host": "code-server.internal", "port": 4266})})
        assert run_process_pid(instance, here) is None  # no pid reported yet: never marked failed
        assert not fail_orphaned_runs(instance, (REPLAY_JOB_NAME,))
        pid = ended_pid()
        for run in (here, elsewhere):
            instance.report_engine_event(f"Started process for run (pid: {pid}).", run, EngineEventData.in_process(pid))
        assert run_process_pid(instance, here) == pid
        assert run_process_pid(instance, elsewhere) is None  # that pid is on another machine
        assert [r.run_id for r in fail_orphaned_runs(instance, (REPLAY_JOB_NAME,))] == [here.run_id]


def test_a_pid_reused_by_a_newer_process_counts_as_ended() -> None:
    assert not process_ended(os.getpid(), None)
    assert not process_ended(os.getpid(), 4e9)  # this process started before the run
    assert process_ended(os.getpid(), 0.0)  # started long after a run of 1970: another process
    assert process_ended(ended_pid(), None)


def test_ecom_replay_ends_every_run_an_earlier_ecom_replay_left_started() -> None:
    lines: list[str] = []
    with dg.instance_for_test() as instance:
        untagged = started_run(instance, {REPLAY_TAG: "cli-1"})  # from before runs carried their pid
        day = started_run(instance, {REPLAY_TAG: "cli-1", PID_TAG: str(ended_pid()), "dagster/partition": "2019-11-02"},
                          job_name=DAILY_JOB_NAME)
        sensors = started_run(instance, {REPLAY_TAG: "1764000000"})  # the sensor's, process unknown: left alone
        ended = end_runs_of_killed_replays(instance, lines.append)
        assert {run.run_id for run in ended} == {untagged.run_id, day.run_id}
        assert instance.get_run_by_id(sensors.run_id).status == dg.DagsterRunStatus.STARTED
    assert sorted(lines) == sorted([
        f"day 2019-11-02: run {day.run_id[:8]} was left started by a process that ended without finishing it "
        "(killed?): marked failed, its work runs again",
        f"hour {all_hours()[5]}: run {untagged.run_id[:8]} was left started by a process that ended without "
        "finishing it (killed?): marked failed, its work runs again"])


def test_ecom_replay_resumes_at_the_last_recorded_hour_when_its_run_failed() -> None:
    from ecom_assets.commands.replay import next_hour

    hours = all_hours()
    with dg.instance_for_test() as instance:
        assert next_hour(instance) == hours[0]
        instance.report_runless_asset_event(dg.AssetMaterialization("replay_progress", partition=hours[7]))
        create_run_for_test(instance, job_name=REPLAY_JOB_NAME, status=dg.DagsterRunStatus.SUCCESS,
                            tags={"dagster/partition": hours[7]})
        assert next_hour(instance) == hours[8]
        # The behaviour part recorded the hour, then the models part failed the run: the hour runs again.
        create_run_for_test(instance, job_name=REPLAY_JOB_NAME, status=dg.DagsterRunStatus.FAILURE,
                            tags={"dagster/partition": hours[7]})
        assert next_hour(instance) == hours[7]
