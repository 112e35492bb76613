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


def _metrics(ndcg: float, users: int = 100) -> RankingMetrics:
    return RankingMetrics(users, 0.2, 0.02, ndcg, ndcg, 0.05)


def _fold(ndcg: dict[str, float], sampled: float, day: int, segments: dict[str, float] | None = None) -> OfflineResults:
    """One fold; ``segments``: the NDCG@10 of each segment's users (every recommender alike)."""
    by_segment = {segment: _metrics(value, 50) for segment, value in (segments or {}).items()}
    results = {(name, "cart_or_purchase"): Evaluation(_metrics(ndcg[name]), 0.03, sampled if name == "hybrid" else None,
                                                      by_segment)
               for name in RECOMMENDERS}
    return OfflineResults(results, None, None, Window(dt.date(2019, 11, day), dt.date(2019, 11, day + 7)), 1000)


def test_per_segment_ndcg_is_averaged_over_the_folds_that_scored_the_segment() -> None:
    flat = dict.fromkeys(RECOMMENDERS, 0.1)
    cv = CrossValidation([_fold(flat, 0.5, 1, {"Top customers": 0.3, "Unknown": 0.0}),
                          _fold(flat, 0.5, 8, {"Top customers": 0.1})])
    by_segment = cv.ndcg_by_segment()
    assert list(by_segment) == ["Top customers", "Unknown"]
    assert by_segment["Top customers"]["hybrid"] == pytest.approx(0.2)
    assert by_segment["Unknown"] == dict.fromkeys(RECOMMENDERS, 0.0)  # scored in one fold only: that fold's value


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
