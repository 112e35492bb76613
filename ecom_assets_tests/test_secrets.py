"""The InfluxDB token never leaves the environment: no log line, Dagster event or metadata, no file written.

A real replay on a copy of the trained lake (run in the test's process, its output captured at the file
descriptors) publishes to the real test InfluxDB with a recognisable token, and `ecom doctor` against
an unreachable server with it (so a failure's messages are searched too);
then every byte the project wrote is searched for the token: the commands' output, every file under
the lake and under ``DAGSTER_HOME`` (the run and event storage, compute logs, the replay's state).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ecom_assets.commands.replay import run_replay

from .conftest import TrainedLake

pytestmark = [pytest.mark.faults, pytest.mark.stack]

TOKEN = "ecom-test-secret-5f1c9e27b04d"


def files_containing(root: Path, needle: bytes) -> list[Path]:
    """Every file under ``root`` whose bytes contain ``needle``."""
    return [path for path in root.rglob("*") if path.is_file() and needle in path.read_bytes()]


def test_the_influx_token_appears_in_no_log_event_or_file(trained_lake: TrainedLake, influx_url: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capfd: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "copy"
    shutil.copytree(trained_lake.root / "lake", root / "lake")
    (root / "dagster_home").mkdir()
    env = {"ECOM_LAKE_DIR": str(root / "lake"), "ECOM_DATA_DIR": str(trained_lake.root / "input"),
           "DAGSTER_HOME": str(root / "dagster_home"), "INFLUX_URL": influx_url, "INFLUX_TOKEN": TOKEN,
           "INFLUX_DATABASE": "secrets_test"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # The replay in this process (its Spark session is the tests' own: no JVM to start); every byte it,
    # Dagster and the JVM print to the process's stdout and stderr is captured.
    summary = run_replay(1, "2019-11-03-10:00", interval_s=0)
    assert summary.success, summary.error
    published = capfd.readouterr()
    unreachable = subprocess.run([sys.executable, "-m", "ecom_assets.cli", "doctor", "--no-spark"],
                                 env={**os.environ, "INFLUX_URL": "http://127.0.0.1:9"}, capture_output=True, text=True,
                                 timeout=120)
    assert "WARN influxdb: http://127.0.0.1:9 unreachable" in unreachable.stdout  # the failure names the server
    assert "hour 2019-11-03-10:00 (1/1): done" in published.out
    for output in (published.out, published.err, unreachable.stdout, unreachable.stderr):
        assert TOKEN not in output
    assert files_containing(root, TOKEN.encode()) == []
    assert (root / "dagster_home" / "history").is_dir()  # the runs and their events were stored, and searched
