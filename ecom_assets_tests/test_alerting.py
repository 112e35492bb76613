"""Failed runs are reported to the log and the operator's webhook (a real local HTTP receiver), secrets kept out."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import dagster as dg
import pytest

from ecom_assets.alerting.run_failures import SENSOR_NAME, alert_on_run_failure, failure_alert
from ecom_assets.alerting.webhook import WEBHOOK_ENV, Alert, send


@pytest.fixture()
def receiver() -> Iterator[tuple[str, list[dict]]]:
    """A webhook on 127.0.0.1 that records every JSON body it is sent."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if not self.path.startswith("/hook"):
                self.send_response(404)
                self.end_headers()
                return
            received.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook?token=s3cret", received
    finally:
        server.shutdown()


@dg.asset(check_specs=[dg.AssetCheckSpec("rows_conserved", asset="events", blocking=True)])
def events() -> dg.MaterializeResult:
    """An asset whose blocking check fails, as a bad input file would make it."""
    return dg.MaterializeResult(check_results=[dg.AssetCheckResult(check_name="rows_conserved", passed=False)])


@dg.asset(deps=[events])
def downstream() -> None:
    """Never runs: the blocking check stops the run before it."""


def failed_run_context(instance: dg.DagsterInstance) -> dg.RunFailureSensorContext:
    """Run a job whose blocking check fails, and the run-failure sensor's context for it."""
    job = dg.Definitions(assets=[events, downstream], jobs=[dg.define_asset_job("hourly")]).resolve_job_def("hourly")
    result = job.execute_in_process(instance=instance, raise_on_error=False,
                                    tags={"dagster/partition": "2019-11-16-14:00"})
    assert not result.success
    run = instance.get_run_by_id(result.run_id)
    failure = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)[0].dagster_event
    return dg.build_run_status_sensor_context(SENSOR_NAME, failure, instance, run).for_run_failure()


def test_a_failed_run_is_reported_with_its_hour_steps_and_failed_check(receiver, monkeypatch) -> None:
    url, received = receiver
    monkeypatch.setenv(WEBHOOK_ENV, url)
    with dg.instance_for_test() as instance:
        context = failed_run_context(instance)
        alert = failure_alert(context)
        alert_on_run_failure(context)
    assert alert.partition == "2019-11-16-14:00" and alert.job == "hourly"
    assert alert.failed_checks == ["events:rows_conserved (ERROR)"]
    assert "failed" in alert.title and "2019-11-16-14:00" in alert.text
    assert received == [json.loads(json.dumps(alert.__dict__))]


def test_without_a_webhook_or_when_it_is_down_the_alert_is_logged_and_nothing_raises(monkeypatch) -> None:
    monkeypatch.delenv(WEBHOOK_ENV, raising=False)
    alert = Alert("t", "x")
    assert "no webhook configured" in send(alert)
    outcome = send(alert, "http://127.0.0.1:9/hook?token=s3cret")
    assert "not reached" in outcome and "s3cret" not in outcome and "127.0.0.1" not in outcome


def test_an_error_answer_is_reported_without_the_url(receiver) -> None:
    url, _ = receiver
    outcome = send(Alert("t", "x"), url.replace("/hook", "/missing"))
    assert outcome == "webhook answered HTTP 404: alert logged only"
