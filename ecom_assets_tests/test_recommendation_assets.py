"""The recommendation assets materialized through Dagster on generated data with planted tastes."""

from __future__ import annotations

from pyspark.ml.recommendation import ALSModel
from pyspark.sql import SparkSession

from ecom_assets_tests.conftest import TrainedLake

RECOMMENDATION_ASSETS = ("als_model", "content_similarity", "hybrid_recs", "recs_evaluation")


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
    }
    metadata = {e.asset_key.to_user_string(): e.materialization.metadata
                for e in result.get_asset_materialization_events()}
    scores = metadata["recs_evaluation"]["cart_or_purchase"].value
    popularity = max(scores["global_popularity"]["ndcg_at_10"], scores["segment_popularity"]["ndcg_at_10"])
    # Planted tastes (favourite categories, brands, price levels) make personal models clearly better.
    assert scores["als"]["ndcg_at_10"] > 1.3 * popularity
    assert scores["hybrid"]["ndcg_at_10"] > 1.3 * popularity
    assert scores["hybrid"]["catalogue_coverage"] > 5 * scores["global_popularity"]["catalogue_coverage"]
    assert len(metadata["recs_evaluation"]["validation_fold_ndcg_at_10"].value) == 2
    assert metadata["als_model"]["params"].value["rank"] == 32
    grid = metadata["als_model"]["grid"].value
    assert len(grid) == 2 and all(len(trial["fold_ndcg_at_10"]) == 2 for trial in grid.values())

    lake = trained_lake.root / "lake"
    model = ALSModel.load(str(lake / "models" / "als"))
    assert model.rank == 32
    evaluation = spark.read.parquet(str(lake / "processed" / "recs_evaluation"))
    assert evaluation.count() == 10  # 5 recommenders x (cart or purchase, view)
    recs = spark.read.parquet(str(lake / "processed" / "hybrid_recs"))
    assert recs.groupBy("user_id").count().where("count != 10").count() == 0
    cold_start = spark.read.parquet(str(lake / "processed" / "segment_top_products"))
    assert cold_start.where("segment = 'Unknown'").count() == 10
