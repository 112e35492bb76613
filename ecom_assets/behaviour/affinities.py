"""Products and categories seen together in sessions: support, confidence and lift of each pair.

Bounded to scale: only items seen in at least ``min_sessions`` sessions take part (as in Apriori,
a pair cannot be more frequent than its items), and a session contributes at most
``max_items_per_session`` items, so a session yields at most 435 pairs.
"""

from __future__ import annotations

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

MAX_ITEMS_PER_SESSION = 30
KINDS = {"product": "products", "category": "categories"}


def session_baskets(events_with_sessions: DataFrame) -> DataFrame:
    """(session_id, products, categories): each session's distinct items in ascending order, the first
    ``MAX_ITEMS_PER_SESSION`` of each kind; a category is the ``category_code``, else ``id:<category_id>``.

    Materialized on disk once, since each kind reads it three times (its total, its support, its pairs):
    one pass over the events, where a self-join per kind read them again for each side.
    """
    category = F.coalesce(F.col("category_code"), F.concat(F.lit("id:"), F.col("category_id").cast("string")))
    grouped = events_with_sessions.groupBy("session_id").agg(
        F.array_sort(F.collect_set("product_id")).alias("products"),
        F.array_sort(F.collect_set(category)).alias("categories"))
    capped = grouped.select("session_id", *[F.slice(column, 1, MAX_ITEMS_PER_SESSION).alias(column)
                                            for column in KINDS.values()])
    return capped.localCheckpoint(eager=True, storageLevel=StorageLevel.DISK_ONLY)


def ordered_pairs(items: Column) -> Column:
    """Every (item_a, item_b) with item_a before item_b in ``items`` (an ascending array of distinct items)."""
    return F.flatten(F.transform(items, lambda a, i: F.transform(
        F.slice(items, i + 2, MAX_ITEMS_PER_SESSION),
        lambda b: F.named_struct(F.lit("item_a"), a, F.lit("item_b"), b))))


def co_occurrence(baskets: DataFrame, kind: str, min_sessions: int) -> DataFrame:
    """Pairs (item_a < item_b) seen together in at least ``min_sessions`` sessions, with support,
    both confidences and lift (over sessions that hold at least one item)."""
    column = KINDS[kind]
    total = baskets.where(F.size(column) > 0).count()
    rows = baskets.select("session_id", F.explode(column).alias("item"))
    frequent = rows.groupBy("item").agg(F.count(F.lit(1)).alias("sessions")).where(
        F.col("sessions") >= min_sessions).localCheckpoint()  # small, read three times
    kept = rows.join(F.broadcast(frequent.select("item")), "item").groupBy("session_id").agg(
        F.array_sort(F.collect_list("item")).alias("items"))
    pairs = (
        kept.select(F.inline(ordered_pairs(F.col("items"))))
        .groupBy("item_a", "item_b")
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
    baskets = session_baskets(events_with_sessions)
    return co_occurrence(baskets, "product", min_sessions).unionByName(
        co_occurrence(baskets, "category", min_sessions))
