"""The evaluator's metrics on tiny hand-made cases whose answers are worked out by hand."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from pyspark.sql import SparkSession

from ecom_assets.recommendation.hybrid_definition import Weights, weight_grid
from ecom_assets.recommendation.interactions import Window, holdout_window, rolling_folds
from ecom_assets.recommendation.metrics import (
    catalogue_coverage,
    per_user_metrics,
    ranking_metrics,
    ranking_metrics_by_segment,
    sampled_hit_rate,
)
from ecom_assets.recommendation.tuning import choose_weights, training_sample


def _recs(spark: SparkSession):
    rows = [(1, 100 + r, r) for r in range(1, 11)]  # user 1: products 101..110 at ranks 1..10
    rows.append((2, 201, 1))  # user 2: one product
    return spark.createDataFrame(rows, "user_id long, product_id long, rank int")


def _truth(spark: SparkSession):
    rows = [(1, 102), (1, 105), (1, 999), (2, 201), (3, 301)]  # user 3 got no recommendation
    return spark.createDataFrame(rows, "user_id long, product_id long")


def test_ranking_metrics_match_hand_computation(spark: SparkSession) -> None:
    m = ranking_metrics(_recs(spark), _truth(spark))
    ndcg_user1 = (1 / math.log2(3) + 1 / math.log2(6)) / (1 + 1 / math.log2(3) + 0.5)
    assert m.users == 3
    assert m.hit_rate_at_10 == pytest.approx(2 / 3)
    assert m.precision_at_10 == pytest.approx((0.2 + 0.1 + 0.0) / 3)
    assert m.recall_at_10 == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert m.ndcg_at_10 == pytest.approx((ndcg_user1 + 1) / 3)
    assert m.map_at_10 == pytest.approx(((1 / 2 + 2 / 5) / 3 + 1) / 3)


def test_metrics_by_segment_split_the_users_and_name_those_without_one(spark: SparkSession) -> None:
    segments = spark.createDataFrame([(1, "Top"), (2, "Top")], "user_id long, segment string")  # user 3: none
    overall, by_segment = ranking_metrics_by_segment(_recs(spark), _truth(spark), segments, "Unknown")
    assert overall == ranking_metrics(_recs(spark), _truth(spark))  # the same figures, in one query
    assert {name: m.users for name, m in by_segment.items()} == {"Top": 2, "Unknown": 1}
    assert by_segment["Top"].hit_rate_at_10 == 1.0 and by_segment["Unknown"].hit_rate_at_10 == 0.0
    assert by_segment["Top"].recall_at_10 == pytest.approx((2 / 3 + 1) / 2)


def test_per_user_metrics_keep_users_without_recommendations(spark: SparkSession) -> None:
    rows = {r["user_id"]: r for r in per_user_metrics(_recs(spark), _truth(spark)).collect()}
    assert rows[3]["hit"] == 0 and rows[3]["ndcg"] == 0 and rows[3]["relevant"] == 1
    assert rows[1]["relevant"] == 3


def test_catalogue_coverage(spark: SparkSession) -> None:
    assert catalogue_coverage(_recs(spark), 100) == pytest.approx(0.11)
    assert catalogue_coverage(_recs(spark), 0) == 0.0


def test_sampled_hit_rate_counts_ties_and_unscorable_positives_as_misses(spark: SparkSession) -> None:
    rows = [(1, True, 0.9)] + [(1, False, 0.95)] * 9 + [(1, False, 0.1)] * 91  # 9 ahead: a hit
    rows += [(2, True, 0.5)] + [(2, False, 0.6)] * 9 + [(2, False, 0.5)] + [(2, False, 0.0)] * 90  # tie: 10 ahead
    rows += [(3, True, None)] + [(3, False, 0.0)] * 100  # the model cannot score the positive
    scored = spark.createDataFrame(rows, "positive_id long, is_positive boolean, score double")
    assert sampled_hit_rate(scored) == pytest.approx(1 / 3)


def test_rolling_folds_are_consecutive_weeks_before_the_end() -> None:
    training = Window(dt.date(2019, 10, 1), dt.date(2019, 11, 1))
    folds = rolling_folds(training, 3)
    assert [(f.evaluate.start, f.evaluate.end) for f in folds] == [
        (dt.date(2019, 10, 25), dt.date(2019, 11, 1)),
        (dt.date(2019, 10, 18), dt.date(2019, 10, 25)),
        (dt.date(2019, 10, 11), dt.date(2019, 10, 18)),
    ]
    assert all(f.train.start == training.start and f.train.end == f.evaluate.start for f in folds)
    assert holdout_window(training) == Window(dt.date(2019, 11, 1), dt.date(2019, 11, 8))
    assert len(rolling_folds(Window(dt.date(2019, 10, 1), dt.date(2019, 10, 9)), 3)) == 1


def test_weight_grid_covers_the_simplex() -> None:
    grid = weight_grid(0.25)
    assert len(grid) == 15
    assert all(math.isclose(w.als + w.content + w.popularity, 1.0) for w in grid)
    assert Weights(1.0, 0.0, 0.0) in grid and Weights(0.0, 0.0, 1.0) in grid


def test_choose_weights_averages_folds_and_falls_back_for_small_segments() -> None:
    grid = [Weights(1.0, 0.0, 0.0), Weights(0.0, 0.0, 1.0)]

    def rows(overall: tuple[float, float], big: tuple[float, float], small: tuple[float, float]) -> list[dict]:
        out = []
        for segment, values, users in ((None, overall, 500), ("Big", big, 400), ("Small", small, 5)):
            out += [{"segment": segment, "combo": c, "ndcg_at_10": v, "users": users} for c, v in enumerate(values)]
        return out

    folds = [rows((0.30, 0.20), (0.10, 0.40), (0.9, 0.1)), rows((0.28, 0.25), (0.12, 0.35), (0.9, 0.1))]
    overall, chosen = choose_weights(folds, grid)
    assert overall.weights == grid[0] and overall.fold_ndcg == [0.30, 0.28]
    assert chosen["Big"].weights == grid[1]
    assert chosen["Small"].weights == overall.weights  # 5 users: too few to trust its own choice
    with pytest.raises(ValueError, match="no fold has evaluated users"):
        choose_weights([[]], grid)


def test_training_sample_keeps_evaluated_users_and_caps_the_rest(spark: SparkSession) -> None:
    interactions = spark.createDataFrame([(u, 100 + u % 7) for u in range(1, 51)], "user_id long, product_id long")
    evaluated = spark.createDataFrame([(u,) for u in (3, 17, 29, 41, 50)], "user_id long")

    def sample(cap: int) -> list[int]:
        return sorted(r.user_id for r in training_sample(evaluated, interactions, cap).collect())

    capped = sample(20)
    assert len(capped) == 20 == len(set(capped))
    assert {3, 17, 29, 41, 50} <= set(capped) <= set(range(1, 51))
    assert sample(20) == capped  # a fixed hash order, not a random draw
    assert sample(1_000) == list(range(1, 51))
    assert sample(2) == [3, 17, 29, 41, 50]  # evaluated users are never dropped
