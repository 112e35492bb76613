"""The replay against a lake given as a Hadoop URI (not a local folder), as on HDFS or S3.

Hadoop's ``viewfs://`` file system maps a URI onto another file system; here it maps onto a local copy
of the trained lake, so Spark reads and writes the lake only through Hadoop while the project sees a
URI it cannot open as a file (``is_local`` is false): the replay's clock and the file sink's points
then live in the local ``ECOM_RUN_DIR``, the models' lookups go through Spark joins, and the points must
be the ones the same hours wrote on the local lake.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from ecom_assets.commands.replay import run_replay
from ecom_assets.lake import Lake, is_local
from ecom_assets_tests.conftest import TrainedLake, replay_env

MOUNT = "ecomtest"
REPLAY_OUTPUTS = ("processed/replay", "temp/replay", "temp/influx")


def without_timestamps(folder: Path, name: str) -> list[str]:
    """A points file's lines without their timestamps (the two replays fixed their time shifts apart)."""
    return [line.rsplit(" ", 1)[0] for line in (folder / name).read_text(encoding="utf-8").splitlines()]


def test_the_replay_runs_on_a_lake_at_a_uri(replayed: TrainedLake, spark: SparkSession, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "remote-lake"
    shutil.copytree(replayed.root / "lake", copy,
                    ignore=lambda folder, names: [n for n in names
                                                  if f"{folder}/{n}".endswith(REPLAY_OUTPUTS)])
    spark.sparkContext._jsc.hadoopConfiguration().set(f"fs.viewfs.mounttable.{MOUNT}.link./lake",
                                                      copy.as_uri())
    uri = f"viewfs://{MOUNT}/lake"
    assert not is_local(uri)
    replay_env(monkeypatch, replayed)
    monkeypatch.setenv("ECOM_LAKE_DIR", uri)
    monkeypatch.setenv("ECOM_RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))

    summary = run_replay(2, "2019-11-01-21:00", interval_s=0, log=lambda _: None)

    assert summary.success, summary.error
    state = Lake(uri, str(tmp_path / "run")).local_state("replay/state.json")
    assert state.is_file() and state.is_relative_to(tmp_path / "run")
    assert (copy / "processed" / "replay" / "served_recs" / "hour=2019-11-01T22" / "_SUCCESS").is_file()
    remote_points = state.parent.parent / "influx" / "ecommerce_analytics"
    local_points = replayed.root / "lake" / "temp" / "influx" / "ecommerce_analytics"
    names = sorted(p.name for p in remote_points.glob("*.lp")
                   if not p.name.startswith(("replay-", "replay_heartbeat-")))  # timings differ per run
    assert {n.split("-", 1)[0] for n in names} >= {"user_behavior", "product_popularity", "segment_evolution",
                                                   "recommendation_metrics"}
    for name in names:
        assert without_timestamps(remote_points, name) == without_timestamps(local_points, name), name
