"""Daily re-fits during the replay: K-means on every customer's state, ALS on every interaction so far.

The hourly updates only move what the hour touched (the active users' segments and factors, the centres
by their own users, new products by their users). Once a day the models are fitted again on everything
known at the end of the day:

- the segments: K-means with the same number of clusters on every customer's current features, on
  October's scale (the saved pipeline's scaling, as the hours measure users); the new centres are
  matched to the centres in force by the Hungarian method on distance
  (:func:`~ecom_assets.segmentation.streaming.match_centres`), so each keeps its cluster id and name;
- the recommendations: ALS with the tuned parameters on the training window's interactions and
  November's up to the end of the day (:func:`refit_als`).

Which hours use which re-fit is decided by the hour alone (:func:`refit_day_for`), never by timing, so
re-running an hour gives the same result.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass

import numpy as np
from pyspark.ml.clustering import KMeans
from pyspark.ml.functions import array_to_vector
from pyspark.ml.recommendation import ALSModel
from pyspark.sql import DataFrame, SparkSession

from ecom_assets.lake import Lake, is_local, local_path
from ecom_assets.recommendation.als import (
    AlsParams,
    Indexers,
    fit_als,
    fit_indexers,
    index_ids,
    product_index_table,
)
from ecom_assets.recommendation.interactions import Window, events_in, interaction_strengths
from ecom_assets.replay.models.customers import product_funnel, rfm_features
from ecom_assets.replay.models.segments import Centres, SegmentModel
from ecom_assets.replay.models.state import Ledgers
from ecom_assets.replay.orchestration.refit_schedule import RefitPaths, refit_day_for
from ecom_assets.segmentation.kmeans import MAX_ITER, SEED
from ecom_assets.segmentation.streaming import match_centres
from ecom_assets.settings import DEFAULT_REFIT_LAG_DAYS


class RefitNotReadyError(RuntimeError):
    """The re-fit an hour must use is not written yet (the hour is retried; it never uses another model)."""


def refit_in_force(session: SparkSession, lake: Lake, hour: dt.datetime, lag_days: int = DEFAULT_REFIT_LAG_DAYS
                   ) -> RefitPaths | None:
    """The re-fit ``hour`` uses (None: the batch graph's models); a clear error when it is not written yet."""
    day = refit_day_for(hour, lag_days)
    if day is None:
        return None
    paths = RefitPaths.of(lake, day)
    if not paths.ready(session):
        raise RefitNotReadyError(
            f"hour {hour:%Y-%m-%d %H:00} uses the models re-fitted after {day} ({lag_days} days before), which are "
            f"not written yet: materialize replay_refit for {day} (the replay does after the day's last hour); "
            "the hour is retried and never served by another model")
    return paths


def customer_points(session: SparkSession, ledgers: Ledgers, day_end: dt.datetime, model: SegmentModel
                    ) -> DataFrame:
    """Every customer's features as of ``day_end`` (the ledgers' latest rows before it: October's state
    and every change since), on the saved pipeline's scale (``scaled``), as the hours compute them."""
    customers, _ = ledgers.customers.latest(session, day_end)
    pairs, _ = ledgers.pairs.latest(session, day_end)
    return model.scaled(rfm_features(customers, product_funnel(pairs), day_end))


def refit_centres(scaled: DataFrame, previous: Centres, seed: int = SEED) -> Centres:
    """K-means on every customer's ``scaled`` point (an array column, the saved pipeline's scale) with as
    many clusters as ``previous``, each new centre taking over the previous centre it is matched to (so
    cluster ids and names are kept); weights and sizes are the users each new centre holds."""
    k = len(previous.centres)
    points = scaled.select(array_to_vector("scaled").alias("features"))
    model = KMeans(k=k, seed=seed, maxIter=MAX_ITER, featuresCol="features").fit(points)
    new = np.array([np.asarray(c, dtype=np.float64) for c in model.clusterCenters()])
    if len(new) != k:  # fewer distinct points than clusters: Spark returns fewer centres
        raise ValueError(f"the re-fit found {len(new)} centres for {k} segments: too few distinct customers")
    order = match_centres(previous.centres, new)
    sizes = np.asarray(model.summary.clusterSizes, dtype=np.int64)[order]
    return Centres(new[order], sizes.astype(np.float64), sizes)


def refit_als(events: DataFrame, window: Window, params: AlsParams) -> tuple[ALSModel, Indexers, DataFrame]:
    """ALS with ``params`` (the batch graph's tuned ones) on the interactions of ``window`` (the training
    window's start to the end of the re-fit's day): the model, its indexers and its interactions."""
    interactions = interaction_strengths(events_in(events, window), params.event_weights()).cache()
    indexers = fit_indexers(interactions)
    ratings = index_ids(indexers, interactions).select("user_idx", "product_idx", "strength")
    return fit_als(ratings, params), indexers, interactions


@dataclass(frozen=True)
class Refit:
    """One day's re-fitted models and what they were fitted on."""

    centres: Centres
    model: ALSModel
    indexers: Indexers
    interactions: DataFrame
    customers: int


def refit_day(session: SparkSession, ledgers: Ledgers, events: DataFrame, day: dt.date, training_start: dt.date,
              segmentation: SegmentModel, in_force: Centres, params: AlsParams) -> Refit:
    """Re-fit both models at the end of ``day``: K-means on every customer's point, matched to the centres
    ``in_force`` (the day's last hour's), and ALS on the interactions from ``training_start`` to the day's end."""
    day_end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    points = customer_points(session, ledgers, day_end, segmentation).select("scaled").cache()
    centres = refit_centres(points, in_force)
    customers = points.count()
    points.unpersist()
    model, indexers, interactions = refit_als(events, Window(training_start, day_end.date()), params)
    return Refit(centres, model, indexers, interactions, customers)


def save_refit(session: SparkSession, paths: RefitPaths, refit: Refit) -> None:
    """Write ``refit`` under ``paths``, the centres last (they mark the re-fit ready; on a local lake an
    earlier re-fit of the day stops being ready before anything of it is rewritten)."""
    if is_local(paths.centres):
        shutil.rmtree(local_path(paths.centres), ignore_errors=True)
    refit.model.write().overwrite().save(paths.als)
    refit.indexers.save(paths.indexers)
    product_index_table(refit.indexers, refit.interactions).write.mode("overwrite").parquet(paths.product_index)
    refit.centres.frame(session).coalesce(1).write.mode("overwrite").parquet(paths.centres)
