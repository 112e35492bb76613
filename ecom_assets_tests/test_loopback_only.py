"""Every service the project starts listens on 127.0.0.1 only, read from the kernel's socket table.

Started the way the project starts them: the Spark Connect server (`ecom spark start`), `dagster dev`
as `make ui` and `make live` run it (webserver, daemon and the code server they spawn), the shop's
API (`ecom serve`), the test InfluxDB, and the local SparkSession's driver (its RPC, block manager
and UI ports). Each process tree's listening TCP sockets must all be on a loopback address.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from ecom_assets.commands.materialize import install_instance_config
from ecom_assets.processes import free_port

from .conftest import REPO_ROOT

pytestmark = [pytest.mark.faults, pytest.mark.stack]


def listening_addresses(pid: int) -> set[tuple[str, int]]:
    """The (address, port) of every listening TCP socket of ``pid`` and its descendants."""
    root = psutil.Process(pid)
    found = set()
    for process in [root, *root.children(recursive=True)]:
        try:
            connections = process.net_connections(kind="tcp")
        except psutil.NoSuchProcess:
            continue
        found |= {(c.laddr.ip, c.laddr.port) for c in connections if c.status == psutil.CONN_LISTEN}
    return found


def is_loopback(address: str) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback (``::ffff:127.0.0.1``)."""
    ip = ipaddress.ip_address(address)
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


def wait_for_url(url: str, seconds: float = 120.0) -> None:
    """Until ``url`` answers (or fail the test)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)  # noqa: S310 - a loopback URL the test built
            return
        except OSError:
            time.sleep(1)
    pytest.fail(f"{url} did not answer within {seconds:.0f} s")


@pytest.fixture()
def dagster_dev(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """``dagster dev`` as ``make ui`` starts it, through ``ecom ui`` (webserver + daemon + code server); the
    pid of ``ecom ui`` and the port."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    install_instance_config(home)
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "ECOM_LAKE_DIR": str(tmp_path / "lake"),
           "ECOM_DATA_DIR": str(tmp_path / "input"), "ECOM_UI_PORT": str(port)}
    process = subprocess.Popen([str(Path(sys.executable).parent / "ecom"), "ui"],
                               cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        wait_for_url(f"http://127.0.0.1:{port}/server_info")
        time.sleep(3)  # the daemon and the code server come up beside the webserver
        yield process.pid, port
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=60)


def test_dagster_dev_listens_on_loopback_only(dagster_dev: tuple[int, int]) -> None:
    pid, port = dagster_dev
    addresses = listening_addresses(pid)
    assert ("127.0.0.1", port) in addresses
    # The daemon and the code server listen on no TCP port (Dagster's local gRPC code servers use a Unix socket).
    assert all(is_loopback(ip) for ip, _ in addresses), addresses


def test_spark_connect_server_and_local_driver_listen_on_loopback_only(spark, tmp_path: Path) -> None:
    from ecom_assets.resources import spark_server

    port = free_port()
    state = spark_server.start(tmp_path / "run", port, str(REPO_ROOT / "spark_conf"), "1g")
    try:
        server = listening_addresses(state.pid)
        assert any(p == port for _, p in server) and all(is_loopback(ip) for ip, _ in server), server
    finally:
        spark_server.stop(tmp_path / "run", port)
    driver = listening_addresses(os.getpid())  # the test session's own JVM is a child of this process
    assert driver and all(is_loopback(ip) for ip, _ in driver), driver


def test_test_influxdb_and_shop_api_listen_on_loopback_only(influx_url: str, tmp_path: Path) -> None:
    from ecom_assets.shop_api.launch import start_server, wait_until

    influx_port = int(influx_url.rsplit(":", 1)[1])
    [pid] = {c.pid for c in psutil.net_connections(kind="tcp") if c.laddr.port == influx_port
             and c.status == psutil.CONN_LISTEN}
    influx = listening_addresses(pid)
    assert len(influx) == 2 and all(is_loopback(ip) for ip, _ in influx), influx  # HTTP and its RPC port
    process, url = start_server(tmp_path / "lake")
    try:
        wait_until(url, process, "/health", 60)
        addresses = listening_addresses(process.pid)
        assert addresses and all(is_loopback(ip) for ip, _ in addresses), addresses
    finally:
        process.terminate()
        process.wait(timeout=30)
