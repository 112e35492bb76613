"""Training the recommenders on the training window: ALS (tuned, then fitted on every user) and the
blend's per-segment weights (tuned on the same validation weeks). Plain functions that return what
they learned; ``als_model`` and ``hybrid_recs`` write it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from pyspark.ml.recommendation import ALSModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ecom_assets.recommendation.als import Indexers, fit_als, fit_indexers, index_ids
from ecom_assets.recommendation.hybrid_definition import UNKNOWN_SEGMENT, HybridSettings, weight_grid
from ecom_assets.recommendation.interactions import Window, events_in, interaction_strengths, rolling_folds
from ecom_assets.recommendation.tuning import (
    AlsFold,
    AlsTrial,
    WeightChoice,
    als_grid,
    choose_weights,
    fold_inputs,
    grid_metrics,
    prepare_als_fold,
    prepare_fold,
    tune_als,
)

Log = Callable[[str], None]


@dataclass(frozen=True)
class AlsSearch:
    """The ALS grid searched on rolling validation weeks (see ``AlsConfig``)."""

    ranks: list[int]
    reg_params: list[float]
    alphas: list[float]
    event_weights: list[list[float]]
    max_iter: int
    folds: int
    tuning_users: int
    tuning_train_users: int

    def schemes(self) -> list[tuple[float, float]]:
        """The (cart, purchase) strength schemes, checked: pairs of positive numbers."""
        if any(len(w) != 2 or min(w) <= 0 for w in self.event_weights):
            raise ValueError(f"event_weights must be [cart, purchase] pairs of positive numbers, "
                             f"got {self.event_weights}")
        return [(float(w[0]), float(w[1])) for w in self.event_weights]


@dataclass(frozen=True)
class AlsTraining:
    """What :func:`train_als` learned: the final model and indexers, the interactions they were fitted
    on (cached), the winning trial, every trial, the validation folds and the winner's model per fold."""

    model: ALSModel
    indexers: Indexers
    interactions: DataFrame
    best: AlsTrial
    trials: list[AlsTrial]
    folds: list[AlsFold]
    fold_models: dict[int, tuple[ALSModel, Indexers]]

    @property
    def users(self) -> int:
        """Users known to the model."""
        return len(self.indexers.users.labelsArray[0])

    @property
    def products(self) -> int:
        """Products known to the model."""
        return len(self.indexers.products.labelsArray[0])

    def rows_with_bad_factors(self) -> int:
        """User and item factor rows holding a NaN or an infinity (0 for a sound model)."""
        def bad(frame: DataFrame) -> int:
            return frame.where(F.exists("features", lambda x: F.isnan(x) | (F.abs(x) == float("inf")))).count()
        return bad(self.model.userFactors) + bad(self.model.itemFactors)

    def grid_table(self) -> dict[str, dict]:
        """Each trial's mean and per-fold validation NDCG@10, by parameter label."""
        return {t.params.label(): {"mean_ndcg_at_10": round(t.mean_ndcg, 5),
                                   "fold_ndcg_at_10": [round(m.ndcg_at_10, 5) for m in t.fold_metrics]}
                for t in self.trials}


def train_als(events: DataFrame, window: Window, search: AlsSearch, log: Log = lambda _: None) -> AlsTraining:
    """Choose ALS's parameters by NDCG@10 on rolling validation weeks before the window's end, then fit
    the winner on the whole window, every user."""
    folds = [prepare_als_fold(events, fold, search.tuning_users, search.tuning_train_users)
             for fold in rolling_folds(window, search.folds)]
    if not folds:
        raise ValueError(f"the training window {window} is too short for a validation week")
    grid = als_grid(search.ranks, search.reg_params, search.alphas, search.max_iter, search.schemes())
    best, trials, fold_models = tune_als(folds, grid, log=log)
    for data in folds:
        data.unpersist()
    started = time.perf_counter()
    log(f"final fit: the chosen parameters on the whole window {window}, every user")
    interactions = interaction_strengths(events_in(events, window), best.params.event_weights()).cache()
    indexers = fit_indexers(interactions)
    ratings = index_ids(indexers, interactions).select("user_idx", "product_idx", "strength")
    model = fit_als(ratings, best.params)
    log(f"final fit done in {time.perf_counter() - started:.0f} s")
    return AlsTraining(model, indexers, interactions, best, trials, folds, fold_models)


@dataclass(frozen=True)
class BlendChoice:
    """The blend's weights chosen on the validation weeks: the overall choice (also the fallback) and
    one per segment, ``Unknown`` included; and how many weight triples were compared."""

    overall: WeightChoice
    by_segment: dict[str, WeightChoice]
    grid_size: int


def tune_blend_weights(session: SparkSession, events: DataFrame, similarity: DataFrame, segments: DataFrame,
                       categories: DataFrame, window: Window, folds: int, tuning_users: int, settings: HybridSettings,
                       fold_model: Callable[[int], tuple[ALSModel, Indexers]], log: Log = lambda _: None
                       ) -> BlendChoice:
    """Per segment, the weight triple with the best NDCG@10 averaged over the validation weeks, each fold
    blending with its own ALS model (``fold_model(f)``); small segments take the overall choice."""
    grid = weight_grid(settings.weight_step)
    rows_per_fold = []
    for f, fold in enumerate(rolling_folds(window, folds)):
        model, indexers = fold_model(f)
        data = prepare_fold(events, fold, tuning_users)
        inputs = fold_inputs(data, similarity, segments, categories, model, indexers, settings.sizes)
        rows_per_fold.append(grid_metrics(session, inputs, data, grid))
        data.unpersist()
        log(f"fold {f} ({fold.evaluate}): {len(grid)} weight triples evaluated")
    overall, chosen = choose_weights(rows_per_fold, grid, settings.min_segment_users)
    return BlendChoice(overall, {**chosen, UNKNOWN_SEGMENT: overall}, len(grid))
