"""Incremental models during the replay: evolving segments, learning recommendations, online evaluation.

``replay_baseline`` (batch) writes October's state once; the hourly assets (:data:`MODEL_SPECS`,
computed by :func:`publish_models` in the hour's one step, :mod:`ecom_assets.replay.hour`)
carry it through November hour by hour: each depends on its own previous hour, and the state lives in
ledgers (:mod:`ecom_assets.replay.models.ledger`) under processed/replay/.
"""


import datetime as dt
import time

import dagster as dg
import numpy as np
from pyspark.sql import DataFrame, SparkSession

from ecom_assets.ingest.tables import read_raw_events
from ecom_assets.lake import is_local, local_path
from ecom_assets.recommendation.interactions import Window, events_in
from ecom_assets.recommendation.als import AlsParams
from ecom_assets.recommendation.stored import ALS_MODEL, ALS_PARAMS
from ecom_assets.replay.models import checks
from ecom_assets.replay.models.points import offline_points, online_points, segment_points
from ecom_assets.replay.models.batch_models import segmentation
from ecom_assets.replay.models.refit import refit_day, save_refit
from ecom_assets.replay.models.segments import CENTRE_SCHEMA, Centres
from ecom_assets.replay.models.state import BASE_CUSTOMERS, BASE_PAIRS, BASE_SERVED, CENTRES, Ledgers, starting_state
from ecom_assets.replay.models.update import SegmentHour, compact, models_hour
from ecom_assets.replay.orchestration.clock import replay_clock
from ecom_assets.replay.orchestration.partitions import PREVIOUS_HOUR, day_start, november_days, part_name, partition_key
from ecom_assets.replay.orchestration.retry import REPLAY_RETRY
from ecom_assets.replay.written import written
from ecom_assets.replay.orchestration.parts import Published
from ecom_assets.replay.orchestration.refit_schedule import RefitPaths
from ecom_assets.resources import InfluxResource, LakeResource, SparkResource, TrainingResource
from ecom_assets.segmentation.assets import MODEL_NAME
from ecom_assets.table_metadata import table_metadata

GROUP = "incremental"
# What each hour reads from the batch graph: (processed table or model, the asset that writes it).
NEEDED_TABLES = (
    (BASE_CUSTOMERS, "replay_baseline"), ("hybrid_weights", "hybrid_recs"), ("hybrid_settings", "hybrid_recs"), ("segment_popularity", "hybrid_recs"),
    ("content_similarity", "content_similarity"), ("product_attributes", "content_similarity"),
    ("recs_evaluation", "recs_evaluation"),
)
NEEDED_MODELS = ((MODEL_NAME, "kmeans_model"), (ALS_MODEL, "als_model"), (ALS_PARAMS, "als_model"))


@dg.multi_asset(
    specs=[
        dg.AssetSpec("replay_baseline", group_name=GROUP, kinds={"spark", "parquet"},
                     deps=["raw_events", "rfm_table", "user_segments"], description=(
            "The state the replay starts from, written once: every training-window customer's aggregates and "
            "segment (processed/replay_base_customers).")),
        dg.AssetSpec("replay_base_pairs", group_name=GROUP, kinds={"spark", "parquet"}, deps=["raw_events"],
                     description="Every training-window customer's per-product views, carts, purchases and last "
                                 "event (processed/replay_base_pairs): the replay's starting pairs."),
        dg.AssetSpec("replay_base_served", group_name=GROUP, kinds={"parquet"}, deps=["hybrid_recs"],
                     description="The top-10 each customer was served by the batch hybrid "
                                 "(processed/replay_base_served): what the first hour's online metrics score."),
    ],
    check_specs=checks.BASELINE_CHECKS,
)
def replay_baseline(spark: SparkResource, lake: LakeResource, training: TrainingResource):
    """October's state for the replay: customers, pairs and served lists."""
    session, window = spark.get_session(), training.window
    rfm = lake.read_processed(session, "rfm_table")
    events = events_in(read_raw_events(session, lake.lake), Window(window.start, window.end))
    tables = starting_state(rfm, lake.read_processed(session, "user_segments"), events,
                            lake.read_processed(session, "hybrid_recs"), window.end)
    paths = {name: lake.write_processed(frame, name) for name, frame in tables.items()}
    if is_local(lake.lake.root):
        for ledger in Ledgers.of(lake.lake).all():  # the replay's keyed lookups search these sorted copies
            if ledger.base:
                ledger.sorted_copy(ledger.base, "base")
    table = lake.read_processed(session, BASE_CUSTOMERS)
    figures = checks.BaselineFigures.of(table, rfm)
    yield dg.MaterializeResult(
        asset_key="replay_baseline",
        metadata=table_metadata(table, paths[BASE_CUSTOMERS], figures.rows,
                                pairs=lake.read_processed(session, BASE_PAIRS).count(),
                                served_users=lake.read_processed(session, BASE_SERVED).count()),
        check_results=checks.baseline_results(figures))
    for key, name in (("replay_base_pairs", BASE_PAIRS), ("replay_base_served", BASE_SERVED)):
        yield dg.MaterializeResult(asset_key=key, metadata={"path": dg.MetadataValue.path(paths[name])})


def _require_batch_outputs(lake: LakeResource) -> None:
    """A clear error naming the asset to materialize when a table the replay's models need is missing."""
    if not is_local(lake.lake.root):
        return
    paths = [(lake.lake.processed(t), a) for t, a in NEEDED_TABLES] + [(lake.lake.model(m), a) for m, a in NEEDED_MODELS]
    missing = sorted({asset for path, asset in paths if not local_path(path).exists()})
    if missing:
        raise dg.Failure(description=f"the incremental models need the batch graph's outputs; materialize "
                         f"{', '.join(missing)} first (`make demo`, or the batch_job in the UI)")


MODEL_SPECS = [
    dg.AssetSpec(
        "customer_segments", group_name=GROUP,
        deps=["raw_events", "replay_baseline", "kmeans_model", "segment_profiles",
              dg.AssetDep("customer_segments", partition_mapping=PREVIOUS_HOUR)],
        kinds={"spark", "parquet", "influxdb"},
        description="Every customer's RFM and behaviour aggregates updated with the hour's events (October "
                    "as the start); the hour's active users re-assigned on the saved pipeline's scale to "
                    "centres that follow the data (decayed mini-batch update, ids and names kept); new "
                    "users placed in existing segments. Published to InfluxDB's segment_evolution: size, "
                    "new users, users who changed segment and their share, relative size change."),
    dg.AssetSpec(
        "live_recommendations", group_name=GROUP,
        deps=["customer_segments", "als_model", "content_similarity", "hybrid_recs",
              dg.AssetDep("live_recommendations", partition_mapping=PREVIOUS_HOUR)],
        kinds={"spark", "parquet"},
        description="The hour's active users' ALS factors folded in from the fixed item factors and fresh "
                    "hybrid top-10s served for every active user (processed/replay/served_recs, keyed by "
                    "hour); products new in November reach users through content similarity, which covers "
                    "the whole catalogue, and through ALS once three users touched them: their factors are "
                    "folded in from those users' after each hour (processed/replay/new_product_factors)."),
    dg.AssetSpec(
        "recommendation_monitoring", group_name=GROUP, deps=["live_recommendations", "recs_evaluation"],
        kinds={"influxdb"},
        description="Online HitRate@10 and Precision@10 of the lists served before the hour against what "
                    "the users viewed, carted and bought in it, overall and per segment, the coverage of "
                    "the hour's lists, and the offline metrics of the models in use, to InfluxDB's "
                    "recommendation_metrics."),
]


def publish_models(session: SparkSession, lake: LakeResource, influx: InfluxResource, start: dt.datetime,
                   events: DataFrame, learning: bool = True, refit_lag_days: int | None = None) -> Published:
    """One hour of the incremental models (segments, recommendations, their online evaluation), written
    to the ledgers and published to the sink (``learning``: new products folded in; ``refit_lag_days``: the
    daily re-fits in force, None for none; see ``TrainingResource``). Spark ML runs here when the saved models are first loaded
(see :mod:`ecom_assets.replay.models.batch_models`), so call it on the session's thread."""
    _require_batch_outputs(lake)
    clock = replay_clock(lake.lake, influx.time_mode)
    sink = influx.sink()
    ledgers = Ledgers.of(lake.lake)
    out = Published()
    hour = models_hour(session, lake, ledgers, events, start, learning, refit_lag_days)
    segments, recs = hour.segments, hour.recs
    if segments.cold_start:
        out.warnings.append(f"no state for the hours before {partition_key(start)} in this November: customers and "
                            "centres start from October's (replay from 2019-11-01-00:00 for a continuous state)")
    written = sink.write(f"segment_evolution-{part_name(start)}", segment_points(clock, start, segments.rows))
    overall = next(r for r in segments.rows if r["segment"] == "all")
    out.results.append(_segments_result(segments, overall, written))

    out.results.append(dg.MaterializeResult(
        asset_key="live_recommendations",
        metadata={"users_served": recs.users, "factors_folded_in": recs.folded_users,
                  "new_products_with_factors": recs.new_products, "new_products_folded_in": recs.new_products_folded,
                  "seconds": dg.MetadataValue.json(dict(recs.laps))},
        check_results=checks.recommendation_results(recs, overall["active_users"]),
    ))

    online, coverage = hour.online, hour.coverage
    lines = online_points(clock, start, online, coverage) + offline_points(clock, start, hour.models.offline)
    written = sink.write(f"recommendation_metrics-{part_name(start)}", lines)
    compact(session, ledgers, start)
    headline = {f"{r['target']}_{k}": round(r[k], 5) for r in online if r["segment"] == "all"
                for k in ("hit_rate_at_10", "precision_at_10")}
    out.results.append(dg.MaterializeResult(
        asset_key="recommendation_monitoring",
        metadata={**headline, "catalogue_coverage": round(coverage.get("all", 0.0), 6),
                  "evaluated_users": next((r["users"] for r in online if r["segment"] == "all"
                                           and r["target"] == "any"), 0),
                  "points_written": written}))
    return out



def _segments_result(segments: SegmentHour, overall: dict, written: int) -> dg.MaterializeResult:
    """``customer_segments``: the hour's churn, new users and sizes, with its checks."""
    return dg.MaterializeResult(
        asset_key="customer_segments",
        metadata={"active_users": overall["active_users"], "new_users": overall["new_users"],
                  "changed_users": overall["changed_users"], "changed_share": round(overall["changed_share"], 6),
                  "active_changed_share": round(overall["active_changed_share"], 4),
                  "segment_sizes": dg.MetadataValue.json({r["segment"]: r["users"] for r in segments.rows}),
                  "points_written": written, "cold_start": segments.cold_start,
                  "state_gaps": segments.gaps,
                  "seconds": dg.MetadataValue.json(dict(segments.laps))},
        check_results=checks.segment_results(overall, segments.rows, segments.unnamed),
    )


INCREMENTAL_BATCH_ASSETS = [replay_baseline]


@dg.asset(
    group_name=GROUP, partitions_def=november_days, deps=["customer_segments", "live_recommendations"],
    kinds={"spark", "sparkml", "parquet"}, retry_policy=REPLAY_RETRY.policy(),
    description="The replay's models fitted again on everything known at the end of one day "
                "(models/replay_refit/day=...): K-means with the same segments on every customer's current "
                "features, each new centre matched to the one in force by the Hungarian method (ids and names "
                "kept), and ALS with the tuned parameters on the training window's and November's "
                "interactions up to the day's end. The hours of day d use the re-fit of day d minus "
                "ECOM_REPLAY_REFIT_LAG_DAYS (2 by default); the sensor "
                "requests it with the day's roll-up, after the day's last hour, and `ecom replay` before the "
                "first hour that uses it (ECOM_REPLAY_REFITS=off: none).",
)
def replay_refit(context: dg.AssetExecutionContext, spark: SparkResource, lake: LakeResource,
                 training: TrainingResource) -> dg.MaterializeResult:
    """One day's re-fit, written where the hours that use it read it."""
    day = day_start(context.partition_key)
    session = spark.get_session()
    in_force_path = lake.lake.replay_table(CENTRES, part_name(day.replace(hour=23)))
    if not written(in_force_path, session):
        raise dg.Failure(description=f"the re-fit of {day:%Y-%m-%d} needs the day's hours replayed first: "
                                     f"{in_force_path} is missing")
    began = time.perf_counter()
    with spark.outage_explained():
        in_force = Centres.from_rows([r.asDict() for r in session.read.schema(CENTRE_SCHEMA).parquet(
            in_force_path).collect()])
        refit = refit_day(session, Ledgers.of(lake.lake), read_raw_events(session, lake.lake), day.date(),
                          training.window.start, segmentation(session, lake.lake), in_force,
                          AlsParams.load(session, lake.lake.model(ALS_PARAMS)))
        paths = RefitPaths.of(lake.lake, day.date())
        save_refit(session, paths, refit)
    shift = np.linalg.norm(refit.centres.centres - in_force.centres, axis=1)
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(paths.root), "customers": refit.customers,
        "users_per_segment": dg.MetadataValue.json({int(k): int(n) for k, n in enumerate(refit.centres.users)}),
        "centre_shift_max": round(float(shift.max()), 5), "als_users": len(refit.indexers.users.labelsArray[0]),
        "als_products": len(refit.indexers.products.labelsArray[0]),
        "seconds": round(time.perf_counter() - began, 1)})


REFIT_ASSETS = [replay_refit]
