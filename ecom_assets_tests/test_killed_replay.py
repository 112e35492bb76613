"""`ecom replay` killed with SIGKILL in the middle of an hour, then run again (docs/reliability.md, scenario 2).

Two copies of the trained lake replay the same three hours into two databases of one real InfluxDB 1.x:
one uninterrupted; the other as a real `ecom replay` process killed (its whole process group: Python
and Spark's JVM) first while Spark writes the second hour's tables in the lake, then, after the same
command resumed, while the next hour's points are being written to InfluxDB (through a forwarding
proxy that holds the hour's second write and kills the replay). Each time the same command, run again,
resumes at the killed hour. Every point of the four measurements and every row of the replay's tables
must then be the same as the uninterrupted replay's: none missing, none doubled.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from ecom_assets.commands.replay import run_replay

from .conftest import TrainedLake
from .replay_outputs import assert_same_outputs

pytestmark = [pytest.mark.faults, pytest.mark.stack, pytest.mark.scenario]

FIRST_HOUR = "2019-11-03-10:00"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}


class KillingProxy(ThreadingHTTPServer):
    """Forwards every request to InfluxDB; once armed, kills the replay when the hour's ``kill_at``-th write
    arrives (that write is not forwarded)."""

    def __init__(self, target: str) -> None:
        super().__init__(("127.0.0.1", 0), _Forward)
        self.target = target
        self.armed: Callable[[], None] | None = None
        self.writes = 0
        self.kill_at = 2
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Forward(BaseHTTPRequestHandler):
    server: KillingProxy

    def log_message(self, *args: object) -> None:
        pass

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        if self.path.startswith("/write"):
            with self.server.lock:
                kill = None
                if self.server.armed is not None:
                    self.server.writes += 1
                    if self.server.writes == self.server.kill_at:
                        kill, self.server.armed = self.server.armed, None
            if kill is not None:
                kill()
                self.close_connection = True  # the replay is gone: nobody reads an answer
                return
        answer = requests.request(self.command, self.server.target + self.path, data=body, timeout=60,
                                  headers={k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP | {"host"}})
        self.send_response(answer.status_code)
        for key, value in answer.headers.items():
            if key.lower() not in HOP_BY_HOP:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    do_GET = do_POST = do_HEAD = _forward


def start_replay(env: dict[str, str], *arguments: str) -> subprocess.Popen:
    """A real `ecom replay` in its own process group (Spark's JVM is killed with it)."""
    return subprocess.Popen([sys.executable, "-m", "ecom_assets.cli", "replay", "--interval", "0", *arguments],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def kill(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)


def follow(process: subprocess.Popen, lines: list[str], on_line: Callable[[str], None] = lambda _: None) -> threading.Thread:
    """Read the process's output in a thread, calling ``on_line`` for each line."""
    def read() -> None:
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            on_line(line)
    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def test_a_replay_killed_mid_hour_resumes_there_and_loses_and_doubles_nothing(
        trained_lake: TrainedLake, influx_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("reference", "interrupted"):
        shutil.copytree(trained_lake.root / "lake", tmp_path / name / "lake")
        requests.post(f"{influx_url}/query", params={"q": f'DROP DATABASE "killed_{name}"'}, timeout=30)
    monkeypatch.setenv("ECOM_DATA_DIR", str(trained_lake.root / "input"))
    monkeypatch.setenv("INFLUX_URL", influx_url)
    monkeypatch.setenv("ECOM_LAKE_DIR", str(tmp_path / "reference" / "lake"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "reference" / "dagster_home"))
    monkeypatch.setenv("INFLUX_DATABASE", "killed_reference")
    reference = run_replay(3, FIRST_HOUR, interval_s=0, log=lambda _: None)
    assert reference.success, reference.error

    proxy = KillingProxy(influx_url)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    lake = tmp_path / "interrupted" / "lake"
    env = {**os.environ, "ECOM_LAKE_DIR": str(lake), "DAGSTER_HOME": str(tmp_path / "interrupted" / "dagster_home"),
           "INFLUX_URL": proxy.url, "INFLUX_DATABASE": "killed_interrupted", "PYTHONUNBUFFERED": "1"}
    try:
        # 1. Killed while Spark writes the second hour's tables (a Parquet write in progress: ``_temporary``).
        lines: list[str] = []
        first = start_replay(env, "--from", FIRST_HOUR, "--hours", "3")
        reader = follow(first, lines)
        writing = "processed/replay/*/hour=2019-11-03T11/_temporary"
        caught: list[str] = []
        deadline = time.monotonic() + 600
        while first.poll() is None and time.monotonic() < deadline:
            if any("(1/3): done" in line for line in lines):
                found = sorted(lake.glob(writing))
                if found:
                    kill(first)
                    caught = [str(path.parent.relative_to(lake)) for path in found]
                    break
            time.sleep(0.002)
        first.wait(60)
        reader.join(10)
        assert caught, "the replay was not caught writing its second hour:\n" + "\n".join(lines)
        assert not any("(2/3): done" in line for line in lines), lines
        half_written = [path for path in caught if not (lake / path / "_SUCCESS").exists()]

        # 2. The same command resumes at that hour; killed while the next hour's points go to InfluxDB.
        lines = []
        restarted = time.monotonic()
        second = start_replay(env, "--hours", "2")
        recovered: list[float] = []

        def arm(line: str) -> None:
            if "hour 2019-11-03-11:00 (1/2): done" in line:
                recovered.append(time.monotonic() - restarted)
                proxy.armed = lambda: kill(second)
        reader = follow(second, lines, arm)
        second.wait(600)
        reader.join(10)
        assert any("hour 2019-11-03-11:00: run " in line and "marked failed, its work runs again" in line
                   for line in lines), lines
        assert any("hour 2019-11-03-11:00 (1/2): done" in line for line in lines), lines
        assert proxy.writes == proxy.kill_at and second.returncode == -signal.SIGKILL, (second.returncode, lines)

        # 3. Resumed again, it finishes.
        restarted = time.monotonic()
        third = subprocess.run([sys.executable, "-m", "ecom_assets.cli", "replay", "--interval", "0", "--hours", "1"],
                               env=env, capture_output=True, text=True, timeout=600)
        assert third.returncode == 0, third.stdout + third.stderr
        assert "hour 2019-11-03-12:00: run " in third.stdout and "hour 2019-11-03-12:00 (1/1): done" in third.stdout
        recovered.append(time.monotonic() - restarted)
    finally:
        proxy.shutdown()
        proxy.server_close()

    compared = assert_same_outputs(influx_url, "killed_reference", "killed_interrupted",
                                   tmp_path / "reference" / "lake", lake)
    print(f"killed while writing {', '.join(caught)} ({len(half_written)} left without _SUCCESS) and at the second "
          f"InfluxDB write of the next hour; the killed hour done {recovered[0]:.0f} s and {recovered[1]:.0f} s after the "
          f"command was run again; {compared[0]} points and {compared[1]} rows compared")


REPO = Path(__file__).resolve().parents[1]
SENSOR_HOURS = ("2019-11-03-10:00", "2019-11-03-11:00", "2019-11-03-12:00")


def kill_tree(pid: int) -> None:
    """SIGKILL a process and every process under it (collected first, so none is missed)."""
    import psutil

    try:
        root = psutil.Process(pid)
        family = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for member in family:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(family, timeout=30)


def latest_runs(instance, hours) -> dict:
    """The latest run of each replayed hour (None: not requested yet)."""
    import dagster as dg

    from ecom_assets.replay.orchestration.sensor import REPLAY_JOB_NAME

    found = {}
    for hour in hours:
        runs = instance.get_runs(filters=dg.RunsFilter(job_name=REPLAY_JOB_NAME, tags={"dagster/partition": hour}),
                                 limit=1)
        found[hour] = runs[0] if runs else None
    return found


def wait_for(condition: Callable[[], object], timeout_s: float, what: str, poll_s: float = 0.05) -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def test_run_workers_and_the_daemon_killed_mid_hour_the_sensor_replay_resumes_and_loses_nothing(
        trained_lake: TrainedLake, influx_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dagster as dg

    from ecom_assets.replay.orchestration.partitions import all_hours
    from ecom_assets.replay.orchestration.sensor import SENSOR_NAME, ReplayCursor
    from ecom_assets.replay.orchestration.orphans import run_process_pid

    for name in ("reference", "interrupted"):
        shutil.copytree(trained_lake.root / "lake", tmp_path / name / "lake")
        requests.post(f"{influx_url}/query", params={"q": f'DROP DATABASE "daemon_{name}"'}, timeout=30)
    lake, home = tmp_path / "interrupted" / "lake", tmp_path / "interrupted" / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    env = {**os.environ, "DAGSTER_HOME": str(home), "ECOM_DATA_DIR": str(trained_lake.root / "input"),
           "ECOM_LAKE_DIR": str(lake), "INFLUX_URL": influx_url, "INFLUX_DATABASE": "daemon_interrupted"}
    env.pop("ECOM_SPARK_REMOTE", None)
    workspace = ["-w", str(REPO / "workspace.yaml")]
    dagster = [sys.executable, "-m", "dagster"]
    first = all_hours().index(SENSOR_HOURS[0])
    now = time.time()
    cursor = ReplayCursor(replay=str(int(now)), index=first, started_at=now, first_index=first, last_tick=now)
    subprocess.run([*dagster, "sensor", "cursor", SENSOR_NAME, "--set", cursor.dumps(), *workspace], env=env,
                   check=True, cwd=REPO, capture_output=True)
    subprocess.run([*dagster, "sensor", "start", SENSOR_NAME, *workspace], env=env, check=True, cwd=REPO,
                   capture_output=True)

    def start_daemon() -> subprocess.Popen:
        with (tmp_path / "daemon.log").open("a") as log:
            return subprocess.Popen([str(Path(sys.executable).parent / "dagster-daemon"), "run", *workspace], env=env,
                                    cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    daemon = start_daemon()
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        # 1. The second hour's run worker killed (with its JVM) while Spark writes the hour's tables.
        def writing_second_hour():
            if not list(lake.glob("processed/replay/*/hour=2019-11-03T11/_temporary")):
                return None
            run = latest_runs(instance, SENSOR_HOURS[1:2])[SENSOR_HOURS[1]]
            return run if run is not None and run.status == dg.DagsterRunStatus.STARTED else None
        killed = wait_for(writing_second_hour, 600, "the second hour's run writing to the lake", poll_s=0.002)
        pid = run_process_pid(instance, killed)
        assert pid is not None
        kill_tree(pid)
        killed_at = time.time()
        failed = wait_for(lambda: instance.get_run_by_id(killed.run_id).is_finished, 60, "the killed run to end")
        assert instance.get_run_by_id(killed.run_id).status == dg.DagsterRunStatus.FAILURE, failed

        # 2. All of Dagster killed (daemon, code server, the third hour's run worker) while that run writes the
        # hour's tables, after the second hour succeeded on its retry.
        def writing_third_hour():
            if not list(lake.glob("processed/replay/*/hour=2019-11-03T12/_temporary")):
                return None
            runs = latest_runs(instance, SENSOR_HOURS[1:])
            second, third = runs[SENSOR_HOURS[1]], runs[SENSOR_HOURS[2]]
            if second is None or second.status != dg.DagsterRunStatus.SUCCESS or third is None:
                return None
            return third if third.status == dg.DagsterRunStatus.STARTED else None
        orphan = wait_for(writing_third_hour, 600, "the third hour's run writing to the lake", poll_s=0.002)
        kill_tree(daemon.pid)
        time.sleep(2)
        assert instance.get_run_by_id(orphan.run_id).status == dg.DagsterRunStatus.STARTED  # left started

        # 3. The daemon started again: the orphan is marked failed, its hour retried, the replay goes on.
        daemon = start_daemon()
        restarted = time.time()
        wait_for(lambda: all(run is not None and run.status == dg.DagsterRunStatus.SUCCESS
                             for run in latest_runs(instance, SENSOR_HOURS).values()), 900,
                 "the three hours to succeed", poll_s=1)
    finally:
        kill_tree(daemon.pid)
    assert instance.get_run_by_id(orphan.run_id).status == dg.DagsterRunStatus.FAILURE
    finished = latest_runs(instance, SENSOR_HOURS[1:])
    first_recovery = instance.get_run_record_by_id(finished[SENSOR_HOURS[1]].run_id).end_time - killed_at
    second_recovery = instance.get_run_record_by_id(finished[SENSOR_HOURS[2]].run_id).end_time - restarted
    assert any("ended without finishing the run (killed?)" in entry.message
               for entry in instance.all_logs(orphan.run_id)), [e.message for e in instance.all_logs(orphan.run_id)]

    monkeypatch.setenv("ECOM_DATA_DIR", str(trained_lake.root / "input"))
    monkeypatch.setenv("INFLUX_URL", influx_url)
    monkeypatch.setenv("ECOM_LAKE_DIR", str(tmp_path / "reference" / "lake"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "reference" / "dagster_home"))
    monkeypatch.setenv("INFLUX_DATABASE", "daemon_reference")
    reference = run_replay(len(SENSOR_HOURS), SENSOR_HOURS[0], interval_s=0, log=lambda _: None)
    assert reference.success, reference.error

    compared = assert_same_outputs(influx_url, "daemon_reference", "daemon_interrupted",
                                   tmp_path / "reference" / "lake", lake,
                                   hours={"2019-11-03T10", "2019-11-03T11", "2019-11-03T12"})
    print(f"sensor replay: a run worker killed mid-write, then all of Dagster killed mid-hour and the daemon "
          f"restarted; the killed hours done {first_recovery:.0f} s after the kill and {second_recovery:.0f} s after the "
          f"restart; {compared[0]} points and {compared[1]} rows compared")
