"""The replay group: each hour's behaviour, product trends and the replay's own timings, and each day's roll-up.

The hourly assets are specified here (:data:`BEHAVIOUR_SPECS`) and computed by
:func:`publish_behaviour`; they are materialized by the hour's one step,
:mod:`ecom_assets.replay.hour`, beside the incremental models.
"""

import datetime as dt
import time
from collections.abc import Mapping

import dagster as dg
from pyspark.sql import DataFrame, SparkSession

from ecom_assets.lake import Lake
from ecom_assets.publishing.sinks import Sink
from ecom_assets.replay.behaviour.points import (
    behaviour_points,
    heartbeat_point,
    minute_points,
    popularity_points,
    replay_point,
)
from ecom_assets.replay.behaviour.spark_jobs import day_rollup, process_hour
from ecom_assets.replay.orchestration.clock import ReplayClock, replay_clock
from ecom_assets.replay.orchestration.ordering import ATTEMPT_TAG, DUE_AT_TAG, LAST_HOUR_TAG, REQUESTED_AT_TAG
from ecom_assets.replay.orchestration.partitions import (
    PREVIOUS_HOUR,
    day_start,
    hours_left,
    november_days,
    part_name,
    partition_key,
)
from ecom_assets.replay.orchestration.parts import Published
from ecom_assets.replay.orchestration.retry import REPLAY_RETRY
from ecom_assets.resources import InfluxResource, LakeResource, SparkResource

GROUP = "replay"


BEHAVIOUR_SPECS = [
    dg.AssetSpec(
        "hourly_behaviour", group_name=GROUP, deps=["raw_events"], kinds={"spark", "influxdb"},
        description="One replayed hour of November: events by type, active users, sessions, buyers, revenue, "
                    "conversion, mean session duration, and the same counts minute by minute. Published to "
                    "InfluxDB's user_behavior (tag granularity: minute, hour)."),
    dg.AssetSpec(
        "product_trends", group_name=GROUP,
        deps=["raw_events", dg.AssetDep("product_trends", partition_mapping=PREVIOUS_HOUR)],
        kinds={"spark", "parquet", "influxdb"},
        description="The hour's top products and top-level categories by weighted views, carts and purchases, "
                    "and the products trending against the previous hours. Each hour carries a decayed "
                    "per-product baseline (half-life 6 h) to the next (processed/replay/product_trends): this "
                    "asset depends on its own previous hour. Published to InfluxDB's product_popularity "
                    "(tag kind: product, trending or category; tag rank 01-10)."),
    dg.AssetSpec(
        "replay_progress", group_name=GROUP, deps=["hourly_behaviour", "product_trends"], kinds={"influxdb"},
        description="The replay's health per hour in InfluxDB's replay measurement: events in the batch, the "
                    "behaviour's processing time, the latency from the sensor's request to points written, how "
                    "far the replay runs behind its cadence, and the week shift applied to timestamps."),
]
BEHAVIOUR_CHECKS = [dg.AssetCheckSpec("minutes_add_up", asset="hourly_behaviour",
                                      description="The per-minute series sums to the hour's totals.")]


def publish_behaviour(session: SparkSession, lake: Lake, influx: InfluxResource, start: dt.datetime,
                      events: DataFrame, tags: Mapping[str, str], step_started: float) -> Published:
    """The hour's behaviour, product trends and the replay's timings, computed and published to the sink
    (DataFrame work only: it runs beside the hour's models). ``events`` is the hour's cached events;
    ``step_started`` the step's start (``time.perf_counter``) for the timings."""
    clock = replay_clock(lake, influx.time_mode)
    sink = influx.sink()
    began = time.perf_counter()
    hour = process_hour(session, lake, start, events)
    published = time.perf_counter()
    seconds = {**hour.seconds, "hour": round(published - began, 3)}
    summary = hour.summary
    out = Published()

    lines = behaviour_points(clock, "hour", start, summary) + minute_points(clock, hour.minutes)
    behaviour_written = sink.write(f"user_behavior-{part_name(start)}", lines)
    minute_total = sum(int(m["events"]) for m in hour.minutes)
    out.results.append(dg.MaterializeResult(
        asset_key="hourly_behaviour",
        metadata={"events": int(summary["events"]), "active_users": int(summary["active_users"]),
                  "conversion_rate": round(float(summary["conversion_rate"]), 5), "points_written": behaviour_written,
                  "written_time": clock.shift(start).isoformat(), "sink": sink.describe()},
        check_results=[dg.AssetCheckResult(check_name="minutes_add_up", asset_key="hourly_behaviour",
                                           passed=minute_total == int(summary["events"]),
                                           metadata={"minutes": minute_total, "hour": int(summary["events"])})],
    ))

    if hour.cold_start:
        out.warnings.append(f"no trend state for the hour before {partition_key(start)}: the baseline starts empty "
                            "(replay from earlier hours for trending scores that remember them)")
    lists = hour.lists
    popularity_lines = [line for kind in ("product", "trending", "category")
                        for line in popularity_points(clock, start, kind, lists[kind])]
    popularity_written = sink.write(f"product_popularity-{part_name(start)}", popularity_lines)
    out.results.append(dg.MaterializeResult(asset_key="product_trends", metadata={
        "top_product": lists["product"][0]["product_id"] if lists["product"] else -1,
        "top_trending": lists["trending"][0]["product_id"] if lists["trending"] else -1,
        "points_written": popularity_written, "cold_start": hour.cold_start,
    }))

    seconds["publish"] = round(time.perf_counter() - published, 3)
    out.results.append(_progress_result(clock, sink, start, int(summary["events"]), tags, step_started, seconds))
    return out


def _progress_result(clock: ReplayClock, sink: Sink, start: dt.datetime, events: int, tags: Mapping[str, str],
                     step_started: float, seconds: dict[str, float]) -> dg.MaterializeResult:
    """``replay_progress``: the hour's timings and lag, written to the sink, with the Spark jobs' seconds."""
    now = time.time()
    requested = float(tags.get(REQUESTED_AT_TAG, now - (time.perf_counter() - step_started)))
    fields = {"batch_events": events, "step_s": round(time.perf_counter() - step_started, 3),
              "end_to_end_s": round(now - requested, 3), "lag_s": round(_lag_s(tags, now), 3),
              "attempt": int(tags.get(ATTEMPT_TAG, "1"))}
    written = sink.write(f"replay-{part_name(start)}", replay_point(clock, start, fields))
    written += sink.write(f"replay_heartbeat-{part_name(start)}", heartbeat_point(
        dt.datetime.fromtimestamp(now, dt.UTC), start, fields, hours_left(start, tags.get(LAST_HOUR_TAG))))
    return dg.MaterializeResult(
        asset_key="replay_progress", metadata={**fields, "points_written": written, "offset_weeks": clock.offset_weeks,
                                               "seconds": dg.MetadataValue.json(seconds)})


def _lag_s(tags: dict[str, str], written: float) -> float:
    """How long after its due time on the replay's cadence (``ecom/due_at`` tag) the hour's points were
    written: steady while the replay keeps up, growing with a backlog."""
    due = tags.get(DUE_AT_TAG)
    return max(0.0, written - float(due)) if due else 0.0


@dg.asset(
    group_name=GROUP, partitions_def=november_days, deps=["hourly_behaviour"], kinds={"spark", "parquet", "influxdb"},
    retry_policy=REPLAY_RETRY.policy(),
    description="One replayed day of November: the day's events by type, active users, sessions and buyers "
                "(distinct over the day), revenue, conversion and mean session duration "
                "(processed/replay/daily_behaviour), merged from its hours' session tables (or, when one is "
                "missing, from the day's raw events). The replay sensor requests it once the day's 24th "
                "hour is done, as its own run beside the next hours. Published to InfluxDB's user_behavior "
                "(tag granularity: day).",
)
def daily_behaviour(context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource,
                    influx: InfluxResource) -> dg.MaterializeResult:
    """The day's roll-up, written to the lake and InfluxDB."""
    day = day_start(context.partition_key)
    clock = replay_clock(lake.lake, influx.time_mode)
    with spark.outage_explained():
        rollup = day_rollup(spark.get_session(), lake.lake, day)
    values = rollup.values
    written = influx.sink().write(day.strftime("user_behavior-day=%Y-%m-%d"), behaviour_points(clock, "day", day, values))
    return dg.MaterializeResult(metadata={
        "events": int(values["events"]), "active_users": int(values["active_users"]),
        "sessions": int(values["sessions"]), "conversion_rate": round(float(values["conversion_rate"]), 5),
        "points_written": written, "written_time": clock.shift(day).isoformat(), "computed_from": rollup.source})


DAILY_REPLAY_ASSETS = [daily_behaviour]
