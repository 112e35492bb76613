"""The replay models' checks: the starting state once, and every hour's segments and served lists."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ecom_assets.replay.models.update import RecsHour

# The specification's stability bar: at most 15% of assigned users change segment in an hour.
MAX_CHURN = 0.15

BASELINE_CHECKS = [dg.AssetCheckSpec("one_row_per_customer", asset="replay_baseline",
                                     description="Every RFM user has exactly one starting state with a cluster.")]
MODEL_CHECKS = [
    dg.AssetCheckSpec("churn_below_15_percent", asset="customer_segments",
                      description=f"At most {MAX_CHURN:.0%} of previously assigned users changed segment "
                                  "since the previous hour (the specification's stability bar)."),
    dg.AssetCheckSpec("active_users_assigned", asset="customer_segments",
                      description="Every user active in the hour has a named segment."),
    dg.AssetCheckSpec("ten_per_active_user", asset="live_recommendations",
                      description="Every user active in the hour was served 10 products."),
]


@dataclass(frozen=True)
class BaselineFigures:
    """The starting customers: rows, distinct users, rows without a cluster, and RFM users."""

    rows: int
    users: int
    no_cluster: int
    rfm_users: int

    @staticmethod
    def of(customers: DataFrame, rfm: DataFrame) -> BaselineFigures:
        """Counted on the written table and the RFM table."""
        stats = customers.agg(F.count(F.lit(1)).alias("rows"), F.count_distinct("user_id").alias("users"),
                              F.count_if(F.col("cluster").isNull()).alias("no_cluster")).first()
        return BaselineFigures(int(stats["rows"]), int(stats["users"]), int(stats["no_cluster"]), rfm.count())


def baseline_results(figures: BaselineFigures) -> list[dg.AssetCheckResult]:
    """``BASELINE_CHECKS`` from the starting customers' figures."""
    return [dg.AssetCheckResult(
        check_name="one_row_per_customer",
        passed=figures.rows == figures.users == figures.rfm_users and figures.no_cluster == 0,
        metadata={"rows": figures.rows, "rfm_users": figures.rfm_users})]


def segment_results(overall: dict, rows: list[dict], unnamed: int) -> list[dg.AssetCheckResult]:
    """The hour's segment checks from its ``all`` row, every segment's row and its unnamed active users."""
    return [
        dg.AssetCheckResult(check_name="churn_below_15_percent", asset_key="customer_segments",
                            passed=overall["changed_share"] <= MAX_CHURN, severity=dg.AssetCheckSeverity.WARN,
                            metadata={"changed_share": round(overall["changed_share"], 6),
                                      "largest_size_change": round(max(abs(r["size_change"]) for r in rows), 6)}),
        dg.AssetCheckResult(check_name="active_users_assigned", asset_key="customer_segments",
                            passed=unnamed == 0, metadata={"unnamed": unnamed}),
    ]


def recommendation_results(recs: RecsHour, active_users: int) -> list[dg.AssetCheckResult]:
    """The hour's served-lists check from what was served (``RecsHour``) and the hour's active users."""
    return [dg.AssetCheckResult(
        check_name="ten_per_active_user", asset_key="live_recommendations",
        passed=recs.short_lists == 0 and recs.users == active_users,
        metadata={"short_lists": recs.short_lists, "served": recs.users, "active": active_users})]
