"""Cross-validation of the recommenders on rolling temporal folds: the week after training, and the
validation weeks before its end, each scored on users no choice was made on.

Fold 0 is the holdout (November's first week, the served lists, models trained on all of October).
Folds 1.. are the rolling validation weeks of the training window (trained on the days before each
week). The tuning chose ALS's parameters and the blend's weights on one half of those weeks' users
(:func:`~ecom_assets.recommendation.evaluation.tuning_half`); here each week is scored on the other
half, with an ALS model of the chosen parameters fitted for it on the days before the week (at most
``TUNING_TRAIN_USERS_CAP`` users, the scored ones first, as the tuning's models). Caveat, said in the
docs: the segments are October's, so in the October weeks they know the scored week's purchases.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ecom_assets.recommendation.als import PRODUCT_INDEX, USER_INDEX, AlsParams, fit_als
from ecom_assets.recommendation.evaluation import OfflineResults, evaluate_window, scoring_half
from ecom_assets.recommendation.hybrid import build_inputs
from ecom_assets.recommendation.hybrid_definition import CandidateSizes, Weights
from ecom_assets.recommendation.interactions import Fold, events_in, interaction_strengths
from ecom_assets.recommendation.metrics import METRIC_NAMES
from ecom_assets.recommendation.tuning import TUNING_TRAIN_USERS_CAP, prepare_als_fold, scheme_strength

SUMMARY_METRICS = (*METRIC_NAMES, "catalogue_coverage", "sampled_hit_rate_at_10")


@dataclass(frozen=True)
class TrainedContext:
    """What every fold's blend shares: the content similarity, segments, categories and candidate sizes."""

    similarity: DataFrame
    segments: DataFrame
    categories: DataFrame
    sizes: CandidateSizes


def evaluate_validation_week(spark: SparkSession, events: DataFrame, fold: Fold, params: AlsParams,
                             context: TrainedContext, weights: dict[str, Weights], fallback: Weights,
                             max_users: int, sampled_positives: int) -> OfflineResults:
    """One validation week scored on its scoring half of users, the blend learned from the days before it."""
    data = prepare_als_fold(events, fold, max_users, TUNING_TRAIN_USERS_CAP, half=scoring_half)
    if data.users.count() == 0:
        raise ValueError(f"no user of the scoring half carted or bought in {fold.evaluate} after being seen "
                         "before it: too few events for this many folds (lower recs_evaluation's folds)")
    model = fit_als(data.ratings.select(USER_INDEX, PRODUCT_INDEX, scheme_strength(params)), params)
    interactions = interaction_strengths(events_in(events, fold.train)).cache()
    inputs = build_inputs(interactions, context.similarity, context.segments, context.categories, model,
                          data.indexers, fold.train.end, context.sizes, users=data.users)
    result = evaluate_window(spark, events, interactions, fold.evaluate, data.users, inputs, None, weights,
                             fallback, sampled_positives)
    interactions.unpersist()
    data.unpersist()
    return result


@dataclass(frozen=True)
class CrossValidation:
    """Every fold's results (the holdout first) and their mean and spread per recommender."""

    folds: list[OfflineResults]

    def values(self, recommender: str, metric: str, truth: str = "cart_or_purchase") -> list[float]:
        """``metric`` of ``recommender`` on each fold (folds without it, e.g. no sampled rate, left out)."""
        found = [fold.results[(recommender, truth)].as_dict().get(metric) for fold in self.folds]
        return [float(v) for v in found if v is not None]

    def mean(self, recommender: str, metric: str, truth: str = "cart_or_purchase") -> float:
        """The mean over folds (the cross-validated figure)."""
        return statistics.fmean(self.values(recommender, metric, truth))

    def spread(self, recommender: str, metric: str, truth: str = "cart_or_purchase") -> float:
        """The standard deviation over folds."""
        values = self.values(recommender, metric, truth)
        return statistics.pstdev(values) if len(values) > 1 else 0.0

    @property
    def recommenders(self) -> list[str]:
        """The recommenders compared, in the order they were scored."""
        return list(self.folds[0].main)

    def summary(self, truth: str = "cart_or_purchase") -> dict[str, dict[str, dict[str, float]]]:
        """recommender -> metric -> {mean, spread}, for metadata and the docs."""
        return {name: {m: {"mean": round(self.mean(name, m, truth), 5), "spread": round(self.spread(name, m, truth), 5)}
                       for m in SUMMARY_METRICS if self.values(name, m, truth)}
                for name in self.recommenders}

    def hybrid_beats_popularity(self) -> bool:
        """The hybrid's mean NDCG@10 and Recall@10 beat global and segment popularity's."""
        return all(self.mean("hybrid", m) > self.mean(b, m) for b in ("global_popularity", "segment_popularity")
                   for m in ("ndcg_at_10", "recall_at_10"))

    def table(self) -> DataFrame:
        """Every fold's table with its number (0: the holdout) and test window."""
        return self._stacked([fold.table for fold in self.folds])

    def segment_table(self) -> DataFrame:
        """Every fold's per-segment table (carts and purchases), numbered like :meth:`table`."""
        return self._stacked([fold.segment_table for fold in self.folds])

    def _stacked(self, tables: list[DataFrame]) -> DataFrame:
        frames = [table.select(F.lit(i).alias("fold"), F.lit(str(fold.test)).alias("test_window"), "*")
                  for i, (fold, table) in enumerate(zip(self.folds, tables, strict=True))]
        stacked = frames[0]
        for frame in frames[1:]:
            stacked = stacked.unionByName(frame)
        return stacked

    def ndcg_by_segment(self) -> dict[str, dict[str, float]]:
        """segment -> recommender -> NDCG@10 averaged over the folds that scored users of that segment."""
        values: dict[str, dict[str, list[float]]] = {}
        for fold in self.folds:
            for name, evaluation in fold.main.items():
                for segment, metrics in evaluation.by_segment.items():
                    values.setdefault(segment, {}).setdefault(name, []).append(metrics.ndcg_at_10)
        return {segment: {name: round(statistics.fmean(v), 5) for name, v in by_name.items()}
                for segment, by_name in sorted(values.items())}

    def summary_markdown(self) -> str:
        """Mean ± spread of the main metrics per recommender (carts and purchases), as a markdown table."""
        metrics = ("ndcg_at_10", "recall_at_10", "hit_rate_at_10", "catalogue_coverage", "sampled_hit_rate_at_10")
        lines = ["| recommender | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
        for name in self.recommenders:
            cells = [f"{self.mean(name, m):.4f} ± {self.spread(name, m):.4f}" if self.values(name, m) else "-"
                     for m in metrics]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        return "\n".join(lines)
