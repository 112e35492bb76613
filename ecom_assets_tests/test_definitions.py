"""The whole Definitions load, and every asset, check, job and resource resolves."""

from __future__ import annotations

import importlib

import dagster as dg

from ecom_assets.definitions import BATCH_JOB_NAME, defs


def test_dagster_pyspark_imports_with_the_pinned_dagster() -> None:
    module = importlib.import_module("dagster_pyspark")
    assert hasattr(module, "PySparkResource")
    assert dg.__version__.startswith("1.13.")


def test_definitions_are_loadable() -> None:
    dg.Definitions.validate_loadable(defs)


def test_every_asset_check_and_job_resolves() -> None:
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {"raw_events", "sessions", "user_behavior_stats", "conversion_funnel", "popularity",
            "navigation_transitions", "navigation_paths", "affinities", "activity_patterns",
            "rfm_table", "kmeans_model", "segment_profiles", "user_segments",
            "als_model", "content_similarity", "hybrid_recs", "recs_evaluation", "next_item_evaluation",
            "hourly_behaviour", "product_trends", "replay_progress", "daily_behaviour", "replay_baseline",
            "customer_segments", "live_recommendations", "recommendation_monitoring"} <= keys
    check_names = {key.name for key in graph.asset_check_keys}
    assert {
        "schema_and_types",
        "required_columns_not_null",
        "rows_conserved",
        "quarantine_rate_below_threshold",
        "events_conserved",
        "durations_non_negative",
        "rates_within_unit_interval",
        "counts_match_raw_events",
        "probabilities_sum_to_one",
        "measures_consistent",
        "converged_and_separated",
        "silhouette_matches_sklearn",
        "stable_across_refits",
        "every_user_assigned",
        "hybrid_beats_popularity",
        "sampled_hit_rate_above_70_percent",
        "minutes_add_up",
        "churn_below_15_percent",
        "active_users_assigned",
        "ten_per_active_user",
        "one_row_per_customer",
    } <= check_names
    job = defs.resolve_job_def(BATCH_JOB_NAME)
    assert job.name == BATCH_JOB_NAME
    assert set(defs.resources) >= {"spark", "lake", "influx"}
    replay = defs.resolve_job_def("november_replay")
    assert len(replay.partitions_def.get_partition_keys()) == 720
    sensor = defs.resolve_sensor_def("november_replay_sensor")
    assert {target.job_name for target in sensor.targets} == {"november_replay", "november_daily_rollup"}
    daily = defs.resolve_job_def("november_daily_rollup")
    assert len(daily.partitions_def.get_partition_keys()) == 30
    assert {key.to_user_string() for key in daily.asset_layer.selected_asset_keys} == {"daily_behaviour", "replay_refit"}
    batch_keys = {key.to_user_string() for key in job.asset_layer.selected_asset_keys}
    assert "hourly_behaviour" not in batch_keys and "recs_evaluation" in batch_keys and "replay_baseline" in batch_keys
    replay_keys = {key.to_user_string() for key in replay.asset_layer.selected_asset_keys}
    assert {"hourly_behaviour", "customer_segments", "recommendation_monitoring"} <= replay_keys


def test_dagster_cli_loads_the_workspace_from_the_repo_root(tmp_path) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    dagster = Path(sys.executable).with_name("dagster")
    done = subprocess.run([str(dagster), "definitions", "validate", "-w", "workspace.yaml"], cwd=root,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "DAGSTER_HOME": str(tmp_path)})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
