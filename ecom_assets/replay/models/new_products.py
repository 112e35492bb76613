"""New products reach ALS during the replay: products first seen in November get factors, hour by hour.

The October model has no factors for a product it never saw, so its ALS component is 0 and it is
never an ALS candidate. After each hour, every new product touched in it is folded in
(:func:`~ecom_assets.recommendation.fold_in.fold_in_items`): its factors are solved from the latest
folded-in factors of every user who touched it so far, with the model's event strengths, confidences,
regularisation and its users' gramian (``RecsModels.user_gramian``). A product needs ``MIN_USERS``
such users: with fewer its factors are one user's own taste, and it would be recommended back to
everyone who resembles that user.

Three ledgers keep what this needs (:class:`~ecom_assets.replay.models.state.Ledgers`): the pairs of
new products keyed by product (``product_pairs``), each user's latest folded-in factors
(``user_factors``) and the new products' factors (``item_factors``). Hour h's blend and fold-in use
the factors solved before h (:func:`new_products_before`), and hour h's item fold-in reads only what
hours before h and h itself wrote, so re-running an hour gives the same lists and factors.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ecom_assets.recommendation.als import AlsParams
from ecom_assets.recommendation.fold_in import ITEM_FACTOR_SCHEMA, fold_in_items
from ecom_assets.recommendation.serving.pair_blend import NewProductFactors
from ecom_assets.replay.models.ledger import Ledger
from ecom_assets.replay.models.recommendations import pair_strengths
from ecom_assets.replay.orchestration.partitions import part_name

MIN_USERS = 3
PRODUCT_PAIR_SCHEMA = T.StructType([T.StructField("product_id", T.LongType()),
                                    T.StructField("user_id", T.LongType()),
                                    T.StructField("strength", T.DoubleType())])
# ``model``: the ALS model the factors belong to (``RecsModels.version``): after a daily re-fit, factors
# solved against the previous model are in another space and are not used.
USER_FACTOR_SCHEMA = T.StructType([T.StructField("user_id", T.LongType()),
                                   T.StructField("features", T.ArrayType(T.FloatType())),
                                   T.StructField("model", T.StringType())])
ITEM_FACTOR_LEDGER_SCHEMA = T.StructType([*ITEM_FACTOR_SCHEMA.fields, T.StructField("model", T.StringType())])


def new_product_pairs(changed_pairs: DataFrame, known_products: DataFrame, params: AlsParams) -> DataFrame:
    """(product_id, user_id, strength): the hour's changed pairs (user_id, product_id, views, carts,
    purchases, last_seen) of products the model has no factors for (not in ``known_products``), with the
    model's event strengths."""
    strengths = pair_strengths(changed_pairs, params.event_weights())
    return strengths.join(known_products.select("product_id"), "product_id", "left_anti").select(
        "product_id", "user_id", "strength")


def new_products_before(session: SparkSession, item_factors: Ledger, start: dt.datetime, model: str
                        ) -> NewProductFactors:
    """The factors of every new product folded in against ``model`` before hour ``start`` (a catalogue-sized
    table at most: products x rank floats), for the hour's blend."""
    rows, _ = item_factors.latest(session, start)
    table = rows.where(F.col("model") == model).select("product_id", "features").orderBy("product_id").toArrow()
    ids = np.asarray(table.column("product_id").to_numpy(), dtype=np.int64)
    flat = np.asarray(table.column("features").combine_chunks().flatten().to_numpy(zero_copy_only=False),
                      dtype=np.float32)
    factors = flat.reshape(len(ids), -1) if len(ids) else np.zeros((0, 0), dtype=np.float32)
    # The stamp names the content, not only the hour: workers live across replays (a reset, another lake).
    digest = hashlib.sha256(ids.tobytes() + factors.tobytes()).hexdigest()[:16]
    return NewProductFactors(f"{part_name(start)}:{digest}", ids, factors)


def _distinct_ids(frame: DataFrame, column: str) -> np.ndarray:
    """The distinct values of an id column (the hour's few thousand products or users) on the driver."""
    ids = frame.select(column).distinct().toArrow().column(0)
    return np.asarray(ids.to_numpy(), dtype=np.int64)


def fold_in_hour(session: SparkSession, product_pairs: Ledger, user_factors: Ledger, start: dt.datetime,
                 hour_pairs: DataFrame, hour_factors: DataFrame, gramian: np.ndarray, params: AlsParams, model: str
                 ) -> DataFrame:
    """(product_id, features, users, model): new factors of the new products of ``hour_pairs`` (the hour's
    :func:`new_product_pairs`) that have ``MIN_USERS`` users with factors of ``model``, from all of their
    pairs so far and each user's latest factors (``hour_factors``: the hour's folded-in users (user_id,
    features), before the ledger's)."""
    touched = _distinct_ids(hour_pairs, "product_id")
    if not len(touched):
        return session.createDataFrame([], ITEM_FACTOR_LEDGER_SCHEMA)
    before, _ = product_pairs.latest_for_keys(session, start, touched)
    pairs = before.join(hour_pairs.select("product_id", "user_id"), ["product_id", "user_id"], "left_anti") \
        .unionByName(hour_pairs.select(*PRODUCT_PAIR_SCHEMA.fieldNames())).where(F.col("strength") > 0) \
        .localCheckpoint()
    earlier, _ = user_factors.latest_for_keys(session, start, _distinct_ids(pairs, "user_id"))
    factors = earlier.where(F.col("model") == model).join(hour_factors.select("user_id"), "user_id", "left_anti") \
        .select("user_id", "features").unionByName(hour_factors.select("user_id", "features"))
    with_factors = pairs.join(factors, "user_id")
    enough = with_factors.groupBy("product_id").count().where(F.col("count") >= MIN_USERS).select("product_id")
    solved = fold_in_items(with_factors.join(enough, "product_id", "left_semi"), gramian, params.alpha,
                           params.reg_param)
    return solved.withColumn("model", F.lit(model))
