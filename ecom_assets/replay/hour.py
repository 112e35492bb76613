"""One replayed hour in one step: the behaviour assets and the incremental models side by side.

An hour's Spark jobs are small, so each is mostly waiting (planning, scheduling, round trips to the
server): the behaviour part (:func:`ecom_assets.replay.behaviour.assets.publish_behaviour`, DataFrame work only)
runs in a thread beside the models (:func:`ecom_assets.replay.models.assets.publish_models`, which
calls Spark ML and so stays on the session's thread). Both read the hour's events, read and cached
once, and on a Spark Connect server, whose cache outlives the run, the step ends by reading and
caching the next hour's events (:func:`ecom_assets.replay.behaviour.spark_jobs.prefetch_next_hour`), after its own
points are published, so the next hour's step does not wait for them. The step can be subset
(``can_subset``) part by part: the replay job without the models (``ECOM_REPLAY_MODELS=off``) selects
the behaviour assets only. Each part computes its three assets together (they share the hour's jobs
and state) and reports the selected ones.

When one part fails, the other still finishes and its materializations are recorded; the step then
fails with the first error, so the hour stays unmaterialized for the sensor to retry.
"""


import datetime as dt
import time
from collections.abc import Iterator

import dagster as dg
from pyspark.sql import SparkSession

from ecom_assets.replay.behaviour.assets import BEHAVIOUR_CHECKS, BEHAVIOUR_SPECS, publish_behaviour
from ecom_assets.replay.behaviour.spark_jobs import hour_events, prefetch_next_hour
from ecom_assets.replay.models.assets import MODEL_SPECS, publish_models
from ecom_assets.replay.models.checks import MODEL_CHECKS
from ecom_assets.replay.orchestration.exclusive import require_lake_to_itself
from ecom_assets.replay.orchestration.ordering import REPLAY_TAG, require_previous_hour
from ecom_assets.replay.orchestration.partitions import hour_start, november_hours
from ecom_assets.replay.orchestration.parts import Published, running_beside
from ecom_assets.resources import InfluxResource, LakeResource, SparkResource, TrainingResource

BEHAVIOUR_KEYS = frozenset(spec.key for spec in BEHAVIOUR_SPECS)
MODEL_KEYS = frozenset(spec.key for spec in MODEL_SPECS)


@dg.multi_asset(
    name="replay_hour",
    partitions_def=november_hours,
    specs=[*BEHAVIOUR_SPECS, *MODEL_SPECS],
    check_specs=[*BEHAVIOUR_CHECKS, *MODEL_CHECKS],
    can_subset=True,
)
def replay_hour(context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource,
                influx: InfluxResource, training: TrainingResource):
    """One hour of November: behaviour, product trends and timings beside the incremental models (a
    Spark Connect server that stops answering fails the hour in one line naming it and the fix)."""
    with spark.outage_explained():
        yield from _hour_results(context, spark, lake, influx, training)


def _hour_results(context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource,
                  influx: InfluxResource, training: TrainingResource) -> Iterator[dg.MaterializeResult]:
    """The replayed hour's results: the two parts side by side, then the first error of either, if any."""
    require_previous_hour(context)
    require_lake_to_itself(context, lake.lake, REPLAY_TAG)
    step_started = time.perf_counter()
    selected = context.selected_asset_keys
    session = spark.get_session()
    start = hour_start(context.partition_key)
    events = hour_events(session, lake.lake, start)
    tags = dict(context.run.tags)

    def behaviour() -> Published:
        if not selected & BEHAVIOUR_KEYS:
            return Published()
        return publish_behaviour(session, lake.lake, influx, start, events, tags, step_started)

    parts: list[Published] = []
    errors: list[Exception] = []
    try:
        with running_beside(behaviour) as behaviour_part:
            if selected & MODEL_KEYS:
                try:
                    parts.append(publish_models(session, lake, influx, start, events, training.replay_learning,
                                                training.refit_lag_days if training.refits else None))
                except Exception as error:  # noqa: BLE001 - re-raised below, after the other part's results
                    errors.append(error)
        try:
            parts.insert(0, behaviour_part.result())
        except Exception as error:  # noqa: BLE001 - re-raised below
            errors.insert(0, error)
    finally:
        events.unpersist()
    for part in parts:
        for warning in part.warnings:
            context.log.warning(warning)
        for result in part.results:
            if dg.AssetKey.from_coercible(result.asset_key) in selected:
                yield result
    if errors:
        raise errors[0]
    if spark.is_remote:
        _prefetch_next_hour(context, session, lake, start)


def _prefetch_next_hour(context: dg.AssetExecutionContext, session: SparkSession, lake: LakeResource,
                        start: dt.datetime) -> None:
    """On a Spark Connect server, read and cache the next hour's events for its step (an optimisation:
    a failure is a warning, and the next hour then reads its events itself)."""
    began = time.perf_counter()
    try:
        count = prefetch_next_hour(session, lake.lake, start)
    except Exception as error:  # noqa: BLE001 - an optimisation: the next hour reads its events itself
        context.log.warning(f"could not cache the next hour's events ({type(error).__name__}: {error}); "
                            "its step will read them")
        return
    if count is not None:
        context.log.info(f"the next hour's {count:,} events read and cached for its step in "
                         f"{time.perf_counter() - began:.2f} s")


HOURLY_ASSETS = [replay_hour]
