"""Hourly partitioned assets of the November replay: behaviour, product trends and the replay's own timings."""

import datetime as dt
import time
from pathlib import Path

import dagster as dg
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from ecom_assets.ingest.tables import read_raw_events
from ecom_assets.lake import Lake, is_local, local_path
from ecom_assets.replay.clock import ReplayClock, load_or_start
from ecom_assets.replay.hourly import (
    events_between,
    hour_and_minutes,
    hour_summary,
    next_trend_state,
    product_scores,
    rank_rows,
    rankings,
    top_categories,
    trending,
)
from ecom_assets.replay.partitions import PREVIOUS_HOUR, REPLAY_START, hour_start, november_hours, part_name
from ecom_assets.replay.points import behaviour_points, minute_points, popularity_points, replay_point
from ecom_assets.replay.tags import ATTEMPT_TAG, DUE_AT_TAG, REQUESTED_AT_TAG
from ecom_assets.resources import InfluxResource, LakeResource, SparkResource
from ecom_assets.settings import load_settings

GROUP = "replay"
TREND_STATE_SCHEMA = T.StructType([T.StructField("product_id", T.LongType()), T.StructField("baseline", T.DoubleType())])
# The columns the hour's computations use (brand and category id are not decoded).
HOUR_COLUMNS = ("event_time", "event_type", "product_id", "category_code", "price", "user_id", "user_session")


def replay_state_path(lake: Lake | None = None) -> Path:
    """The replay state file (``temp/replay/state.json`` of the lake; a local lake is required)."""
    lake = lake or Lake(load_settings().lake_dir)
    state = lake.temp("replay/state.json")
    if not is_local(state):
        raise ValueError(f"the replay state needs a local lake folder, not {lake.root}")
    return Path(local_path(state))


def replay_clock(lake: Lake, mode: str) -> ReplayClock:
    """The replay's time mapping, fixed at its first hour (see :mod:`ecom_assets.replay.clock`)."""
    return load_or_start(replay_state_path(lake), mode)


def hour_events(session: SparkSession, lake: Lake, start: dt.datetime, columns: tuple[str, ...] = HOUR_COLUMNS
                ) -> DataFrame:
    """The hour's events from ``raw/`` (original timestamps), cached for the few jobs that read them.

    An hour is small (a few hundred thousand events at most), so it is held in one partition: every
    aggregation over it then runs without a shuffle, which saves a scheduling round per query.
    """
    events = events_between(read_raw_events(session, lake), start, start + dt.timedelta(hours=1))
    return events.select(*columns).coalesce(1).cache()


def _previous_trend_state(session: SparkSession, lake: Lake, start: dt.datetime) -> tuple[DataFrame, bool]:
    """The trend state written by the previous hour, and whether it was missing (a replay starting mid-month)."""
    empty = session.createDataFrame([], TREND_STATE_SCHEMA)
    if start == REPLAY_START:
        return empty, False
    path = lake.replay_table("product_trends", part_name(start - dt.timedelta(hours=1)))
    if is_local(path) and not (local_path(path) / "_SUCCESS").is_file():
        return empty, True
    return session.read.schema(TREND_STATE_SCHEMA).parquet(path), False


def _write_part(frame: DataFrame, path: str) -> None:
    """Overwrite one hour's folder of a replay table (re-running an hour replaces it)."""
    frame.coalesce(1).write.mode("overwrite").parquet(path)



@dg.multi_asset(
    name="hourly_replay",
    group_name=GROUP,
    partitions_def=november_hours,
    specs=[
        dg.AssetSpec(
            "hourly_behaviour", deps=["raw_events"], kinds={"spark", "influxdb"},
            description="One replayed hour of November: events by type, active users, sessions, buyers, revenue, "
                        "conversion, mean session duration, and the same counts minute by minute; after the day's "
                        "24th hour, the day's roll-up too (processed/replay/daily_behaviour). Published to "
                        "InfluxDB's user_behavior (tag granularity: minute, hour, day)."),
        dg.AssetSpec(
            "product_trends", deps=["raw_events", dg.AssetDep("product_trends", partition_mapping=PREVIOUS_HOUR)],
            kinds={"spark", "parquet", "influxdb"},
            description="The hour's top products and top-level categories by weighted views, carts and purchases, "
                        "and the products trending against the previous hours. Each hour carries a decayed "
                        "per-product baseline (half-life 6 h) to the next (processed/replay/product_trends): this "
                        "asset depends on its own previous hour. Published to InfluxDB's product_popularity "
                        "(tag kind: product, trending or category; tag rank 01-10)."),
        dg.AssetSpec(
            "replay_progress", deps=["hourly_behaviour", "product_trends"], kinds={"influxdb"},
            description="The replay's health per hour in InfluxDB's replay measurement: events in the batch, the "
                        "step's processing time, the latency from the sensor's request to points written, how far "
                        "the replay runs behind its cadence, and the week shift applied to timestamps."),
    ],
    check_specs=[dg.AssetCheckSpec("minutes_add_up", asset="hourly_behaviour",
                                   description="The per-minute series sums to the hour's totals.")],
)
def hourly_replay(context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource,
                  influx: InfluxResource):
    """One hour of the replay in one step (the hour's events are read and cached once): behaviour, product
    trends and the replay's timings, each its own asset."""
    started = time.perf_counter()
    session = spark.get_session()
    start = hour_start(context.partition_key)
    clock = replay_clock(lake.lake, influx.time_mode)
    sink = influx.sink()
    events = hour_events(session, lake.lake, start)

    rows = [r.asDict() for r in hour_and_minutes(events).collect()]
    summary = next((r for r in rows if r["minute"] is None), None) or _empty_summary()
    minutes = sorted((r for r in rows if r["minute"] is not None), key=lambda r: r["minute"])
    lines = behaviour_points(clock, "hour", start, summary) + minute_points(clock, minutes)
    day_done = start.hour == 23
    if day_done:
        day = start.replace(hour=0)
        day_events = events_between(read_raw_events(session, lake.lake), day, day + dt.timedelta(days=1))
        day_summary = hour_summary(day_events).first().asDict()
        lines += behaviour_points(clock, "day", day, day_summary)
        _write_part(session.createDataFrame([{**day_summary, "day": day}]),
                    lake.lake.replay_table("daily_behaviour", day.strftime("day=%Y-%m-%d")))
    behaviour_written = sink.write(f"user_behavior-{part_name(start)}", lines)
    minute_total = sum(int(m["events"]) for m in minutes)
    yield dg.MaterializeResult(
        asset_key="hourly_behaviour",
        metadata={"events": int(summary["events"]), "active_users": int(summary["active_users"]),
                  "conversion_rate": round(float(summary["conversion_rate"]), 5), "points_written": behaviour_written,
                  "daily_rollup": day_done, "written_time": clock.shift(start).isoformat(), "sink": sink.describe()},
        check_results=[dg.AssetCheckResult(check_name="minutes_add_up", asset_key="hourly_behaviour",
                                           passed=minute_total == int(summary["events"]),
                                           metadata={"minutes": minute_total, "hour": int(summary["events"])})],
    )

    previous, cold_start = _previous_trend_state(session, lake.lake, start)
    if cold_start:
        context.log.warning(f"no trend state for the hour before {context.partition_key}: the baseline starts empty "
                            "(replay from earlier hours for trending scores that remember them)")
    scores = product_scores(events).cache()
    lists = rank_rows([r.asDict() for r in rankings(trending(previous, scores), top_categories(events)).collect()])
    _write_part(next_trend_state(previous, scores), lake.lake.replay_table("product_trends", part_name(start)))
    popularity_lines = [line for kind in ("product", "trending", "category")
                        for line in popularity_points(clock, start, kind, lists[kind])]
    popularity_written = sink.write(f"product_popularity-{part_name(start)}", popularity_lines)
    scores.unpersist()
    events.unpersist()
    yield dg.MaterializeResult(asset_key="product_trends", metadata={
        "top_product": lists["product"][0]["product_id"] if lists["product"] else -1,
        "top_trending": lists["trending"][0]["product_id"] if lists["trending"] else -1,
        "points_written": popularity_written, "cold_start": cold_start,
    })

    now = time.time()
    run = context.run
    requested = float(run.tags.get(REQUESTED_AT_TAG, now - (time.perf_counter() - started)))
    fields = {"batch_events": int(summary["events"]), "step_s": round(time.perf_counter() - started, 3),
              "end_to_end_s": round(now - requested, 3), "lag_s": round(_lag_s(run.tags, requested), 3),
              "attempt": int(run.tags.get(ATTEMPT_TAG, "1"))}
    written = sink.write(f"replay-{part_name(start)}", replay_point(clock, start, fields))
    yield dg.MaterializeResult(asset_key="replay_progress",
                               metadata={**fields, "points_written": written, "offset_weeks": clock.offset_weeks})


def _empty_summary() -> dict:
    """The totals of an hour without events."""
    return {"events": 0, "views": 0, "carts": 0, "purchases": 0, "active_users": 0, "sessions": 0, "buyers": 0,
            "revenue": 0.0, "conversion_rate": 0.0, "cart_rate": 0.0, "session_duration_mean_s": 0.0}


def _lag_s(tags: dict[str, str], requested: float) -> float:
    """How late the hour was requested against the replay's cadence (``ecom/due_at`` tag): a growing backlog."""
    due = tags.get(DUE_AT_TAG)
    return max(0.0, requested - float(due)) if due else 0.0


REPLAY_ASSETS = [hourly_replay]
