"""The ``ecom`` command line: generate, materialize, doctor, help and errors."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import dagster as dg
import psutil
import pytest
from pyspark.sql import SparkSession

from ecom_assets.cli import main
from ecom_assets.resources.java import find_java
from ecom_assets_tests.conftest import REPO_ROOT

ECOM = str(Path(sys.executable).with_name("ecom"))


@pytest.mark.parametrize("command", [[], ["generate"], ["materialize"], ["doctor"], ["replay"], ["spark"], ["ui"]])
def test_help_of_every_command(command: list[str]) -> None:
    done = subprocess.run([ECOM, *command, "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    assert "usage: ecom" in done.stdout


def test_generate_writes_both_months(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--out", str(tmp_path), "--rows", "5000", "--seed", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "5,000 rows" in out
    assert (tmp_path / "2019-Oct.csv").is_file() and (tmp_path / "2019-Nov.csv").is_file()
    assert not list(tmp_path.glob("*.partial"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["generate", "--out", "x", "--rows", "-5"], "expected a positive number"),
        (["generate", "--out", "x", "--scale", "2"], "expected a scale in (0, 1]"),
        (["generate", "--out", "x", "--rows", "10", "--scale", "0.1"], "not allowed with argument"),
    ],
)
def test_bad_arguments_exit_non_zero_with_a_reason(tmp_path: Path, args: list[str], message: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_generate_too_few_rows_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--out", str(tmp_path), "--rows", "10", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "ecom generate: error: --rows must be at least 1000, got 10"


def test_materialize_records_the_run_on_the_persistent_instance(
    spark: SparkSession, real_heads: tuple[Path, Path], isolated_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for head, name in zip(real_heads, ("2019-Oct.csv", "2019-Nov.csv"), strict=True):
        shutil.copy(head, isolated_env / "input" / name)
    assert main(["materialize", "--select", "raw_events"]) == 0
    out = capsys.readouterr().out
    assert "success" in out and "materialized raw_events" in out
    assert "check raw_events:rows_conserved: passed" in out
    with dg.DagsterInstance.from_config(str(isolated_env / "dagster_home")) as instance:
        runs = instance.get_runs()
        assert len(runs) == 1 and runs[0].is_success
        assert instance.get_latest_materialization_event(dg.AssetKey("raw_events")) is not None


def test_materialize_without_input_says_what_to_do(spark: SparkSession, isolated_env: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["materialize"]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "ecom generate" in out


def test_doctor_reports_each_component(spark: SparkSession, isolated_env: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("INFLUX_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "ok   java: openjdk version" in out
    assert "ok   spark: pyspark 4." in out and "session works" in out
    assert "WARN input: no 2019-Oct.csv" in out
    assert "ok   lake:" in out
    assert "WARN influxdb: http://127.0.0.1:9 unreachable" in out
    assert "ok   dagster:" in out


def test_doctor_says_which_run_launcher_the_instance_uses(isolated_env: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Dagster's default launcher is fine (the warm one is opt-in): the doctor says how to opt in."""
    home = isolated_env / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("INFLUX_URL", "")
    assert main(["doctor", "--no-spark"]) == 0
    out = capsys.readouterr().out
    assert "ok   dagster:" in out and "default run launcher" in out and "dagster-warm-launcher.yaml" in out
    (home / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text()
                                       + (REPO_ROOT / "dagster-warm-launcher.yaml").read_text())
    assert main(["doctor", "--no-spark"]) == 0
    out = capsys.readouterr().out
    assert "ok   dagster:" in out and "forked from the warm run worker" in out


def test_doctor_fails_on_an_unwritable_lake(isolated_env: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    blocker = isolated_env / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("ECOM_LAKE_DIR", str(blocker / "lake"))
    monkeypatch.setenv("INFLUX_URL", "http://127.0.0.1:9")
    assert main(["doctor", "--no-spark"]) == 1
    assert "FAIL lake:" in capsys.readouterr().out


def test_doctor_names_a_zipped_month(isolated_env: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    (isolated_env / "input" / "2019-Oct.csv.zip").write_bytes(b"PK")
    monkeypatch.setenv("INFLUX_URL", "http://127.0.0.1:9")
    assert main(["doctor", "--no-spark"]) == 1
    out = capsys.readouterr().out
    assert "FAIL input:" in out and "2019-Oct.csv.zip is a zip archive, which Spark cannot read" in out
    assert "unzip it" in out


@pytest.mark.faults
def test_a_taken_ui_port_is_named_by_ecom_ui_and_the_doctor(isolated_env: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    port = int(os.environ["ECOM_UI_PORT"])
    assert main(["ui", "--check"]) == 0
    assert f"port {port} on 127.0.0.1 is free" in capsys.readouterr().out
    monkeypatch.setenv("INFLUX_URL", "")
    with socket.create_server(("127.0.0.1", port)):  # another program's server on the UI's port
        assert main(["ui", "--check"]) == 2
        err = capsys.readouterr().err.strip()
        assert err == (f"ecom ui: error: port {port} on 127.0.0.1 is taken by {psutil.Process().name()} (pid {os.getpid()}): "
                       f"stop it, or choose another port for the Dagster UI with ECOM_UI_PORT (e.g. ECOM_UI_PORT={port + 2} "
                       "make ui)")
        assert main(["doctor", "--no-spark"]) == 1
        assert f"FAIL ports: port {port} on 127.0.0.1 is taken by" in capsys.readouterr().out
    assert main(["doctor", "--no-spark"]) == 0
    assert "ok   ports:" in capsys.readouterr().out


@pytest.mark.faults
def test_an_influx_url_where_another_program_answers_is_named_by_the_doctor_and_the_sink(
        isolated_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from ecom_assets.publishing.sinks import InfluxWriteError
    from ecom_assets.resources.influx import InfluxResource

    class NotFound(BaseHTTPRequestHandler):  # a web application that is not InfluxDB
        def do_GET(self) -> None:
            self.send_error(404)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("INFLUX_URL", url)
    try:
        assert main(["doctor", "--no-spark"]) == 1
        out = capsys.readouterr().out
        assert (f"FAIL influxdb: {url} answers but is not InfluxDB ({url}/ping answered HTTP 404 without an "
                "X-Influxdb-Version header: is it an InfluxDB server?)") in out
        assert "point INFLUX_URL at InfluxDB (it listens on port 8086 by default)" in out
        with pytest.raises(InfluxWriteError, match=r"answered HTTP 404 without an X-Influxdb-Version header"):
            InfluxResource(url=url).sink()
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.faults
def test_a_taken_spark_connect_port_is_named_by_ecom_spark_start_and_the_doctor(
        isolated_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    port = int(os.environ["ECOM_SPARK_CONNECT_PORT"])
    monkeypatch.setenv("INFLUX_URL", "")
    with socket.create_server(("127.0.0.1", port)):  # another program's server on Spark Connect's port
        assert main(["spark", "start"]) == 2
        assert capsys.readouterr().err.strip() == (
            f"ecom spark: error: port {port} on 127.0.0.1 (Spark Connect) is taken by {psutil.Process().name()} (pid {os.getpid()}): "
            "stop it, or choose another port with ECOM_SPARK_CONNECT_PORT")
        assert main(["doctor", "--no-spark"]) == 1
        assert (f"FAIL ports: port {port} on 127.0.0.1 (Spark Connect) is taken by {psutil.Process().name()}"
                in capsys.readouterr().out)


@pytest.mark.faults
def test_a_missing_java_is_named_by_the_doctor_and_by_a_run(real_heads: tuple[Path, Path], isolated_env: Path,
                                                            tmp_path: Path) -> None:
    for head, name in zip(real_heads, ("2019-Oct.csv", "2019-Nov.csv"), strict=True):
        shutil.copy(head, isolated_env / "input" / name)
    env = {**os.environ, "JAVA_HOME": str(tmp_path / "no-java"), "INFLUX_URL": ""}
    doctor = subprocess.run([ECOM, "doctor", "--no-spark"], env=env, capture_output=True, text=True, timeout=120)
    assert doctor.returncode == 1
    assert f"FAIL java: no java in JAVA_HOME={tmp_path / 'no-java'}" in doctor.stdout
    run = subprocess.run([ECOM, "materialize", "--select", "raw_events"], env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 1
    assert (f"  error: JavaMissingError: Spark cannot start: no java in JAVA_HOME={tmp_path / 'no-java'}; point JAVA_HOME at a Java 17+ "
            "installation") in run.stdout
    assert "JAVA_GATEWAY_EXITED" not in run.stdout
    empty_path = tmp_path / "bin"
    empty_path.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("JAVA_HOME", raising=False)
        patch.setenv("PATH", str(empty_path))
        found = find_java()
    assert found.path is None and found.problem == "no java in the PATH" and "openjdk-17-jre-headless" in found.fix


def test_replay_rejects_hours_outside_november(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["replay", "--from", "2019-10-31-23:00"])
    assert exit_info.value.code == 2
    assert "outside November 2019" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["replay", "--interval", "-1"])
    assert "expected seconds >= 0" in capsys.readouterr().err


def test_spark_status_when_no_server_runs(isolated_env: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ECOM_RUN_DIR", str(isolated_env / "run"))
    monkeypatch.setenv("ECOM_SPARK_CONNECT_PORT", "9")
    assert main(["spark", "status"]) == 1
    assert "Spark Connect not running (would listen at sc://127.0.0.1:9)" in capsys.readouterr().out
    assert main(["spark", "stop"]) == 0


def test_replay_reset_only(isolated_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = isolated_env / "lake" / "temp" / "replay" / "state.json"
    state.parent.mkdir(parents=True)
    state.write_text('{"mode": "shifted", "offset_weeks": 1, "started_at": "2026-01-01T00:00:00+00:00"}')
    assert main(["replay", "--reset", "--hours", "0"]) == 0
    assert not state.exists() and "replay state reset" in capsys.readouterr().out
