"""Per-user behaviour indicators: frequency, durations, conversion, abandonment, revenue, preferences."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from ecom_assets.behaviour.common import count_type, safe_ratio


def _preferred(events: DataFrame, column: str, name: str) -> DataFrame:
    """Each user's most frequent non-empty ``column`` (ties: the alphabetically first), as ``name``."""
    counts = events.where(F.col(column).isNotNull()).groupBy("user_id", column).count()
    best = Window.partitionBy("user_id").orderBy(F.desc("count"), F.asc(column))
    return (
        counts.withColumn("_rank", F.row_number().over(best))
        .where(F.col("_rank") == 1)
        .select("user_id", F.col(column).alias(name))
    )


def product_funnel_per_user(events: DataFrame) -> DataFrame:
    """Per user: distinct products viewed, carted, purchased, carted-and-purchased."""
    pairs = events.groupBy("user_id", "product_id").agg(
        F.max(F.col("event_type") == "view").alias("viewed"),
        F.max(F.col("event_type") == "cart").alias("carted"),
        F.max(F.col("event_type") == "purchase").alias("bought"),
    )
    return pairs.groupBy("user_id").agg(
        F.count_if("viewed").alias("products_viewed"),
        F.count_if("carted").alias("products_carted"),
        F.count_if("bought").alias("products_purchased"),
        F.count_if(F.col("viewed") & F.col("bought")).alias("viewed_products_purchased"),
        F.count_if(F.col("carted") & F.col("bought")).alias("carted_products_purchased"),
    )


def user_indicators(events: DataFrame, sessions: DataFrame) -> DataFrame:
    """One row per user with visit frequency, mean session duration, event counts, conversion
    (share of viewed products bought), cart abandonment (share of carted products not bought),
    revenue, first/last seen, preferred category and brand."""
    visits = sessions.groupBy("user_id").agg(
        F.count(F.lit(1)).alias("sessions"),
        F.size(F.collect_set("start_date")).alias("active_days"),
        F.round(F.avg("duration_s"), 1).alias("mean_session_duration_s"),
        F.count_if("converted").alias("converted_sessions"),
    )
    activity = events.groupBy("user_id").agg(
        F.count(F.lit(1)).alias("events"),
        count_type("view").alias("views"),
        count_type("cart").alias("carts"),
        count_type("purchase").alias("purchases"),
        F.round(F.coalesce(F.sum(F.when(F.col("event_type") == "purchase", F.col("price"))), F.lit(0.0)), 2).alias(
            "revenue"
        ),
        F.min("event_time").alias("first_seen"),
        F.max("event_time").alias("last_seen"),
    )
    funnel = product_funnel_per_user(events)
    joined = (
        activity.join(visits, "user_id", "left")
        .join(funnel, "user_id", "left")
        .join(_preferred(events, "category_code", "preferred_category"), "user_id", "left")
        .join(_preferred(events, "brand", "preferred_brand"), "user_id", "left")
    )
    return joined.select(
        "user_id",
        "sessions",
        "active_days",
        "mean_session_duration_s",
        "events",
        "views",
        "carts",
        "purchases",
        "converted_sessions",
        "products_viewed",
        "products_carted",
        "products_purchased",
        safe_ratio(F.col("viewed_products_purchased"), F.col("products_viewed")).alias("view_to_purchase_rate"),
        safe_ratio(F.col("products_carted") - F.col("carted_products_purchased"), F.col("products_carted")).alias(
            "cart_abandonment_rate"
        ),
        "revenue",
        "first_seen",
        "last_seen",
        "preferred_category",
        "preferred_brand",
    )
