"""One replay of a lake at a time: two `ecom replay`, or `ecom replay` beside the sensor, never run hours at once.

The lock is a real advisory lock held by a real second process; the sensor and the hour asset are
evaluated on a real ephemeral instance; the last test starts two real `ecom replay` on a trained lake.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.test_utils import create_run_for_test

from ecom_assets.definitions import build_definitions, build_resources
from ecom_assets.lake import Lake
from ecom_assets.replay.hour import BEHAVIOUR_KEYS, replay_hour
from ecom_assets.replay.orchestration.exclusive import (
    CliReplayLock,
    ReplayBusyError,
    cli_replay_holder,
    lock_path,
    other_replay_problem,
    refuse_beside_sensor_runs,
)
from ecom_assets.replay.orchestration.ordering import REPLAY_TAG
from ecom_assets.replay.orchestration.partitions import all_hours
from ecom_assets.replay.orchestration.sensor import REPLAY_JOB_NAME, SENSOR_NAME
from ecom_assets.settings import load_settings

from .conftest import TrainedLake

pytestmark = pytest.mark.faults

HOLD = """
import sys, time
from pathlib import Path
from ecom_assets.replay.orchestration.exclusive import CliReplayLock
with CliReplayLock(Path(sys.argv[1]), sys.argv[2]):
    print("held", flush=True)
    time.sleep(600)
"""


def hold_lock(path: Path, replay: str) -> subprocess.Popen:
    """Another process holding the lake's lock, as a running `ecom replay` does."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(path), replay], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "held"
    return process


def test_a_second_replay_is_refused_naming_the_first_and_a_killed_one_frees_the_lake(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    holder = hold_lock(lock_path(lake), "cli-1")
    try:
        assert cli_replay_holder(lake)["pid"] == holder.pid
        with pytest.raises(ReplayBusyError, match=rf"another `ecom replay` \(pid {holder.pid}, replay cli-1, since "):
            with CliReplayLock(lock_path(lake), "cli-2"):
                pass
        assert other_replay_problem(lake, "cli-1") is None  # the holder's own runs proceed
        assert "is replaying this lake: this run stops without processing" in other_replay_problem(lake, "sensor-7")
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert cli_replay_holder(lake) is None  # the kernel released it with the process
    with CliReplayLock(lock_path(lake), "cli-3"):
        assert cli_replay_holder(lake)["replay"] == "cli-3"
    assert cli_replay_holder(lake) is None


def test_the_sensor_skips_while_a_cli_replay_holds_the_lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECOM_LAKE_DIR", str(tmp_path / "lake"))
    sensor = build_definitions(load_settings()).resolve_sensor_def(SENSOR_NAME)
    with dg.instance_for_test() as instance:
        holder = hold_lock(lock_path(load_settings().lake), "cli-9")
        try:
            result = sensor(dg.build_sensor_context(instance=instance))
            assert isinstance(result, dg.SkipReason)
            assert f"an `ecom replay` (pid {holder.pid}) is replaying this lake" in result.skip_message
        finally:
            holder.kill()
            holder.wait()
        result = sensor(dg.build_sensor_context(instance=instance))
        assert isinstance(result, dg.SensorResult) and result.run_requests  # the first hour, once the lake is free


def test_a_sensor_run_already_launched_stops_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECOM_LAKE_DIR", str(tmp_path / "lake"))
    monkeypatch.delenv("INFLUX_URL", raising=False)
    holder = hold_lock(lock_path(load_settings().lake), "cli-5")
    try:
        with dg.DagsterInstance.ephemeral() as instance:
            result = dg.materialize([replay_hour], selection=list(BEHAVIOUR_KEYS), partition_key=all_hours()[0],
                                    instance=instance, raise_on_error=False, resources=build_resources(load_settings()),
                                    tags={REPLAY_TAG: "sensor-r1"})
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        assert "is replaying this lake: this run stops without processing" in (
            failure.step_failure_data.user_failure_data.description)
        assert not result.asset_materializations_for_node("replay_hour")
    finally:
        holder.kill()
        holder.wait()


def test_cli_replay_refuses_beside_the_sensors_runs_in_flight() -> None:
    with dg.instance_for_test() as instance:
        refuse_beside_sensor_runs(instance, REPLAY_JOB_NAME, SENSOR_NAME)  # nothing in flight
        create_run_for_test(instance, job_name=REPLAY_JOB_NAME, status=dg.DagsterRunStatus.STARTED,
                            tags={REPLAY_TAG: "sensor-r1", "dagster/partition": all_hours()[4]})
        with pytest.raises(ReplayBusyError, match=rf"hour\(s\) {all_hours()[4]}.*turn {SENSOR_NAME} off"):
            refuse_beside_sensor_runs(instance, REPLAY_JOB_NAME, SENSOR_NAME)


@pytest.mark.stack
def test_two_ecom_replays_at_once_one_refuses_and_the_other_finishes(trained_lake: TrainedLake, tmp_path: Path) -> None:
    root = tmp_path / "copy"
    shutil.copytree(trained_lake.root / "lake", root / "lake")
    (root / "dagster_home").mkdir()
    env = {**os.environ, "ECOM_LAKE_DIR": str(root / "lake"), "ECOM_DATA_DIR": str(trained_lake.root / "input"),
           "DAGSTER_HOME": str(root / "dagster_home"), "PYTHONUNBUFFERED": "1"}
    env.pop("INFLUX_URL", None)
    command = [sys.executable, "-m", "ecom_assets.cli", "replay", "--from", "2019-11-02-00:00", "--interval", "0"]
    first = subprocess.Popen([*command, "--hours", "2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
    deadline = time.time() + 300
    while cli_replay_holder(Lake(str(root / "lake"))) is None and time.time() < deadline and first.poll() is None:
        time.sleep(0.2)
    second = subprocess.run([*command, "--hours", "1"], env=env, capture_output=True, text=True, timeout=300)
    output, _ = first.communicate(timeout=600)
    assert first.returncode == 0, output
    assert "2 hour(s) replayed" in output
    assert second.returncode == 2
    assert second.stderr.startswith(f"ecom replay: error: another `ecom replay` (pid {first.pid}, replay cli-")
    assert "wait until it ends, or stop it" in second.stderr
