"""The one place that assembles the Dagster ``Definitions`` from the stages."""

from __future__ import annotations

import dagster as dg

from ecom_assets.behaviour.assets import BEHAVIOUR_ASSETS
from ecom_assets.ingest.assets import raw_events
from ecom_assets.recommendation.assets import RECOMMENDATION_ASSETS
from ecom_assets.segmentation.assets import SEGMENTATION_ASSETS
from ecom_assets.resources import LakeResource, SparkResource
from ecom_assets.settings import Settings, load_settings

BATCH_JOB_NAME = "batch_job"
BATCH_ASSETS = [raw_events, *BEHAVIOUR_ASSETS, *SEGMENTATION_ASSETS, *RECOMMENDATION_ASSETS]


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """Resources configured from the environment (see ``settings``)."""
    return {
        "spark": SparkResource(
            master=settings.spark_master,
            remote=settings.spark_remote,
            conf_dir=settings.spark_conf_dir,
            driver_memory=settings.spark_driver_memory,
            local_ip=settings.spark_local_ip,
        ),
        "lake": LakeResource(data_dir=settings.data_dir, root=settings.lake_dir),
    }


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    """All assets, checks, jobs and resources of the project."""
    assets = [*BATCH_ASSETS]
    batch_job = dg.define_asset_job(
        BATCH_JOB_NAME,
        selection=dg.AssetSelection.assets(*assets),
        description="Materialize the batch graph from the month CSVs (October trains the models).",
    )
    return dg.Definitions(assets=assets, jobs=[batch_job], resources=build_resources(settings or load_settings()))


defs = build_definitions()
