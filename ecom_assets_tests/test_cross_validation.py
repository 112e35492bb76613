"""Cross-validation: the folds' mean and spread, and the two halves of users that keep tuning and scoring apart."""

from __future__ import annotations

import datetime as dt
import statistics

import pytest
from pyspark.sql import SparkSession

from ecom_assets.recommendation.cross_validation import CrossValidation
from ecom_assets.recommendation.evaluation import Evaluation, OfflineResults, scoring_half, tuning_half
from ecom_assets.recommendation.interactions import Window
from ecom_assets.recommendation.metrics import RankingMetrics

RECOMMENDERS = ("global_popularity", "segment_popularity", "als", "content", "hybrid")


def _fold(ndcg: dict[str, float], sampled: float, day: int) -> OfflineResults:
    results = {(name, "cart_or_purchase"): Evaluation(RankingMetrics(100, 0.2, 0.02, ndcg[name], ndcg[name], 0.05),
                                                      0.03, sampled if name == "hybrid" else None)
               for name in RECOMMENDERS}
    return OfflineResults(results, None, Window(dt.date(2019, 11, day), dt.date(2019, 11, day + 7)), 1000)


def test_means_and_spreads_over_folds_drive_the_checks() -> None:
    base = {"global_popularity": 0.05, "segment_popularity": 0.06, "als": 0.09, "content": 0.07}
    folds = [_fold({**base, "hybrid": v}, s, d) for v, s, d in ((0.12, 0.85, 1), (0.10, 0.80, 8), (0.05, 0.60, 15))]
    cv = CrossValidation(folds)
    assert cv.values("hybrid", "ndcg_at_10") == [0.12, 0.10, 0.05]
    assert cv.mean("hybrid", "ndcg_at_10") == pytest.approx(0.09)
    assert cv.spread("hybrid", "ndcg_at_10") == pytest.approx(statistics.pstdev([0.12, 0.10, 0.05]))
    assert cv.mean("hybrid", "sampled_hit_rate_at_10") == pytest.approx(0.75)
    assert cv.values("als", "sampled_hit_rate_at_10") == []  # not sampled: left out of the summary
    assert "sampled_hit_rate_at_10" not in cv.summary()["als"]
    assert cv.summary()["hybrid"]["ndcg_at_10"] == {"mean": 0.09, "spread": round(cv.spread("hybrid", "ndcg_at_10"), 5)}
    # The mean decides, not the best fold: 0.09 beats 0.06 although the third fold alone loses.
    assert cv.hybrid_beats_popularity()
    assert not CrossValidation([folds[2]]).hybrid_beats_popularity()
    assert "| hybrid | 0.0900 ± " in cv.summary_markdown()


def test_tuning_and_scoring_halves_split_every_user_once(spark: SparkSession) -> None:
    users = spark.range(10_000).withColumnRenamed("id", "user_id")
    tuning = {r["user_id"] for r in tuning_half(users).collect()}
    scoring = {r["user_id"] for r in scoring_half(users).collect()}
    assert not tuning & scoring and len(tuning | scoring) == 10_000
    assert 4_500 < len(tuning) < 5_500
