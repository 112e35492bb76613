"""Most viewed, carted and purchased products and categories, with their conversion."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from ecom_assets.behaviour.common import count_type, safe_ratio

TOP_N = 100


def _item_stats(events: DataFrame, kind: str, item: str, label: list[str]) -> DataFrame:
    """Counts per item; conversion = share of the item's viewers who bought it."""
    per_user = events.groupBy(item, "user_id").agg(
        F.max(F.col("event_type") == "view").alias("viewed"),
        F.max(F.col("event_type") == "purchase").alias("bought"),
    )
    buyers = per_user.groupBy(item).agg(
        F.count(F.lit(1)).alias("users"),
        F.count_if("viewed").alias("viewers"),
        F.count_if(F.col("viewed") & F.col("bought")).alias("viewers_who_bought"),
    )
    counts = events.groupBy(item).agg(
        count_type("view").alias("views"),
        count_type("cart").alias("carts"),
        count_type("purchase").alias("purchases"),
        *[F.first(c, ignorenulls=True).alias(c) for c in label],
        F.round(F.avg("price"), 2).alias("mean_price"),
    )
    stats = counts.join(buyers, item)
    return stats.select(
        F.lit(kind).alias("item_kind"),
        F.col(item).cast("string").alias("item_id"),
        *[F.col(c) if c in label else F.lit(None).cast("string").alias(c) for c in ("category_code", "brand")],
        "views",
        "carts",
        "purchases",
        "users",
        "mean_price",
        safe_ratio(F.col("viewers_who_bought"), F.col("viewers")).alias("view_to_purchase_rate"),
    )


def _keep_top(stats: DataFrame, top_n: int) -> DataFrame:
    """Rows ranked within ``top_n`` by views, carts or purchases, with the three ranks."""
    ranks = {
        f"rank_{metric}": F.row_number().over(Window.orderBy(F.desc(metric), F.asc("item_id")))
        for metric in ("views", "carts", "purchases")
    }
    ranked = stats.select("*", *[rank.alias(name) for name, rank in ranks.items()])
    return ranked.where(" OR ".join(f"{name} <= {top_n}" for name in ranks))


def popularity(events: DataFrame, top_n: int = TOP_N) -> DataFrame:
    """Top products and categories by views, carts and purchases (one table, ``item_kind``)."""
    products = _item_stats(events, "product", "product_id", ["category_code", "brand"])
    categories = _item_stats(events, "category", "category_id", ["category_code"])
    return _keep_top(products, top_n).unionByName(_keep_top(categories, top_n))
