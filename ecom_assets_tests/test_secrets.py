"""The InfluxDB token never leaves the environment: no log line, Dagster event or metadata, no file written.

A real replay on a copy of the trained lake publishes to the real test InfluxDB with a recognisable
token, and `ecom doctor` against an unreachable server with it (so a failure's messages are searched too);
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

from .conftest import TrainedLake

pytestmark = [pytest.mark.faults, pytest.mark.stack]

TOKEN = "ecom-test-secret-5f1c9e27b04d"


def files_containing(root: Path, needle: bytes) -> list[Path]:
    """Every file under ``root`` whose bytes contain ``needle``."""
    return [path for path in root.rglob("*") if path.is_file() and needle in path.read_bytes()]


def test_the_influx_token_appears_in_no_log_event_or_file(trained_lake: TrainedLake, influx_url: str,
                                                         tmp_path: Path) -> None:
    root = tmp_path / "copy"
    shutil.copytree(trained_lake.root / "lake", root / "lake")
    (root / "dagster_home").mkdir()
    env = {**os.environ, "ECOM_LAKE_DIR": str(root / "lake"), "ECOM_DATA_DIR": str(trained_lake.root / "input"),
           "DAGSTER_HOME": str(root / "dagster_home"), "INFLUX_URL": influx_url, "INFLUX_TOKEN": TOKEN,
           "INFLUX_DATABASE": "secrets_test"}
    command = [sys.executable, "-m", "ecom_assets.cli", "replay", "--interval", "0"]
    published = subprocess.run([*command, "--from", "2019-11-03-10:00", "--hours", "1"], env=env,
                               capture_output=True, text=True, timeout=600)
    assert published.returncode == 0, published.stdout + published.stderr
    unreachable = subprocess.run([sys.executable, "-m", "ecom_assets.cli", "doctor", "--no-spark"],
                                 env={**env, "INFLUX_URL": "http://127.0.0.1:9"}, capture_output=True, text=True,
                                 timeout=120)
    assert "WARN influxdb: http://127.0.0.1:9 unreachable" in unreachable.stdout  # the failure names the server
    for output in (published.stdout, published.stderr, unreachable.stdout, unreachable.stderr):
        assert TOKEN not in output
    assert files_containing(root, TOKEN.encode()) == []
    assert (root / "dagster_home" / "history").is_dir()  # the runs and their events were stored, and searched
