"""A Spark Connect server that stops answering: a bounded wait, then one line naming it and the fix.

Left alone, a Spark Connect client retries an unreachable server for more than ten minutes (pyspark's
``DefaultPolicy``: 15 retries, back-off up to a minute), then raises a gRPC dump
(``_MultiThreadedRendezvous of RPC that terminated with: status = StatusCode.UNAVAILABLE ...``). A
replayed hour must fail fast instead, so the replay retries it or waits for the server, and the user
must read what to do: start the server again with ``ecom spark start``.

The retry bound goes through pyspark's client retry policies (``SparkConnectClient.set_retry_policies``
and ``pyspark.sql.connect.client.retries.DefaultPolicy``): not in pyspark's published API reference, so
fenced here and exercised against a real server killed mid-query by the tests.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from pyspark.sql import SparkSession

# pyspark's first retry waits 50 ms and each next one 4 times longer; the project caps one wait at 5 s,
# so a server restarting (a JVM start, ~10 s) is still found, and the whole wait stays near the bound.
FIRST_WAIT_MS = 50
BACKOFF_MULTIPLIER = 4.0
MAX_WAIT_MS = 5_000
UNAVAILABLE = "StatusCode.UNAVAILABLE"
# gRPC names the address it could not reach: ``ipv4:127.0.0.1:15002: Failed to connect ...``.
GRPC_ADDRESS = re.compile(r"\b(?:ipv4|ipv6|dns):(\[[^\]]+\]|[\w.-]+):(\d+)")


class SparkConnectUnavailableError(RuntimeError):
    """The Spark Connect server did not answer within the wait: the message says which and what to do."""


def retries_within(wait_s: float) -> int:
    """How many retries pyspark's back-off (50 ms, x4, capped at 5 s) makes in about ``wait_s`` seconds."""
    waited_ms, wait_ms, retries = 0.0, float(FIRST_WAIT_MS), 0
    while waited_ms < wait_s * 1000:
        waited_ms += wait_ms
        wait_ms = min(wait_ms * BACKOFF_MULTIPLIER, MAX_WAIT_MS)
        retries += 1
    return retries


def bound_retries(session: SparkSession, wait_s: float) -> None:
    """Make ``session`` give up on an unreachable server after about ``wait_s`` seconds (fenced: pyspark's
    client retry policies)."""
    from pyspark.sql.connect.client.retries import DefaultPolicy

    policy = DefaultPolicy(max_retries=retries_within(wait_s), initial_backoff=FIRST_WAIT_MS,
                           backoff_multiplier=BACKOFF_MULTIPLIER, max_backoff=MAX_WAIT_MS)
    session.client.set_retry_policies([policy])
    # pyspark also warns "[RETRIES_EXCEEDED] ..." when it gives up: the error that follows says it better.
    warnings.filterwarnings("ignore", message=r"\[RETRIES_EXCEEDED\]", category=UserWarning)


def server_address(url: str) -> str:
    """``sc://host:port`` of a Spark Connect URL, without its parameters (a ``token=`` must not be shown)."""
    return url.partition("/;")[0].rstrip("/")


def unavailable_message(error_text: str, url: str = "") -> str | None:
    """The one-line explanation of a failure that is an unreachable Spark Connect server, or None.

    ``url``: the server the project was told to use; without it, the address gRPC names in the error.
    """
    if UNAVAILABLE not in error_text:
        return None
    where = server_address(url) if url else _address_in(error_text)
    return (f"the Spark Connect server at {where} does not answer: start it with `ecom spark start` (or unset "
            "ECOM_SPARK_REMOTE to run Spark in this process), then run the same command again; the replay "
            "sensor goes on by itself once the server answers")


def _address_in(error_text: str) -> str:
    """``sc://host:port`` from the address in a gRPC error, or a plain description without one."""
    match = GRPC_ADDRESS.search(error_text)
    return f"sc://{match.group(1)}:{match.group(2)}" if match else "ECOM_SPARK_REMOTE"


@contextmanager
def outage_explained(url: str) -> Iterator[None]:
    """Re-raise an unreachable-server failure inside the block as ``SparkConnectUnavailableError`` (with
    the original as its cause); every other error passes unchanged."""
    try:
        yield
    except Exception as error:
        message = unavailable_message(str(error), url) if url else None
        if message is None:
            raise
        raise SparkConnectUnavailableError(message) from error
