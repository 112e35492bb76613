"""Sessions: one row per visit, with its counts, revenue and ordered paths."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from ecom_assets.behaviour.common import count_type, top_category

# A gap of 30 minutes without events ends a visit: the usual web-analytics convention, used only
# for the rare rows whose user_session is empty.
INACTIVITY_GAP_S = 30 * 60
MAX_PATH_LENGTH = 50
SYNTHETIC_SESSION_PREFIX = "nosession-"
EVENT_ORDER = {"view": 0, "cart": 1, "remove_from_cart": 2, "purchase": 3}


def _event_rank() -> Column:
    """Orders events of the same second the way a visit unfolds (view, cart, purchase)."""
    rank = F.lit(9)
    for name, value in reversed(EVENT_ORDER.items()):
        rank = F.when(F.col("event_type") == name, F.lit(value)).otherwise(rank)
    return rank


def assign_session_ids(events: DataFrame, gap_s: int = INACTIVITY_GAP_S) -> DataFrame:
    """``events`` with ``session_id``: the ``user_session``, or for empty ones a per-user visit cut at ``gap_s`` of silence.

    Also adds ``session_is_synthetic``.
    """
    named = events.where(F.col("user_session").isNotNull()).select(
        "*", F.col("user_session").alias("session_id"), F.lit(False).alias("session_is_synthetic")
    )
    anonymous = events.where(F.col("user_session").isNull())
    by_user = Window.partitionBy("user_id").orderBy("event_time", _event_rank())
    previous = F.lag("event_time").over(by_user)
    new_visit = F.when(
        previous.isNull() | (F.col("event_time").cast("long") - previous.cast("long") > gap_s), 1
    ).otherwise(0)
    numbered = anonymous.withColumn("_new_visit", new_visit).withColumn(
        "_visit", F.sum("_new_visit").over(by_user.rowsBetween(Window.unboundedPreceding, 0))
    )
    synthetic = numbered.select(
        *events.columns,
        F.concat(F.lit(SYNTHETIC_SESSION_PREFIX), F.col("user_id").cast("string"), F.lit("-"),
                 F.col("_visit").cast("string")).alias("session_id"),
        F.lit(True).alias("session_is_synthetic"),
    )
    return named.unionByName(synthetic)


def sessionize(events: DataFrame, max_path: int = MAX_PATH_LENGTH) -> DataFrame:
    """One row per session (``session_id``, ``user_id``): start, end, duration, counts, revenue, converted flag and paths.

    ``event_path`` is the first ``max_path`` event types in time order; ``category_path`` the
    top-level categories visited, consecutive repeats folded, also bounded.
    """
    with_ids = assign_session_ids(events)
    steps = F.array_sort(
        F.collect_list(F.struct(F.col("event_time"), _event_rank().alias("rank"), F.col("event_type"),
                                top_category().alias("category"), "product_id", "category_id"))
    )
    # The real files have a few user_session values shared by two users: a session is (id, user).
    grouped = with_ids.groupBy("session_id", "user_id").agg(
        F.max("session_is_synthetic").alias("is_synthetic"),
        F.min("event_time").alias("start_time"),
        F.max("event_time").alias("end_time"),
        F.count(F.lit(1)).alias("events"),
        count_type("view").alias("views"),
        count_type("cart").alias("carts"),
        count_type("purchase").alias("purchases"),
        F.coalesce(F.sum(F.when(F.col("event_type") == "purchase", F.col("price"))), F.lit(0.0)).alias("revenue"),
        steps.alias("_steps"),
    )
    categories = F.transform("_steps", lambda s: s["category"])
    folded = F.filter(categories, lambda c, i: (i == 0) | (c != F.get(categories, i - 1)))
    return grouped.select(
        "session_id",
        "user_id",
        "is_synthetic",
        "start_time",
        "end_time",
        (F.col("end_time").cast("long") - F.col("start_time").cast("long")).alias("duration_s"),
        "events",
        "views",
        "carts",
        "purchases",
        # Distinct counts from the collected steps: no second (distinct) aggregation over all events.
        F.size(F.array_distinct(F.transform("_steps", lambda s: s["product_id"]))).alias("distinct_products"),
        F.size(F.array_compact(F.array_distinct(F.transform("_steps", lambda s: s["category_id"])))).alias(
            "distinct_categories"
        ),
        F.round("revenue", 2).alias("revenue"),
        (F.col("purchases") > 0).alias("converted"),
        F.slice(F.transform("_steps", lambda s: s["event_type"]), 1, max_path).alias("event_path"),
        F.slice(folded, 1, max_path).alias("category_path"),
        F.to_date("start_time").alias("start_date"),
    )
