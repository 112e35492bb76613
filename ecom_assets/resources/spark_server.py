"""A long-lived Spark Connect server on 127.0.0.1 for the replay: start, stop, status.

Launched the way pyspark launches its own JVM (``bin/spark-submit``, ``spark-submit.cmd`` on Windows,
both shipped in the wheel) with the project's ``spark_conf`` (plus ``ECOM_SPARK_CONF`` overrides),
detached from the terminal with Python's own means, its pid and log under ``run_dir``; stopped and
checked through psutil, so nothing here needs bash, pyspark's daemon scripts, setsid or process groups. Each
replay run then connects in well under a second instead of paying ~8 s of JVM start.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import psutil
import pyspark

from ecom_assets.processes import detached, port_holder, terminate_tree
from ecom_assets.resources.connect_outage import server_address
from ecom_assets.resources.spark import build_spark_conf
from ecom_assets.settings import DEFAULT_SPARK_CONNECT_PORT

SPARK_HOME = Path(pyspark.__file__).parent
SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0
PID_FILE = "spark-connect.pid"
LOG_FILE = "spark-connect.log"
# Driver settings that only apply to an embedded session, not to a server started by spark-submit.
NOT_FOR_SERVER = {"spark.driver.bindAddress", "spark.driver.host"}


@dataclass(frozen=True)
class ServerStatus:
    """Whether the server runs, where, and its pid and log."""

    running: bool
    listening: bool
    pid: int | None
    url: str
    log: Path | None

    def describe(self) -> str:
        """One line for the command line."""
        if self.running and self.listening:
            return f"Spark Connect running (pid {self.pid}) at {self.url}; log {self.log}"
        if self.running:
            return f"Spark Connect starting (pid {self.pid}), not yet listening at {self.url}; log {self.log}"
        return f"Spark Connect not running (would listen at {self.url})"


def _env() -> dict[str, str]:
    """Environment for spark-submit: this pyspark's Spark, loopback only, a classic (not Connect) server JVM."""
    return {**os.environ, "SPARK_HOME": str(SPARK_HOME), "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable,
            "SPARK_CONNECT_MODE": "0"}


def spark_submit() -> Path:
    """pyspark's launcher script for this platform."""
    return SPARK_HOME / "bin" / ("spark-submit.cmd" if os.name == "nt" else "spark-submit")


def _server_process(run_dir: Path) -> psutil.Process | None:
    """The process of the pid file when it is still this server (not a stranger that reused the pid)."""
    pid_file = run_dir / PID_FILE
    if not pid_file.is_file():
        return None
    try:
        process = psutil.Process(int(pid_file.read_text().strip()))
        command = " ".join(process.cmdline())
    except (ValueError, psutil.Error):
        return None
    if SERVER_CLASS not in command and "spark-submit" not in command:
        return None
    return process


def listening(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def url_answers(url: str, timeout_s: float = 1.0) -> bool:
    """True when the host of a Spark Connect URL (``sc://host:port``, port 15002 by default) accepts
    TCP connections: cheap enough for every tick of the replay sensor."""
    parsed = urllib.parse.urlsplit(server_address(url).replace("sc://", "http://", 1))
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or DEFAULT_SPARK_CONNECT_PORT), timeout_s):
            return True
    except OSError:
        return False


def port_taken(port: int) -> str:
    """The one-line error for Spark Connect's ``port`` held by another program: who holds it, what to do."""
    return (f"port {port} on 127.0.0.1 (Spark Connect) is taken by {port_holder(port)}: stop it, or choose another "
            "port with ECOM_SPARK_CONNECT_PORT")


def status(run_dir: Path, port: int) -> ServerStatus:
    """The server's state from its pid file and its port."""
    process = _server_process(run_dir)
    log = run_dir / LOG_FILE
    return ServerStatus(process is not None, process is not None and listening(port),
                        process.pid if process else None, f"sc://127.0.0.1:{port}", log if log.is_file() else None)


def _log_tail(run_dir: Path) -> str:
    """The end of the server's log, for an error message."""
    log = run_dir / LOG_FILE
    return log.read_text(errors="replace")[-2000:] if log.is_file() else "(no log)"


def start(run_dir: Path, port: int, conf_dir: str, driver_memory: str = "") -> ServerStatus:
    """Start the server (no-op when already running) and wait until it listens; errors quote the log."""
    current = status(run_dir, port)
    if current.running:
        return current
    if listening(port):
        raise RuntimeError(port_taken(port))
    run_dir.mkdir(parents=True, exist_ok=True)
    conf = {k: v for k, v in build_spark_conf(conf_dir, driver_memory).items() if k not in NOT_FOR_SERVER}
    conf.update({"spark.connect.grpc.binding.port": str(port), "spark.connect.grpc.binding.address": "127.0.0.1"})
    args = [str(spark_submit()), "--class", SERVER_CLASS, "--name", "Spark Connect server"]
    for key, value in sorted(conf.items()):
        args += ["--conf", f"{key}={value}"]
    with (run_dir / LOG_FILE).open("ab") as log:
        process = subprocess.Popen(args, env=_env(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   **detached())
    (run_dir / PID_FILE).write_text(str(process.pid))
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        if listening(port):
            return status(run_dir, port)
        time.sleep(0.5)
    ended = process.poll() is not None
    if not ended:
        terminate_tree(process.pid, STOP_TIMEOUT_S)
    what = f"exited with code {process.returncode}" if ended else f"did not listen within {START_TIMEOUT_S:.0f} s"
    raise RuntimeError(f"Spark Connect {what} on port {port}:\n{_log_tail(run_dir)}")


def stop(run_dir: Path, port: int) -> ServerStatus:
    """Stop the server if it runs; returns the final status."""
    process = _server_process(run_dir)
    if process is not None:
        terminate_tree(process.pid, STOP_TIMEOUT_S)
        (run_dir / PID_FILE).unlink(missing_ok=True)
    return status(run_dir, port)
