"""Behaviour assets: thin Dagster wrappers that read the lake, call the functions and check the results."""

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ecom_assets.behaviour.affinities import affinities as compute_affinities
from ecom_assets.behaviour.funnel import LEVELS as FUNNEL_LEVELS
from ecom_assets.behaviour.funnel import conversion_funnel as compute_funnel
from ecom_assets.behaviour.indicators import user_indicators
from ecom_assets.behaviour.navigation import navigation_paths as compute_paths
from ecom_assets.behaviour.navigation import navigation_transitions as compute_transitions
from ecom_assets.behaviour.popularity import popularity as compute_popularity
from ecom_assets.behaviour.sessions import assign_session_ids, sessionize
from ecom_assets.behaviour.time_patterns import GRAINS
from ecom_assets.behaviour.time_patterns import activity_patterns as compute_patterns
from ecom_assets.ingest.tables import read_raw_events
from ecom_assets.resources import LakeResource, SparkResource
from ecom_assets.table_metadata import table_metadata

GROUP = "behaviour"
RATE_CHECK = "rates_within_unit_interval"
RAW_COUNTS_CHECK = "counts_match_raw_events"
FLOAT_TOLERANCE = 1e-9


def _spec(asset: str, name: str, description: str, blocking: bool = False) -> dg.AssetCheckSpec:
    """An asset check declared on ``asset``."""
    return dg.AssetCheckSpec(name, asset=asset, description=description, blocking=blocking)


def raw_counts_by_type(frame: DataFrame) -> dict[str, int]:
    """Events per type (view/cart/purchase) counted straight from ``raw_events``."""
    rows = frame.groupBy("event_type").count().collect()
    counts = {row["event_type"]: int(row["count"]) for row in rows}
    return {name: counts.get(name, 0) for name in ("view", "cart", "purchase")}


def rates_check(frame: DataFrame, columns: list[str]) -> dg.AssetCheckResult:
    """Passes when every non-null value of ``columns`` lies in [0, 1]; reports the extremes."""
    row = frame.agg(*[F.min(c).alias(f"min_{c}") for c in columns], *[F.max(c).alias(f"max_{c}") for c in columns]).collect()[0]
    extremes = {key: (None if value is None else float(value)) for key, value in row.asDict().items()}
    passed = all(
        (extremes[f"min_{c}"] is None or extremes[f"min_{c}"] >= -FLOAT_TOLERANCE)
        and (extremes[f"max_{c}"] is None or extremes[f"max_{c}"] <= 1 + FLOAT_TOLERANCE)
        for c in columns
    )
    return dg.AssetCheckResult(check_name=RATE_CHECK, passed=passed, metadata={"extremes": dg.MetadataValue.json(extremes)})


@dg.asset(
    group_name=GROUP,
    deps=["raw_events"],
    kinds={"spark", "parquet"},
    check_specs=[
        _spec("sessions", "events_conserved", "Every accepted event belongs to exactly one session.", blocking=True),
        _spec("sessions", "durations_non_negative", "No session ends before it starts."),
    ],
)
def sessions(spark: SparkResource, lake: LakeResource) -> dg.MaterializeResult:
    """One row per visit (``user_session``; rows without one are cut per user after 30 minutes of silence):
    user, start and end (UTC), duration, events, views, carts, purchases, distinct products and categories,
    revenue, whether it converted, and the ordered paths of event types and top-level categories."""
    session = spark.get_session()
    events = read_raw_events(session, lake.lake)
    path = lake.write_processed(sessionize(events), "sessions", partition_by="start_date")
    table = lake.read_processed(session, "sessions")
    stats = table.agg(
        F.count(F.lit(1)).alias("sessions"),
        F.sum("events").alias("events"),
        F.count_if("is_synthetic").alias("synthetic"),
        F.min("duration_s").alias("min_duration_s"),
        F.avg("duration_s").alias("mean_duration_s"),
        F.percentile_approx("duration_s", 0.5).alias("median_duration_s"),
        F.avg(F.col("converted").cast("double")).alias("conversion_rate"),
    ).collect()[0]
    # Counted apart: a distinct aggregate next to percentile_approx would merge one digest per session.
    distinct_ids = table.select("session_id", "user_id").distinct().count()
    raw_rows = events.count()
    n_sessions = int(stats["sessions"])
    return dg.MaterializeResult(
        metadata=table_metadata(
            table.orderBy(F.desc("events")),
            path,
            n_sessions,
            events_per_session=round(raw_rows / max(n_sessions, 1), 3),
            mean_duration_s=round(float(stats["mean_duration_s"] or 0), 1),
            median_duration_s=int(stats["median_duration_s"] or 0),
            session_conversion_rate=round(float(stats["conversion_rate"] or 0), 4),
            sessions_without_id_rebuilt=int(stats["synthetic"]),
        ),
        check_results=[
            dg.AssetCheckResult(
                check_name="events_conserved",
                passed=int(stats["events"] or 0) == raw_rows and distinct_ids == n_sessions,
                metadata={"events_in_sessions": int(stats["events"] or 0), "raw_events": raw_rows},
            ),
            dg.AssetCheckResult(
                check_name="durations_non_negative",
                passed=stats["min_duration_s"] is None or stats["min_duration_s"] >= 0,
                metadata={"min_duration_s": int(stats["min_duration_s"] or 0)},
            ),
        ],
    )


@dg.asset(
    group_name=GROUP,
    deps=["raw_events", sessions],
    kinds={"spark", "parquet"},
    check_specs=[
        _spec("user_behavior_stats", RATE_CHECK, "Conversion and abandonment rates lie in [0, 1]."),
        _spec("user_behavior_stats", "one_row_per_user", "Exactly one row for every user of raw_events."),
    ],
)
def user_behavior_stats(spark: SparkResource, lake: LakeResource) -> dg.MaterializeResult:
    """Per user: visit frequency (sessions, active days), mean session duration, events by type, conversion
    (share of viewed products bought), cart abandonment (share of carted products not bought), revenue,
    first and last seen, preferred category and brand."""
    session = spark.get_session()
    events = read_raw_events(session, lake.lake)
    frame = user_indicators(events, lake.read_processed(session, "sessions"))
    path = lake.write_processed(frame, "user_behavior_stats")
    table = lake.read_processed(session, "user_behavior_stats")
    stats = table.agg(
        F.count(F.lit(1)).alias("rows"),
        F.count_distinct("user_id").alias("users"),
        F.count_if(F.col("purchases") > 0).alias("buyers"),
        F.count_if(F.col("purchases") > 1).alias("repeat_buyers"),
        F.avg("sessions").alias("sessions_per_user"),
    ).collect()[0]
    raw_users = events.select("user_id").distinct().count()
    users = int(stats["users"])
    return dg.MaterializeResult(
        metadata=table_metadata(
            table.orderBy(F.desc("revenue")),
            path,
            int(stats["rows"]),
            buyer_share=round(int(stats["buyers"]) / max(users, 1), 4),
            repeat_buyer_share_of_buyers=round(int(stats["repeat_buyers"]) / max(int(stats["buyers"]), 1), 4),
            sessions_per_user=round(float(stats["sessions_per_user"] or 0), 3),
        ),
        check_results=[
            rates_check(table, ["view_to_purchase_rate", "cart_abandonment_rate"]),
            dg.AssetCheckResult(
                check_name="one_row_per_user",
                passed=int(stats["rows"]) == users == raw_users,
                metadata={"rows": int(stats["rows"]), "users_in_raw_events": raw_users},
            ),
        ],
    )


@dg.asset(
    group_name=GROUP,
    deps=["raw_events"],
    kinds={"spark", "parquet"},
    check_specs=[
        _spec("conversion_funnel", RATE_CHECK, "Every funnel rate lies in [0, 1]."),
        _spec("conversion_funnel", RAW_COUNTS_CHECK,
              "Views, carts and purchases summed at each level equal the counts of raw_events."),
    ],
)
def conversion_funnel(spark: SparkResource, lake: LakeResource) -> dg.MaterializeResult:
    """View -> cart -> purchase: event counts and rates overall, per category, per brand and per day.
    Rates are on (user, product) pairs: the share of viewed products that were carted or bought, of carted
    products that were bought, and cart abandonment."""
    session = spark.get_session()
    events = read_raw_events(session, lake.lake)
    path = lake.write_processed(compute_funnel(events), "conversion_funnel")
    table = lake.read_processed(session, "conversion_funnel")
    sums = {
        row["level"]: (int(row["v"]), int(row["c"]), int(row["p"]))
        for row in table.groupBy("level").agg(F.sum("views").alias("v"), F.sum("carts").alias("c"),
                                              F.sum("purchases").alias("p")).collect()
    }
    raw = raw_counts_by_type(events)
    expected = (raw["view"], raw["cart"], raw["purchase"])
    overall = table.where("level = 'overall'").collect()
    figures = overall[0].asDict() if overall else {}
    return dg.MaterializeResult(
        metadata=table_metadata(
            table.orderBy("level", F.desc("views")),
            path,
            table.count(),
            **{k: round(float(figures[k]), 4) for k in ("view_to_cart_rate", "view_to_purchase_rate",
                                                         "cart_to_purchase_rate", "cart_abandonment_rate")
               if figures.get(k) is not None},
        ),
        check_results=[
            rates_check(table, ["view_to_cart_rate", "view_to_purchase_rate", "cart_to_purchase_rate",
                                "cart_abandonment_rate"]),
            dg.AssetCheckResult(
                check_name=RAW_COUNTS_CHECK,
                passed=set(sums) == set(FUNNEL_LEVELS) and all(v == expected for v in sums.values()),
                metadata={"raw_view_cart_purchase": list(expected),
                          "per_level": dg.MetadataValue.json({k: list(v) for k, v in sums.items()})},
            ),
        ],
    )


@dg.asset(
    group_name=GROUP,
    deps=["raw_events"],
    kinds={"spark", "parquet"},
    check_specs=[_spec("popularity", RATE_CHECK, "Conversion of every listed item lies in [0, 1].")],
)
def popularity(spark: SparkResource, lake: LakeResource) -> dg.MaterializeResult:
    """The 100 most viewed, carted and purchased products and categories, with their counts, users,
    mean price and conversion (share of viewers who bought), and their rank on each measure."""
    session = spark.get_session()
    path = lake.write_processed(compute_popularity(read_raw_events(session, lake.lake)), "popularity")
    table = lake.read_processed(session, "popularity")
    return dg.MaterializeResult(
        metadata=table_metadata(table.where("item_kind = 'product'").orderBy("rank_views"), path, table.count()),
        check_results=[rates_check(table, ["view_to_purchase_rate"])],
    )


@dg.asset(
    group_name=GROUP,
    deps=[sessions],
    kinds={"spark", "parquet"},
    check_specs=[_spec("navigation_transitions", "probabilities_sum_to_one",
                       "Leaving probabilities of every state sum to 1.")],
)
def navigation_transitions(spark: SparkResource, lake: LakeResource) -> dg.MaterializeResult:
    """How visitors move inside a session: counts and probabilities of going from one top-level category
    to the next, and from one event type to the next."""
    session = spark.get_session()
    frame = compute_transitions(lake.read_processed(session, "sessions"))
    path = lake.write_processed(frame, "navigation_transitions")
    table = lake.read_processed(session, "navigation_transitions")
    totals = table.groupBy("kind", "from_state").agg(F.sum("probability").alias("total"))
    worst = totals.agg(F.max(F.abs(F.col("total") - 1)).alias("deviation")).collect()[0]["deviation"]
    return dg.MaterializeResult(
        metadata=table_metadata(table.orderBy(F.desc("transitions")), path, table.count()),
        check_results=[
            dg.AssetCheckResult(
                check_name="probabilities_sum_to_one",
                passed=worst is None or worst < 1e-9,
                metadata={"max_deviation": float(worst or 0.0)},
            )
        ],
    )


@dg.asset(
    group_name=GROUP,
    deps=[sessions],
    kinds={"spark", "parquet"},
    check_specs=[_spec("navigation_paths", RATE_CHECK, "Conversion rates and shares lie in [0, 1].")],
)
def navigation_paths(spark: SparkResource, lake: LakeResource) -> dg.MaterializeResult:
    """The most frequent paths (2 and 3 consecutive top-level categories, the first 3 events of a visit),
    how often sessions following them convert, and their share among converting vs other sessions (lift)."""
    session = spark.get_session()
    frame = compute_paths(lake.read_processed(session, "sessions"))
    path = lake.write_processed(frame, "navigation_paths")
    table = lake.read_processed(session, "navigation_paths")
    return dg.MaterializeResult(
        metadata=table_metadata(table.orderBy("kind", "rank"), path, table.count()),
        check_results=[
            rates_check(table, ["conversion_rate", "share_of_converting_sessions", "share_of_other_sessions"])
        ],
    )


class AffinityConfig(dg.Config):
    """How frequent an item or pair must be to be listed."""

    min_sessions: int = 0  # 0: automatic, max(5, one session in 100,000)


@dg.asset(
    group_name=GROUP,
    deps=["raw_events", sessions],
    kinds={"spark", "parquet"},
    check_specs=[_spec("affinities", "measures_consistent",
                       "Confidences lie in [0, 1], lift is positive, pair support never exceeds its items'.")],
)
def affinities(config: AffinityConfig, spark: SparkResource, lake: LakeResource) -> dg.MaterializeResult:
    """Products, and categories, that appear together in sessions: support, confidence both ways and lift.
    Only items and pairs seen in at least ``min_sessions`` sessions are listed."""
    session = spark.get_session()
    events = assign_session_ids(read_raw_events(session, lake.lake))
    total_sessions = lake.read_processed(session, "sessions").count()
    min_sessions = config.min_sessions or max(5, total_sessions // 100_000)
    path = lake.write_processed(compute_affinities(events, min_sessions), "affinities")
    table = lake.read_processed(session, "affinities")
    bad = table.where(
        (F.col("confidence_a_to_b") > 1) | (F.col("confidence_b_to_a") > 1) | (F.col("lift") <= 0)
        | (F.col("sessions_together") > F.least("sessions_a", "sessions_b"))
    ).count()
    return dg.MaterializeResult(
        metadata=table_metadata(table.orderBy(F.desc("lift")), path, table.count(), min_sessions=min_sessions),
        check_results=[dg.AssetCheckResult(check_name="measures_consistent", passed=bad == 0,
                                           metadata={"inconsistent_rows": bad})],
    )


@dg.asset(
    group_name=GROUP,
    deps=["raw_events"],
    kinds={"spark", "parquet"},
    check_specs=[_spec("activity_patterns", RAW_COUNTS_CHECK, "Every grain adds up to the events of raw_events.")],
)
def activity_patterns(spark: SparkResource, lake: LakeResource) -> dg.MaterializeResult:
    """Activity by hour of day, day of week and date (UTC), per event type, with the share of all events;
    the daily series also counts active users and sessions (the November sale shows on the 16th-17th)."""
    session = spark.get_session()
    events = read_raw_events(session, lake.lake)
    path = lake.write_processed(compute_patterns(events), "activity_patterns")
    table = lake.read_processed(session, "activity_patterns")
    sums = {row["grain"]: int(row["events"]) for row in table.groupBy("grain").agg(F.sum("events").alias("events")).collect()}
    raw_rows = events.count()
    peak = table.where("grain = 'hour_of_day'").orderBy(F.desc("events")).limit(1).collect()
    return dg.MaterializeResult(
        metadata=table_metadata(
            table.where("grain = 'date'").orderBy(F.desc("purchases")),
            path,
            table.count(),
            busiest_hour_utc=peak[0]["key"] if peak else "",
        ),
        check_results=[
            dg.AssetCheckResult(
                check_name=RAW_COUNTS_CHECK,
                passed=all(sums.get(grain) == raw_rows for grain in GRAINS),
                metadata={"raw_events": raw_rows, "per_grain": dg.MetadataValue.json(sums)},
            )
        ],
    )


BEHAVIOUR_ASSETS = [
    sessions,
    user_behavior_stats,
    conversion_funnel,
    popularity,
    navigation_transitions,
    navigation_paths,
    affinities,
    activity_patterns,
]
