"""The behaviour assets materialized through Dagster on real heads + generated data: every check passes."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
from pyspark.sql import SparkSession

from ecom_assets.commands.materialize import whole_steps
from ecom_assets.definitions import BATCH_ASSETS, build_resources
from ecom_assets.ingest.generator import generate_dataset
from ecom_assets.settings import load_settings

BEHAVIOUR_TABLES = ("sessions", "user_behavior_stats", "conversion_funnel", "popularity", "navigation_transitions",
                    "navigation_paths", "affinities", "activity_patterns")


def test_behaviour_group_materializes_with_passing_checks(spark: SparkSession, real_heads: tuple[Path, Path],
                                                          isolated_env: Path) -> None:
    generate_dataset(isolated_env / "input", 40_000, seed=8, progress=False)
    # The real October head replaces the generated October: real rows go through the same graph.
    shutil.copy(real_heads[0], isolated_env / "input" / "2019-Oct.csv")
    result = dg.materialize(
        BATCH_ASSETS,
        selection=whole_steps(BATCH_ASSETS, ["raw_events", *BEHAVIOUR_TABLES]),
        resources=build_resources(load_settings()),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    failed = [f"{e.asset_key.to_user_string()}:{e.check_name}" for e in evaluations if not e.passed]
    assert failed == []
    checked = {e.asset_key.to_user_string() for e in evaluations}
    assert set(BEHAVIOUR_TABLES) <= checked
    materialized = {e.asset_key.to_user_string(): e.materialization.metadata for e in
                    result.get_asset_materialization_events()}
    for table in BEHAVIOUR_TABLES:
        metadata = materialized[table]
        assert metadata["dagster/row_count"].value > 0, table
        assert metadata["preview"].value.startswith("| "), table
        assert (isolated_env / "lake" / "processed" / table).is_dir()
    sessions_meta = materialized["sessions"]
    assert 3.0 < sessions_meta["events_per_session"].value < 6.0
    assert materialized["affinities"]["min_sessions"].value == 5
