"""Segment profiles and their human names, derived from what the members do (never from cluster ids)."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ecom_assets.segmentation.kmeans import PREDICTION

# Segments where most members bought are named by value, from the highest mean revenue down;
# the others by engagement, from the most sessions down. A name past the end of a list gets a rank.
BUYER_NAMES = ("Top customers", "Regular buyers", "Occasional buyers", "Small-basket buyers")
BROWSER_NAMES = ("Engaged browsers", "Casual browsers", "One-visit browsers", "Dormant visitors")
BUYER_SHARE_FOR_BUYER_SEGMENT = 0.5


def profile_segments(assigned: DataFrame) -> DataFrame:
    """Per cluster: size, share of users and of revenue, means of R/F/M and behaviour."""
    totals = assigned.agg(F.count(F.lit(1)).alias("n"), F.sum("monetary").alias("revenue")).collect()[0]
    users, revenue = int(totals["n"]), float(totals["revenue"] or 0.0)
    return assigned.groupBy(PREDICTION).agg(
        F.count(F.lit(1)).alias("users"),
        F.avg(F.col("is_buyer").cast("double")).alias("buyer_share"),
        F.avg("recency_days").alias("mean_recency_days"),
        F.avg("frequency").alias("mean_frequency"),
        F.avg("monetary").alias("mean_monetary"),
        F.avg("sessions").alias("mean_sessions"),
        F.avg("active_days").alias("mean_active_days"),
        F.avg("views").alias("mean_views"),
        F.avg("carts").alias("mean_carts"),
        F.avg("view_to_purchase_rate").alias("mean_view_to_purchase_rate"),
        F.avg("cart_abandonment_rate").alias("mean_cart_abandonment_rate"),
        F.sum("monetary").alias("revenue"),
    ).select(
        "*",
        (F.col("users") / F.lit(max(users, 1))).alias("user_share"),
        (F.col("revenue") / F.lit(revenue) if revenue > 0 else F.lit(0.0)).alias("revenue_share"),
    )


def _ranked(names: tuple[str, ...], index: int) -> str:
    """The ``index``-th name, or the last one with a rank when the list is too short."""
    return names[index] if index < len(names) else f"{names[-1]} {index - len(names) + 2}"


def name_segments(profiles: list[dict]) -> dict[int, str]:
    """A distinct human name for every cluster, from its profile."""
    buyers = sorted((p for p in profiles if p["buyer_share"] >= BUYER_SHARE_FOR_BUYER_SEGMENT),
                    key=lambda p: (-p["mean_monetary"], p[PREDICTION]))
    browsers = sorted((p for p in profiles if p["buyer_share"] < BUYER_SHARE_FOR_BUYER_SEGMENT),
                      key=lambda p: (-p["mean_sessions"], p[PREDICTION]))
    names = {p[PREDICTION]: _ranked(BUYER_NAMES, i) for i, p in enumerate(buyers)}
    names.update({p[PREDICTION]: _ranked(BROWSER_NAMES, i) for i, p in enumerate(browsers)})
    return names
