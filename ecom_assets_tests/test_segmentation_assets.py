"""The segmentation assets materialized through Dagster: model saved, checks pass, names attached."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pyspark.ml import PipelineModel
from pyspark.sql import SparkSession

from ecom_assets.commands.materialize import whole_steps
from ecom_assets.definitions import BATCH_ASSETS, build_resources
from ecom_assets.ingest.generator import generate_dataset
from ecom_assets.settings import load_settings


def test_segmentation_group_materializes(spark: SparkSession, isolated_env: Path) -> None:
    generate_dataset(isolated_env / "input", 60_000, seed=9, progress=False)
    result = dg.materialize(
        BATCH_ASSETS,
        selection=whole_steps(BATCH_ASSETS, ["raw_events", "rfm_table", "kmeans_model", "segment_profiles",
                                             "user_segments"]),
        resources=build_resources(load_settings()),
        instance=dg.DagsterInstance.ephemeral(),
        run_config={"ops": {"kmeans_model": {"config": {"k_min": 3, "k_max": 4, "sweep_sample_rows": 5000}}}},
        raise_on_error=False,
    )
    assert result.success
    checks = {f"{e.asset_key.to_user_string()}:{e.check_name}": e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {
        "raw_events:schema_and_types": True,
        "raw_events:required_columns_not_null": True,
        "raw_events:rows_conserved": True,
        "raw_events:quarantine_rate_below_threshold": True,
        "rfm_table:one_row_per_user": True,
        "rfm_table:scores_in_range": True,
        "kmeans_model:converged_and_separated": True,
        "kmeans_model:silhouette_matches_sklearn": True,
        "kmeans_model:stable_across_refits": True,
        "segment_profiles:names_unique_and_shares_sum_to_one": True,
        "user_segments:every_user_assigned": True,
    }
    metadata = {e.asset_key.to_user_string(): e.materialization.metadata
                for e in result.get_asset_materialization_events()}
    model_meta = metadata["kmeans_model"]
    assert model_meta["k"].value in (3, 4)
    assert set(model_meta["silhouette_by_k"].value) == {"3", "4"}
    assert model_meta["silhouette_sweep"].value.count("chosen") == 1  # the UI shows the sweep as a table
    assert abs(model_meta["silhouette_sample_spark"].value - model_meta["silhouette_sample_sklearn"].value) <= 0.01
    model = PipelineModel.load(str(isolated_env / "lake" / "models" / "kmeans_segmentation"))
    assert model.stages[-1].getK() == model_meta["k"].value
    segments = spark.read.parquet(str(isolated_env / "lake" / "processed" / "user_segments"))
    assert segments.where("segment IS NULL").count() == 0
    assert segments.count() == metadata["rfm_table"]["dagster/row_count"].value
