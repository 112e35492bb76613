"""The offline protocol: who is evaluated, against what, and how every recommender is scored.

Each recommender compared (global popularity, segment popularity, ALS alone, content alone,
hybrid) is the same blend with different weights, so all of them rank the same candidate pool and
score arbitrary products the same way, which is what sampled HitRate needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from ecom_assets.recommendation.hybrid import (
    HybridInputs,
    als_candidates,
    blend,
    candidates,
    score_components,
    weights_frame,
    with_popularity,
    with_segment,
)
from ecom_assets.recommendation.hybrid_definition import UNKNOWN_SEGMENT, Weights
from ecom_assets.recommendation.interactions import Window as DayWindow
from ecom_assets.recommendation.interactions import events_in, ground_truth, holdout_window
from ecom_assets.recommendation.metrics import (
    SAMPLED_NEGATIVES,
    K,
    RankingMetrics,
    catalogue_coverage,
    ranking_metrics,
    ranking_metrics_by_segment,
    sampled_hit_rate,
    top_k,
)

SEED = 46
HALF_SEED = 2019
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
    by_segment: dict[str, RankingMetrics] = field(default_factory=dict)

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


def _half(users: DataFrame, which: int) -> DataFrame:
    return users.where(F.pmod(F.xxhash64("user_id", F.lit(HALF_SEED)), F.lit(2)) == which)


def tuning_half(users: DataFrame) -> DataFrame:
    """The users the validation weeks may tune on (ALS parameters, blend weights): half of them, by hash."""
    return _half(users, 0)


def scoring_half(users: DataFrame) -> DataFrame:
    """The other half: the users the cross-validation scores on the same weeks, unseen by any choice."""
    return _half(users, 1)


def restrict(truth: DataFrame, users: DataFrame) -> DataFrame:
    """Ground truth of ``users`` only."""
    return truth.join(users, "user_id")


def without_segments(inputs: HybridInputs) -> HybridInputs:
    """The same inputs with every user in ``UNKNOWN_SEGMENT``, i.e. global popularity."""
    return replace(inputs, segments=inputs.segments.limit(0))


def scored_candidates(inputs: HybridInputs, users: DataFrame, als_top: DataFrame | None = None) -> DataFrame:
    """Candidate pairs of ``users`` with their three components (cache it: every recommender ranks it);
    ``als_top``: the users' ALS candidates, when computed once for several pools."""
    return score_components(inputs, candidates(inputs, users, als_top))


def popularity_components(inputs: HybridInputs, pairs: DataFrame) -> DataFrame:
    """``pairs`` with segment and the components as :func:`score_components` gives them to a recommender of
    popularity alone: its popularity, and ALS and content at 0.

    Global popularity weighs ALS and content 0, and 0 times a component adds exactly nothing to the blend,
    so its lists and sampled scores are the same as from the full scoring; the ALS dot product and the
    content joins of every pair (half of the evaluation's scoring) are not computed for it.
    """
    return (with_popularity(pairs.join(with_segment(inputs, pairs), "user_id"), inputs.popularity)
            .withColumn("als", F.lit(0.0)).withColumn("content", F.lit(0.0)))


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
             fallback: Weights | None = None, segments: DataFrame | None = None) -> Evaluation:
    """Top-10 metrics and coverage of ``recs`` (user_id, product_id, rank); sampled HitRate@10 too when
    ``scored_samples`` and the recommender's ``weights`` are given; the metrics per segment when the users'
    ``segments`` (user_id, segment) are."""
    if segments is None:
        metrics, by_segment = ranking_metrics(recs, truth), {}
    else:
        metrics, by_segment = ranking_metrics_by_segment(recs, truth, segments, UNKNOWN_SEGMENT)
    coverage = catalogue_coverage(recs, catalogue_size)
    sampled = None
    if scored_samples is not None and fallback is not None:
        sampled = sampled_hit_rate(sampled_scores(spark, scored_samples, weights or {}, fallback))
    return Evaluation(metrics, coverage, sampled, by_segment)


TRUTHS = ("cart_or_purchase", "view")


@dataclass(frozen=True)
class OfflineResults:
    """Every recommender's numbers against each ground truth, as :class:`Evaluation` and as one table."""

    results: dict[tuple[str, str], Evaluation]
    table: DataFrame
    segment_table: DataFrame
    test: DayWindow
    catalogue_size: int

    @property
    def main(self) -> dict[str, Evaluation]:
        """Each recommender against carts and purchases (the protocol's main ground truth)."""
        return {name: ev for (name, truth), ev in self.results.items() if truth == "cart_or_purchase"}

    def hybrid_beats_popularity(self) -> bool:
        """The hybrid beats global and segment popularity on both NDCG@10 and Recall@10."""
        hybrid = self.main["hybrid"].metrics
        return all(hybrid.ndcg_at_10 > self.main[b].metrics.ndcg_at_10
                   and hybrid.recall_at_10 > self.main[b].metrics.recall_at_10
                   for b in ("global_popularity", "segment_popularity"))


def evaluation_table(spark: SparkSession, results: dict[tuple[str, str], Evaluation]) -> DataFrame:
    """One row per (recommender, ground truth) with every metric."""
    rows = []
    for (name, truth), ev in results.items():
        d = ev.as_dict()
        rows.append((name, truth, int(d["users"]), d["hit_rate_at_10"], d["precision_at_10"], d["recall_at_10"],
                     d["ndcg_at_10"], d["map_at_10"], d["catalogue_coverage"], d.get("sampled_hit_rate_at_10")))
    return spark.createDataFrame(rows, "recommender string, ground_truth string, users long, hit_rate_at_10 double, "
                                       "precision_at_10 double, recall_at_10 double, ndcg_at_10 double, "
                                       "map_at_10 double, catalogue_coverage double, sampled_hit_rate_at_10 double")


SEGMENT_TABLE_SCHEMA = ("recommender string, segment string, users long, hit_rate_at_10 double, "
                        "precision_at_10 double, recall_at_10 double, ndcg_at_10 double, map_at_10 double")


def segment_evaluation_table(spark: SparkSession, results: dict[tuple[str, str], Evaluation]) -> DataFrame:
    """One row per (recommender, segment) against carts and purchases: whom each recommender serves well."""
    rows = [(name, segment, m.users, m.hit_rate_at_10, m.precision_at_10, m.recall_at_10, m.ndcg_at_10, m.map_at_10)
            for (name, truth), ev in results.items() if truth == "cart_or_purchase"
            for segment, m in sorted(ev.by_segment.items())]
    return spark.createDataFrame(rows, SEGMENT_TABLE_SCHEMA)


def sample_users(users: DataFrame, cap: int) -> DataFrame:
    """At most ``cap`` of ``users`` (user_id), a deterministic hash sample (cached)."""
    return users.orderBy(F.xxhash64("user_id")).limit(cap).cache()


def evaluate_window(spark: SparkSession, events: DataFrame, interactions: DataFrame, test: DayWindow,
                    users: DataFrame, inputs: HybridInputs, served: DataFrame | None,
                    weights: dict[str, Weights], fallback: Weights, sampled_positives: int) -> OfflineResults:
    """Score the hybrid and the baselines for ``users`` on the ``test`` days, the blend's ``inputs`` learned
    from ``interactions`` (the days before). The hybrid's lists are ``served`` (user_id, product_id, rank) when
    given, else the blend under ``weights``/``fallback`` (the same lists: ``hybrid_recs`` serves that blend)."""
    test_events = events_in(events, test)
    # Only the evaluated users' events are needed past the catalogue: their truths and what they touched
    # (the negatives are drawn for them alone), not every user's pairs de-duplicated and then filtered.
    evaluated = F.broadcast(users.select("user_id"))
    theirs = test_events.join(evaluated, "user_id", "left_semi")
    truths = {"cart_or_purchase": ground_truth(theirs).cache(), "view": ground_truth(theirs, ("view",)).cache()}
    catalogue = interactions.select("product_id").unionByName(test_events.select("product_id")).distinct()
    catalogue_size = catalogue.count()
    interacted = interactions.join(evaluated, "user_id", "left_semi").select(
        "user_id", "product_id").unionByName(theirs.select("user_id", "product_id")).distinct()
    samples = negative_samples(truths["cart_or_purchase"], catalogue, interacted, cap=sampled_positives).cache()
    global_inputs = without_segments(inputs)
    als_top = als_candidates(inputs, users).cache()  # the same for both pools: searched once
    # Checkpointed, not cached: every recommender's ranking and metrics then plan from a table of rows
    # rather than the whole scoring (some forty joins), which halves their time.
    # The global pool is ranked by global popularity alone (BASELINES): only that component is scored.
    scored = {"segment": scored_candidates(inputs, users, als_top).localCheckpoint(),
              "global": popularity_components(global_inputs, candidates(global_inputs, users, als_top))
              .localCheckpoint()}
    scored_samples = {"segment": score_components(inputs, samples).localCheckpoint(),
                      "global": popularity_components(global_inputs, samples).localCheckpoint()}
    recommenders = {name: ("global" if name == "global_popularity" else "segment", {}, w)
                    for name, w in BASELINES.items()}
    recommenders["hybrid"] = ("segment", weights, fallback)
    results: dict[tuple[str, str], Evaluation] = {}
    for name, (kind, segment_weights, default) in recommenders.items():
        if name == "hybrid" and served is not None:
            recs = served.join(users, "user_id").select("user_id", "product_id", "rank").cache()
        else:
            recs = rank_with(spark, scored[kind], segment_weights, default).cache()
        for truth_name, truth in truths.items():
            with_samples = truth_name == "cart_or_purchase"
            results[(name, truth_name)] = evaluate(
                spark, recs, truth, catalogue_size,
                scored_samples[kind] if with_samples else None, segment_weights, default if with_samples else None,
                inputs.segments if with_samples else None)
        recs.unpersist()
    for frame in (*truths.values(), samples, als_top):
        frame.unpersist()
    return OfflineResults(results, evaluation_table(spark, results), segment_evaluation_table(spark, results), test,
                          catalogue_size)


def evaluate_holdout(spark: SparkSession, events: DataFrame, interactions: DataFrame, training: DayWindow,
                     inputs_of: Callable[[DataFrame], HybridInputs], served: DataFrame,
                     weights: dict[str, Weights], fallback: Weights, max_users: int,
                     sampled_positives: int) -> OfflineResults:
    """The served hybrid lists and the baselines on the week after ``training``, for at most ``max_users``
    users seen in training who carted or bought in it (a hash sample); ``inputs_of(users)`` gives the
    blend's trained inputs for those users."""
    test = holdout_window(training)
    users = sample_users(evaluated_users(interactions, ground_truth(events_in(events, test))), max_users)
    if users.count() == 0:
        raise ValueError(f"no user seen in training carted or bought anything in {test}: "
                         "the lake needs the month after the training window")
    return evaluate_window(spark, events, interactions, test, users, inputs_of(users), served, weights, fallback,
                           sampled_positives)
