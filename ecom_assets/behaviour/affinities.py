"""Products and categories seen together in sessions: support, confidence and lift of each pair.

Bounded to scale: only items seen in at least ``min_sessions`` sessions take part (as in Apriori,
a pair cannot be more frequent than its items), and a session contributes at most
``max_items_per_session`` items, so a session yields at most 435 pairs.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.window import Window

MAX_ITEMS_PER_SESSION = 30


def baskets(events_with_sessions: DataFrame, item: str) -> DataFrame:
    """Distinct (session_id, item) rows, at most ``MAX_ITEMS_PER_SESSION`` items per session."""
    distinct = events_with_sessions.where(F.col(item).isNotNull()).select("session_id", F.col(item).alias("item")).distinct()
    order = Window.partitionBy("session_id").orderBy("item")
    return distinct.withColumn("_n", F.row_number().over(order)).where(F.col("_n") <= MAX_ITEMS_PER_SESSION).drop("_n")


def co_occurrence(basket_rows: DataFrame, kind: str, min_sessions: int) -> DataFrame:
    """Pairs (item_a < item_b) seen together in at least ``min_sessions`` sessions, with support,
    both confidences and lift (over sessions that hold at least one item)."""
    total = basket_rows.select("session_id").distinct().count()
    support = basket_rows.groupBy("item").agg(F.count(F.lit(1)).alias("sessions"))
    frequent = support.where(F.col("sessions") >= min_sessions)
    kept = basket_rows.join(frequent.select("item"), "item")
    left, right = kept.alias("a"), kept.alias("b")
    pairs = (
        left.join(right, (F.col("a.session_id") == F.col("b.session_id")) & (F.col("a.item") < F.col("b.item")))
        .groupBy(F.col("a.item").alias("item_a"), F.col("b.item").alias("item_b"))
        .agg(F.count(F.lit(1)).alias("sessions_together"))
        .where(F.col("sessions_together") >= min_sessions)
    )
    sa = frequent.select(F.col("item").alias("item_a"), F.col("sessions").alias("sessions_a"))
    sb = frequent.select(F.col("item").alias("item_b"), F.col("sessions").alias("sessions_b"))
    joined = pairs.join(sa, "item_a").join(sb, "item_b")
    n = F.lit(float(max(total, 1)))
    return joined.select(
        F.lit(kind).alias("item_kind"),
        F.col("item_a").cast("string").alias("item_a"),
        F.col("item_b").cast("string").alias("item_b"),
        "sessions_together",
        "sessions_a",
        "sessions_b",
        (F.col("sessions_together") / n).alias("support"),
        (F.col("sessions_together") / F.col("sessions_a")).alias("confidence_a_to_b"),
        (F.col("sessions_together") / F.col("sessions_b")).alias("confidence_b_to_a"),
        (F.col("sessions_together") * n / (F.col("sessions_a") * F.col("sessions_b"))).alias("lift"),
    )


def affinities(events_with_sessions: DataFrame, min_sessions: int) -> DataFrame:
    """Product pairs and category pairs (by ``category_code``, else ``id:<category_id>``) in one table."""
    labelled = events_with_sessions.withColumn(
        "category", F.coalesce(F.col("category_code"), F.concat(F.lit("id:"), F.col("category_id").cast("string")))
    )
    products = co_occurrence(baskets(labelled, "product_id"), "product", min_sessions)
    categories = co_occurrence(baskets(labelled, "category"), "category", min_sessions)
    return products.unionByName(categories)
