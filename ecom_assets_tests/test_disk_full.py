"""The lake's disk full during the ingest: a one-line error, no half-written table, success once space is freed.

The lake is a real tmpfs mount too small for the events (mounting needs root, as CI and the
development machines run; elsewhere the test says so and does not run).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from ecom_assets.commands.materialize import root_error_message
from ecom_assets.ingest.generator import generate_dataset

from .test_raw_events_asset import materialize

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
