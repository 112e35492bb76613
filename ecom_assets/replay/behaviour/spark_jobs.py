"""One replayed hour on Spark: its events read once, then its few small jobs run side by side.

The hour's events sit in one cached partition (see :func:`hour_events`), so each query over them is a
chain of single tasks that keeps one core busy. The behaviour totals, the product rankings and the next
trend state are independent, so they are submitted together (:func:`run_concurrently`): the step then
takes about as long as its longest job instead of their sum.

Each hour also keeps its session table (``processed/replay/hourly_sessions``), so the day's roll-up
(:func:`day_rollup`, its own daily asset and run) merges 24 small tables instead of scanning the day's
events again beside the next hours.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from ecom_assets.ingest.tables import read_raw_events
from ecom_assets.lake import Lake, is_local, local_path
from ecom_assets.replay.written import written
from ecom_assets.replay.behaviour.metrics import (
    events_between,
    hour_and_minutes,
    merged_sessions,
    next_trend_state,
    product_scores,
    rank_rows,
    rankings,
    session_table,
    session_totals,
    top_categories,
    trending,
)
from ecom_assets.replay.orchestration.partitions import REPLAY_END, REPLAY_START, part_name
from ecom_assets.replay.orchestration.parts import run_concurrently

TREND_STATE_SCHEMA = T.StructType([T.StructField("product_id", T.LongType()), T.StructField("baseline", T.DoubleType())])
SESSION_SCHEMA = T.StructType([
    T.StructField("user_session", T.StringType()), T.StructField("user_id", T.LongType()),
    *(T.StructField(name, T.LongType()) for name in ("events", "views", "carts", "purchases")),
    T.StructField("revenue", T.DoubleType()),
    T.StructField("first_event", T.TimestampType()), T.StructField("last_event", T.TimestampType())])
# The columns the hour's computations use (brand and category id are not decoded).
HOUR_COLUMNS = ("event_time", "event_type", "product_id", "category_code", "price", "user_id", "user_session")


def hour_events(session: SparkSession, lake: Lake, start: dt.datetime, columns: tuple[str, ...] = HOUR_COLUMNS
                ) -> DataFrame:
    """The hour's events from ``raw/`` (original timestamps), cached for the few jobs that read them.

    An hour is small (a few hundred thousand events at most), so it is held in one partition: every
    aggregation over it then runs without a shuffle, which saves a scheduling round per query.
    """
    events = events_between(read_raw_events(session, lake), start, start + dt.timedelta(hours=1))
    return events.select(*columns).coalesce(1).cache()


def prefetch_next_hour(session: SparkSession, lake: Lake, start: dt.datetime) -> int | None:
    """Read and cache the events of the hour after ``start`` now, so that hour's step finds them in the
    server's cache (the same plan as :func:`hour_events`) instead of reading them while the replay waits
    for its points; that step releases them. Returns their count (None after November's last hour).

    Only worth it where the session outlives the run (a Spark Connect server): a run's own local
    session ends with the run, and the cache with it.
    """
    following = start + dt.timedelta(hours=1)
    if following >= REPLAY_END:
        return None
    return hour_events(session, lake, following).count()


def previous_trend_state(session: SparkSession, lake: Lake, start: dt.datetime) -> tuple[DataFrame, bool]:
    """The trend state written by the previous hour, and whether it was missing (a replay starting mid-month)."""
    empty = session.createDataFrame([], TREND_STATE_SCHEMA)
    if start == REPLAY_START:
        return empty, False
    path = lake.replay_table("product_trends", part_name(start - dt.timedelta(hours=1)))
    if not written(path, session):
        return empty, True
    return session.read.schema(TREND_STATE_SCHEMA).parquet(path), False


def write_part(frame: DataFrame, path: str) -> None:
    """Overwrite one hour's (or day's) folder of a replay table (re-running an hour replaces it)."""
    frame.coalesce(1).write.mode("overwrite").parquet(path)


@dataclass(frozen=True)
class ReplayHour:
    """What one hour produced: the totals, the minute series, the three top-10 lists, whether the trend
    state started empty, and seconds per job."""

    summary: dict
    minutes: list[dict]
    lists: dict[str, list[dict]]
    cold_start: bool
    seconds: dict[str, float] = field(default_factory=dict)


def empty_summary() -> dict:
    """The totals of an hour without events."""
    return {"events": 0, "views": 0, "carts": 0, "purchases": 0, "active_users": 0, "sessions": 0, "buyers": 0,
            "revenue": 0.0, "conversion_rate": 0.0, "cart_rate": 0.0, "session_duration_mean_s": 0.0}


def process_hour(session: SparkSession, lake: Lake, start: dt.datetime, events: DataFrame) -> ReplayHour:
    """The hour starting at ``start``: behaviour totals and minutes, product rankings against the previous
    hours' trend state, and the next trend state written (``processed/replay/product_trends``).

    The independent jobs run concurrently; any job's error is raised after all have finished, so a
    failed hour leaves no job running behind it. ``events``: the hour's cached events
    (:func:`hour_events`), released by the caller.
    """
    seconds: dict[str, float] = {}
    previous, cold_start = previous_trend_state(session, lake, start)
    scores = product_scores(events).cache()  # ranked and carried to the next hour
    sessions = session_table(events).cache()  # totalled, and kept for the day's roll-up

    def behaviour() -> list[dict]:
        return [r.asDict() for r in hour_and_minutes(events, sessions).collect()]

    def kept_sessions() -> None:
        write_part(sessions, lake.replay_table("hourly_sessions", part_name(start)))

    def ranked() -> dict[str, list[dict]]:
        return rank_rows([r.asDict() for r in rankings(trending(previous, scores), top_categories(events)).collect()])

    def trend_state() -> None:
        write_part(next_trend_state(previous, scores), lake.replay_table("product_trends", part_name(start)))

    jobs = {"behaviour": behaviour, "rankings": ranked, "trend_state": trend_state, "sessions": kept_sessions}
    try:
        results = run_concurrently(jobs, seconds)
    finally:
        scores.unpersist()
        sessions.unpersist()
    rows = results["behaviour"]
    summary = next((r for r in rows if r["minute"] is None), None) or empty_summary()
    minutes = sorted((r for r in rows if r["minute"] is not None), key=lambda r: r["minute"])
    return ReplayHour(summary=summary, minutes=minutes, lists=results["rankings"], cold_start=cold_start,
                      seconds=seconds)


def hourly_session_parts(lake: Lake, day: dt.datetime) -> list[str] | None:
    """The day's 24 hourly session tables, or None when one is missing or older than the raw events
    (re-ingested since that hour ran), or the lake is not a local folder (then the raw events are read)."""
    if not is_local(lake.root):
        return None
    raw_written = local_path(lake.raw_events) / "_SUCCESS"
    paths = [lake.replay_table("hourly_sessions", part_name(day + dt.timedelta(hours=h))) for h in range(24)]
    for path in paths:
        done = local_path(path) / "_SUCCESS"
        if not done.is_file() or (raw_written.is_file() and done.stat().st_mtime < raw_written.stat().st_mtime):
            return None
    return paths


@dataclass(frozen=True)
class DayRollup:
    """A day's totals (the keys of :func:`empty_summary`) and where they came from: ``hourly_sessions``
    (the hours' session tables merged) or ``raw_events`` (the day's events scanned)."""

    values: dict
    source: str


def day_rollup(session: SparkSession, lake: Lake, day: dt.datetime) -> DayRollup:
    """The day's totals (users, sessions and buyers distinct over the whole day; the same definitions as
    an hour's, see :func:`session_totals`), written to ``processed/replay/daily_behaviour/day=YYYY-MM-DD``.

    Merged from the day's 24 hourly session tables when all are there and current (see
    :func:`hourly_session_parts`), else computed from the day's raw events: both give the same totals.
    """
    parts = hourly_session_parts(lake, day)
    if parts is not None:
        sessions, source = merged_sessions(session.read.schema(SESSION_SCHEMA).parquet(*parts)), "hourly_sessions"
    else:
        day_events = events_between(read_raw_events(session, lake), day, day + dt.timedelta(days=1))
        sessions, source = session_table(day_events.select(*HOUR_COLUMNS)), "raw_events"
    row = session_totals(sessions).first()
    values = row.asDict() if row is not None else empty_summary()
    write_part(session.createDataFrame([{**values, "day": day}]),
               lake.replay_table("daily_behaviour", day.strftime("day=%Y-%m-%d")))
    return DayRollup(values, source)
