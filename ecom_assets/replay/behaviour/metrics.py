"""Per-hour computations of the replay (plain Spark functions): behaviour, per-minute series, product trends.

Everything here returns small DataFrames (one row, 60 rows, the top 10) so a replayed hour costs a
handful of Spark jobs on that hour's events only.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ecom_assets.recommendation.interactions import event_weight

TOP_N = 10
# Trend baseline: an exponentially weighted mean of a product's hourly score, half-life 6 hours.
TREND_HALF_LIFE_H = 6.0
TREND_DECAY = 0.5 ** (1.0 / TREND_HALF_LIFE_H)
# Baselines below this are dropped from the carried state (about 4 half-lives after the last event).
TREND_STATE_FLOOR = 0.05


def events_between(events: DataFrame, start: dt.datetime, end: dt.datetime) -> DataFrame:
    """Events with ``start <= event_time < end`` (pruning the raw lake's ``event_date`` partitions first)."""
    days = [start.date() + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    return events.where(F.col("event_date").isin(*days)).where(
        (F.col("event_time") >= F.lit(start)) & (F.col("event_time") < F.lit(end)))


def _type_count(event_type: str) -> Column:
    """Rows of one event type (inside an aggregation)."""
    return F.count_if(F.col("event_type") == event_type)


def _with_rates(counts: DataFrame) -> DataFrame:
    """Conversion (purchases / views) and cart rate (carts / views), 0 without views."""
    rate = lambda n: F.when(F.col("views") > 0, F.col(n) / F.col("views")).otherwise(F.lit(0.0))
    return counts.withColumn("conversion_rate", rate("purchases")).withColumn("cart_rate", rate("carts"))


def session_table(events: DataFrame) -> DataFrame:
    """One row per (session, user) of these events: counts by type, revenue, first and last event time.

    The totals come from this much smaller table (sessions are distinct rows, users and buyers are
    distinct over it), which is cheaper than several distinct counts over the raw events.
    """
    return events.groupBy("user_session", "user_id").agg(
        F.count(F.lit(1)).alias("events"),
        _type_count("view").alias("views"),
        _type_count("cart").alias("carts"),
        _type_count("purchase").alias("purchases"),
        F.coalesce(F.sum(F.when(F.col("event_type") == "purchase", F.col("price"))), F.lit(0.0)).alias("revenue"),
        F.min("event_time").alias("first_event"),
        F.max("event_time").alias("last_event"),
    )


def merged_sessions(parts: DataFrame) -> DataFrame:
    """The session table of a longer span from the session tables of its parts (hours of a day): a
    session that crosses an hour is one row per hour there, merged here by summing its counts and
    revenue and keeping its first and last event, so the result is that of :func:`session_table` over
    the span's events (revenue up to the order of the floating-point sums)."""
    return parts.groupBy("user_session", "user_id").agg(
        *(F.sum(name).alias(name) for name in ("events", "views", "carts", "purchases", "revenue")),
        F.min("first_event").alias("first_event"), F.max("last_event").alias("last_event"))


def session_totals(sessions: DataFrame) -> DataFrame:
    """One row from a session table (none when it is empty): events, views, carts, purchases, active users,
    sessions and buyers (distinct), revenue, conversion and cart rates, and the mean session duration. A session's duration is its last minus its first event, in seconds."""
    duration = F.col("last_event").cast("long") - F.col("first_event").cast("long")
    totals = sessions.agg(
        F.sum("events").alias("events"), F.sum("views").alias("views"), F.sum("carts").alias("carts"),
        F.sum("purchases").alias("purchases"), F.count_distinct("user_id").alias("active_users"),
        F.count_distinct("user_session").alias("sessions"),
        F.count_distinct(F.when(F.col("purchases") > 0, F.col("user_id"))).alias("buyers"),
        F.coalesce(F.sum("revenue"), F.lit(0.0)).alias("revenue"),
        F.coalesce(F.avg(F.when(F.col("user_session").isNotNull(), duration)), F.lit(0.0)).alias(
            "session_duration_mean_s"),
    ).where(F.col("events").isNotNull())
    return _with_rates(totals)


def hour_and_minutes(events: DataFrame, sessions: DataFrame | None = None) -> DataFrame:
    """The hour's totals (``minute`` null, see :func:`session_totals`) and each minute's counts (events by
    type and active users, the other columns null), in one Spark job. ``sessions``: the hour's
    :func:`session_table` when the caller already has it."""
    sessions = session_table(events) if sessions is None else sessions
    hour = session_totals(sessions).withColumn("minute", F.lit(None).cast("timestamp"))
    minutes = events.groupBy(F.date_trunc("minute", "event_time").alias("minute")).agg(
        F.count(F.lit(1)).alias("events"), _type_count("view").alias("views"), _type_count("cart").alias("carts"),
        _type_count("purchase").alias("purchases"), F.count_distinct("user_id").alias("active_users"))
    return hour.unionByName(minutes, allowMissingColumns=True)


def product_scores(events: DataFrame) -> DataFrame:
    """(product_id, category, views, carts, purchases, score): the hour's counts; score = weighted events."""
    weight = event_weight()
    return events.groupBy("product_id").agg(
        F.max("category_code").alias("category"),
        _type_count("view").alias("views"),
        _type_count("cart").alias("carts"),
        _type_count("purchase").alias("purchases"),
        F.sum(weight).alias("score"),
    )


def next_trend_state(previous: DataFrame, scores: DataFrame, decay: float = TREND_DECAY) -> DataFrame:
    """(product_id, baseline): the decayed mean hourly score after this hour; tiny baselines are dropped.

    ``baseline' = decay * baseline + (1 - decay) * score`` for every product in either table (a missing
    term is 0). Both tables are small and hold one row per product, so the two terms are summed over
    their union in one partition: no join, no shuffle (a sum of two doubles does not depend on their
    order, so the values are exactly those of the formula).
    """
    terms = previous.select("product_id", (F.lit(decay) * F.col("baseline")).alias("term")).unionByName(
        scores.select("product_id", (F.lit(1.0 - decay) * F.col("score")).alias("term")))
    summed = terms.coalesce(1).groupBy("product_id").agg(F.sum("term").alias("baseline"))
    return summed.where(F.col("baseline") >= TREND_STATE_FLOOR)


def trending(previous: DataFrame, scores: DataFrame) -> DataFrame:
    """``scores`` plus ``trending_score`` = (score + 1) / (baseline before this hour + 1): above 1 means rising."""
    return scores.join(previous, "product_id", "left").withColumn(
        "trending_score", (F.col("score") + 1.0) / (F.coalesce(F.col("baseline"), F.lit(0.0)) + 1.0)).drop("baseline")


def rankings(ranked: DataFrame, categories: DataFrame, n: int = TOP_N) -> DataFrame:
    """The hour's three top-``n`` lists in one frame (one Spark job to collect), tagged by ``kind``:
    ``product`` by score, ``trending`` by trending score (products with a score of at least 2, so one
    view does not trend), ``category`` by score. Rank within each kind by the same keys (see :func:`rank_rows`)."""
    columns = ["kind", "product_id", "category", "views", "carts", "purchases", "score", "trending_score"]
    top = ranked.orderBy(F.desc("score"), F.asc("product_id")).limit(n).withColumn("kind", F.lit("product"))
    rising = (ranked.where(F.col("score") >= 2)
              .orderBy(F.desc("trending_score"), F.desc("score"), F.asc("product_id")).limit(n)
              .withColumn("kind", F.lit("trending")))
    cats = (categories.orderBy(F.desc("score"), F.asc("category")).limit(n)
            .withColumn("kind", F.lit("category")).withColumn("product_id", F.lit(None).cast("long"))
            .withColumn("trending_score", F.lit(None).cast("double")))
    return top.select(*columns).unionByName(rising.select(*columns)).unionByName(cats.select(*columns))


def rank_rows(rows: list[dict]) -> dict[str, list[dict]]:
    """Collected :func:`rankings` rows per kind, ordered and numbered 1..n (Spark's union keeps no order)."""
    keys = {
        "product": lambda r: (-r["score"], r["product_id"]),
        "trending": lambda r: (-r["trending_score"], -r["score"], r["product_id"]),
        "category": lambda r: (-r["score"], r["category"]),
    }
    result: dict[str, list[dict]] = {}
    for kind, key in keys.items():
        ordered = sorted((r for r in rows if r["kind"] == kind), key=key)
        result[kind] = [{**r, "rank": i} for i, r in enumerate(ordered, start=1)]
    return result


def top_categories(events: DataFrame) -> DataFrame:
    """(category, views, carts, purchases, score): top-level categories of the hour (``unknown`` when missing)."""
    category = F.coalesce(F.substring_index(F.col("category_code"), ".", 1), F.lit("unknown"))
    weight = event_weight()
    return events.groupBy(category.alias("category")).agg(
        _type_count("view").alias("views"), _type_count("cart").alias("carts"),
        _type_count("purchase").alias("purchases"), F.sum(weight).alias("score"))
