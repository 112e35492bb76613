"""Segmentation assets: RFM table, K-means model, segment profiles and every user's segment.

Each asset reads, calls the plain functions of this stage (``rfm``, ``kmeans``, ``profiles``,
``assignment``), writes and reports; checks: :mod:`.checks`.
"""

import dagster as dg
from pyspark.ml import PipelineModel
from pyspark.sql import functions as F

from ecom_assets.ingest.tables import read_raw_events
from ecom_assets.resources import LakeResource, SparkResource, TrainingResource
from ecom_assets.segmentation import checks
from ecom_assets.segmentation.assignment import assign_segments, load_segmentation, segment_name
from ecom_assets.segmentation.kmeans import (
    K_RANGE,
    PREDICTION,
    SEED,
    SWEEP_SAMPLE_ROWS,
    fit_segmentation,
    sweep_table,
)
from ecom_assets.segmentation.profiles import name_segments, profile_segments
from ecom_assets.segmentation.rfm import rfm_table as compute_rfm
from ecom_assets.table_metadata import table_metadata

GROUP = "segmentation"
MODEL_NAME = "kmeans_segmentation"


class KMeansConfig(dg.Config):
    """The k sweep: every k in [k_min, k_max] is scored by silhouette on a sample of users."""

    k_min: int = K_RANGE[0]
    k_max: int = K_RANGE[-1]
    sweep_sample_rows: int = SWEEP_SAMPLE_ROWS


@dg.asset(group_name=GROUP, deps=["raw_events"], kinds={"spark", "parquet"}, check_specs=checks.RFM_CHECKS)
def rfm_table(spark: SparkResource, lake: LakeResource, training: TrainingResource) -> dg.MaterializeResult:
    """Recency, frequency, monetary value and behaviour of every user active in the training window
    (October by default), with quintile scores (5 = best, among buyers) and a readable RFM class
    (Champions, Loyal, New customers, ..., and for non-buyers Cart abandoners, Active or Lapsed browsers)."""
    session, window = spark.get_session(), training.window
    path = lake.write_processed(compute_rfm(read_raw_events(session, lake.lake), window.start, window.end),
                                "rfm_table")
    table = lake.read_processed(session, "rfm_table")
    figures = checks.RfmFigures.of(table)
    classes = {r["rfm_class"]: int(r["count"]) for r in table.groupBy("rfm_class").count().collect()}
    return dg.MaterializeResult(
        metadata=table_metadata(
            table.orderBy(F.desc("monetary")), path, figures.rows,
            window=f"{window.start} .. {window.end} (end excluded)",
            buyer_share=round(figures.buyers / max(figures.rows, 1), 4),
            rfm_classes=dg.MetadataValue.json(classes),
        ),
        check_results=checks.rfm_results(figures),
    )


@dg.asset(group_name=GROUP, deps=[rfm_table], kinds={"spark", "sparkml"}, check_specs=checks.KMEANS_CHECKS)
def kmeans_model(config: KMeansConfig, spark: SparkResource, lake: LakeResource) -> dg.MaterializeResult:
    """The segmentation model: log transform, scaling and K-means (Spark ML Pipeline) fitted on the RFM
    table, k chosen by a silhouette sweep; saved in Spark ML format under models/."""
    features = lake.read_processed(spark.get_session(), "rfm_table").cache()
    fit = fit_segmentation(features, tuple(range(config.k_min, config.k_max + 1)), config.sweep_sample_rows)
    features.unpersist()
    path = lake.lake.model(MODEL_NAME)
    fit.model.write().overwrite().save(path)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(path),
            "k": fit.k,
            "silhouette_by_k": dg.MetadataValue.json({str(kk): round(v, 4) for kk, v in fit.scores.items()}),
            "silhouette_sweep": dg.MetadataValue.md(sweep_table(fit.scores, fit.k)),
            "silhouette": round(fit.silhouette, 4),
            "silhouette_sample_spark": round(fit.spark_sample, 6),
            "silhouette_sample_sklearn": round(fit.sklearn_sample, 6),
            "iterations": fit.iterations,
            "training_cost": fit.training_cost,
            "cluster_sizes": dg.MetadataValue.json(fit.sizes),
            "bootstrap_changed_share": round(fit.stability.changed_share, 4),
            "seed": SEED,
        },
        check_results=checks.kmeans_results(fit),
    )


@dg.asset(group_name=GROUP, deps=[kmeans_model], kinds={"spark", "parquet"}, check_specs=checks.PROFILE_CHECKS)
def segment_profiles(spark: SparkResource, lake: LakeResource) -> dg.MaterializeResult:
    """Each segment's size, share of users and revenue, mean recency, frequency, monetary value and
    behaviour, and a human name derived from that profile (value tiers for buyer segments, engagement
    tiers for browser segments), so names survive re-fits that renumber clusters."""
    session = spark.get_session()
    model = PipelineModel.load(lake.lake.model(MODEL_NAME))
    profiles = profile_segments(model.transform(lake.read_processed(session, "rfm_table")))
    names = name_segments([row.asDict() for row in profiles.collect()])
    named = profiles.select(segment_name(names, F.col(PREDICTION)).alias("segment"), "*")
    path = lake.write_processed(named, "segment_profiles")
    table = lake.read_processed(session, "segment_profiles")
    rows, results = checks.profile_results(table)
    return dg.MaterializeResult(
        metadata=table_metadata(table.orderBy(F.desc("revenue_share")), path, rows,
                                segments=dg.MetadataValue.json({str(k): v for k, v in names.items()})),
        check_results=results,
    )


@dg.asset(group_name=GROUP, deps=[rfm_table, segment_profiles], kinds={"spark", "parquet"},
          check_specs=checks.ASSIGNMENT_CHECKS)
def user_segments(spark: SparkResource, lake: LakeResource) -> dg.MaterializeResult:
    """Every training-window user's segment (cluster and name) with their RFM class and scores; new users
    are placed the same way, with the saved model, by the replay."""
    session = spark.get_session()
    model, names = load_segmentation(session, lake.lake.model(MODEL_NAME), lake.lake.processed("segment_profiles"))
    rfm = lake.read_processed(session, "rfm_table")
    assigned = assign_segments(model, rfm, names).join(
        rfm.select("user_id", "rfm_class", "r_score", "f_score", "m_score"), "user_id")
    path = lake.write_processed(assigned, "user_segments")
    table = lake.read_processed(session, "user_segments")
    rows, results = checks.assignment_results(table, rfm.count())
    by_segment = {r["segment"]: int(r["count"]) for r in table.groupBy("segment").count().collect()}
    return dg.MaterializeResult(
        metadata=table_metadata(table, path, rows, users_per_segment=dg.MetadataValue.json(by_segment)),
        check_results=results,
    )


SEGMENTATION_ASSETS = [rfm_table, kmeans_model, segment_profiles, user_segments]
