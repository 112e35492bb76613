"""Where points go: InfluxDB 1.x (v1 HTTP API), InfluxDB 2.x/3.x (influxdb-client) or line-protocol files.

Every sink writes a *batch* (one replayed hour, say) under a batch id; writing the same batch again
writes the same points, which InfluxDB stores over the old ones (same measurement, tags and time)
and the file sink stores in the same file. Writes are retried with backoff on connection errors
and 5xx answers; any other failure (a 4xx such as "partial write: points beyond retention policy
dropped") raises at once, never silently drops points.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import requests

RETENTION = "30d"
RETENTION_SECONDS = 30 * 24 * 3600
ORIGINAL_SUFFIX = "_original"
RETRIES = 4
BACKOFF_S = 0.5
TIMEOUT_S = 30.0
BATCH_LINES = 5000
CREDENTIALS_FIX = "set INFLUX_TOKEN to a token with write access (a 1.x server with authentication: user:password)"


class InfluxWriteError(RuntimeError):
    """A write InfluxDB refused or that kept failing after the retries."""


class Sink(Protocol):
    """Something that stores line protocol."""

    def ensure_database(self) -> None:
        """Create the database (or bucket) with its retention when missing."""

    def write(self, batch_id: str, lines: Sequence[str]) -> int:
        """Store ``lines`` as batch ``batch_id``; returns the number of points written."""

    def describe(self) -> str:
        """Where the points go, without secrets."""


def with_retries(action: Callable[[], requests.Response], what: str, retries: int = RETRIES,
                 backoff_s: float = BACKOFF_S) -> requests.Response:
    """Run an HTTP ``action``; retry connection errors and 5xx with exponential backoff; raise on 4xx."""
    last = ""
    for attempt in range(retries + 1):
        try:
            response = action()
        except requests.RequestException as exc:
            last = f"{exc.__class__.__name__}: {exc}"
        else:
            if response.status_code < 400:
                return response
            if response.status_code in (401, 403):
                raise InfluxWriteError(f"{what}: HTTP {response.status_code}: InfluxDB refused the credentials "
                                       f"({response.text.strip()[:200]}): {CREDENTIALS_FIX}")
            if response.status_code < 500:
                raise InfluxWriteError(f"{what}: HTTP {response.status_code}: {response.text.strip()[:500]}")
            last = f"HTTP {response.status_code}: {response.text.strip()[:200]}"
        if attempt < retries:
            time.sleep(backoff_s * 2**attempt)
    raise InfluxWriteError(f"{what}: failed after {retries + 1} attempts ({last})")


def v1_auth_headers(token: str) -> dict[str, str]:
    """The header a 1.x server accepts for ``token``: ``user:password`` as HTTP Basic (every 1.x release; the
    ``Token user:password`` form needs 1.8+), anything else as ``Token`` (the 1.x API of InfluxDB 2.x and 3.x)."""
    if not token:
        return {}
    if ":" in token:
        return {"Authorization": "Basic " + base64.b64encode(token.encode()).decode()}
    return {"Authorization": f"Token {token}"}


def chunks(lines: Sequence[str], size: int = BATCH_LINES) -> list[Sequence[str]]:
    """``lines`` cut into write batches of at most ``size``."""
    return [lines[i:i + size] for i in range(0, len(lines), size)] or []


@dataclass
class FileSink:
    """Line protocol files under ``folder``, one per batch id (rewritten when the batch is re-run).

    Load them later with ``influx write --bucket ecommerce_analytics --file F`` (2.x) or
    ``curl -XPOST 'http://HOST:8086/write?db=ecommerce_analytics&precision=s' --data-binary @F`` (1.x).
    """

    folder: Path

    def ensure_database(self) -> None:
        """Create the folder."""
        self.folder.mkdir(parents=True, exist_ok=True)

    def path_for(self, batch_id: str) -> Path:
        """The file of one batch."""
        return self.folder / (re.sub(r"[^A-Za-z0-9_.-]", "_", batch_id) + ".lp")

    def write(self, batch_id: str, lines: Sequence[str]) -> int:
        """Write the batch atomically (a temporary file renamed over the old one)."""
        self.ensure_database()
        target = self.path_for(batch_id)
        tmp = target.with_suffix(".lp.tmp")
        tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        tmp.replace(target)
        return len(lines)

    def describe(self) -> str:
        """The folder."""
        return f"line-protocol files in {self.folder}"


@dataclass
class V1Sink:
    """InfluxDB 1.x through its HTTP API (``/query``, ``/write``), 30-day default retention policy.

    ``original`` writes into an extra retention policy of infinite duration, for unshifted 2019 times.
    """

    url: str
    database: str
    token: str = field(default="", repr=False)
    original: bool = False
    session: requests.Session = field(default_factory=requests.Session, repr=False)

    @property
    def retention_policy(self) -> str:
        """The retention policy written to."""
        return f"{self.database}{ORIGINAL_SUFFIX}" if self.original else "ecom_30d"

    def _headers(self) -> dict[str, str]:
        """The credentials' header (see ``v1_auth_headers``)."""
        return v1_auth_headers(self.token)

    def query(self, statement: str, method: str = "GET") -> dict:
        """Run InfluxQL and return the JSON answer (errors raise with the server's message)."""
        response = with_retries(
            lambda: self.session.request(method, f"{self.url}/query", params={"q": statement, "db": self.database},
                                         headers=self._headers(), timeout=TIMEOUT_S), f"query {statement[:60]!r}")
        payload = response.json()
        errors = [r["error"] for r in payload.get("results", []) if "error" in r]
        if errors:
            raise InfluxWriteError(f"query {statement[:60]!r}: {errors[0]}")
        return payload

    def ensure_database(self) -> None:
        """Create the database and its 30-day (default) and infinite retention policies when missing."""
        names = self.query("SHOW DATABASES")["results"][0].get("series", [{}])[0].get("values", [])
        if [self.database] not in names:
            self.query(f'CREATE DATABASE "{self.database}" WITH DURATION {RETENTION} REPLICATION 1 NAME "ecom_30d"',
                       "POST")
        if self.original:
            policies = self.query(f'SHOW RETENTION POLICIES ON "{self.database}"')["results"][0]
            existing = {row[0] for row in policies.get("series", [{}])[0].get("values", [])}
            if self.retention_policy not in existing:
                self.query(f'CREATE RETENTION POLICY "{self.retention_policy}" ON "{self.database}" '
                           "DURATION INF REPLICATION 1", "POST")

    def write(self, batch_id: str, lines: Sequence[str]) -> int:
        """POST the lines in chunks; every chunk must be accepted whole (204)."""
        for part in chunks(lines):
            body = "\n".join(part).encode("utf-8")
            with_retries(
                lambda body=body: self.session.post(
                    f"{self.url}/write", params={"db": self.database, "precision": "s", "rp": self.retention_policy},
                    data=body, headers=self._headers(), timeout=TIMEOUT_S),
                f"write batch {batch_id} to {self.url}")
        return len(lines)

    def describe(self) -> str:
        """URL, database and retention policy (never the token)."""
        return f"InfluxDB 1.x at {self.url}, database {self.database}, retention policy {self.retention_policy}"


@dataclass
class V2Sink:
    """InfluxDB 2.x (and 3.x's v2-compatible write API) through ``influxdb-client``: bucket, org, token."""

    url: str
    bucket: str
    org: str
    token: str = field(default="", repr=False)
    original: bool = False

    @property
    def bucket_name(self) -> str:
        """The bucket written to (a second, infinite bucket in ``original`` mode)."""
        return f"{self.bucket}{ORIGINAL_SUFFIX}" if self.original else self.bucket

    def _client(self):
        """A client (the library is imported here so file and 1.x users never load it)."""
        from influxdb_client import InfluxDBClient

        return InfluxDBClient(url=self.url, token=self.token, org=self.org, timeout=int(TIMEOUT_S * 1000))

    def ensure_database(self) -> None:
        """Create the bucket with 30-day retention (infinite in ``original`` mode) when missing."""
        from influxdb_client import BucketRetentionRules

        with self._client() as client:
            buckets = client.buckets_api()
            if buckets.find_bucket_by_name(self.bucket_name) is None:
                seconds = 0 if self.original else RETENTION_SECONDS
                buckets.create_bucket(bucket_name=self.bucket_name, org=self.org,
                                      retention_rules=BucketRetentionRules(type="expire", every_seconds=seconds))

    def write(self, batch_id: str, lines: Sequence[str]) -> int:
        """Synchronous writes in chunks, retried on connection errors and 5xx."""
        from influxdb_client.client.write_api import SYNCHRONOUS
        from influxdb_client.rest import ApiException
        from urllib3.exceptions import HTTPError

        with self._client() as client:
            api = client.write_api(write_options=SYNCHRONOUS)
            for part in chunks(lines):
                for attempt in range(RETRIES + 1):
                    try:
                        api.write(bucket=self.bucket_name, org=self.org, record="\n".join(part), write_precision="s")
                        break
                    except ApiException as exc:
                        if exc.status is not None and exc.status < 500 or attempt == RETRIES:
                            raise InfluxWriteError(f"write batch {batch_id} to {self.url}: HTTP {exc.status}: "
                                                   f"{(exc.body or '')[:500]}") from exc
                    except HTTPError as exc:
                        if attempt == RETRIES:
                            raise InfluxWriteError(f"write batch {batch_id} to {self.url}: {exc}") from exc
                    time.sleep(BACKOFF_S * 2**attempt)
        return len(lines)

    def describe(self) -> str:
        """URL, org and bucket (never the token)."""
        return f"InfluxDB 2.x/3.x at {self.url}, org {self.org}, bucket {self.bucket_name}"


def influx_answers(url: str, timeout_s: float = 2.0) -> bool:
    """True when an InfluxDB answers ``/ping`` at ``url``: cheap enough for every tick of the replay sensor."""
    try:
        return requests.get(f"{url.rstrip('/')}/ping", timeout=timeout_s).status_code in (200, 204)
    except requests.RequestException:
        return False


def server_version(url: str, timeout_s: float = 5.0) -> str:
    """The server's version from ``/ping``'s ``X-Influxdb-Version`` header (``1.6.7``, ``v2.7.10``, ``3.0.1``)."""
    try:
        response = requests.get(f"{url.rstrip('/')}/ping", timeout=timeout_s)
    except requests.RequestException as exc:
        raise InfluxWriteError(f"InfluxDB at {url} is not reachable: {exc.__class__.__name__}: {exc}") from exc
    version = response.headers.get("X-Influxdb-Version", "")
    if not version:
        raise InfluxWriteError(f"{url}/ping answered HTTP {response.status_code} without an X-Influxdb-Version "
                               "header: is it an InfluxDB server?")
    return version


def major_version(version: str) -> int:
    """The major version number of a ``/ping`` version string."""
    match = re.match(r"v?(\d+)", version.strip())
    if not match:
        raise InfluxWriteError(f"unrecognised InfluxDB version {version!r}")
    return int(match.group(1))
