"""The one place that assembles the Dagster ``Definitions`` from the stages."""

from __future__ import annotations

import dagster as dg

from ecom_assets.alerting.run_failures import alert_on_run_failure
from ecom_assets.behaviour.assets import BEHAVIOUR_ASSETS
from ecom_assets.ingest.assets import raw_events
from ecom_assets.recommendation.assets import RECOMMENDATION_ASSETS
from ecom_assets.replay.behaviour.assets import DAILY_REPLAY_ASSETS
from ecom_assets.replay.hour import BEHAVIOUR_KEYS, HOURLY_ASSETS
from ecom_assets.replay.models.assets import INCREMENTAL_BATCH_ASSETS, REFIT_ASSETS
from ecom_assets.replay.orchestration.sensor import DAILY_JOB_NAME, REPLAY_JOB_NAME, build_replay_sensor
from ecom_assets.resources import InfluxResource, LakeResource, SparkResource, TrainingResource
from ecom_assets.segmentation.assets import SEGMENTATION_ASSETS
from ecom_assets.settings import Settings, load_settings

BATCH_JOB_NAME = "batch_job"
BATCH_ASSETS = [raw_events, *BEHAVIOUR_ASSETS, *SEGMENTATION_ASSETS, *RECOMMENDATION_ASSETS, *INCREMENTAL_BATCH_ASSETS]


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """Resources configured from the environment (see ``settings``)."""
    return {
        "spark": SparkResource(
            master=settings.spark_master,
            remote=settings.spark_remote,
            conf_dir=settings.spark_conf_dir,
            driver_memory=settings.spark_driver_memory,
            local_ip=settings.spark_local_ip,
            session_id_file=settings.spark_session_id_file,
            connect_wait_s=settings.spark_connect_wait_s,
        ),
        "lake": LakeResource(data_dir=settings.data_dir, root=settings.lake_dir,
                             max_quarantine_rate=settings.max_quarantine_rate, local_state_root=settings.run_dir),
        "training": TrainingResource(start=settings.training_window.start.isoformat(),
                                     end=settings.training_window.end.isoformat(),
                                     replay_learning=settings.replay_learning,
                                     replay_refits=settings.replay_refits,
                                     refit_lag_days=settings.replay_refit_lag_days),
        "influx": InfluxResource(
            url=settings.influx_url,
            database=settings.influx_database,
            org=settings.influx_org,
            token=dg.EnvVar("INFLUX_TOKEN") if settings.influx_token else "",
            time_mode=settings.replay_time_mode,
            lake_root=settings.lake_dir,
            local_state_root=settings.run_dir,
        ),
    }


def uses_refits(settings: Settings) -> bool:
    """Whether the replay's hours use the daily re-fits (models on, learning on, re-fits on)."""
    return settings.replay_models and settings.replay_learning and settings.replay_refits


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    """All assets, checks, jobs and resources of the project (``ECOM_REPLAY_MODELS=off``: the replay job
    runs the behaviour assets only, for a lake without the batch graph's models)."""
    settings = settings or load_settings()
    batch_job = dg.define_asset_job(
        BATCH_JOB_NAME,
        selection=dg.AssetSelection.assets(*BATCH_ASSETS),
        description="Materialize the batch graph from the month CSVs (October trains the models).",
    )
    replay_job = dg.define_asset_job(
        REPLAY_JOB_NAME,
        selection=(dg.AssetSelection.assets(*HOURLY_ASSETS) if settings.replay_models
                   else dg.AssetSelection.assets(*BEHAVIOUR_KEYS)),
        executor_def=dg.in_process_executor,
        description="One hour of November in one step: behaviour, product trends and replay timings beside the "
                    "incremental segments, recommendations and their online evaluation -> lake and InfluxDB.",
    )
    daily_job = dg.define_asset_job(
        DAILY_JOB_NAME,
        selection=dg.AssetSelection.assets(*DAILY_REPLAY_ASSETS, *(REFIT_ASSETS if uses_refits(settings) else [])),
        executor_def=dg.in_process_executor,
        description="One day of November rolled up, and the models re-fitted on everything up to its end (the "
                    "replay sensor requests it after the day's 24th hour).",
    )
    return dg.Definitions(
        assets=[*BATCH_ASSETS, *HOURLY_ASSETS, *DAILY_REPLAY_ASSETS, *REFIT_ASSETS],
        jobs=[batch_job, replay_job, daily_job],
        sensors=[build_replay_sensor(replay_job, daily_job, settings.lake, settings.spark_remote, settings.influx_url,
                                     refits=uses_refits(settings), refit_lag_days=settings.replay_refit_lag_days),
                 alert_on_run_failure],
        resources=build_resources(settings),
    )


defs = build_definitions()
