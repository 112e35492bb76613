"""The recommendation assets materialized through Dagster on generated data with planted tastes."""

from __future__ import annotations

import numpy as np
from pyspark.ml.recommendation import ALSModel
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ecom_assets_tests.conftest import TrainedLake

RECOMMENDATION_ASSETS = ("als_model", "content_similarity", "hybrid_recs", "recs_evaluation", "next_item_evaluation")


def test_recommendation_group_beats_popularity(spark: SparkSession, trained_lake: TrainedLake) -> None:
    result = trained_lake.result
    checks = {f"{e.asset_key.to_user_string()}:{e.check_name}": e.passed for e in result.get_asset_check_evaluations()}
    recommendation_checks = {k: v for k, v in checks.items() if k.split(":")[0] in RECOMMENDATION_ASSETS}
    assert recommendation_checks == {
        "als_model:ids_fit_in_32_bits": True,
        "als_model:factors_finite": True,
        "content_similarity:neighbours_valid": True,
        "content_similarity:every_product_has_neighbours": True,
        "hybrid_recs:ten_per_user": True,
        "hybrid_recs:no_purchased_products": True,
        "recs_evaluation:hybrid_beats_popularity": True,
        "recs_evaluation:sampled_hit_rate_above_70_percent": True,
        "recs_evaluation:coverage_above_floor": True,
        "next_item_evaluation:covisitation_beats_most_popular": True,
    }
    metadata = {e.asset_key.to_user_string(): e.materialization.metadata
                for e in result.get_asset_materialization_events()}
    mean = {name: {m: v["mean"] for m, v in metrics.items()}
            for name, metrics in metadata["recs_evaluation"]["cart_or_purchase"].value.items()}
    popularity = max(mean["global_popularity"]["ndcg_at_10"], mean["segment_popularity"]["ndcg_at_10"])
    # Planted tastes (favourite categories, brands, price levels) make personal models clearly better.
    assert mean["als"]["ndcg_at_10"] > 1.3 * popularity
    assert mean["hybrid"]["ndcg_at_10"] > 1.3 * popularity
    assert mean["hybrid"]["catalogue_coverage"] > 5 * mean["global_popularity"]["catalogue_coverage"]
    # Cross-validated: the holdout week, then (two folds in the tests) the validation week before the training
    # window's end.
    assert metadata["recs_evaluation"]["folds"].value == [
        "2019-11-01 .. 2019-11-08 (end excluded)", "2019-10-25 .. 2019-11-01 (end excluded)"]
    assert all(users > 0 for users in metadata["recs_evaluation"]["users_per_fold"].value)
    assert metadata["als_model"]["params"].value["rank"] == 32
    grid = metadata["als_model"]["grid"].value
    assert len(grid) == 2 and all(len(trial["fold_ndcg_at_10"]) == 2 for trial in grid.values())

    protocol = metadata["next_item_evaluation"]["protocol"].value
    assert protocol["test_day"] == "2019-11-30" and protocol["test_sessions"] > 0 and protocol["filter_rounds"] >= 1
    assert metadata["next_item_evaluation"]["covisitation_recall_at_20"].value > 0

    lake = trained_lake.root / "lake"
    model = ALSModel.load(str(lake / "models" / "als"))
    assert model.rank == 32
    evaluation = spark.read.parquet(str(lake / "processed" / "recs_evaluation"))
    assert evaluation.count() == 20  # 2 folds x 5 recommenders x (cart or purchase, view)
    by_segment = spark.read.parquet(str(lake / "processed" / "recs_evaluation_by_segment"))
    # Each fold's segments partition the users it scored, for every recommender.
    users = {(r["fold"], r["recommender"]): r["users"] for r in evaluation.where("ground_truth = 'cart_or_purchase'")
             .select("fold", "recommender", "users").collect()}
    summed = {(r["fold"], r["recommender"]): r["users"] for r in by_segment.groupBy("fold", "recommender")
              .agg(F.sum("users").alias("users")).collect()}
    assert summed == users
    assert set(metadata["recs_evaluation"]["ndcg_at_10_by_segment"].value) == {
        r["segment"] for r in by_segment.select("segment").distinct().collect()}
    recs = spark.read.parquet(str(lake / "processed" / "hybrid_recs"))
    assert recs.groupBy("user_id").count().where("count != 10").count() == 0
    cold_start = spark.read.parquet(str(lake / "processed" / "segment_top_products"))
    assert cold_start.where("segment = 'Unknown'").count() == 10


def test_served_lists_equal_the_blend_written_as_spark_joins(spark: SparkSession, trained_lake: TrainedLake,
                                                            monkeypatch) -> None:
    """``hybrid_recs`` (one row per user through the numpy pass) serves every training user the same
    top-10, with the same scores, as the blend's definition in Spark joins on the model's own factors."""
    from ecom_assets.recommendation.hybrid import candidates, weights_frame
    from ecom_assets.recommendation.interactions import Window
    from ecom_assets.recommendation.stored import (
        read_hybrid_settings,
        read_hybrid_weights,
        trained_inputs,
        training_interactions,
    )
    from ecom_assets.resources import LakeResource, TrainingResource
    from ecom_assets_tests.blend_reference import joined_blend

    lake = LakeResource(data_dir=str(trained_lake.root / "input"), root=str(trained_lake.root / "lake"))
    window = Window(TrainingResource().window.start, TrainingResource().window.end)
    interactions = training_interactions(spark, lake, window)
    inputs = trained_inputs(spark, lake, window.end, read_hybrid_settings(spark, lake), interactions)
    weights, fallback = read_hybrid_weights(spark, lake)
    reference = joined_blend(inputs, candidates(inputs, interactions.select("user_id")), weights_frame(spark, weights),
                             fallback)
    served = lake.read_processed(spark, "hybrid_recs")

    def lists(frame) -> dict[int, list[tuple[int, float]]]:
        result: dict[int, list[tuple[int, float]]] = {}
        for r in frame.select("user_id", "rank", "product_id", "hybrid_score").orderBy("user_id", "rank").collect():
            result.setdefault(r["user_id"], []).append((r["product_id"], r["hybrid_score"]))
        return result

    expected, got = lists(reference), lists(served)
    assert len(expected) > 1000 and set(got) == set(expected)
    # Float rounding may order two exactly tied products differently; scores must agree everywhere.
    differing = [u for u, ranked in expected.items() if [p for p, _ in got[u]] != [p for p, _ in ranked]]
    assert len(differing) <= len(expected) // 1000
    assert all(np.allclose([s for _, s in got[u]], [s for _, s in expected[u]], atol=1e-6) for u in expected)
