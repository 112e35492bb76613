"""Behaviour assets: thin Dagster wrappers that read the lake, call the functions and check the results.

The Spark logic is in this stage's modules (``sessions``, ``indicators``, ``funnel``, ``popularity``,
``navigation``, ``affinities``, ``time_patterns``); the checks and the statistics they need in :mod:`.checks`.
"""

import dagster as dg
from pyspark.sql import functions as F

from ecom_assets.behaviour import checks
from ecom_assets.behaviour.affinities import affinities as compute_affinities
from ecom_assets.behaviour.funnel import conversion_funnel as compute_funnel
from ecom_assets.behaviour.indicators import user_indicators
from ecom_assets.behaviour.navigation import navigation_paths as compute_paths
from ecom_assets.behaviour.navigation import navigation_transitions as compute_transitions
from ecom_assets.behaviour.popularity import popularity as compute_popularity
from ecom_assets.behaviour.sessions import assign_session_ids, sessionize
from ecom_assets.behaviour.time_patterns import activity_patterns as compute_patterns
from ecom_assets.ingest.tables import read_raw_events
from ecom_assets.resources import LakeResource, SparkResource
from ecom_assets.table_metadata import table_metadata

GROUP = "behaviour"


@dg.asset(group_name=GROUP, deps=["raw_events"], kinds={"spark", "parquet"}, check_specs=checks.SESSION_CHECKS)
def sessions(spark: SparkResource, lake: LakeResource) -> dg.MaterializeResult:
    """One row per visit (``user_session``; rows without one are cut per user after 30 minutes of silence):
    user, start and end (UTC), duration, events, views, carts, purchases, distinct products and categories,
    revenue, whether it converted, and the ordered paths of event types and top-level categories."""
    session = spark.get_session()
    events = read_raw_events(session, lake.lake)
    path = lake.write_processed(sessionize(events), "sessions", partition_by="start_date")
    table = lake.read_processed(session, "sessions")
    figures = checks.SessionFigures.of(table, events)
    return dg.MaterializeResult(
        metadata=table_metadata(table.orderBy(F.desc("events")), path, figures.sessions, **figures.metadata()),
        check_results=figures.results(),
    )


@dg.asset(group_name=GROUP, deps=["raw_events", sessions], kinds={"spark", "parquet"},
          check_specs=checks.USER_STATS_CHECKS)
def user_behavior_stats(spark: SparkResource, lake: LakeResource) -> dg.MaterializeResult:
    """Per user: visit frequency (sessions, active days), mean session duration, events by type, conversion
    (share of viewed products bought), cart abandonment (share of carted products not bought), revenue,
    first and last seen, preferred category and brand."""
    session = spark.get_session()
    events = read_raw_events(session, lake.lake)
    frame = user_indicators(events, lake.read_processed(session, "sessions"))
    path = lake.write_processed(frame, "user_behavior_stats")
    table = lake.read_processed(session, "user_behavior_stats")
    figures = checks.UserStatsFigures.of(table, events)
    return dg.MaterializeResult(
        metadata=table_metadata(table.orderBy(F.desc("revenue")), path, figures.rows, **figures.metadata()),
        check_results=figures.results(table),
    )


@dg.asset(group_name=GROUP, deps=["raw_events"], kinds={"spark", "parquet"}, check_specs=checks.FUNNEL_CHECKS)
def conversion_funnel(spark: SparkResource, lake: LakeResource) -> dg.MaterializeResult:
    """View -> cart -> purchase: event counts and rates overall, per category, per brand and per day.
    Rates are on (user, product) pairs: the share of viewed products that were carted or bought, of carted
    products that were bought, and cart abandonment."""
    session = spark.get_session()
    events = read_raw_events(session, lake.lake)
    path = lake.write_processed(compute_funnel(events), "conversion_funnel")
    table = lake.read_processed(session, "conversion_funnel")
    results = checks.funnel_results(table, events)
    overall = table.where("level = 'overall'").collect()
    figures = overall[0].asDict() if overall else {}
    rates = {k: round(float(figures[k]), 4) for k in checks.FUNNEL_RATES if figures.get(k) is not None}
    return dg.MaterializeResult(
        metadata=table_metadata(table.orderBy("level", F.desc("views")), path, table.count(), **rates),
        check_results=results,
    )


@dg.asset(group_name=GROUP, deps=["raw_events"], kinds={"spark", "parquet"}, check_specs=checks.POPULARITY_CHECKS)
def popularity(spark: SparkResource, lake: LakeResource) -> dg.MaterializeResult:
    """The 100 most viewed, carted and purchased products and categories, with their counts, users,
    mean price and conversion (share of viewers who bought), and their rank on each measure."""
    session = spark.get_session()
    path = lake.write_processed(compute_popularity(read_raw_events(session, lake.lake)), "popularity")
    table = lake.read_processed(session, "popularity")
    return dg.MaterializeResult(
        metadata=table_metadata(table.where("item_kind = 'product'").orderBy("rank_views"), path, table.count()),
        check_results=[checks.rates_check(table, ["view_to_purchase_rate"])],
    )


@dg.asset(group_name=GROUP, deps=[sessions], kinds={"spark", "parquet"}, check_specs=checks.TRANSITION_CHECKS)
def navigation_transitions(spark: SparkResource, lake: LakeResource) -> dg.MaterializeResult:
    """How visitors move inside a session: counts and probabilities of going from one top-level category
    to the next, and from one event type to the next."""
    session = spark.get_session()
    frame = compute_transitions(lake.read_processed(session, "sessions"))
    path = lake.write_processed(frame, "navigation_transitions")
    table = lake.read_processed(session, "navigation_transitions")
    results = checks.transition_results(table)
    return dg.MaterializeResult(
        metadata=table_metadata(table.orderBy(F.desc("transitions")), path, table.count()), check_results=results)


@dg.asset(group_name=GROUP, deps=[sessions], kinds={"spark", "parquet"}, check_specs=checks.PATH_CHECKS)
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
            checks.rates_check(table, ["conversion_rate", "share_of_converting_sessions", "share_of_other_sessions"])
        ],
    )


class AffinityConfig(dg.Config):
    """How frequent an item or pair must be to be listed."""

    min_sessions: int = 0  # 0: automatic, max(5, one session in 100,000)


@dg.asset(group_name=GROUP, deps=["raw_events", sessions], kinds={"spark", "parquet"},
          check_specs=checks.AFFINITY_CHECKS)
def affinities(config: AffinityConfig, spark: SparkResource, lake: LakeResource) -> dg.MaterializeResult:
    """Products, and categories, that appear together in sessions: support, confidence both ways and lift.
    Only items and pairs seen in at least ``min_sessions`` sessions are listed."""
    session = spark.get_session()
    events = assign_session_ids(read_raw_events(session, lake.lake))
    total_sessions = lake.read_processed(session, "sessions").count()
    min_sessions = config.min_sessions or max(5, total_sessions // 100_000)
    path = lake.write_processed(compute_affinities(events, min_sessions), "affinities")
    table = lake.read_processed(session, "affinities")
    results = checks.affinity_results(table)
    return dg.MaterializeResult(
        metadata=table_metadata(table.orderBy(F.desc("lift")), path, table.count(), min_sessions=min_sessions),
        check_results=results,
    )


@dg.asset(group_name=GROUP, deps=["raw_events"], kinds={"spark", "parquet"}, check_specs=checks.PATTERN_CHECKS)
def activity_patterns(spark: SparkResource, lake: LakeResource) -> dg.MaterializeResult:
    """Activity by hour of day, day of week and date (UTC), per event type, with the share of all events;
    the daily series also counts active users and sessions (the November sale shows on the 16th-17th)."""
    session = spark.get_session()
    events = read_raw_events(session, lake.lake)
    path = lake.write_processed(compute_patterns(events), "activity_patterns")
    table = lake.read_processed(session, "activity_patterns")
    results = checks.pattern_results(table, events)
    peak = table.where("grain = 'hour_of_day'").orderBy(F.desc("events")).limit(1).collect()
    return dg.MaterializeResult(
        metadata=table_metadata(
            table.where("grain = 'date'").orderBy(F.desc("purchases")),
            path,
            table.count(),
            busiest_hour_utc=peak[0]["key"] if peak else "",
        ),
        check_results=results,
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
