"""InfluxDB stopped in the middle of a replay, then started again (docs/reliability.md, scenario 1).

Two copies of the trained lake replay the same hours into two databases of one real InfluxDB 1.x:
one uninterrupted, one with the server stopped once its first hour is done and started again, on the
same files and port, ``ECOM_FAULT_OUTAGE_S`` seconds later (20 in the suite; the documented run used
60). Every point of the four measurements of the specification and every row of the replay's tables
in the lake must be the same: none missing, none doubled.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from ecom_assets.commands.replay import run_replay
from ecom_assets.publishing.influx_server import LocalInflux, start_local_influx

from .conftest import TrainedLake
from .replay_outputs import assert_same_outputs

pytestmark = [pytest.mark.faults, pytest.mark.stack]

OUTAGE_S = float(os.environ.get("ECOM_FAULT_OUTAGE_S", "20"))
FIRST_HOUR, HOURS = "2019-11-03-10:00", 3


@pytest.mark.scenario
def test_influxdb_stopped_mid_replay_loses_and_doubles_nothing(trained_lake: TrainedLake, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "influx"
    server: list[LocalInflux] = [start_local_influx(folder)]
    url = server[0].url
    port = urllib.parse.urlsplit(url).port
    for name in ("reference", "interrupted"):
        shutil.copytree(trained_lake.root / "lake", tmp_path / name / "lake")
    monkeypatch.setenv("ECOM_DATA_DIR", str(trained_lake.root / "input"))
    monkeypatch.setenv("INFLUX_URL", url)
    # Both copies keep the trained lake's replay state, its time shift included: their points have the same times.

    def replay(name: str, log) -> object:
        monkeypatch.setenv("ECOM_LAKE_DIR", str(tmp_path / name / "lake"))
        monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / name / "dagster_home"))
        monkeypatch.setenv("INFLUX_DATABASE", name)
        return run_replay(HOURS, FIRST_HOUR, interval_s=0, log=log, retry_backoff_s=1)

    restarted = threading.Event()
    outage: dict[str, float] = {}

    def restart_later() -> None:
        time.sleep(OUTAGE_S)
        server.append(start_local_influx(folder, port=port))
        outage["restarted"] = time.monotonic()
        restarted.set()

    lines: list[str] = []

    def watch(line: str) -> None:
        lines.append(line)
        if "(2/3): done" in line:
            outage["second_hour_done"] = time.monotonic()
        if "(1/3): done" in line and not outage:
            server[0].stop()  # the first hour is in: stop the database, start it again OUTAGE_S later
            outage["stopped"] = time.monotonic()
            threading.Thread(target=restart_later, daemon=True).start()

    try:
        reference = replay("reference", lambda _: None)
        assert reference.success, reference.error
        interrupted = replay("interrupted", watch)
        assert restarted.wait(OUTAGE_S + 60)
        assert interrupted.success, "\n".join(lines)
        recovered_after = outage["second_hour_done"] - outage["restarted"]
        compared = assert_same_outputs(url, "reference", "interrupted", tmp_path / "reference" / "lake",
                                       tmp_path / "interrupted" / "lake")
    finally:
        for each in server:
            each.stop()
    # The hour that ran into the outage failed and waited for the database: nothing queued, nothing lost.
    failed = [line for line in lines if "attempt 1 failed" in line]
    assert len(failed) == 1 and "2019-11-03-11:00" in failed[0], lines
    assert any("does not answer: waiting for it" in line for line in lines), lines
    assert interrupted.done == reference.done
    print(f"outage {OUTAGE_S:.0f} s; the hour caught in it done {recovered_after:.1f} s after the restart; "
          f"{compared[0]} points and {compared[1]} rows compared")


def test_the_sensor_waits_while_influxdb_does_not_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dagster as dg

    from ecom_assets.definitions import build_definitions
    from ecom_assets.processes import free_port
    from ecom_assets.replay.orchestration.sensor import SENSOR_NAME
    from ecom_assets.settings import load_settings

    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    monkeypatch.setenv("ECOM_LAKE_DIR", str(tmp_path / "lake"))
    monkeypatch.setenv("INFLUX_URL", down)
    sensor = build_definitions(load_settings()).resolve_sensor_def(SENSOR_NAME)
    with dg.instance_for_test() as instance:
        result = sensor(dg.build_sensor_context(instance=instance))
        assert isinstance(result, dg.SkipReason)
        assert result.skip_message == (f"InfluxDB at {down} does not answer: the replay waits for it and goes on from "
                                       "where it stopped once it answers")
