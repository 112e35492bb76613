"""Continuous evaluation: were the recommendations served before hour h what users did in hour h?

For each user active in hour h who had been served a top-10 before h (October's batch list or a
list refreshed in an earlier hour), the hits are the listed products they then touched in h. Two
targets: any event (``any``: view, cart or purchase) and carts or purchases (``cart_purchase``).
HitRate@10 is the share of those users with at least one hit, Precision@10 the mean of hits / 10;
both overall and per segment (the segment the list was served under). Coverage is the share of the
catalogue that the lists refreshed in hour h contain.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ecom_assets.recommendation.metrics import K

ALL_SEGMENTS = "all"
TARGETS = {"any": ("view", "cart", "purchase"), "cart_purchase": ("cart", "purchase")}


def touched(events: DataFrame, event_types: tuple[str, ...]) -> DataFrame:
    """(user_id, products): the distinct products each user had an event of ``event_types`` with."""
    return events.where(F.col("event_type").isin(*event_types)).groupBy("user_id").agg(
        F.collect_set("product_id").alias("touched"))


def online_hits(served: DataFrame, events: DataFrame, k: int = K) -> DataFrame:
    """(user_id, segment, target, hits): per served user who had events of the target in the hour."""
    frames = []
    for target, types in TARGETS.items():
        truth = touched(events, types)
        frames.append(served.join(truth, "user_id").select(
            "user_id", "segment", F.lit(target).alias("target"),
            F.size(F.array_intersect(F.slice("products", 1, k), "touched")).alias("hits")))
    result = frames[0]
    for frame in frames[1:]:
        result = result.unionByName(frame)
    return result


def online_metrics(served: DataFrame, events: DataFrame, k: int = K) -> list[dict]:
    """Rows of (target, segment, users, hit_rate_at_10, precision_at_10), per segment and for ``all``.

    Integer counts are summed in Spark and divided once here: an average of floats would depend on
    the order Spark adds them in, and the same hour must give the same points wherever it runs."""
    hits = online_hits(served, events, k)
    by = hits.rollup("target", "segment").agg(
        F.count(F.lit(1)).alias("users"), F.count_if(F.col("hits") > 0).alias("users_hit"),
        F.sum("hits").alias("hits"))
    rows = []
    for r in by.where(F.col("target").isNotNull()).collect():
        users = int(r["users"])
        rows.append({"target": r["target"], "segment": r["segment"] or ALL_SEGMENTS, "users": users,
                     "hit_rate_at_10": int(r["users_hit"]) / users, "precision_at_10": int(r["hits"]) / (k * users)})
    return sorted(rows, key=lambda r: (r["target"], r["segment"]))


def coverage(lists: DataFrame, catalogue_size: int) -> dict[str, float]:
    """Share of the catalogue in the lists served this hour, per segment and for ``all``."""
    if catalogue_size <= 0:
        return {}
    products = lists.select("segment", F.explode("products").alias("product_id"))
    rows = products.rollup("segment").agg(F.count_distinct("product_id").alias("n")).collect()
    return {(r["segment"] or ALL_SEGMENTS): int(r["n"]) / catalogue_size for r in rows}
