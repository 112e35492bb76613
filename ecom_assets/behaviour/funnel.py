"""View -> cart -> purchase funnel, overall and per category, brand and day.

Counts are events; rates are on (user, product) pairs so that each stage is a subset of the one
before and every rate lies in [0, 1]: a pair "converts" when the user bought a product they viewed.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ecom_assets.behaviour.common import count_type, safe_ratio

LEVELS = ("overall", "category", "brand", "day")


def interaction_pairs(events: DataFrame, *keys: str) -> DataFrame:
    """One row per (user, product, *keys) with the stages reached and the event counts."""
    return events.groupBy("user_id", "product_id", *keys).agg(
        count_type("view").alias("views"),
        count_type("cart").alias("carts"),
        count_type("purchase").alias("purchases"),
        F.max(F.col("event_type") == "view").alias("viewed"),
        F.max(F.col("event_type") == "cart").alias("carted"),
        F.max(F.col("event_type") == "purchase").alias("bought"),
    )


def _totals() -> list[Column]:
    """The sums and pair counts every funnel row is made of."""
    return [
        F.sum("views").alias("views"),
        F.sum("carts").alias("carts"),
        F.sum("purchases").alias("purchases"),
        F.count_if("viewed").alias("viewed_pairs"),
        F.count_if("carted").alias("carted_pairs"),
        F.count_if("bought").alias("bought_pairs"),
        F.count_if(F.col("viewed") & F.col("carted")).alias("viewed_carted_pairs"),
        F.count_if(F.col("viewed") & F.col("bought")).alias("viewed_bought_pairs"),
        F.count_if(F.col("carted") & F.col("bought")).alias("carted_bought_pairs"),
    ]


def _with_rates(grouped: DataFrame, level: Column, key: Column) -> DataFrame:
    """The funnel row of each group of ``grouped`` (:func:`_totals`): counts and rates."""
    return grouped.select(
        level.alias("level"),
        key.alias("key"),
        "views",
        "carts",
        "purchases",
        "viewed_pairs",
        "carted_pairs",
        "bought_pairs",
        safe_ratio(F.col("viewed_carted_pairs"), F.col("viewed_pairs")).alias("view_to_cart_rate"),
        safe_ratio(F.col("viewed_bought_pairs"), F.col("viewed_pairs")).alias("view_to_purchase_rate"),
        safe_ratio(F.col("carted_bought_pairs"), F.col("carted_pairs")).alias("cart_to_purchase_rate"),
        safe_ratio(F.col("carted_pairs") - F.col("carted_bought_pairs"), F.col("carted_pairs")).alias(
            "cart_abandonment_rate"
        ),
    )


def _key(column: str) -> Column:
    return F.coalesce(F.col(column).cast("string"), F.lit("unknown"))


def summarize_funnel(pairs: DataFrame, level: str, key: str | None) -> DataFrame:
    """Funnel counts and rates of ``pairs`` grouped by ``key`` (all pairs together when None)."""
    key_col = F.lit("all") if key is None else _key(key)
    return _with_rates(pairs.groupBy(key_col.alias("_key")).agg(*_totals()), F.lit(level), F.col("_key"))


def summarize_product_levels(pairs: DataFrame) -> DataFrame:
    """The overall, category and brand levels of ``pairs`` in one aggregation (grouping sets): the
    (user, product) pairs, the largest table of the funnel, are read once instead of once per level."""
    grouped = pairs.groupingSets([[], ["category_code"], ["brand"]], "category_code", "brand").agg(
        F.grouping_id().alias("_set"), *_totals())
    # grouping_id: bit 1 is category_code, bit 0 brand, set when the column is not grouped on.
    level = F.when(F.col("_set") == 3, "overall").when(F.col("_set") == 1, "category").otherwise("brand")
    key = F.when(F.col("_set") == 3, F.lit("all")).when(F.col("_set") == 1, _key("category_code")).otherwise(
        _key("brand"))
    return _with_rates(grouped, level, key)


def conversion_funnel(events: DataFrame) -> DataFrame:
    """The funnel at every level of ``LEVELS`` in one table (``level``, ``key``)."""
    labelled = events.select(
        "user_id", "product_id", "event_type", "category_code", "brand", F.to_date("event_time").alias("day")
    )
    # A product always has one category and brand, so they can key the per-product pairs.
    pairs = interaction_pairs(labelled, "category_code", "brand")
    return summarize_product_levels(pairs).unionByName(
        summarize_funnel(interaction_pairs(labelled, "day"), "day", "day"))
