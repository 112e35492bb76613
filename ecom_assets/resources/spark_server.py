"""A long-lived Spark Connect server on 127.0.0.1 for the replay: start, stop, status.

Runs pyspark's own ``sbin/start-connect-server.sh`` (shipped in the wheel) with the project's
``spark_conf`` (plus ``ECOM_SPARK_CONF`` overrides), a pid file and a log under ``run_dir``. Each
replay run then connects in well under a second instead of paying ~8 s of JVM start.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pyspark

from ecom_assets.resources.spark import build_spark_conf

SPARK_HOME = Path(pyspark.__file__).parent
IDENT = "ecom"
START_TIMEOUT_S = 120.0
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


def _env(run_dir: Path) -> dict[str, str]:
    """Environment for pyspark's sbin scripts: pid and log under ``run_dir``, loopback only."""
    return {**os.environ, "SPARK_HOME": str(SPARK_HOME), "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable,
            "SPARK_PID_DIR": str(run_dir), "SPARK_LOG_DIR": str(run_dir), "SPARK_IDENT_STRING": IDENT}


def _pid_file(run_dir: Path) -> Path:
    """The pid file the sbin scripts write."""
    return run_dir / f"spark-{IDENT}-org.apache.spark.sql.connect.service.SparkConnectServer-1.pid"


def _alive(pid: int) -> bool:
    """True when a process with ``pid`` exists."""
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def listening(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def status(run_dir: Path, port: int) -> ServerStatus:
    """The server's state from its pid file and its port."""
    pid_file = _pid_file(run_dir)
    pid = int(pid_file.read_text().strip()) if pid_file.is_file() else None
    running = pid is not None and _alive(pid)
    logs = sorted(run_dir.glob(f"spark-{IDENT}-*.out")) if run_dir.is_dir() else []
    return ServerStatus(running, running and listening(port), pid if running else None, f"sc://127.0.0.1:{port}",
                        logs[-1] if logs else None)


def start(run_dir: Path, port: int, conf_dir: str, driver_memory: str = "") -> ServerStatus:
    """Start the server (no-op when already running) and wait until it listens; errors quote the log."""
    current = status(run_dir, port)
    if current.running:
        return current
    if listening(port):
        raise RuntimeError(f"port {port} on 127.0.0.1 is taken by another program; set ECOM_SPARK_CONNECT_PORT")
    run_dir.mkdir(parents=True, exist_ok=True)
    conf = {k: v for k, v in build_spark_conf(conf_dir, driver_memory).items() if k not in NOT_FOR_SERVER}
    conf.update({"spark.connect.grpc.binding.port": str(port), "spark.connect.grpc.binding.address": "127.0.0.1"})
    args = ["bash", str(SPARK_HOME / "sbin" / "start-connect-server.sh")]
    for key, value in sorted(conf.items()):
        args += ["--conf", f"{key}={value}"]
    done = subprocess.run(args, env=_env(run_dir), capture_output=True, text=True, timeout=START_TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"start-connect-server.sh failed: {(done.stderr or done.stdout)[-1500:]}")
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        current = status(run_dir, port)
        if current.listening:
            return current
        if not current.running and time.monotonic() > deadline - START_TIMEOUT_S + 10:
            break
        time.sleep(0.5)
    tail = current.log.read_text(errors="replace")[-2000:] if current.log else "(no log)"
    raise RuntimeError(f"Spark Connect did not start listening on {port}:\n{tail}")


def stop(run_dir: Path, port: int) -> ServerStatus:
    """Stop the server if it runs; returns the final status."""
    if status(run_dir, port).running:
        subprocess.run(["bash", str(SPARK_HOME / "sbin" / "stop-connect-server.sh")], env=_env(run_dir),
                       capture_output=True, text=True, timeout=START_TIMEOUT_S)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and status(run_dir, port).running:
            time.sleep(0.5)
    return status(run_dir, port)
