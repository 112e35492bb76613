"""The InfluxDB sinks against a real InfluxDB 1.x server, and the 2.x path against a local HTTP server."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from ecom_assets.publishing.measurements import USER_BEHAVIOR, point
from ecom_assets.publishing.sinks import FileSink, InfluxWriteError, V1Sink, V2Sink, major_version, server_version

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def _count(sink: V1Sink, measurement: str, rp: str | None = None) -> int:
    target = f'"{rp or sink.retention_policy}"."{measurement}"'
    series = sink.query(f"SELECT count(events) FROM {target}")["results"][0].get("series")
    return int(series[0]["values"][0][1]) if series else 0


def test_version_is_read_from_ping(influx_url: str) -> None:
    version = server_version(influx_url)
    assert major_version(version) == 1
    assert major_version("v2.7.10") == 2 and major_version("3.0.1") == 3
    with pytest.raises(InfluxWriteError, match="not reachable"):
        server_version("http://127.0.0.1:9")


def test_v1_creates_the_database_with_30_day_retention_and_overwrites_repeats(influx_url: str) -> None:
    sink = V1Sink(influx_url, "sink_test")
    sink.ensure_database()
    sink.ensure_database()  # idempotent
    policies = sink.query('SHOW RETENTION POLICIES ON "sink_test"')["results"][0]["series"][0]["values"]
    assert ["ecom_30d", "720h0m0s", "24h0m0s", 1, True] in [p[:5] for p in policies]
    lines = [point(USER_BEHAVIOR, NOW - dt.timedelta(hours=h), {"events": 10 + h, "conversion_rate": 0}, {"granularity": "hour"})
             for h in range(5)]
    assert sink.write("batch-1", lines) == 5
    sink.write("batch-1", lines)  # the same points again: stored over themselves
    assert _count(sink, "user_behavior") == 5
    rows = sink.query('SELECT events, conversion_rate FROM "ecom_30d"."user_behavior" ORDER BY time DESC LIMIT 1')
    assert rows["results"][0]["series"][0]["values"][0][1:] == [10, 0]


def test_v1_refuses_points_beyond_retention_loudly(influx_url: str) -> None:
    sink = V1Sink(influx_url, "sink_old")
    sink.ensure_database()
    old = point(USER_BEHAVIOR, dt.datetime(2019, 11, 1, tzinfo=dt.UTC), {"events": 1}, {"granularity": "hour"})
    with pytest.raises(InfluxWriteError, match="beyond retention"):
        sink.write("old", [old])


def test_v1_original_mode_keeps_2019_times(influx_url: str) -> None:
    sink = V1Sink(influx_url, "sink_original", original=True)
    sink.ensure_database()
    old = point(USER_BEHAVIOR, dt.datetime(2019, 11, 1, tzinfo=dt.UTC), {"events": 1}, {"granularity": "hour"})
    sink.write("old", [old])
    assert _count(sink, "user_behavior") == 1


def test_file_sink_output_is_accepted_by_the_real_server(influx_url: str, tmp_path: Path) -> None:
    files = FileSink(tmp_path / "influx")
    lines = [point(USER_BEHAVIOR, NOW - dt.timedelta(minutes=m), {"events": m, "revenue": 1.5},
                   {"granularity": "minute"}) for m in range(3)]
    files.write("hour 1", lines)
    files.write("hour 1", lines)  # rewritten, not appended
    body = files.path_for("hour 1").read_bytes()
    assert body.count(b"\n") == 3
    sink = V1Sink(influx_url, "sink_files")
    sink.ensure_database()
    answer = requests.post(f"{influx_url}/write", params={"db": "sink_files", "precision": "s", "rp": "ecom_30d"},
                           data=body, timeout=10)
    assert answer.status_code == 204, answer.text
    assert _count(sink, "user_behavior") == 3


def test_points_refuse_undeclared_fields_and_keep_types() -> None:
    line = point(USER_BEHAVIOR, NOW, {"events": 3.0, "conversion_rate": 1}, {"granularity": "hour"})
    assert "events=3i" in line and "conversion_rate=1" in line and "conversion_rate=1i" not in line
    with pytest.raises(ValueError, match="undeclared fields"):
        point(USER_BEHAVIOR, NOW, {"user_id": 1})
    with pytest.raises(ValueError, match="undeclared tags"):
        point(USER_BEHAVIOR, NOW, {"events": 1}, {"user_id": "1"})


class _FakeV2(http.server.BaseHTTPRequestHandler):
    """Answers like InfluxDB 2.x's bucket and write APIs, recording what it was sent."""

    requests: list[dict] = []
    write_failures: list[int] = []

    def _reply(self, status: int, body: dict | None = None) -> None:
        payload = json.dumps(body or {}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:  # noqa: N802
        self.requests.append({"method": "GET", "path": self.path, "auth": self.headers.get("Authorization")})
        if self.path.startswith("/api/v2/buckets"):
            self._reply(200, {"buckets": []})
        elif self.path.startswith("/api/v2/orgs"):
            self._reply(200, {"orgs": [{"id": "0123456789abcdef", "name": "shop"}]})
        else:
            self._reply(404)

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length).decode()
        self.requests.append({"method": "POST", "path": self.path, "auth": self.headers.get("Authorization"),
                              "body": body})
        if self.path.startswith("/api/v2/write"):
            if self.write_failures:
                status = self.write_failures.pop(0)
                self._reply(status, {"code": "invalid", "message": "partial write: points beyond retention policy"})
                return
            self.send_response(204)
            self.end_headers()
        elif self.path.startswith("/api/v2/buckets"):
            sent = json.loads(body)
            self._reply(201, {"id": "b1", "name": sent["name"], "retentionRules": sent["retentionRules"]})
        else:
            self._reply(404)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def fake_v2() -> Iterator[str]:
    """A local HTTP server standing in for InfluxDB 2.x: no 2.x binary or Docker engine can run here."""
    _FakeV2.requests = []
    _FakeV2.write_failures = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeV2)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_v2_path_creates_the_bucket_and_writes_line_protocol(fake_v2: str) -> None:
    sink = V2Sink(fake_v2, "ecommerce_analytics", "shop", token="s3cret")
    assert "s3cret" not in repr(sink) and "s3cret" not in sink.describe()
    sink.ensure_database()
    created = [r for r in _FakeV2.requests if r["method"] == "POST" and r["path"].startswith("/api/v2/buckets")]
    assert created and json.loads(created[0]["body"])["retentionRules"][0]["everySeconds"] == 30 * 24 * 3600
    line = point(USER_BEHAVIOR, NOW, {"events": 1}, {"granularity": "hour"})
    _FakeV2.write_failures = [503]  # one server error, then success: retried
    sink.write("hour", [line])
    writes = [r for r in _FakeV2.requests if r["path"].startswith("/api/v2/write")]
    assert len(writes) == 2 and writes[-1]["body"] == line
    assert "bucket=ecommerce_analytics" in writes[-1]["path"] and "precision=s" in writes[-1]["path"]
    assert writes[-1]["auth"] == "Token s3cret"
    _FakeV2.write_failures = [400]
    with pytest.raises(InfluxWriteError, match="HTTP 400"):
        sink.write("hour", [line])


ADMIN = ("ecom_admin", "right-password-3b7e")


@pytest.fixture(scope="module")
def secured_influx_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second real InfluxDB 1.x, with authentication on and one admin (token ``user:password``)."""
    from ecom_assets.publishing.influx_server import start_local_influx

    server = start_local_influx(tmp_path_factory.mktemp("secured-influxdb"), admin=ADMIN)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.mark.faults
def test_a_wrong_token_is_one_clear_error_that_names_the_setting(secured_influx_url: str) -> None:
    wrong = "ecom_admin:wrong-password-91c2"
    with pytest.raises(InfluxWriteError, match="HTTP 401: InfluxDB refused the credentials") as refused:
        V1Sink(secured_influx_url, "secured_test", wrong).ensure_database()
    assert "set INFLUX_TOKEN to a token with write access" in str(refused.value)
    assert wrong not in str(refused.value) and "wrong-password" not in str(refused.value)
    right = V1Sink(secured_influx_url, "secured_test", ":".join(ADMIN))
    right.ensure_database()
    assert right.write("b", [point(USER_BEHAVIOR, NOW, {"events": 1, "conversion_rate": 0}, {"granularity": "hour"})]) == 1


@pytest.mark.faults
@pytest.mark.parametrize(("token", "expected"), [
    ("ecom_admin:wrong-password-91c2", "FAIL influxdb: {url} (1."),
    ("", "FAIL influxdb: {url} (1."),
    (":".join(ADMIN), "ok   influxdb: {url} answers (1."),
])
def test_doctor_checks_the_token_before_a_replay(secured_influx_url: str, isolated_env: Path,
                                                 monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                                 token: str, expected: str) -> None:
    from ecom_assets.cli import main

    monkeypatch.setenv("INFLUX_URL", secured_influx_url)
    monkeypatch.setenv("INFLUX_TOKEN", token)
    main(["doctor", "--no-spark"])
    out = capsys.readouterr().out
    assert expected.format(url=secured_influx_url) in out, out
    if expected.startswith("FAIL"):
        assert "refused INFLUX_TOKEN: HTTP 401" in out and "set INFLUX_TOKEN to a token with write access" in out
    assert not token or token not in out
