"""Cross-validation on rolling temporal folds: ALS hyper-parameters, then the blend's weights per segment."""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

from pyspark.ml.recommendation import ALSModel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from ecom_assets.recommendation.als import (
    PRODUCT_INDEX,
    USER_INDEX,
    AlsParams,
    Indexers,
    fit_als,
    fit_indexers,
    index_ids,
    product_index_table,
    recommend_top,
    user_index_table,
)
from ecom_assets.recommendation.evaluation import evaluated_users, restrict, tuning_half
from ecom_assets.recommendation.hybrid import (
    HybridInputs,
    build_inputs,
    candidates,
    grid_frame,
    grid_top_k,
    score_components,
)
from ecom_assets.recommendation.hybrid_definition import MIN_SEGMENT_USERS, UNKNOWN_SEGMENT, CandidateSizes, Weights
from ecom_assets.recommendation.interactions import Fold, events_in, ground_truth, interaction_strengths
from ecom_assets.recommendation.metrics import K, RankingMetrics, mean_metrics, per_user_metrics, ranking_metrics, top_k

TUNING_USERS_CAP = 20_000
# Users whose interactions fit each tuning model (the evaluated users among them): the grid's fits then
# cost the same on 10 M or 110 M events; the final model is fitted on every user.
TUNING_TRAIN_USERS_CAP = 100_000


@dataclass(frozen=True)
class FoldData:
    """One fold's training interactions and the ground truth of its evaluation week (users seen in training)."""

    fold: Fold
    interactions: DataFrame
    users: DataFrame
    truth: DataFrame

    def unpersist(self) -> None:
        """Free the fold's cached tables."""
        for frame in (self.interactions, self.users, self.truth):
            frame.unpersist()


def prepare_fold(events: DataFrame, fold: Fold, users_cap: int = TUNING_USERS_CAP, seed: int = 46) -> FoldData:
    """Interactions of the fold's training days and at most ``users_cap`` evaluated users of the tuning
    half (hash sample; the other half is the cross-validation's)."""
    interactions = interaction_strengths(events_in(events, fold.train)).cache()
    truth = ground_truth(events_in(events, fold.evaluate))
    users = tuning_half(evaluated_users(interactions, truth))
    users = users.orderBy(F.xxhash64("user_id", F.lit(seed))).limit(users_cap).cache()
    return FoldData(fold, interactions, users, restrict(truth, users).cache())


def als_top_k(model: ALSModel, indexers: Indexers, users: DataFrame, catalogue: DataFrame, purchased: DataFrame,
              k: int = K, pool: int = 3 * K) -> DataFrame:
    """(user_id, product_id, rank): ALS alone, best ``k`` products not yet purchased, for ``users``
    (user_id); ``catalogue`` is (product_id, product_idx), ``purchased`` (user_id, product_id)."""
    pooled = recommend_top(model, user_index_table(indexers, users), catalogue, pool)
    return top_k(pooled.join(purchased, ["user_id", "product_id"], "left_anti"), "als_score", k).select(
        "user_id", "product_id", "rank")


def pair_counts(events: DataFrame) -> DataFrame:
    """(user_id, product_id, views, carts, purchases): each pair's events by type. Any (cart, purchase)
    scheme's strength is then a sum of these (:func:`scheme_strength`), so the schemes of the grid share
    one aggregation of the events instead of one each."""
    def count(event_type: str) -> Column:
        return F.count_if(F.col("event_type") == event_type).cast("double").alias(f"{event_type}s")

    return events.groupBy("user_id", "product_id").agg(count("view"), count("cart"), count("purchase"))


def scheme_strength(params: AlsParams) -> Column:
    """The implicit strength of a pair under ``params``' event weights, from :func:`pair_counts`: what
    :func:`~ecom_assets.recommendation.interactions.interaction_strengths` sums event by event."""
    w = params.event_weights()
    return (F.col("views") * w["view"] + F.col("carts") * w["cart"] + F.col("purchases") * w["purchase"]).alias(
        "strength")


@dataclass(frozen=True)
class AlsFold:
    """One validation fold as ALS tuning needs it, every table small and cached: the evaluated users
    (``users``) and their ``truth``; the training pairs of the sampled users (:func:`training_sample`)
    as event counts with dense indices (``ratings``: user_idx, product_idx, views, carts, purchases),
    the ``indexers`` fitted on them, their ``catalogue`` (product_id, product_idx) and the evaluated
    users' ``purchased`` pairs."""

    fold: Fold
    users: DataFrame
    truth: DataFrame
    indexers: Indexers
    ratings: DataFrame
    catalogue: DataFrame
    purchased: DataFrame

    def unpersist(self) -> None:
        """Free the fold's cached tables."""
        for frame in (self.users, self.truth, self.ratings, self.catalogue, self.purchased):
            frame.unpersist()


def prepare_als_fold(events: DataFrame, fold: Fold, users_cap: int = TUNING_USERS_CAP,
                     train_users_cap: int = TUNING_TRAIN_USERS_CAP, seed: int = 46,
                     half: Callable[[DataFrame], DataFrame] = tuning_half) -> AlsFold:
    """The fold's evaluated users (``half`` of them, at most ``users_cap``, hash sample) and the training
    pairs of at most ``train_users_cap`` users (the evaluated ones first), counted once and indexed once
    for every parameter set. Only the sampled users' events are aggregated: the fold costs the same at
    10 M or 110 M events."""
    train_events = events_in(events, fold.train)
    truth_all = ground_truth(events_in(events, fold.evaluate))
    train_users = train_events.select("user_id").distinct()
    users = half(evaluated_users(train_users, truth_all))
    users = users.orderBy(F.xxhash64("user_id", F.lit(seed))).limit(users_cap).cache()
    sample = training_sample(users, train_users, train_users_cap, seed).cache()
    counts = pair_counts(train_events.join(F.broadcast(sample), "user_id", "left_semi")).cache()
    indexers = fit_indexers(counts)
    ratings = index_ids(indexers, counts).select(USER_INDEX, PRODUCT_INDEX, "views", "carts", "purchases").cache()
    catalogue = product_index_table(indexers, counts).cache()
    purchased = counts.where(F.col("purchases") > 0).join(users, "user_id", "left_semi").select(
        "user_id", "product_id").cache()
    ratings.count()
    counts.unpersist()
    sample.unpersist()
    return AlsFold(fold, users, restrict(truth_all, users).cache(), indexers, ratings, catalogue, purchased)


@dataclass
class AlsTrial:
    """One parameter set's metrics on each fold."""

    params: AlsParams
    fold_metrics: list[RankingMetrics] = field(default_factory=list)

    @property
    def mean_ndcg(self) -> float:
        """NDCG@10 averaged over folds."""
        return statistics.fmean(m.ndcg_at_10 for m in self.fold_metrics)

    @property
    def ndcg_spread(self) -> float:
        """Standard deviation of NDCG@10 across folds (0 for one fold)."""
        values = [m.ndcg_at_10 for m in self.fold_metrics]
        return statistics.pstdev(values) if len(values) > 1 else 0.0


def als_grid(ranks: list[int], reg_params: list[float], alphas: list[float], max_iter: int,
             event_weights: list[tuple[float, float]] | None = None) -> list[AlsParams]:
    """Every combination of the given values; ``event_weights`` are (cart, purchase) strengths, a view being 1."""
    schemes = event_weights or [(4.0, 8.0)]
    return [AlsParams(r, g, a, max_iter, c, p)
            for (c, p), r, g, a in itertools.product(schemes, ranks, reg_params, alphas)]


def training_sample(evaluated: DataFrame, train_users: DataFrame, cap: int, seed: int = 46) -> DataFrame:
    """(user_id): the users whose interactions fit a fold's tuning models, at most ``cap``: every
    ``evaluated`` user (they need factors to be scored), then the other ``train_users`` in a fixed hash
    order (all of them under the cap)."""
    evaluated = evaluated.select("user_id")
    room = max(cap - evaluated.count(), 0)
    others = train_users.select("user_id").distinct().join(evaluated, "user_id", "left_anti")
    sampled = others.orderBy(F.xxhash64("user_id", F.lit(seed)), "user_id").limit(room)
    return evaluated.unionByName(sampled)


def tune_als(folds: list[AlsFold], grid: list[AlsParams], log: Callable[[str], None] = lambda _: None
             ) -> tuple[AlsTrial, list[AlsTrial], dict[int, tuple[ALSModel, Indexers]]]:
    """Fit every parameter set on every fold; the best mean NDCG@10 wins (ties: the earlier, simpler set).

    Returns the best trial, all trials, and the best set's model and indexers per fold (for tuning
    the blend on the same folds without re-fitting).
    """
    trials = [AlsTrial(params) for params in grid]
    models: dict[int, dict[int, tuple[ALSModel, Indexers]]] = {i: {} for i in range(len(grid))}
    for f, data in enumerate(folds):
        for i, trial in enumerate(trials):
            ratings = data.ratings.select(USER_INDEX, PRODUCT_INDEX, scheme_strength(trial.params))
            model = fit_als(ratings, trial.params)
            recs = als_top_k(model, data.indexers, data.users, data.catalogue, data.purchased)
            metrics = ranking_metrics(recs, data.truth)
            trial.fold_metrics.append(metrics)
            models[i][f] = (model, data.indexers)
            log(f"fold {f} ({data.fold.evaluate}) {trial.params.label()}: ndcg@10={metrics.ndcg_at_10:.4f}")
    best_index = max(range(len(trials)), key=lambda i: (round(trials[i].mean_ndcg, 6), -i))
    return trials[best_index], trials, models[best_index]


@dataclass(frozen=True)
class WeightChoice:
    """The blend weights chosen for one segment and their validation NDCG@10 per fold."""

    segment: str
    weights: Weights
    fold_ndcg: list[float]
    users: int

    @property
    def spread(self) -> float:
        """Standard deviation of NDCG@10 across folds."""
        return statistics.pstdev(self.fold_ndcg) if len(self.fold_ndcg) > 1 else 0.0


def fold_inputs(data: FoldData, similarity: DataFrame, segments: DataFrame, categories: DataFrame,
                model: ALSModel | None, indexers: Indexers | None, sizes: CandidateSizes) -> HybridInputs:
    """The blend's inputs learned from one fold's training days (content scores for its evaluated users only)."""
    return build_inputs(data.interactions, similarity, segments, categories, model, indexers, data.fold.train.end,
                        sizes, users=data.users)


def grid_metrics(spark: SparkSession, inputs: HybridInputs, data: FoldData, grid: list[Weights]) -> list[dict]:
    """Mean metrics per (segment, weight triple) on one fold, as plain rows (segments x triples, small)."""
    scored = score_components(inputs, candidates(inputs, data.users)).cache()
    # Cached: four parts of the query read it, each pruned to other columns, so Spark cannot reuse one
    # shuffle for all and ranked every user's candidates under every triple four times.
    ranked = grid_top_k(scored, grid_frame(spark, grid)).cache()
    per_user = per_user_metrics(ranked, data.truth, group=("combo",))
    users_segment = scored.select("user_id", "segment").distinct()
    by_segment = mean_metrics(per_user.join(users_segment, "user_id", "left").fillna(UNKNOWN_SEGMENT, ["segment"]),
                              group=("segment", "combo"))
    overall = mean_metrics(per_user, group=("combo",)).withColumn("segment", F.lit(None).cast("string"))
    rows = [r.asDict() for r in by_segment.unionByName(overall).collect()]
    ranked.unpersist()
    scored.unpersist()
    return rows


def choose_weights(rows_per_fold: list[list[dict]], grid: list[Weights],
                   min_users: int = MIN_SEGMENT_USERS) -> tuple[WeightChoice, dict[str, WeightChoice]]:
    """Per segment, the triple with the best NDCG@10 averaged over folds; small segments take the overall choice.

    Returns the overall choice (segment ``None`` rows, also the fallback) and the per-segment ones.
    """
    def pick(segment: str | None) -> WeightChoice | None:
        per_combo: dict[int, list[float]] = {}
        users = 0
        for rows in rows_per_fold:
            for row in rows:
                if row["segment"] == segment:
                    per_combo.setdefault(row["combo"], []).append(float(row["ndcg_at_10"]))
                    users = max(users, int(row["users"]))
        complete = {c: v for c, v in per_combo.items() if len(v) == len(rows_per_fold)}
        if not complete:
            return None
        best = max(sorted(complete), key=lambda c: statistics.fmean(complete[c]))
        return WeightChoice(segment or "overall", grid[best], complete[best], users)

    overall = pick(None)
    if overall is None:
        raise ValueError("no fold has evaluated users: the validation weeks hold no carts or purchases "
                         "by users seen before them")
    segments = sorted({row["segment"] for rows in rows_per_fold for row in rows if row["segment"] is not None})
    chosen: dict[str, WeightChoice] = {}
    for segment in segments:
        choice = pick(segment)
        if choice is None or choice.users < min_users:
            choice = WeightChoice(segment, overall.weights, choice.fold_ndcg if choice else [], choice.users if choice else 0)
        chosen[segment] = choice
    return overall, chosen
