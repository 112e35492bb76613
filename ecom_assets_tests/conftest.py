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


def _free_port() -> int:
    """A free TCP port on loopback."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def influx_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real InfluxDB 1.x server (Debian's ``influxd``) on a free loopback port, its files in a temp folder."""
    import shutil
    import signal
    import subprocess
    import time

    import requests

    binary = shutil.which("influxd")
    if binary is None:
        pytest.fail("influxd is not installed: `make test` installs Debian's influxdb package (needs root or sudo)")
    folder = tmp_path_factory.mktemp("influxdb")
    port, rpc_port = _free_port(), _free_port()
    config = folder / "influxdb.conf"
    config.write_text(
        f'reporting-disabled = true\nbind-address = "127.0.0.1:{rpc_port}"\n'
        f'[meta]\n  dir = "{folder}/meta"\n'
        f'[data]\n  dir = "{folder}/data"\n  wal-dir = "{folder}/wal"\n  query-log-enabled = false\n'
        f'[http]\n  bind-address = "127.0.0.1:{port}"\n  log-enabled = false\n'
        '[monitor]\n  store-enabled = false\n'
    )
    log = (folder / "influxd.log").open("w")
    process = subprocess.Popen([binary, "-config", str(config)], stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{url}/ping", timeout=1).status_code == 204:
                    break
            except requests.RequestException:
                pass
            if process.poll() is not None:
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"influxd did not answer on {url}: {(folder / 'influxd.log').read_text()[-2000:]}")
        if process.poll() is not None:
            pytest.fail(f"influxd exited: {(folder / 'influxd.log').read_text()[-2000:]}")
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        log.close()
