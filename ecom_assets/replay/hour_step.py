"""One replayed hour on Spark: its events read once, then its few small jobs run side by side.

The hour's events sit in one cached partition (see :func:`hour_events`), so each query over them is a
chain of single tasks that keeps one core busy. The behaviour totals, the product rankings and the next
trend state are independent, so they are submitted together (:func:`run_concurrently`): the step then
takes about as long as its longest job instead of their sum.

The day's roll-up (:func:`day_rollup`) scans a whole day, so it is its own daily asset and run, not
part of an hour's step.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from ecom_assets.concurrent_jobs import run_concurrently
from ecom_assets.ingest.tables import read_raw_events
from ecom_assets.lake import Lake, is_local, local_path
from ecom_assets.replay.hourly import (
    events_between,
    hour_and_minutes,
    next_trend_state,
    product_scores,
    rank_rows,
    rankings,
    session_table,
    session_totals,
    top_categories,
    trending,
)
from ecom_assets.replay.partitions import REPLAY_START, part_name

TREND_STATE_SCHEMA = T.StructType([T.StructField("product_id", T.LongType()), T.StructField("baseline", T.DoubleType())])
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


def previous_trend_state(session: SparkSession, lake: Lake, start: dt.datetime) -> tuple[DataFrame, bool]:
    """The trend state written by the previous hour, and whether it was missing (a replay starting mid-month)."""
    empty = session.createDataFrame([], TREND_STATE_SCHEMA)
    if start == REPLAY_START:
        return empty, False
    path = lake.replay_table("product_trends", part_name(start - dt.timedelta(hours=1)))
    if is_local(path) and not (local_path(path) / "_SUCCESS").is_file():
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

    def behaviour() -> list[dict]:
        return [r.asDict() for r in hour_and_minutes(events).collect()]

    def ranked() -> dict[str, list[dict]]:
        return rank_rows([r.asDict() for r in rankings(trending(previous, scores), top_categories(events)).collect()])

    def trend_state() -> None:
        write_part(next_trend_state(previous, scores), lake.replay_table("product_trends", part_name(start)))

    jobs = {"behaviour": behaviour, "rankings": ranked, "trend_state": trend_state}
    try:
        results = run_concurrently(jobs, seconds)
    finally:
        scores.unpersist()
    rows = results["behaviour"]
    summary = next((r for r in rows if r["minute"] is None), None) or empty_summary()
    minutes = sorted((r for r in rows if r["minute"] is not None), key=lambda r: r["minute"])
    return ReplayHour(summary=summary, minutes=minutes, lists=results["rankings"], cold_start=cold_start,
                      seconds=seconds)


def day_rollup(session: SparkSession, lake: Lake, day: dt.datetime) -> dict:
    """The day's totals from all its events in ``raw/`` (users, sessions and buyers distinct over the whole
    day; the same definitions as an hour's, see :func:`session_totals`), written to
    ``processed/replay/daily_behaviour/day=YYYY-MM-DD``."""
    day_events = events_between(read_raw_events(session, lake), day, day + dt.timedelta(days=1))
    row = session_totals(session_table(day_events.select(*HOUR_COLUMNS))).first()
    values = row.asDict() if row is not None else empty_summary()
    write_part(session.createDataFrame([{**values, "day": day}]),
               lake.replay_table("daily_behaviour", day.strftime("day=%Y-%m-%d")))
    return values
