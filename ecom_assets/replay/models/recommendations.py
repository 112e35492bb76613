"""Recommendations that learn during the replay: folded-in ALS factors, new products, refreshed top-10s.

Per hour, for the users active in it only: their ALS factors are solved again from the fixed item
factors and every interaction they have so far (October's and November's, with the model's own
event strengths), so a user first seen in November gets personal ALS scores after a few events.
Products first seen in November reach users through the content table, which covers the whole
catalogue (``content_similarity``), and through ALS once they are folded in from their users'
factors (:mod:`~ecom_assets.replay.models.new_products`). The blend and its per-segment weights are
the batch hybrid's, with the user's current segment.

The hour computes all of this on the Python workers in one pass over each user's pairs
(:mod:`ecom_assets.recommendation.serving.pair_blend`); :func:`fold_in_active` and :func:`event_strengths`
are the same definitions as Spark jobs, which the tests and benchmarks compare it with.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ecom_assets.recommendation.als import AlsParams
from ecom_assets.recommendation.fold_in import fold_in_users
from ecom_assets.recommendation.interactions import EVENT_WEIGHTS
from ecom_assets.recommendation.serving.user_blend import BlendTables
from ecom_assets.speedups.shipped import Shipped

SERVED_SCHEMA = T.StructType([
    T.StructField("user_id", T.LongType()),
    T.StructField("segment", T.StringType()),
    T.StructField("products", T.ArrayType(T.LongType())),
    # The blend's components of each product, in the list's order (the reasons of ecom serve).
    T.StructField("als", T.ArrayType(T.FloatType())),
    T.StructField("content", T.ArrayType(T.FloatType())),
    T.StructField("popularity", T.ArrayType(T.FloatType())),
    T.StructField("served_at", T.TimestampType()),
])
LIST_COLUMNS = ("products", "als", "content", "popularity")


def pair_strengths(pairs: DataFrame, weights: dict[str, float]) -> DataFrame:
    """(user_id, product_id, strength, last_seen, purchased) from running pair counts and event weights."""
    strength = (F.col("views") * F.lit(weights["view"]) + F.col("carts") * F.lit(weights["cart"])
                + F.col("purchases") * F.lit(weights["purchase"]))
    return pairs.select("user_id", "product_id", strength.cast("double").alias("strength"), "last_seen",
                        (F.col("purchases") > 0).alias("purchased"))


def fold_in_active(pairs: DataFrame, params: AlsParams, blend: Shipped[BlendTables]) -> DataFrame:
    """(user_id, features): ALS factors of every user of ``pairs`` from all of their known products,
    with the model's event strengths and regularisation, from the item factors of ``blend`` (which
    the Python workers read from the saved pack, see :class:`Shipped`)."""
    strengths = pair_strengths(pairs, params.event_weights()).where(F.col("strength") > 0)
    return fold_in_users(strengths.select("user_id", "product_id", "strength"), None, params.rank,
                         params.alpha, params.reg_param, blend.part("items"), blend.part("row_of_product"))


def event_strengths(pairs: DataFrame) -> DataFrame:
    """Pair strengths with the hybrid's fixed event weights (recency and content candidates)."""
    return pair_strengths(pairs, EVENT_WEIGHTS)


def served_lists(recs: DataFrame, served_at: dt.datetime) -> DataFrame:
    """(user_id, segment, products, als, content, popularity, served_at): each user's top-10 (ranked rows with
    their components) as one ordered list."""
    ordered = recs.groupBy("user_id", "segment").agg(F.sort_array(F.collect_list(F.struct(
        "rank", "product_id", *[F.col(c).cast("float").alias(c) for c in ("als", "content", "popularity")]))
    ).alias("ranked"))
    return stamped(ordered.select("user_id", "segment", F.col("ranked.product_id").alias("products"),
                                  *[F.col(f"ranked.{c}").alias(c) for c in ("als", "content", "popularity")]),
                   served_at)


def stamped(lists: DataFrame, served_at: dt.datetime) -> DataFrame:
    """(user_id, segment, products, als, content, popularity, served_at): ranked ``lists`` with the hour they
    were served."""
    return lists.select("user_id", "segment", *LIST_COLUMNS, F.lit(served_at).cast("timestamp").alias("served_at"))

