"""Hourly partitioned assets of the November replay: behaviour, product trends and the replay's own timings."""

import datetime as dt
import time
from pathlib import Path

import dagster as dg
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ecom_assets.ingest.tables import read_raw_events
from ecom_assets.lake import Lake, is_local, local_path
from ecom_assets.replay.clock import ReplayClock, load_or_start
from ecom_assets.replay.hourly import (
    events_between,
    hour_summary,
    minute_series,
    next_trend_state,
    product_scores,
    top_categories,
    top_rows,
    trending,
)
from ecom_assets.replay.partitions import REPLAY_START, hour_start, november_hours
from ecom_assets.replay.points import behaviour_points, minute_points, popularity_points, replay_point
from ecom_assets.replay.tags import ATTEMPT_TAG, REQUESTED_AT_TAG
from ecom_assets.resources import InfluxResource, LakeResource, SparkResource
from ecom_assets.settings import load_settings

GROUP = "replay"
TREND_STATE_SCHEMA = T.StructType([T.StructField("product_id", T.LongType()), T.StructField("baseline", T.DoubleType())])


def part_name(start: dt.datetime) -> str:
    """The folder of one hour in a replay table (no ``:``, which Hadoop paths refuse)."""
    return start.strftime("hour=%Y-%m-%dT%H")


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


def _hour_events(session: SparkSession, lake: Lake, start: dt.datetime) -> DataFrame:
    """The hour's events from ``raw/`` (original timestamps), cached for the few jobs that read them."""
    return events_between(read_raw_events(session, lake), start, start + dt.timedelta(hours=1)).cache()


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


@dg.asset(
    group_name=GROUP,
    partitions_def=november_hours,
    deps=["raw_events"],
    kinds={"spark", "influxdb"},
    check_specs=[dg.AssetCheckSpec("minutes_add_up", asset="hourly_behaviour",
                                   description="The per-minute series sums to the hour's totals.")],
)
def hourly_behaviour(context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource,
                     influx: InfluxResource) -> dg.MaterializeResult:
    """One replayed hour of November: events by type, active users, sessions, buyers, revenue, conversion,
    mean session duration, and the same counts minute by minute; after the day's 24th hour, the day's
    roll-up too. Written to processed/replay/ and to InfluxDB's ``user_behavior`` (tag ``granularity``)."""
    started = time.perf_counter()
    session = spark.get_session()
    start = hour_start(context.partition_key)
    events = _hour_events(session, lake.lake, start)
    summary = hour_summary(events).first().asDict()
    minutes = [r.asDict() for r in minute_series(events).collect()]
    clock = replay_clock(lake.lake, influx.time_mode)
    lines = behaviour_points(clock, "hour", start, summary) + minute_points(clock, minutes)
    _write_part(session.createDataFrame([{**summary, "hour": start}]), lake.lake.replay_table(
        "hourly_behaviour", part_name(start)))
    day_done = start.hour == 23
    if day_done:
        day = start.replace(hour=0)
        day_events = events_between(read_raw_events(session, lake.lake), day, day + dt.timedelta(days=1))
        day_summary = hour_summary(day_events).first().asDict()
        lines += behaviour_points(clock, "day", day, day_summary)
        _write_part(session.createDataFrame([{**day_summary, "day": day}]),
                    lake.lake.replay_table("daily_behaviour", day.strftime("day=%Y-%m-%d")))
    written = influx.sink().write(f"user_behavior-{part_name(start)}", lines)
    events.unpersist()
    minute_total = sum(m["events"] for m in minutes)
    return dg.MaterializeResult(
        metadata={"events": int(summary["events"]), "active_users": int(summary["active_users"]),
                  "conversion_rate": round(float(summary["conversion_rate"]), 5), "points_written": written,
                  "daily_rollup": day_done, "step_s": round(time.perf_counter() - started, 3),
                  "written_time": clock.shift(start).isoformat()},
        check_results=[dg.AssetCheckResult(check_name="minutes_add_up", passed=minute_total == summary["events"],
                                           metadata={"minutes": minute_total, "hour": int(summary["events"])})],
    )


@dg.asset(
    group_name=GROUP,
    partitions_def=november_hours,
    deps=["raw_events", dg.AssetDep("product_trends", partition_mapping=dg.TimeWindowPartitionMapping(
        start_offset=-1, end_offset=-1))],
    kinds={"spark", "influxdb"},
)
def product_trends(context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource,
                   influx: InfluxResource) -> dg.MaterializeResult:
    """The hour's top products and top-level categories by views, carts and purchases, and the products
    trending against the previous hours. Each hour carries a decayed per-product baseline (half-life 6 h)
    to the next: this asset depends on its own previous hour. Published to InfluxDB's ``product_popularity``
    (tag ``kind``: product, trending or category; tag ``rank`` 01-10)."""
    session = spark.get_session()
    start = hour_start(context.partition_key)
    events = _hour_events(session, lake.lake, start)
    previous, cold_start = _previous_trend_state(session, lake.lake, start)
    if cold_start:
        context.log.warning(f"no trend state for the hour before {context.partition_key}: the baseline starts empty "
                            "(replay from earlier hours for trending scores that remember them)")
    scores = product_scores(events).cache()
    ranked = trending(previous, scores)
    top = [r.asDict() for r in top_rows(ranked, [F.desc("score"), F.asc("product_id")]).collect()]
    rising = [r.asDict() for r in top_rows(ranked.where(F.col("score") >= 2),
                                           [F.desc("trending_score"), F.desc("score"), F.asc("product_id")]).collect()]
    categories = [r.asDict() for r in top_rows(top_categories(events), [F.desc("score"), F.asc("category")]).collect()]
    state = next_trend_state(previous, scores)
    _write_part(state, lake.lake.replay_table("product_trends", part_name(start)))
    clock = replay_clock(lake.lake, influx.time_mode)
    lines = (popularity_points(clock, start, "product", top) + popularity_points(clock, start, "trending", rising)
             + popularity_points(clock, start, "category", categories))
    written = influx.sink().write(f"product_popularity-{part_name(start)}", lines)
    scores.unpersist()
    events.unpersist()
    return dg.MaterializeResult(metadata={
        "top_product": top[0]["product_id"] if top else -1,
        "top_trending": rising[0]["product_id"] if rising else -1,
        "points_written": written,
        "cold_start": cold_start,
    })


@dg.asset(
    group_name=GROUP,
    partitions_def=november_hours,
    deps=[hourly_behaviour, product_trends],
    kinds={"influxdb"},
)
def replay_progress(context: dg.AssetExecutionContext, lake: LakeResource,
                    influx: InfluxResource) -> dg.MaterializeResult:
    """The replay's own health per hour, in InfluxDB's ``replay`` measurement: events in the batch, the
    run's processing time so far, the end-to-end latency from the sensor's request to here, and the
    week shift applied to timestamps."""
    start = hour_start(context.partition_key)
    clock = replay_clock(lake.lake, influx.time_mode)
    now = time.time()
    run = context.run
    run_started = context.instance.get_run_record_by_id(run.run_id).create_timestamp.timestamp()
    requested = float(run.tags.get(REQUESTED_AT_TAG, run_started))
    behaviour = context.instance.get_latest_materialization_event(dg.AssetKey("hourly_behaviour"))
    events = 0
    if behaviour is not None and behaviour.asset_materialization.partition == context.partition_key:
        events = int(behaviour.asset_materialization.metadata["events"].value)
    attempt = int(run.tags.get(ATTEMPT_TAG, "1"))
    fields = {"batch_events": events, "step_s": round(now - run_started, 3), "end_to_end_s": round(now - requested, 3),
              "lag_s": max(0.0, round(now - requested - 0.0, 3)), "attempt": attempt}
    written = influx.sink().write(f"replay-{part_name(start)}", replay_point(clock, start, fields))
    return dg.MaterializeResult(metadata={**fields, "points_written": written, "offset_weeks": clock.offset_weeks})


REPLAY_ASSETS = [hourly_behaviour, product_trends, replay_progress]
