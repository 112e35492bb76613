"""Shared fixtures: one real local SparkSession per test run, the real REES46 heads, temporary lakes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
REAL_OCT_HEAD = SHARED_DATA / "rees46-real" / "2019-Oct-head-raw.csv"
REAL_NOV_HEAD = SHARED_DATA / "rees46-real" / "2019-Nov-head-raw-noheader.csv"
TEST_SPARK_CONF = (
    "spark.ui.enabled=false,spark.sql.shuffle.partitions=4,spark.driver.memory=3g,"
    "spark.sql.adaptive.coalescePartitions.minPartitionSize=1m"
)


@pytest.fixture(scope="session")
def spark():
    """A real local SparkSession shared by every test (about 8 s to start once)."""
    os.environ["ECOM_SPARK_CONF"] = TEST_SPARK_CONF
    from ecom_assets.resources import SparkResource

    session = SparkResource(master="local[2]", conf_dir=str(REPO_ROOT / "spark_conf")).get_session()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def real_heads() -> tuple[Path, Path]:
    """The real heads of both months, byte for byte (read-only)."""
    if not REAL_OCT_HEAD.is_file() or not REAL_NOV_HEAD.is_file():
        pytest.fail(f"the real REES46 heads are missing under {SHARED_DATA}; CI clones shared/ beside the repo")
    return REAL_OCT_HEAD, REAL_NOV_HEAD


@pytest.fixture()
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """ECOM_* variables pointing into a fresh temporary folder."""
    monkeypatch.setenv("ECOM_DATA_DIR", str(tmp_path / "input"))
    monkeypatch.setenv("ECOM_LAKE_DIR", str(tmp_path / "lake"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    (tmp_path / "input").mkdir()
    yield tmp_path



@pytest.fixture(scope="session")
def influx_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real InfluxDB 1.x server (Debian's ``influxd``) on a free loopback port, its files in a temp folder."""
    from ecom_assets.publishing.influx_server import start_local_influx

    try:
        server = start_local_influx(tmp_path_factory.mktemp("influxdb"))
    except (FileNotFoundError, RuntimeError) as exc:
        pytest.fail(str(exc))
    try:
        yield server.url
    finally:
        server.stop()
