"""A fresh Spark Connect server warmed up on the replay's own work before the first replayed hour.

A new JVM interprets, then compiles, the code an hour runs: measured on the real files' sizes, the
first sale hour after a start took 9.9 s, the next ones 3.6, 3.2, 2.5 and 2.2 s, then about 2 s.
``ecom spark start`` therefore runs a few hours of November through the hour's computations
(:func:`ecom_assets.replay.behaviour.spark_jobs.process_hour`) once the server listens, writing into a scratch
folder that is removed afterwards: the lake and the replay's state are left untouched.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from dataclasses import dataclass

from pyspark.sql import SparkSession

from ecom_assets.lake import Lake, is_local, local_path
from ecom_assets.replay.behaviour.spark_jobs import hour_events, process_hour

# The Nov 17 sale's morning: the month's largest hours, so the warm-up runs the hour's code on as many
# rows as the heaviest replayed hours do.
WARM_UP_FROM = dt.datetime(2019, 11, 17, 8, tzinfo=dt.UTC)
WARM_UP_HOURS = 4


@dataclass(frozen=True)
class WarmUp:
    """What the warm-up ran: hours, their events, seconds in all, or why it did not run."""

    hours: int
    events: int
    seconds: float
    skipped: str = ""

    def describe(self) -> str:
        """One line for the command line."""
        if self.skipped:
            return f"warm-up skipped: {self.skipped}"
        return f"warmed up on {self.hours} hours of November ({self.events:,} events) in {self.seconds:.1f} s"


def nothing_to_warm_up_on(lake: Lake) -> str:
    """Why ``lake`` cannot be warmed up on (its raw events are missing), or an empty string."""
    if is_local(lake.raw_events) and not (local_path(lake.raw_events) / "_SUCCESS").is_file():
        return f"no raw events in {lake.root} yet (materialize raw_events)"
    return ""


def warm_up(session: SparkSession, lake: Lake, hours: int = WARM_UP_HOURS, first: dt.datetime = WARM_UP_FROM
            ) -> WarmUp:
    """Run ``hours`` hours from ``first`` through the replayed hour's computations on ``session``,
    reading ``lake``'s raw events and writing nothing to it."""
    if reason := nothing_to_warm_up_on(lake):
        return WarmUp(0, 0, 0.0, skipped=reason)
    began = time.perf_counter()
    events_seen = 0
    with tempfile.TemporaryDirectory(prefix="ecom-warm-up-") as scratch:
        for i in range(hours):
            start = first + dt.timedelta(hours=i)
            events = hour_events(session, lake, start)
            try:
                events_seen += int(process_hour(session, Lake(scratch), start, events).summary["events"])
            finally:
                events.unpersist()
    return WarmUp(hours, events_seen, time.perf_counter() - began)


def warm_up_server(url: str, lake: Lake, hours: int = WARM_UP_HOURS, first: dt.datetime = WARM_UP_FROM) -> WarmUp:
    """Connect to the Spark Connect server at ``url``, warm it up (:func:`warm_up`) and disconnect."""
    if reason := nothing_to_warm_up_on(lake):
        return WarmUp(0, 0, 0.0, skipped=reason)
    session = SparkSession.builder.remote(url).create()
    try:
        return warm_up(session, lake, hours, first)
    finally:
        session.stop()
