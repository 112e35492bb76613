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

import numpy as np
from pyspark.ml.clustering import KMeans
from pyspark.ml.functions import array_to_vector
from pyspark.ml.recommendation import ALSModel
from pyspark.sql import DataFrame, SparkSession

from ecom_assets.recommendation.als import AlsParams, Indexers, fit_als, fit_indexers, index_ids
from ecom_assets.recommendation.interactions import Window, events_in, interaction_strengths
from ecom_assets.replay.models.customers import product_funnel, rfm_features
from ecom_assets.replay.models.segments import Centres, SegmentModel
from ecom_assets.replay.models.state import Ledgers
from ecom_assets.replay.orchestration.partitions import REPLAY_START
from ecom_assets.segmentation.kmeans import MAX_ITER, SEED
from ecom_assets.segmentation.streaming import match_centres

# The hours of day d use the re-fit made after day d - REFIT_LAG_DAYS: a full day of replay (4 minutes
# at the 10 s cadence) for the re-fit to finish before its first hour.
REFIT_LAG_DAYS = 2


def refit_day_for(hour: dt.datetime, lag_days: int = REFIT_LAG_DAYS) -> dt.date | None:
    """The day whose re-fit serves ``hour``: the day ``lag_days`` before the hour's, or None (the batch
    graph's models) while that day is before the replay's first."""
    day = hour.date() - dt.timedelta(days=lag_days)
    return day if day >= REPLAY_START.date() else None


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
