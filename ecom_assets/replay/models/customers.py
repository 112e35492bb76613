"""Each customer's running aggregates and product interactions, updated hour by hour from October's values.

Two keyed states (see :mod:`ledger`): ``customers`` (one row per user: counts, revenue, sessions,
active days, last activity and purchase, segment) and ``pairs`` (one row per user and product:
views, carts, purchases, last seen). October's values are the starting state; an hour adds its
events to the rows of the users it touched. From both, :func:`rfm_features` rebuilds the exact
columns the saved K-means pipeline reads, as of the end of the hour.

Sessions are the store's ``user_session`` ids: a session that continues from the user's previous
hour is not counted twice; its duration is summed hour by hour.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ecom_assets.behaviour.common import count_type, safe_ratio

CUSTOMER_SCHEMA = T.StructType([
    T.StructField("user_id", T.LongType()),
    T.StructField("events", T.LongType()),
    T.StructField("views", T.LongType()),
    T.StructField("carts", T.LongType()),
    T.StructField("purchases", T.LongType()),
    T.StructField("revenue", T.DoubleType()),
    T.StructField("sessions", T.LongType()),
    T.StructField("session_seconds", T.DoubleType()),
    T.StructField("active_days", T.LongType()),
    T.StructField("last_seen", T.TimestampType()),
    T.StructField("last_purchase", T.TimestampType()),
    T.StructField("last_session", T.StringType()),
    T.StructField("cluster", T.IntegerType()),
])
PAIR_SCHEMA = T.StructType([
    T.StructField("user_id", T.LongType()),
    T.StructField("product_id", T.LongType()),
    T.StructField("views", T.LongType()),
    T.StructField("carts", T.LongType()),
    T.StructField("purchases", T.LongType()),
    T.StructField("last_seen", T.TimestampType()),
])
COUNTS = ("events", "views", "carts", "purchases")


def base_customers(rfm: DataFrame, clusters: DataFrame, window_end: dt.date) -> DataFrame:
    """The starting customer state from the RFM table of the training window and each user's cluster.

    The last purchase is recovered from the recency (days from the last purchase to the window's end).
    """
    end = F.lit(window_end).cast("timestamp")
    last_purchase = F.when(F.col("is_buyer"), F.timestamp_seconds(
        end.cast("long") - F.round(F.col("recency_days") * 86_400).cast("long")))
    return rfm.join(clusters.select("user_id", "cluster"), "user_id").select(
        "user_id", "events", "views", "carts", F.col("frequency").alias("purchases"),
        F.col("monetary").alias("revenue"), "sessions",
        (F.coalesce(F.col("mean_session_duration_s"), F.lit(0.0)) * F.col("sessions")).alias("session_seconds"),
        "active_days", "last_seen", last_purchase.alias("last_purchase"),
        F.lit(None).cast("string").alias("last_session"), F.col("cluster").cast("int").alias("cluster"),
    )


def pair_counts(events: DataFrame) -> DataFrame:
    """(user_id, product_id, views, carts, purchases, last_seen) of ``events``."""
    return events.groupBy("user_id", "product_id").agg(
        count_type("view").alias("views"), count_type("cart").alias("carts"), count_type("purchase").alias("purchases"),
        F.max("event_time").alias("last_seen"))


def hour_activity(events: DataFrame) -> DataFrame:
    """Per user active in the hour: counts, revenue, the hour's sessions and their durations, last events."""
    per_session = events.groupBy("user_id", "user_session").agg(
        (F.max("event_time").cast("double") - F.min("event_time").cast("double")).alias("seconds"),
        F.max("event_time").alias("session_end"))
    sessions = per_session.groupBy("user_id").agg(
        F.collect_set("user_session").alias("hour_sessions"), F.sum("seconds").alias("hour_session_seconds"),
        F.max_by("user_session", F.struct("session_end", "user_session")).alias("hour_last_session"))
    activity = events.groupBy("user_id").agg(
        F.count(F.lit(1)).alias("hour_events"), count_type("view").alias("hour_views"), count_type("cart").alias("hour_carts"),
        count_type("purchase").alias("hour_purchases"),
        F.coalesce(F.sum(F.when(F.col("event_type") == "purchase", F.col("price"))), F.lit(0.0)).alias("hour_revenue"),
        F.max("event_time").alias("hour_last_seen"),
        F.max(F.when(F.col("event_type") == "purchase", F.col("event_time"))).alias("hour_last_purchase"))
    return activity.join(sessions, "user_id")


def update_customers(previous: DataFrame, activity: DataFrame) -> DataFrame:
    """The state of the hour's active users: ``previous`` (their latest rows; absent for new users) plus
    the hour's ``activity``. ``is_new`` marks users with no previous row; ``previous_cluster`` is kept."""
    p = previous.alias("p")
    joined = activity.alias("a").join(p, "user_id", "left")
    old = lambda c: F.coalesce(F.col(f"p.{c}"), F.lit(0))
    continued = F.coalesce(F.array_contains("a.hour_sessions", F.col("p.last_session")), F.lit(False))
    new_day = F.col("p.last_seen").isNull() | (F.to_date("p.last_seen") < F.to_date("a.hour_last_seen"))
    return joined.select(
        "user_id",
        *[(old(c) + F.col(f"a.hour_{c}")).alias(c) for c in COUNTS],
        (F.coalesce(F.col("p.revenue"), F.lit(0.0)) + F.col("a.hour_revenue")).alias("revenue"),
        (old("sessions") + F.size("a.hour_sessions") - continued.cast("long")).alias("sessions"),
        (F.coalesce(F.col("p.session_seconds"), F.lit(0.0)) + F.col("a.hour_session_seconds")).alias(
            "session_seconds"),
        (old("active_days") + new_day.cast("long")).alias("active_days"),
        F.greatest(F.col("p.last_seen"), F.col("a.hour_last_seen")).alias("last_seen"),
        F.greatest(F.col("p.last_purchase"), F.col("a.hour_last_purchase")).alias("last_purchase"),
        F.col("a.hour_last_session").alias("last_session"),
        F.col("p.cluster").alias("previous_cluster"),
        F.col("p.user_id").isNull().alias("is_new"),
    )


def merge_pairs(previous: DataFrame, hour: DataFrame) -> DataFrame:
    """Every pair of ``previous`` (the active users' latest rows) and ``hour`` (the hour's counts), with
    running counts and ``changed``: true for the pairs the hour touched (the rows the ledger writes)."""
    joined = previous.alias("p").join(hour.alias("h"), ["user_id", "product_id"], "full_outer")
    return joined.select(
        "user_id", "product_id",
        *[(F.coalesce(F.col(f"p.{c}"), F.lit(0)) + F.coalesce(F.col(f"h.{c}"), F.lit(0))).alias(c)
          for c in ("views", "carts", "purchases")],
        F.greatest(F.col("p.last_seen"), F.col("h.last_seen")).alias("last_seen"),
        F.col("h.last_seen").isNotNull().alias("changed"),
    )


def product_funnel(pairs: DataFrame) -> DataFrame:
    """Per user: conversion (share of viewed products bought) and cart abandonment (share of carted
    products not bought), from every pair the user has."""
    viewed, carted, bought = (F.col(c) > 0 for c in ("views", "carts", "purchases"))
    per_user = pairs.groupBy("user_id").agg(
        F.count_if(viewed).alias("viewed"), F.count_if(carted).alias("carted"),
        F.count_if(viewed & bought).alias("viewed_bought"), F.count_if(carted & bought).alias("carted_bought"))
    return per_user.select(
        "user_id",
        F.coalesce(safe_ratio(F.col("viewed_bought"), F.col("viewed")), F.lit(0.0)).alias("view_to_purchase_rate"),
        F.coalesce(safe_ratio(F.col("carted") - F.col("carted_bought"), F.col("carted")), F.lit(0.0)).alias(
            "cart_abandonment_rate"))


def rfm_features(customers: DataFrame, funnel: DataFrame, as_of: dt.datetime) -> DataFrame:
    """The K-means pipeline's input columns for ``customers`` as of ``as_of`` (recency counts from there)."""
    now = F.lit(as_of).cast("timestamp").cast("long")
    reference = F.coalesce(F.col("last_purchase"), F.col("last_seen")).cast("long")
    return customers.join(funnel, "user_id", "left").select(
        "*",
        ((now - reference) / 86_400.0).alias("recency_days"),
        F.col("purchases").alias("frequency"),
        F.col("revenue").alias("monetary"),
        (F.col("purchases") > 0).alias("is_buyer"),
        F.when(F.col("sessions") > 0, F.col("session_seconds") / F.col("sessions")).otherwise(0.0).alias(
            "mean_session_duration_s"),
    ).fillna(0.0, subset=["view_to_purchase_rate", "cart_abandonment_rate"])
