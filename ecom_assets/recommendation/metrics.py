"""Ranking metrics at K over Spark DataFrames: top-K lists against ground-truth products.

Every metric is averaged over the evaluated users (those with at least one ground-truth product);
a user with no recommendation counts as zero. Catalogue coverage is the share of the catalogue that
appears in at least one list.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pyspark.sql import DataFrame, Row, Window
from pyspark.sql import functions as F

K = 10
SAMPLED_NEGATIVES = 100
METRIC_NAMES = ("hit_rate_at_10", "precision_at_10", "recall_at_10", "ndcg_at_10", "map_at_10")


@dataclass(frozen=True)
class RankingMetrics:
    """The metrics of one recommender on one ground truth (K = 10)."""

    users: int
    hit_rate_at_10: float
    precision_at_10: float
    recall_at_10: float
    ndcg_at_10: float
    map_at_10: float

    def as_dict(self) -> dict[str, float]:
        """The metrics as a plain dict, rounded for reading."""
        return {k: (round(v, 5) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def top_k(scored: DataFrame, score: str, k: int = K, group: tuple[str, ...] = ("user_id",)) -> DataFrame:
    """The ``k`` best products per group by ``score`` (ties broken by product id), with their 1-based ``rank``."""
    order = Window.partitionBy(*group).orderBy(F.desc(score), F.asc("product_id"))
    return scored.withColumn("rank", F.row_number().over(order)).where(F.col("rank") <= k)


def per_user_metrics(recs: DataFrame, truth: DataFrame, k: int = K, group: tuple[str, ...] = ()) -> DataFrame:
    """One row per (``group``..., user) of ``truth``: hit, precision, recall, NDCG and AP at ``k``.

    ``recs`` has (``group``..., user_id, product_id, rank) with rank 1..k; ``truth`` has distinct
    (user_id, product_id). AP@k divides by min(|truth|, k), the usual convention for MAP@k.
    """
    keys = [*group, "user_id"]
    sizes = truth.groupBy("user_id").agg(F.count(F.lit(1)).alias("relevant"))
    hits = (
        recs.where(F.col("rank") <= k)
        .join(truth, ["user_id", "product_id"])
        .withColumn("hits_so_far", F.row_number().over(Window.partitionBy(*keys).orderBy("rank")))
        .groupBy(*keys)
        .agg(
            F.count(F.lit(1)).alias("hits"),
            F.sum(1.0 / F.log2(F.col("rank") + 1)).alias("dcg"),
            F.sum(F.col("hits_so_far") / F.col("rank")).alias("ap_sum"),
        )
    )
    users = sizes
    if group:
        users = sizes.crossJoin(recs.select(*group).distinct())
    ideal = F.aggregate(
        F.sequence(F.lit(1), F.least(F.col("relevant"), F.lit(k))), F.lit(0.0),
        lambda acc, r: acc + 1.0 / F.log2(r + 1),
    )
    return (
        users.join(hits, keys, "left")
        .fillna(0, subset=["hits", "dcg", "ap_sum"])
        .select(
            *keys,
            "relevant",
            (F.col("hits") > 0).cast("double").alias("hit"),
            (F.col("hits") / k).alias("precision"),
            (F.col("hits") / F.col("relevant")).alias("recall"),
            (F.col("dcg") / ideal).alias("ndcg"),
            (F.col("ap_sum") / F.least(F.col("relevant"), F.lit(k))).alias("ap"),
        )
    )


def mean_metrics(per_user: DataFrame, group: tuple[str, ...] = (), rollup: bool = False) -> DataFrame:
    """Averages of :func:`per_user_metrics` per ``group`` (one row when ``group`` is empty); with ``rollup``,
    also the row over every group (its ``group`` columns null)."""
    grouped = per_user.rollup(*group) if rollup else per_user.groupBy(*group)
    return grouped.agg(
        F.count(F.lit(1)).alias("users"),
        F.avg("hit").alias("hit_rate_at_10"),
        F.avg("precision").alias("precision_at_10"),
        F.avg("recall").alias("recall_at_10"),
        F.avg("ndcg").alias("ndcg_at_10"),
        F.avg("ap").alias("map_at_10"),
    )


def _as_metrics(row: Row) -> RankingMetrics:
    return RankingMetrics(int(row["users"]), *(float(row[name]) for name in METRIC_NAMES))


def ranking_metrics(recs: DataFrame, truth: DataFrame, k: int = K) -> RankingMetrics:
    """HitRate, Precision, Recall, NDCG and MAP at ``k`` of ``recs`` against ``truth``, averaged over users."""
    row = mean_metrics(per_user_metrics(recs, truth, k)).collect()
    if not row or row[0]["users"] == 0:
        return RankingMetrics(0, 0.0, 0.0, 0.0, 0.0, 0.0)
    return _as_metrics(row[0])


def ranking_metrics_by_segment(recs: DataFrame, truth: DataFrame, segments: DataFrame, unknown: str,
                               k: int = K) -> tuple[RankingMetrics, dict[str, RankingMetrics]]:
    """:func:`ranking_metrics` over every user and per segment, so a shop sees whom the lists serve well, in
    one query; ``segments``: (user_id, segment), a user without a row counted under ``unknown``. One row per
    segment reaches the driver."""
    per_user = per_user_metrics(recs, truth, k).join(segments.select("user_id", "segment"), "user_id", "left")
    rows = mean_metrics(per_user.fillna({"segment": unknown}), ("segment",), rollup=True).collect()
    overall = next((_as_metrics(r) for r in rows if r["segment"] is None), RankingMetrics(0, 0.0, 0.0, 0.0, 0.0, 0.0))
    return overall, {r["segment"]: _as_metrics(r) for r in rows if r["segment"] is not None and r["users"]}


def catalogue_coverage(recs: DataFrame, catalogue_size: int) -> float:
    """Share of the catalogue recommended to at least one user."""
    if catalogue_size <= 0:
        return 0.0
    return recs.select("product_id").distinct().count() / catalogue_size


def sampled_hit_rate(scored: DataFrame, k: int = K) -> float:
    """Share of positives ranked in the top ``k`` among themselves and their sampled negatives.

    ``scored`` has (positive_id, is_positive, score): one positive row and its negatives per
    ``positive_id``. A null score (a product the model cannot score) ranks last, and a negative that
    ties with the positive counts as ranked above it (pessimistic: a constant scorer never hits).
    """
    score = F.coalesce(F.col("score"), F.lit(float("-inf")))
    positives = scored.where("is_positive").select("positive_id", score.alias("positive_score"))
    ahead = (
        scored.where(~F.col("is_positive"))
        .join(positives, "positive_id")
        .groupBy("positive_id")
        .agg(F.count_if(score >= F.col("positive_score")).alias("ahead"))
    )
    row = (
        positives.join(ahead, "positive_id", "left")
        .agg(F.count(F.lit(1)).alias("n"), F.count_if(F.coalesce(F.col("ahead"), F.lit(0)) < k).alias("hits"))
        .collect()[0]
    )
    return float(row["hits"]) / row["n"] if row["n"] else 0.0
