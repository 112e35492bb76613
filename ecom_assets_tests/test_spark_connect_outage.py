"""The Spark Connect server killed mid-replay (docs/reliability.md, scenario 3).

A real server is killed with SIGKILL between two replayed hours: the next `ecom replay` fails within the
bounded wait with one line naming the server and `ecom spark start`; after `ecom spark start`, `ecom
replay` resumes at that hour, and every point it wrote equals an uninterrupted replay's. The sensor's
side (it waits while the server does not answer) is evaluated on a real instance against real sockets.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from pyspark.sql import SparkSession

from ecom_assets.definitions import build_definitions
from ecom_assets.ingest.pipeline import ingest_events
from ecom_assets.lake import Lake
from ecom_assets.processes import free_port
from ecom_assets.resources.connect_outage import retries_within, server_address, unavailable_message
from ecom_assets.resources.spark_server import url_answers
from ecom_assets.replay.orchestration.sensor import SENSOR_NAME
from ecom_assets.settings import load_settings

pytestmark = pytest.mark.faults

ECOM = str(Path(sys.executable).with_name("ecom"))
# The points of measurements computed from the events (the replay's timings and heartbeat carry wall times).
COMPUTED = ("user_behavior-", "product_popularity-")


def test_the_wait_for_a_server_is_bounded_and_its_failure_names_it_and_the_fix() -> None:
    assert retries_within(20) == 8  # 50 ms, 200 ms, 0.8 s, 3.2 s, then 5 s each: ~24 s in all
    assert retries_within(1) == 3
    dump = ('<_MultiThreadedRendezvous of RPC that terminated with:\n\tstatus = StatusCode.UNAVAILABLE\n\tdetails = '
            '"failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:15077: Failed to connect to '
            'remote host: Connection refused"')
    message = unavailable_message(dump)
    assert message is not None and message.startswith("the Spark Connect server at sc://127.0.0.1:15077 does not answer")
    assert "`ecom spark start`" in message and "\n" not in message
    # The configured URL's parameters (a token) are never shown.
    assert "secret" not in unavailable_message(dump, "sc://h:1/;token=secret")
    assert server_address("sc://h:1/;token=secret;session_id=x") == "sc://h:1"
    assert unavailable_message("StatusCode.INTERNAL: [ARITHMETIC_OVERFLOW]") is None


def test_the_wait_must_be_a_positive_number_of_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECOM_SPARK_CONNECT_WAIT_S", "0")
    with pytest.raises(ValueError, match="ECOM_SPARK_CONNECT_WAIT_S must be a number of seconds above 0"):
        load_settings()


def test_the_sensor_waits_while_the_server_does_not_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    monkeypatch.setenv("ECOM_LAKE_DIR", str(tmp_path / "lake"))
    monkeypatch.setenv("ECOM_SPARK_REMOTE", f"sc://127.0.0.1:{port}/;token=not-shown")
    sensor = build_definitions(load_settings()).resolve_sensor_def(SENSOR_NAME)
    with dg.instance_for_test() as instance:
        result = sensor(dg.build_sensor_context(instance=instance))
        assert isinstance(result, dg.SensorResult) and result.run_requests  # the server answers: the first hour
        listener.close()
        assert not url_answers(f"sc://127.0.0.1:{port}")
        result = sensor(dg.build_sensor_context(instance=instance, cursor="x"))  # no cursor read while it waits
        assert isinstance(result, dg.SkipReason)
        assert result.skip_message.startswith(f"the Spark Connect server at sc://127.0.0.1:{port} does not answer: "
                                              "start it with `ecom spark start`")
        assert "not-shown" not in result.skip_message


def _ecom(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([ECOM, *args], env=env, capture_output=True, text=True, timeout=timeout)


def _points(lake: Path) -> dict[str, str]:
    folder = lake / "temp" / "influx" / "ecommerce_analytics"
    return {path.name: path.read_text() for path in sorted(folder.glob("*.lp")) if path.name.startswith(COMPUTED)}


@pytest.mark.scenario
def test_a_killed_server_fails_the_hour_in_one_line_and_the_replay_resumes_after_ecom_spark_start(
        spark: SparkSession, real_heads: tuple[Path, Path], tmp_path: Path) -> None:
    port = free_port()
    run_dir = tmp_path / "run"
    env = {**os.environ, "ECOM_SPARK_REMOTE": f"sc://127.0.0.1:{port}", "ECOM_SPARK_CONNECT_PORT": str(port),
           "ECOM_RUN_DIR": str(run_dir), "ECOM_LAKE_DIR": str(tmp_path / "lake"), "INFLUX_URL": "",
           "DAGSTER_HOME": str(tmp_path / "dagster_home"), "ECOM_REPLAY_MODELS": "off", "ECOM_REPLAY_TIME": "original",
           "ECOM_SPARK_CONNECT_WAIT_S": "5"}
    env.pop("ECOM_SPARK_CONF", None)
    started = _ecom(env, "spark", "start", "--warm-up-hours", "0")
    assert started.returncode == 0, started.stderr[-3000:]
    try:
        # The lake is plain Parquet: the tests' own session writes it (no Connect client process to start).
        assert ingest_events(spark, list(map(str, real_heads)), Lake(env["ECOM_LAKE_DIR"])).rows_accepted == 18_117
        shutil.copytree(tmp_path / "lake", tmp_path / "reference-lake")
        first = _ecom(env, "replay", "--hours", "1", "--from", "2019-11-01-00:00", "--interval", "0")
        assert first.returncode == 0, first.stderr[-3000:]

        pid = int((run_dir / "spark-connect" / "spark-connect.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        began = time.monotonic()
        failed = _ecom(env, "replay", "--hours", "1", "--interval", "0")
        failed_in = time.monotonic() - began
        assert failed.returncode != 0
        error = next(line for line in failed.stderr.splitlines() if line.startswith("ecom replay: error:"))
        assert "RETRIES_EXCEEDED" not in failed.stderr  # pyspark's own warning, said better by the error
        assert error.startswith(f"ecom replay: error: hour 2019-11-01-01:00 failed: the Spark Connect "
                                f"server at sc://127.0.0.1:{port} does not answer: start it with `ecom spark start`")
        assert "_MultiThreadedRendezvous" not in failed.stdout + failed.stderr
        # One attempt (no retry can succeed while the server is down) of a ~5 s wait, plus the process's start:
        # pyspark alone would retry for more than ten minutes.
        assert failed_in < 90, failed_in
        assert "attempt 1 failed" in failed.stdout and "attempt 2" not in failed.stdout

        restarted = _ecom(env, "spark", "start", "--warm-up-hours", "0")
        assert restarted.returncode == 0, restarted.stderr[-3000:]
        resumed = _ecom(env, "replay", "--hours", "1", "--interval", "0")
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert "1 hour(s) replayed (2019-11-01-01:00 .. 2019-11-01-01:00)" in resumed.stdout

        # The same two hours, uninterrupted, on a copy of the lake as it was before the replay.
        reference = {**env, "ECOM_LAKE_DIR": str(tmp_path / "reference-lake"),
                     "DAGSTER_HOME": str(tmp_path / "reference-home")}
        uninterrupted = _ecom(reference, "replay", "--hours", "2", "--from", "2019-11-01-00:00", "--interval", "0")
        assert uninterrupted.returncode == 0, uninterrupted.stderr[-3000:]
    finally:
        _ecom(env, "spark", "stop")
    interrupted, expected = _points(tmp_path / "lake"), _points(tmp_path / "reference-lake")
    assert {name.rsplit("_", 1)[-1] for name in expected} >= {"2019-11-01T00.lp", "2019-11-01T01.lp"}
    assert interrupted == expected  # every point, none missing, none doubled
