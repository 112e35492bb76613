"""The lake's disk full during the ingest: a one-line error, no half-written table, success once space is freed.

The lake is a real tmpfs mount too small for the events (mounting needs root, as CI and the
development machines run; elsewhere the test says so and does not run).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ecom_assets.ingest.generator import generate_dataset

pytestmark = [pytest.mark.faults, pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")]


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs (the generated events need about 6 MiB of Parquet), unmounted afterwards."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_fails_the_ingest_in_one_line_and_the_same_command_then_succeeds(small_disk: Path,
                                                                                     tmp_path: Path) -> None:
    generate_dataset(tmp_path / "input", 200_000, seed=11, progress=False)
    env = {**os.environ, "ECOM_DATA_DIR": str(tmp_path / "input"), "ECOM_LAKE_DIR": str(small_disk / "lake"),
           "DAGSTER_HOME": str(tmp_path / "dagster_home"), "ECOM_SPARK_CONF": "spark.ui.enabled=false"}
    command = [sys.executable, "-m", "ecom_assets.cli", "materialize", "--select", "raw_events"]
    full = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert full.returncode != 0
    [error] = [line for line in full.stdout.splitlines() if line.strip().startswith("error:")]
    assert error.strip() == (f"error: No space left on device while writing file:{small_disk}/lake/raw/events: free "
                             "space on that disk (or set ECOM_LAKE_DIR to a larger one), then run the same command again")
    written = small_disk / "lake" / "raw" / "events"
    assert not list(written.rglob("*.parquet"))  # the aborted job left no half table behind
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)  # space freed
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "materialized raw_events" in again.stdout
