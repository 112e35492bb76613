"""The lake's disk full during the ingest and during the replay: a one-line error, no half-written table,
success once space is freed and the same command is run again.

The lake is a real tmpfs mount too small for the events (mounting needs root, as CI and the
development machines run; elsewhere the test says so and does not run).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from pyspark.sql import SparkSession

from ecom_assets.commands.materialize import root_error_message
from ecom_assets.commands.replay import run_replay
from ecom_assets.ingest.generator import generate_dataset

from .conftest import TrainedLake
from .replay_outputs import assert_same_outputs
from .test_raw_events_asset import materialize

FIRST_HOUR = "2019-11-03-10:00"

pytestmark = [pytest.mark.faults, pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")]


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (the generated events need about 3 MiB of Parquet), unmounted afterwards."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_fails_the_ingest_in_one_line_and_the_same_command_then_succeeds(
        spark: SparkSession, isolated_env: Path, small_disk: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generate_dataset(isolated_env / "input", 100_000, seed=11, progress=False)
    monkeypatch.setenv("ECOM_LAKE_DIR", str(small_disk / "lake"))
    full = materialize()
    assert not full.success
    failure = next(e for e in full.all_events if e.is_step_failure)
    assert root_error_message(failure.step_failure_data.error) == (
        f"No space left on device while writing file:{small_disk}/lake/raw/events: free space on that disk (or set "
        "ECOM_LAKE_DIR to a larger one), then run the same command again")
    assert not list((small_disk / "lake").rglob("*.parquet"))  # the aborted job left no half table behind
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)  # space freed
    again = materialize()
    assert again.success
    assert list((small_disk / "lake" / "raw" / "events").rglob("*.parquet"))


# Free space left on the replay's disk: less than the first hours write (their parts, points' spool, lookups' files).
REPLAY_MARGIN_BYTES = 256 * 1024


@pytest.mark.stack
@pytest.mark.scenario
def test_a_full_disk_during_the_replay_stops_it_in_one_line_and_the_same_command_resumes_it(
        trained_lake: TrainedLake, influx_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mount = tmp_path / "small-disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512m", "tmpfs", str(mount)], check=True)
    try:
        for lake in (mount / "lake", tmp_path / "reference" / "lake"):
            shutil.copytree(trained_lake.root / "lake", lake)
        for name in ("full_reference", "full_interrupted"):
            requests.post(f"{influx_url}/query", params={"q": f'DROP DATABASE "{name}"'}, timeout=30)
        monkeypatch.setenv("ECOM_DATA_DIR", str(trained_lake.root / "input"))
        monkeypatch.setenv("INFLUX_URL", influx_url)

        def replay(name: str, lake: Path, hours: int, first: str | None, log) -> object:
            monkeypatch.setenv("ECOM_LAKE_DIR", str(lake))
            monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / name / "dagster_home"))
            monkeypatch.setenv("INFLUX_DATABASE", f"full_{name}")
            return run_replay(hours, first, interval_s=0, log=log, retry_backoff_s=1)

        reference = replay("reference", tmp_path / "reference" / "lake", 3, FIRST_HOUR, lambda _: None)
        assert reference.success, reference.error
        used = shutil.disk_usage(mount).used
        subprocess.run(["mount", "-o", f"remount,size={used + REPLAY_MARGIN_BYTES}", str(mount)], check=True)
        lines: list[str] = []
        full = replay("interrupted", mount / "lake", 3, FIRST_HOUR, lines.append)
        assert not full.success, lines
        assert full.error.startswith("No space left on device") and full.error.endswith(
            "free space on that disk (or set ECOM_LAKE_DIR to a larger one), then run the same command again"), full.error
        assert "\n" not in full.error
        assert len([line for line in lines if "failed" in line]) == 1, lines  # no retry before space is freed
        subprocess.run(["mount", "-o", "remount,size=512m", str(mount)], check=True)  # space freed
        resumed = replay("interrupted", mount / "lake", 3 - len(full.done), None, lines.append)
        assert resumed.success, lines
        assert [*full.done, *resumed.done] == reference.done
        compared = assert_same_outputs(influx_url, "full_reference", "full_interrupted", tmp_path / "reference" / "lake",
                                       mount / "lake")
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
    print(f"disk full in hour {full.failed_hour} ({len(full.done)} done before); resumed; "
          f"{compared[0]} points and {compared[1]} rows compared")
