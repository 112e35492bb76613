"""The offline protocol: who is evaluated, against what, and how every recommender is scored.

Each recommender compared (global popularity, segment popularity, ALS alone, content alone,
hybrid) is the same blend with different weights, so all of them rank the same candidate pool and
score arbitrary products the same way, which is what sampled HitRate needs.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from ecom_assets.recommendation.hybrid import (
    HybridInputs,
    Weights,
    blend,
    candidates,
    score_components,
    weights_frame,
)
from ecom_assets.recommendation.metrics import (
    SAMPLED_NEGATIVES,
    K,
    RankingMetrics,
    catalogue_coverage,
    ranking_metrics,
    sampled_hit_rate,
    top_k,
)

SEED = 46
SAMPLED_POSITIVES_CAP = 20_000
BASELINES = {
    "global_popularity": Weights(0.0, 0.0, 1.0),
    "segment_popularity": Weights(0.0, 0.0, 1.0),
    "als": Weights(1.0, 0.0, 0.0),
    "content": Weights(0.0, 1.0, 0.0),
}


@dataclass(frozen=True)
class Evaluation:
    """One recommender's offline numbers on one window."""

    metrics: RankingMetrics
    coverage: float
    sampled_hit_rate_at_10: float | None

    def as_dict(self) -> dict[str, float]:
        """Flat dict of every number, for metadata and tables."""
        out: dict[str, float] = dict(self.metrics.as_dict())
        out["catalogue_coverage"] = round(self.coverage, 5)
        if self.sampled_hit_rate_at_10 is not None:
            out["sampled_hit_rate_at_10"] = round(self.sampled_hit_rate_at_10, 5)
        return out


def evaluated_users(known_users: DataFrame, truth: DataFrame) -> DataFrame:
    """(user_id): users seen in training with at least one ground-truth product."""
    return truth.select("user_id").distinct().join(known_users.select("user_id").distinct(), "user_id")


def restrict(truth: DataFrame, users: DataFrame) -> DataFrame:
    """Ground truth of ``users`` only."""
    return truth.join(users, "user_id")


def without_segments(inputs: HybridInputs) -> HybridInputs:
    """The same inputs with every user in ``UNKNOWN_SEGMENT``, i.e. global popularity."""
    empty = inputs.segments.limit(0)
    return HybridInputs(inputs.model, inputs.indexers, inputs.catalogue, empty, inputs.popularity,
                        inputs.content, inputs.purchased, inputs.sizes)


def scored_candidates(inputs: HybridInputs, users: DataFrame) -> DataFrame:
    """Candidate pairs of ``users`` with their three components (cache it: every recommender ranks it)."""
    return score_components(inputs, candidates(inputs, users))


def rank_with(spark: SparkSession, scored: DataFrame, weights: dict[str, Weights], fallback: Weights,
              k: int = K) -> DataFrame:
    """(user_id, product_id, rank) top ``k`` of ``scored`` under per-segment ``weights``."""
    return top_k(blend(scored, weights_frame(spark, weights), fallback), "hybrid_score", k).select(
        "user_id", "product_id", "rank")


def negative_samples(truth: DataFrame, catalogue: DataFrame, interacted: DataFrame,
                     negatives: int = SAMPLED_NEGATIVES, cap: int = SAMPLED_POSITIVES_CAP,
                     seed: int = SEED) -> DataFrame:
    """(positive_id, user_id, product_id, is_positive): each positive with ``negatives`` random products.

    Negatives are drawn uniformly from ``catalogue`` (product_id) among products the user never
    interacted with (``interacted``: user_id, product_id over training and test). At most ``cap``
    positives are kept (a deterministic hash sample) so the cost stays bounded at full scale.
    """
    positives = truth.select("user_id", "product_id").withColumn(
        "positive_id", F.xxhash64("user_id", "product_id", F.lit(seed)))
    total = positives.count()
    if total > cap:
        positives = positives.orderBy("positive_id").limit(cap)
    indexed = catalogue.select("product_id").distinct().withColumn(
        "slot", F.row_number().over(Window.orderBy("product_id")) - 1)
    size = indexed.count()
    draws = positives.select("positive_id", "user_id",
                             F.explode(F.sequence(F.lit(1), F.lit(int(negatives * 1.2) + 5))).alias("draw"))
    slot = F.pmod(F.xxhash64("positive_id", "draw", F.lit(seed)), F.lit(size))
    drawn = (
        draws.withColumn("slot", slot).join(F.broadcast(indexed), "slot")
        .join(interacted.select("user_id", "product_id"), ["user_id", "product_id"], "left_anti")
        .join(positives.select("positive_id", F.col("product_id").alias("pos_product")), "positive_id")
        .where(F.col("product_id") != F.col("pos_product"))
        .dropDuplicates(["positive_id", "product_id"])
    )
    order = Window.partitionBy("positive_id").orderBy("draw")
    chosen = drawn.withColumn("n", F.row_number().over(order)).where(F.col("n") <= negatives)
    return chosen.select("positive_id", "user_id", "product_id", F.lit(False).alias("is_positive")).unionByName(
        positives.select("positive_id", "user_id", "product_id", F.lit(True).alias("is_positive")))


def sampled_scores(spark: SparkSession, scored_samples: DataFrame, weights: dict[str, Weights],
                   fallback: Weights) -> DataFrame:
    """(positive_id, is_positive, score): the blend's score of every sampled pair (``score_components`` applied)."""
    return blend(scored_samples, weights_frame(spark, weights), fallback).select(
        "positive_id", "is_positive", F.col("hybrid_score").alias("score"))


def evaluate(spark: SparkSession, recs: DataFrame, truth: DataFrame, catalogue_size: int,
             scored_samples: DataFrame | None = None, weights: dict[str, Weights] | None = None,
             fallback: Weights | None = None) -> Evaluation:
    """Top-10 metrics and coverage of ``recs`` (user_id, product_id, rank); sampled HitRate@10 too when
    ``scored_samples`` and the recommender's ``weights`` are given."""
    metrics = ranking_metrics(recs, truth)
    coverage = catalogue_coverage(recs, catalogue_size)
    sampled = None
    if scored_samples is not None and fallback is not None:
        sampled = sampled_hit_rate(sampled_scores(spark, scored_samples, weights or {}, fallback))
    return Evaluation(metrics, coverage, sampled)
