"""One replayed hour of the incremental models, as plain functions over the hour's events and the ledgers.

The hour's active users' customer rows and pairs are looked up and updated (:func:`look_up_state`);
from them, the users are re-assigned and the centres moved (:func:`update_segments`); then their ALS
factors are folded in and their top-10s blended and served, from their pairs in one pass on the
Python workers (:func:`refresh_recommendations`). The lists served before the hour
are scored against what the users did in it (:func:`evaluate_served`). :func:`models_hour` runs
them all, side by side where they do not depend on each other. Only the hour's active users and
products are touched.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ecom_assets.lake import Lake
from ecom_assets.recommendation.serving.pair_blend import serve_from_pairs
from ecom_assets.replay.models.batch_models import RecsModels, recs_models, segmentation
from ecom_assets.replay.models.customers import (
    hour_activity,
    merge_pairs,
    pair_counts,
    product_funnel,
    rfm_features,
    update_customers,
)
from ecom_assets.replay.models.new_products import fold_in_hour, new_product_pairs, new_products_before
from ecom_assets.replay.models.online import coverage, online_metrics
from ecom_assets.replay.models.refit import refit_in_force
from ecom_assets.replay.models.recommendations import stamped
from ecom_assets.replay.models.segments import (
    CENTRE_SCHEMA,
    Centres,
    SegmentChange,
    SegmentModel,
    advance,
    cluster_groups,
    evolution_rows,
    nearest_centre,
    sums_by_cluster,
)
from ecom_assets.replay.models.state import CENTRES, Ledgers
from ecom_assets.replay.orchestration.partitions import REPLAY_START, part_name
from ecom_assets.replay.orchestration.parts import run_concurrently, running_beside
from ecom_assets.replay.orchestration.refit_schedule import RefitPaths, switches_at
from ecom_assets.replay.written import written
from ecom_assets.resources import LakeResource
from ecom_assets.segmentation.assignment import segment_name

ONE_HOUR = dt.timedelta(hours=1)


class Laps(dict):
    """Seconds spent in each named phase of the hour (reported as metadata)."""

    def __init__(self) -> None:
        super().__init__()
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        """Close the phase ``name`` now."""
        now = time.perf_counter()
        self[name] = round(now - self._last, 3)
        self._last = now


@dataclass
class SegmentHour:
    """The hour's segmentation: every active user's new cluster and the segments' states around it."""

    assigned: DataFrame
    pairs: DataFrame
    changed_pairs: DataFrame
    before: Centres
    after: Centres
    change: SegmentChange
    rows: list[dict]
    unnamed: int
    cold_start: bool
    gaps: bool
    laps: Laps


@dataclass
class RecsHour:
    """The hour's refreshed recommendations and what they touched."""

    lists: DataFrame
    users: int
    short_lists: int
    folded_users: int
    new_products: int
    new_products_folded: int
    laps: Laps


def read_centres(session: SparkSession, lake: Lake, ledgers: Ledgers, start: dt.datetime,
                 model: SegmentModel, refit: RefitPaths | None = None) -> tuple[Centres, bool]:
    """The segments' state after the previous hour, or the saved model's (with October's sizes) at the
    first hour, or ``refit``'s centres (given at the first hour that uses them); the flag says a
    mid-month hour found no previous state (a cold start)."""
    if refit is not None:
        rows = [r.asDict() for r in session.read.schema(CENTRE_SCHEMA).parquet(refit.centres).collect()]
        return Centres.from_rows(rows), False
    previous = lake.replay_table(CENTRES, part_name(start - ONE_HOUR))
    if start > REPLAY_START and written(previous, session):
        rows = [r.asDict() for r in session.read.schema(CENTRE_SCHEMA).parquet(previous).collect()]
        return Centres.from_rows(rows), False
    base = session.read.parquet(ledgers.customers.base)
    sizes = {int(r["cluster"]): int(r["count"]) for r in base.groupBy("cluster").count().collect()}
    return Centres.from_model(model, sizes), start > REPLAY_START


def active_user_ids(events: DataFrame) -> np.ndarray:
    """The distinct users of the hour's events (a few thousand ids), for the ledgers' keyed lookups."""
    ids = events.select("user_id").where(F.col("user_id").isNotNull()).distinct().toArrow().column(0)
    return np.asarray(ids.to_numpy(), dtype=np.int64)


@dataclass
class HourState:
    """The state of the hour's active users once its events are added: their customer rows (with
    ``previous_cluster`` and ``is_new``) and every pair they have (``changed``: touched in the hour)."""

    customers: DataFrame
    pairs: DataFrame
    gaps: bool
    laps: Laps


def look_up_state(session: SparkSession, ledgers: Ledgers, events: DataFrame, active: np.ndarray,
                  start: dt.datetime) -> HourState:
    """The ``active`` users' rows before the hour, from the ledgers, updated with the hour's events."""
    laps = Laps()

    def customers() -> tuple[DataFrame, bool]:
        previous, gaps = ledgers.customers.latest_for_keys(session, start, active)
        return update_customers(previous, hour_activity(events)).localCheckpoint(), gaps

    def user_pairs() -> DataFrame:
        before_pairs, _ = ledgers.pairs.latest_for_keys(session, start, active)
        return merge_pairs(before_pairs, pair_counts(events)).localCheckpoint()

    # Independent lookups, run side by side (each keeps about one core busy).
    state = run_concurrently({"customers": customers, "pairs": user_pairs}, laps)
    (updated, gaps), pairs = state["customers"], state["pairs"]
    laps.lap("state_lookup")
    return HourState(updated, pairs, gaps, laps)


def update_segments(session: SparkSession, lake: Lake, ledgers: Ledgers, state: HourState, start: dt.datetime,
                    model: SegmentModel, refit: RefitPaths | None = None) -> SegmentHour:
    """Re-assign the active users, move the centres (from ``refit``'s, given at the first hour that uses it);
    write the hour's parts of the customers, pairs and centres."""
    laps = Laps()
    laps.update(state.laps)
    names = model.names
    before, cold = read_centres(session, lake, ledgers, start, model, refit)
    features = rfm_features(state.customers, product_funnel(state.pairs), start + ONE_HOUR)
    assigned = nearest_centre(model.scaled(features), before.centres).withColumn(
        "segment", segment_name(names, F.col("cluster"))).localCheckpoint()
    laps.lap("assign")
    dimensions = before.centres.shape[1]
    groups = cluster_groups(assigned, dimensions)
    change = SegmentChange.from_groups(groups)
    after = advance(before, sums_by_cluster(groups, dimensions), change.net())
    unnamed = sum(int(g["n"]) for g in groups if int(g["cluster"]) not in names)
    laps.lap("centres")
    centres_path = lake.replay_table(CENTRES, part_name(start))
    run_concurrently({
        "customers": lambda: ledgers.customers.write_hour(assigned, start),
        "pairs": lambda: ledgers.pairs.write_hour(state.pairs.where("changed"), start),
        "centres": lambda: after.frame(session).coalesce(1).write.mode("overwrite").parquet(centres_path),
    })
    laps.lap("write")
    return SegmentHour(assigned, state.pairs.drop("changed"), state.pairs.where("changed").drop("changed"),
                       before, after, change,
                       evolution_rows(before, after, change, names), unnamed, cold, state.gaps, laps)


def refresh_recommendations(session: SparkSession, resource: LakeResource, ledgers: Ledgers, start: dt.datetime,
                            segments: SegmentHour, models: RecsModels, learning: bool = True) -> RecsHour:
    """Fold in the active users' factors and blend their candidates under each user's current segment, from
    their pairs (:func:`serve_from_pairs`), with the new products folded in before the hour among the
    model's; serve the fresh top-10s (written to the served ledger, keyed by the hour); fold in the new
    products the hour touched (:mod:`~ecom_assets.replay.models.new_products`), unless ``learning`` is off."""
    laps = Laps()
    new_products = new_products_before(session, ledgers.item_factors, start, models.version) if learning else None
    laps.lap("new_products")
    served = serve_from_pairs(segments.assigned.select("user_id", "segment"), segments.pairs, models.params,
                              models.shipped_blend, new_products=new_products).localCheckpoint()
    laps.lap("blend")
    lists = stamped(served, start)
    jobs: dict[str, Callable[[], Any]] = {
        "write": lambda: ledgers.served.write_hour(lists, start),
        "stats": lambda: served.agg(F.count(F.lit(1)).alias("users"),
                                    F.count_if(F.size("products") < F.lit(10)).alias("short"),
                                    F.count_if("folded").alias("folded")).first(),
    }
    if learning:
        jobs.update(new_product_jobs(session, resource, ledgers, start, segments, served, models))
    done = run_concurrently(jobs)
    stats = done["stats"]
    laps.lap("write")
    return RecsHour(lists, int(stats["users"]), int(stats["short"]), int(stats["folded"]),
                    len(new_products.product_ids) if new_products else 0, int(done.get("item_factors", 0)), laps)


def new_product_jobs(session: SparkSession, resource: LakeResource, ledgers: Ledgers, start: dt.datetime,
                     segments: SegmentHour, served: DataFrame, models: RecsModels) -> dict[str, Callable[[], Any]]:
    """The hour's writes of the new products' fold-in, to run beside the served lists': the folded-in
    users' factors, the new products' pairs, and the factors of those the hour touched (the last returns
    how many it solved)."""
    hour_factors = served.where("folded").select("user_id", "features", F.lit(models.version).alias("model"))
    hour_pairs = new_product_pairs(segments.changed_pairs, session.read.parquet(models.product_index),
                                   models.params).localCheckpoint()

    def fold_in_products() -> int:
        solved = fold_in_hour(session, ledgers.product_pairs, ledgers.user_factors, start, hour_pairs, hour_factors,
                              models.user_gramian, models.params, models.version).localCheckpoint()
        ledgers.item_factors.write_hour(solved, start)
        return solved.count()

    return {"user_factors": lambda: ledgers.user_factors.write_hour(hour_factors, start),
            "product_pairs": lambda: ledgers.product_pairs.write_hour(hour_pairs, start),
            "item_factors": fold_in_products}


def evaluate_served(session: SparkSession, ledgers: Ledgers, events: DataFrame, active: np.ndarray,
                    start: dt.datetime) -> list[dict]:
    """Online metrics of the lists served before the hour to its ``active`` users against the hour's
    events (it reads nothing the hour writes, so it can run beside the hour's updates)."""
    served_before, _ = ledgers.served.latest_for_keys(session, start, active)
    return online_metrics(served_before, events)


@dataclass
class ModelsHour:
    """Everything one hour of the incremental models computed, ready to publish."""

    segments: SegmentHour
    recs: RecsHour
    online: list[dict]
    coverage: dict[str, float]
    models: RecsModels


def models_hour(session: SparkSession, resource: LakeResource, ledgers: Ledgers, events: DataFrame,
                start: dt.datetime, learning: bool = True, refit_lag_days: int | None = None) -> ModelsHour:
    """One hour's segments, recommendations and online evaluation, with independent Spark jobs side by side.

    An hour's jobs are small, so each is mostly waiting (planning, scheduling, a round trip); jobs that
    do not need each other's results overlap: the evaluation of the lists served before the hour runs
    beside everything; the state lookup beside the loading of the models. ``learning``: fold in the new
    products (off: October's item factors serve the hour); ``refit_lag_days``: the hour uses the re-fit of
    that many days before its day (:func:`~ecom_assets.replay.models.refit.refit_in_force`), which must be
    written (None: the batch graph's models).
    """
    refit = refit_in_force(session, resource.lake, start, refit_lag_days) if refit_lag_days else None
    refit_centres = refit if refit is not None and switches_at(start, refit_lag_days) else None
    active = active_user_ids(events)  # one small job; both lookups below search these users
    with running_beside(lambda: evaluate_served(session, ledgers, events, active, start)) as evaluation:
        with running_beside(lambda: look_up_state(session, ledgers, events, active, start)) as lookup:
            model = segmentation(session, resource.lake)
            models = recs_models(session, resource, refit)
        segments = update_segments(session, resource.lake, ledgers, lookup.result(), start, model, refit_centres)
        recs = refresh_recommendations(session, resource, ledgers, start, segments, models, learning)
        return ModelsHour(segments, recs, evaluation.result(), coverage(recs.lists, models.catalogue_size), models)


def compact(session: SparkSession, ledgers: Ledgers, start: dt.datetime) -> None:
    """After a day's last hour, fold the day's parts of every ledger into its daily snapshot."""
    if start.hour == 23:
        day = start.replace(hour=0)
        run_concurrently({ledger.name: (lambda ledger=ledger: ledger.compact_day(session, day))
                          for ledger in ledgers.all()})
