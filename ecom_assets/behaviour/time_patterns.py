"""When people browse and buy: by hour of day, day of week and date, in UTC."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from ecom_assets.behaviour.common import count_type

GRAINS = ("hour_of_day", "day_of_week", "date")


def _by(events: DataFrame, grain: str, key: Column, with_distinct: bool) -> DataFrame:
    """Event counts per ``key`` (distinct users and sessions too when ``with_distinct``)."""
    metrics = [
        F.count(F.lit(1)).alias("events"),
        count_type("view").alias("views"),
        count_type("cart").alias("carts"),
        count_type("purchase").alias("purchases"),
    ]
    if with_distinct:
        metrics += [F.count_distinct("user_id").alias("active_users"), F.count_distinct("user_session").alias("sessions")]
    else:
        metrics += [F.lit(None).cast("long").alias("active_users"), F.lit(None).cast("long").alias("sessions")]
    grouped = events.groupBy(key.alias("key")).agg(*metrics)
    return grouped.select(
        F.lit(grain).alias("grain"),
        "key",
        "events",
        "views",
        "carts",
        "purchases",
        "active_users",
        "sessions",
        (F.col("events") / F.sum("events").over(Window.partitionBy(F.lit(1)))).alias("share_of_events"),
    )


def activity_patterns(events: DataFrame) -> DataFrame:
    """One table: ``grain`` = hour_of_day ("00".."23"), day_of_week ("1-Mon".."7-Sun") or date
    ("YYYY-MM-DD", with active users and sessions)."""
    hour = F.lpad(F.hour("event_time").cast("string"), 2, "0")
    weekday = F.concat(((F.dayofweek("event_time") + 5) % 7 + 1).cast("string"), F.lit("-"),
                       F.date_format("event_time", "E"))
    day = F.date_format("event_time", "yyyy-MM-dd")
    return (
        _by(events, "hour_of_day", hour, with_distinct=False)
        .unionByName(_by(events, "day_of_week", weekday, with_distinct=False))
        .unionByName(_by(events, "date", day, with_distinct=True))
    )
