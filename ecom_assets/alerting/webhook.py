"""Post an alert as JSON to the operator's webhook (``ECOM_ALERT_WEBHOOK_URL``), never failing the caller.

The URL often carries a token (Slack, Teams, a paging service): it is read from the environment when
an alert goes out and never written to a log, a message or Dagster metadata.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

import requests

WEBHOOK_ENV = "ECOM_ALERT_WEBHOOK_URL"
TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Alert:
    """What went wrong, where, and why: the body posted to the webhook."""

    title: str
    text: str
    run_id: str = ""
    job: str = ""
    partition: str = ""
    failed_steps: list[str] = field(default_factory=list)
    failed_checks: list[str] = field(default_factory=list)
    source: str = "ecom-assets"


def webhook_url() -> str:
    """The operator's webhook, empty when none is configured (alerts then go to the log only)."""
    return os.environ.get(WEBHOOK_ENV, "").strip()


def send(alert: Alert, url: str | None = None) -> str:
    """Post ``alert``; returns one line for the log saying what happened (the URL is never in it)."""
    target = webhook_url() if url is None else url
    if not target:
        return f"no webhook configured ({WEBHOOK_ENV}): alert logged only"
    try:
        response = requests.post(target, json=asdict(alert), timeout=TIMEOUT_S)
    except requests.RequestException as error:
        return f"webhook not reached ({type(error).__name__}): alert logged only"
    if response.status_code >= 400:
        return f"webhook answered HTTP {response.status_code}: alert logged only"
    return f"alert sent to the webhook (HTTP {response.status_code})"
