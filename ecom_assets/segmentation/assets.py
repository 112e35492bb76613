"""Segmentation assets: RFM table, K-means model, segment profiles and every user's segment."""

import math

import dagster as dg
from pyspark.ml import PipelineModel
from pyspark.sql import functions as F

from ecom_assets.ingest.tables import read_raw_events
from ecom_assets.resources import LakeResource, SparkResource
from ecom_assets.segmentation.assignment import assign_segments, load_segmentation, segment_name
from ecom_assets.segmentation.kmeans import (
    K_RANGE,
    MAX_ITER,
    PREDICTION,
    SEED,
    SWEEP_SAMPLE_ROWS,
    build_pipeline,
    choose_k,
    kmeans_stage,
    refit_stability,
    silhouette,
    sklearn_silhouette_check,
    sweep_k,
)
from ecom_assets.segmentation.profiles import name_segments, profile_segments
from ecom_assets.segmentation.rfm import rfm_table as compute_rfm
from ecom_assets.settings import load_settings
from ecom_assets.table_metadata import table_metadata

GROUP = "segmentation"
MODEL_NAME = "kmeans_segmentation"
# Below this silhouette the segments overlap too much to be told apart (measured 0.43-0.59 on generated data).
SILHOUETTE_FLOOR = 0.25
SILHOUETTE_AGREEMENT = 0.01
MAX_SEGMENT_CHANGE = 0.15


class KMeansConfig(dg.Config):
    """The k sweep: every k in [k_min, k_max] is scored by silhouette on a sample of users."""

    k_min: int = K_RANGE[0]
    k_max: int = K_RANGE[-1]
    sweep_sample_rows: int = SWEEP_SAMPLE_ROWS


@dg.asset(
    group_name=GROUP,
    deps=["raw_events"],
    kinds={"spark", "parquet"},
    check_specs=[
        dg.AssetCheckSpec("one_row_per_user", asset="rfm_table", description="Each active user once."),
        dg.AssetCheckSpec("scores_in_range", asset="rfm_table",
                          description="R in 1-5; F and M in 1-5 for buyers and 0 for non-buyers."),
    ],
)
def rfm_table(spark: SparkResource, lake: LakeResource) -> dg.MaterializeResult:
    """Recency, frequency, monetary value and behaviour of every user active in the training window
    (October by default), with quintile scores (5 = best, among buyers) and a readable RFM class
    (Champions, Loyal, New customers, ..., and for non-buyers Cart abandoners, Active or Lapsed browsers)."""
    session = spark.get_session()
    window = load_settings().training_window
    frame = compute_rfm(read_raw_events(session, lake.lake), window.start, window.end)
    path = lake.write_processed(frame, "rfm_table")
    table = lake.read_processed(session, "rfm_table")
    stats = table.agg(
        F.count(F.lit(1)).alias("rows"),
        F.count_distinct("user_id").alias("users"),
        F.count_if("is_buyer").alias("buyers"),
        F.count_if(~F.col("r_score").between(1, 5)).alias("bad_r"),
        F.count_if(F.col("is_buyer") & ~(F.col("f_score").between(1, 5) & F.col("m_score").between(1, 5))).alias(
            "bad_buyer"),
        F.count_if(~F.col("is_buyer") & ((F.col("f_score") != 0) | (F.col("m_score") != 0))).alias("bad_other"),
    ).collect()[0]
    classes = {r["rfm_class"]: int(r["count"]) for r in table.groupBy("rfm_class").count().collect()}
    rows = int(stats["rows"])
    return dg.MaterializeResult(
        metadata=table_metadata(
            table.orderBy(F.desc("monetary")), path, rows,
            window=f"{window.start} .. {window.end} (end excluded)",
            buyer_share=round(int(stats["buyers"]) / max(rows, 1), 4),
            rfm_classes=dg.MetadataValue.json(classes),
        ),
        check_results=[
            dg.AssetCheckResult(check_name="one_row_per_user", passed=rows == int(stats["users"])),
            dg.AssetCheckResult(
                check_name="scores_in_range",
                passed=int(stats["bad_r"]) + int(stats["bad_buyer"]) + int(stats["bad_other"]) == 0,
                metadata={k: int(stats[k]) for k in ("bad_r", "bad_buyer", "bad_other")},
            ),
        ],
    )


@dg.asset(
    group_name=GROUP,
    deps=[rfm_table],
    kinds={"spark", "sparkml"},
    check_specs=[
        dg.AssetCheckSpec("converged_and_separated", asset="kmeans_model", blocking=True,
                          description=f"KMeans converged before {MAX_ITER} iterations and silhouette >= {SILHOUETTE_FLOOR}."),
        dg.AssetCheckSpec("silhouette_matches_sklearn", asset="kmeans_model",
                          description=f"Spark's and scikit-learn's silhouettes agree within {SILHOUETTE_AGREEMENT}."),
        dg.AssetCheckSpec("stable_across_refits", asset="kmeans_model",
                          description=f"A bootstrap re-fit moves at most {MAX_SEGMENT_CHANGE:.0%} of users."),
    ],
)
def kmeans_model(config: KMeansConfig, spark: SparkResource, lake: LakeResource) -> dg.MaterializeResult:
    """The segmentation model: log transform, scaling and K-means (Spark ML Pipeline) fitted on the RFM
    table, k chosen by a silhouette sweep; saved in Spark ML format under models/."""
    session = spark.get_session()
    features = lake.read_processed(session, "rfm_table").cache()
    scores = sweep_k(features, tuple(range(config.k_min, config.k_max + 1)), config.sweep_sample_rows)
    if not scores:
        raise dg.Failure(description=f"too few users ({features.count()}) to cluster with k >= {config.k_min}")
    k = choose_k(scores)
    model = build_pipeline(k).fit(features)
    path = lake.lake.model(MODEL_NAME)
    model.write().overwrite().save(path)
    summary = kmeans_stage(model).summary
    full_silhouette = silhouette(model.transform(features))
    spark_sample, sklearn_sample = sklearn_silhouette_check(model, features)
    stability = refit_stability(model, features, k)
    sizes = {int(c): int(n) for c, n in zip(range(k), summary.clusterSizes, strict=True)}
    converged = summary.numIter < MAX_ITER
    features.unpersist()
    agreement = abs(spark_sample - sklearn_sample) if not math.isnan(sklearn_sample) else float("inf")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(path),
            "k": k,
            "silhouette_by_k": dg.MetadataValue.json({str(kk): round(v, 4) for kk, v in scores.items()}),
            "silhouette": round(full_silhouette, 4),
            "silhouette_sample_spark": round(spark_sample, 6),
            "silhouette_sample_sklearn": round(sklearn_sample, 6),
            "iterations": summary.numIter,
            "training_cost": float(summary.trainingCost),
            "cluster_sizes": dg.MetadataValue.json(sizes),
            "bootstrap_changed_share": round(stability.changed_share, 4),
            "seed": SEED,
        },
        check_results=[
            dg.AssetCheckResult(check_name="converged_and_separated", passed=converged and full_silhouette >= SILHOUETTE_FLOOR,
                                metadata={"iterations": summary.numIter, "silhouette": round(full_silhouette, 4),
                                          "floor": SILHOUETTE_FLOOR}),
            dg.AssetCheckResult(check_name="silhouette_matches_sklearn", passed=agreement <= SILHOUETTE_AGREEMENT,
                                metadata={"difference": float(agreement) if math.isfinite(agreement) else -1.0}),
            dg.AssetCheckResult(check_name="stable_across_refits",
                                passed=stability.changed_share <= MAX_SEGMENT_CHANGE,
                                severity=dg.AssetCheckSeverity.WARN,
                                metadata={"changed_share": round(stability.changed_share, 4),
                                          "users_compared": stability.users}),
        ],
    )


@dg.asset(
    group_name=GROUP,
    deps=[kmeans_model],
    kinds={"spark", "parquet"},
    check_specs=[dg.AssetCheckSpec("names_unique_and_shares_sum_to_one", asset="segment_profiles",
                                   description="One distinct name per segment; user and revenue shares add to 1.")],
)
def segment_profiles(spark: SparkResource, lake: LakeResource) -> dg.MaterializeResult:
    """Each segment's size, share of users and revenue, mean recency, frequency, monetary value and
    behaviour, and a human name derived from that profile (value tiers for buyer segments, engagement
    tiers for browser segments), so names survive re-fits that renumber clusters."""
    session = spark.get_session()
    model = PipelineModel.load(lake.lake.model(MODEL_NAME))
    assigned = model.transform(lake.read_processed(session, "rfm_table"))
    profiles = profile_segments(assigned)
    names = name_segments([row.asDict() for row in profiles.collect()])
    named = profiles.select(segment_name(names, F.col(PREDICTION)).alias("segment"), "*")
    path = lake.write_processed(named, "segment_profiles")
    table = lake.read_processed(session, "segment_profiles")
    totals = table.agg(F.sum("user_share").alias("u"), F.sum("revenue_share").alias("r"),
                       F.count_distinct("segment").alias("names"), F.count(F.lit(1)).alias("n")).collect()[0]
    revenue_ok = abs(float(totals["r"]) - 1) < 1e-6 or float(totals["r"]) == 0.0
    return dg.MaterializeResult(
        metadata=table_metadata(table.orderBy(F.desc("revenue_share")), path, int(totals["n"]),
                                segments=dg.MetadataValue.json({str(k): v for k, v in names.items()})),
        check_results=[dg.AssetCheckResult(
            check_name="names_unique_and_shares_sum_to_one",
            passed=int(totals["names"]) == int(totals["n"]) and abs(float(totals["u"]) - 1) < 1e-6 and revenue_ok,
        )],
    )


@dg.asset(
    group_name=GROUP,
    deps=[rfm_table, segment_profiles],
    kinds={"spark", "parquet"},
    check_specs=[dg.AssetCheckSpec("every_user_assigned", asset="user_segments",
                                   description="Every user of the RFM table has exactly one named segment.")],
)
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
    stats = table.agg(F.count(F.lit(1)).alias("rows"), F.count_distinct("user_id").alias("users"),
                      F.count_if(F.col("segment").isNull()).alias("unnamed")).collect()[0]
    rfm_users = rfm.count()
    by_segment = {r["segment"]: int(r["count"]) for r in table.groupBy("segment").count().collect()}
    return dg.MaterializeResult(
        metadata=table_metadata(table, path, int(stats["rows"]), users_per_segment=dg.MetadataValue.json(by_segment)),
        check_results=[dg.AssetCheckResult(
            check_name="every_user_assigned",
            passed=int(stats["rows"]) == int(stats["users"]) == rfm_users and int(stats["unnamed"]) == 0,
            metadata={"rows": int(stats["rows"]), "rfm_users": rfm_users},
        )],
    )


SEGMENTATION_ASSETS = [rfm_table, kmeans_model, segment_profiles, user_segments]
