"""The segmentation assets' checks: what each one verifies (specs) and how (results from plain figures)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ecom_assets.segmentation.kmeans import MAX_ITER, SegmentationFit

# Below this silhouette the segments overlap too much to be told apart (measured 0.43-0.59 on generated data).
SILHOUETTE_FLOOR = 0.25
SILHOUETTE_AGREEMENT = 0.01
MAX_SEGMENT_CHANGE = 0.15

RFM_CHECKS = [
    dg.AssetCheckSpec("one_row_per_user", asset="rfm_table", description="Each active user once."),
    dg.AssetCheckSpec("scores_in_range", asset="rfm_table",
                      description="R in 1-5; F and M in 1-5 for buyers and 0 for non-buyers."),
]
KMEANS_CHECKS = [
    dg.AssetCheckSpec("converged_and_separated", asset="kmeans_model", blocking=True,
                      description=f"KMeans converged before {MAX_ITER} iterations and silhouette >= {SILHOUETTE_FLOOR}."),
    dg.AssetCheckSpec("silhouette_matches_sklearn", asset="kmeans_model",
                      description=f"Spark's and scikit-learn's silhouettes agree within {SILHOUETTE_AGREEMENT}."),
    dg.AssetCheckSpec("stable_across_refits", asset="kmeans_model",
                      description=f"A bootstrap re-fit moves at most {MAX_SEGMENT_CHANGE:.0%} of users."),
]
PROFILE_CHECKS = [dg.AssetCheckSpec("names_unique_and_shares_sum_to_one", asset="segment_profiles",
                                    description="One distinct name per segment; user and revenue shares add to 1.")]
ASSIGNMENT_CHECKS = [dg.AssetCheckSpec("every_user_assigned", asset="user_segments",
                                       description="Every user of the RFM table has exactly one named segment.")]


@dataclass(frozen=True)
class RfmFigures:
    """The RFM table's rows, distinct users, buyers and rows with out-of-range scores by kind."""

    rows: int
    users: int
    buyers: int
    bad: dict[str, int]

    @staticmethod
    def of(table: DataFrame) -> RfmFigures:
        """Counted in one Spark job."""
        stats = table.agg(
            F.count(F.lit(1)).alias("rows"),
            F.count_distinct("user_id").alias("users"),
            F.count_if("is_buyer").alias("buyers"),
            F.count_if(~F.col("r_score").between(1, 5)).alias("bad_r"),
            F.count_if(F.col("is_buyer") & ~(F.col("f_score").between(1, 5) & F.col("m_score").between(1, 5))).alias(
                "bad_buyer"),
            F.count_if(~F.col("is_buyer") & ((F.col("f_score") != 0) | (F.col("m_score") != 0))).alias("bad_other"),
        ).collect()[0]
        return RfmFigures(int(stats["rows"]), int(stats["users"]), int(stats["buyers"]),
                          {k: int(stats[k]) for k in ("bad_r", "bad_buyer", "bad_other")})


def rfm_results(figures: RfmFigures) -> list[dg.AssetCheckResult]:
    """``RFM_CHECKS`` from the table's figures."""
    return [
        dg.AssetCheckResult(check_name="one_row_per_user", passed=figures.rows == figures.users),
        dg.AssetCheckResult(check_name="scores_in_range", passed=sum(figures.bad.values()) == 0, metadata=figures.bad),
    ]


def kmeans_results(fit: SegmentationFit) -> list[dg.AssetCheckResult]:
    """``KMEANS_CHECKS`` from the fit's measurements."""
    agreement = abs(fit.spark_sample - fit.sklearn_sample) if not math.isnan(fit.sklearn_sample) else float("inf")
    return [
        dg.AssetCheckResult(check_name="converged_and_separated",
                            passed=fit.converged and fit.silhouette >= SILHOUETTE_FLOOR,
                            metadata={"iterations": fit.iterations, "silhouette": round(fit.silhouette, 4),
                                      "floor": SILHOUETTE_FLOOR}),
        dg.AssetCheckResult(check_name="silhouette_matches_sklearn", passed=agreement <= SILHOUETTE_AGREEMENT,
                            metadata={"difference": float(agreement) if math.isfinite(agreement) else -1.0}),
        dg.AssetCheckResult(check_name="stable_across_refits",
                            passed=fit.stability.changed_share <= MAX_SEGMENT_CHANGE,
                            severity=dg.AssetCheckSeverity.WARN,
                            metadata={"changed_share": round(fit.stability.changed_share, 4),
                                      "users_compared": fit.stability.users}),
    ]


def profile_results(table: DataFrame) -> tuple[int, list[dg.AssetCheckResult]]:
    """The profiles' row count and ``PROFILE_CHECKS`` (names distinct, user and revenue shares add to 1;
    no revenue at all is allowed)."""
    totals = table.agg(F.sum("user_share").alias("u"), F.sum("revenue_share").alias("r"),
                       F.count_distinct("segment").alias("names"), F.count(F.lit(1)).alias("n")).collect()[0]
    revenue_ok = abs(float(totals["r"]) - 1) < 1e-6 or float(totals["r"]) == 0.0
    return int(totals["n"]), [dg.AssetCheckResult(
        check_name="names_unique_and_shares_sum_to_one",
        passed=int(totals["names"]) == int(totals["n"]) and abs(float(totals["u"]) - 1) < 1e-6 and revenue_ok)]


def assignment_results(table: DataFrame, rfm_users: int) -> tuple[int, list[dg.AssetCheckResult]]:
    """The assignments' row count and ``ASSIGNMENT_CHECKS`` against the RFM table's users."""
    stats = table.agg(F.count(F.lit(1)).alias("rows"), F.count_distinct("user_id").alias("users"),
                      F.count_if(F.col("segment").isNull()).alias("unnamed")).collect()[0]
    rows = int(stats["rows"])
    return rows, [dg.AssetCheckResult(
        check_name="every_user_assigned",
        passed=rows == int(stats["users"]) == rfm_users and int(stats["unnamed"]) == 0,
        metadata={"rows": rows, "rfm_users": rfm_users})]
