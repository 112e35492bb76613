"""The replay's real stack for the daemon benchmarks: InfluxDB 1.x, Spark Connect and dagster-daemon with
the replay sensor turned on (the server warmed up as ``ecom spark start`` does), on a fresh DAGSTER_HOME with the project's dagster.yaml and the warm run launcher."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from ecom_assets.lake import Lake
from ecom_assets.processes import free_port
from ecom_assets.publishing.influx_server import LocalInflux, start_local_influx
from ecom_assets.replay.behaviour.warm_up import warm_up_server
from ecom_assets.replay.orchestration.sensor import SENSOR_NAME, ReplayCursor
from ecom_assets.resources import spark_server

REPO = Path(__file__).resolve().parents[1]
DATABASE = "ecommerce_analytics"


@dataclass
class ReplayStack:
    """A running stack: its folder, DAGSTER_HOME, InfluxDB server, the replay's cursor and the daemon."""

    run: Path
    home: Path
    influx: LocalInflux
    cursor: ReplayCursor
    daemon: subprocess.Popen

    def instance(self) -> dg.DagsterInstance:
        """The stack's Dagster instance (read its runs while or after the replay runs)."""
        return dg.DagsterInstance.from_config(str(self.home))

    def restart_influx(self) -> None:
        """Start the stopped InfluxDB again with the same files and port."""
        with (self.influx.folder / "influxd.log").open("a") as log:
            self.influx.process = subprocess.Popen(["influxd", "-config", str(self.influx.folder / "influxdb.conf")],
                                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


@contextmanager
def replay_stack(run: Path, lake: Path, data: Path, models: str, first_index: int, behind_s: float = 0.0
                 ) -> Iterator[ReplayStack]:
    """Start the stack with the sensor's cursor at hour ``first_index`` (its clock ``behind_s`` seconds in
    the past) and the sensor on; stop everything on exit."""
    home = run / "dagster_home"
    home.mkdir(parents=True)
    # Measured with the opt-in warm run launcher, as a live replay should run.
    (home / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text()
                                       + (REPO / "dagster-warm-launcher.yaml").read_text())
    influx = start_local_influx(run / "influxdb")
    port = free_port()
    connect = spark_server.start(run / "spark-connect", port, str(REPO / "spark_conf"), "8g")
    print(warm_up_server(connect.url, Lake(str(lake))).describe(), flush=True)  # as `ecom spark start` does
    env = {**os.environ, "DAGSTER_HOME": str(home), "ECOM_DATA_DIR": str(data), "ECOM_LAKE_DIR": str(lake),
           "ECOM_SPARK_REMOTE": connect.url, "INFLUX_URL": influx.url, "INFLUX_DATABASE": DATABASE,
           # "off": the behaviour assets alone (a lake holding November only, without trained models).
           "ECOM_REPLAY_MODELS": models}
    env.pop("ECOM_SPARK_CONF", None)
    (lake / "temp" / "replay" / "state.json").unlink(missing_ok=True)
    now = time.time()
    cursor = ReplayCursor(replay=str(int(now)), index=first_index, attempt=0, started_at=now - behind_s,
                          first_index=first_index, last_tick=now)
    cli = [str(REPO / ".venv" / "bin" / "dagster"), "sensor"]
    workspace = ["-w", str(REPO / "workspace.yaml")]
    subprocess.run([*cli, "cursor", SENSOR_NAME, "--set", cursor.dumps(), *workspace], env=env, check=True,
                   cwd=REPO, capture_output=True)
    daemon = subprocess.Popen([str(REPO / ".venv" / "bin" / "dagster-daemon"), "run", *workspace], env=env, cwd=REPO,
                              stdout=(run / "daemon.log").open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        subprocess.run([*cli, "start", SENSOR_NAME, *workspace], env=env, check=True, cwd=REPO, capture_output=True)
        yield ReplayStack(run, home, influx, cursor, daemon)
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=60)
        spark_server.stop(run / "spark-connect", port)
        influx.stop()
