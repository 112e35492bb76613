"""Collaborative filtering: ALS on implicit confidences, with ids re-indexed to 32-bit integers.

Spark's ALS needs int ids; REES46 user ids fit today but nothing promises it, and category ids never
do, so users and products are always re-indexed (``StringIndexer``, most active first) and the index
model is saved next to the ALS model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from pyspark.ml.feature import StringIndexer, StringIndexerModel
from pyspark.ml.recommendation import ALS, ALSModel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from ecom_assets.speedups.exact_top import USERS_PER_BLOCK, NormOrder, best_items
from ecom_assets.speedups.sorted_lookup import index_in

SEED = 46
USER_INDEX = "user_idx"
PRODUCT_INDEX = "product_idx"
ALS_BLOCKS = 4


@dataclass(frozen=True)
class AlsParams:
    """ALS hyper-parameters: latent rank, L2 regularisation, confidence scale alpha, iterations, and the
    strengths of a cart and a purchase relative to a view (tuned with the rest)."""

    rank: int = 32
    reg_param: float = 0.1
    alpha: float = 10.0
    max_iter: int = 10
    cart_weight: float = 4.0
    purchase_weight: float = 8.0

    def label(self) -> str:
        """A short readable key (``rank=32 reg=0.1 alpha=10 weights=1/4/8``)."""
        return (f"rank={self.rank} reg={self.reg_param:g} alpha={self.alpha:g} "
                f"weights=1/{self.cart_weight:g}/{self.purchase_weight:g}")

    def event_weights(self) -> dict[str, float]:
        """Implicit strength of a view, a cart and a purchase for this parameter set."""
        return {"view": 1.0, "cart": self.cart_weight, "purchase": self.purchase_weight}

    def as_dict(self) -> dict[str, float]:
        """The parameters as a dict, for metadata."""
        return asdict(self)

    def save(self, session: SparkSession, path: str) -> None:
        """Write the parameters next to the model (one JSON row), so fold-in solves the same system."""
        session.createDataFrame([self.as_dict()]).coalesce(1).write.mode("overwrite").json(path)

    @staticmethod
    def load(session: SparkSession, path: str) -> AlsParams:
        """The parameters written by :meth:`save`."""
        row = session.read.json(path).first()
        if row is None:
            raise ValueError(f"no ALS parameters under {path}")
        values = row.asDict()
        return AlsParams(rank=int(values["rank"]), reg_param=float(values["reg_param"]), alpha=float(values["alpha"]),
                         max_iter=int(values["max_iter"]), cart_weight=float(values["cart_weight"]),
                         purchase_weight=float(values["purchase_weight"]))


@dataclass(frozen=True)
class Indexers:
    """The id -> 32-bit index models of users and products (Spark ML ``StringIndexerModel``)."""

    users: StringIndexerModel
    products: StringIndexerModel

    def save(self, path: str) -> None:
        """Save both models under ``path`` (``users/`` and ``products/``)."""
        self.users.write().overwrite().save(f"{path}/users")
        self.products.write().overwrite().save(f"{path}/products")

    @staticmethod
    def load(path: str) -> Indexers:
        """The indexers saved by :meth:`save`."""
        return Indexers(StringIndexerModel.load(f"{path}/users"), StringIndexerModel.load(f"{path}/products"))


def _indexer(column: str, output: str) -> StringIndexer:
    """Most frequent id first; ids unseen at fit time are dropped at transform time."""
    return StringIndexer(inputCol=column, outputCol=output, handleInvalid="skip")


def fit_indexers(interactions: DataFrame) -> Indexers:
    """Dense 0-based ``user_idx`` and ``product_idx`` for the ids of ``interactions``."""
    return Indexers(
        _indexer("user_id", USER_INDEX).fit(interactions.select("user_id")),
        _indexer("product_id", PRODUCT_INDEX).fit(interactions.select("product_id")),
    )


def index_ids(indexers: Indexers, frame: DataFrame) -> DataFrame:
    """``frame`` with int ``user_idx`` and ``product_idx`` (rows with an id unknown to the model dropped)."""
    indexed = indexers.products.transform(indexers.users.transform(frame))
    return indexed.withColumn(USER_INDEX, F.col(USER_INDEX).cast("int")).withColumn(
        PRODUCT_INDEX, F.col(PRODUCT_INDEX).cast("int"))


def user_index_table(indexers: Indexers, users: DataFrame) -> DataFrame:
    """(user_id, user_idx) for the distinct known users of ``users``."""
    return indexers.users.transform(users.select("user_id").distinct()).select(
        "user_id", F.col(USER_INDEX).cast("int").alias(USER_INDEX))


def product_index_table(indexers: Indexers, products: DataFrame) -> DataFrame:
    """(product_id, product_idx) for the distinct known products of ``products``."""
    return indexers.products.transform(products.select("product_id").distinct()).select(
        "product_id", F.col(PRODUCT_INDEX).cast("int").alias(PRODUCT_INDEX))


def fit_als(ratings: DataFrame, params: AlsParams, blocks: int = ALS_BLOCKS) -> ALSModel:
    """An implicit-feedback ALS model on (user_idx, product_idx, strength); confidence = 1 + alpha * strength.

    ``blocks`` user and item blocks: Spark's default of 10 makes ten tasks per half-iteration, pure
    overhead on a 2-core machine (4 blocks fit 110 M events as well); raise it on a cluster.
    """
    als = ALS(
        rank=params.rank,
        regParam=params.reg_param,
        alpha=params.alpha,
        maxIter=params.max_iter,
        implicitPrefs=True,
        userCol=USER_INDEX,
        itemCol=PRODUCT_INDEX,
        ratingCol="strength",
        coldStartStrategy="drop",
        nonnegative=False,
        seed=SEED,
        numUserBlocks=blocks,
        numItemBlocks=blocks,
    )
    return als.fit(ratings)


def dot(left: str, right: str) -> Column:
    """Dot product of two equal-length float array columns."""
    return F.aggregate(F.zip_with(F.col(left), F.col(right), lambda a, b: a * b), F.lit(0.0), lambda acc, x: acc + x)


def score_pairs(model: ALSModel, pairs: DataFrame) -> DataFrame:
    """``pairs`` (with user_idx and product_idx) plus ``als_score`` = user factors . item factors (null if unknown)."""
    users = model.userFactors.select(F.col("id").alias(USER_INDEX), F.col("features").alias("user_factors"))
    items = model.itemFactors.select(F.col("id").alias(PRODUCT_INDEX), F.col("features").alias("item_factors"))
    return (
        pairs.join(users, USER_INDEX, "left")
        .join(items, PRODUCT_INDEX, "left")
        .withColumn("als_score", dot("user_factors", "item_factors").cast("double"))
        .drop("user_factors", "item_factors")
    )


def recommend_top(model: ALSModel, users: DataFrame, products: DataFrame, k: int) -> DataFrame:
    """(user_id, product_id, als_score, rank) — the ``k`` best products per user of ``users`` (users the
    model has no factors of get none).

    ``users`` is (user_id, user_idx); ``products`` is (product_id, product_idx) for mapping back. The
    same lists as ``model.recommendForUserSubset`` (which scores every item for every user), found by
    the norm-bounded exact search of :func:`recommend_from_factors`.
    """
    factors = model.userFactors.select(F.col("id").alias(USER_INDEX), "features")
    return recommend_from_factors(users.join(factors, USER_INDEX).select("user_id", "features"), model, products, k)


def score_with_factors(user_factors: DataFrame, model: ALSModel, pairs: DataFrame) -> DataFrame:
    """``pairs`` (user_id, product_idx, ...) plus ``als_score`` from given user factors (user_id, features)
    and the model's item factors (null where either is unknown)."""
    users = user_factors.select("user_id", F.col("features").alias("user_factors"))
    items = model.itemFactors.select(F.col("id").alias(PRODUCT_INDEX), F.col("features").alias("item_factors"))
    return (
        pairs.join(users, "user_id", "left")
        .join(items, PRODUCT_INDEX, "left")
        .withColumn("als_score", dot("user_factors", "item_factors").cast("double"))
        .drop("user_factors", "item_factors")
    )


@dataclass(frozen=True)
class ItemFactors:
    """The model's item factors on the driver: ids (``product_idx``), the matrix (items x rank, ordered
    by id) and its gramian ``YtY``. Collected once per model and reused hour after hour by the replay."""

    ids: np.ndarray
    matrix: np.ndarray
    gramian: np.ndarray

    @staticmethod
    def of(model: ALSModel) -> ItemFactors:
        """Collect ``model``'s item factors (products x rank floats: a model-sized, not data-sized, matrix)."""
        return ItemFactors.from_frame(model.itemFactors, model.rank)

    @staticmethod
    def from_frame(item_factors: DataFrame, rank: int) -> ItemFactors:
        """Collect item factors given as (``id``, ``features``) rows."""
        rows = item_factors.orderBy("id").collect()
        ids = np.array([r["id"] for r in rows], dtype=np.int64)
        matrix = np.array([r["features"] for r in rows], dtype=np.float32).reshape(len(rows), rank)
        wide = matrix.astype(np.float64)
        return ItemFactors(ids, matrix, wide.T @ wide)

    def rows_of(self, ids: np.ndarray) -> np.ndarray:
        """The matrix row of each item id (-1 for an id the model has no factors of)."""
        return index_in(self.ids, ids)


def recommend_from_factors(user_factors: DataFrame, model: ALSModel, products: DataFrame, k: int) -> DataFrame:
    """(user_id, product_id, als_score, rank): the ``k`` best products for given user factors, best first,
    ties by smaller ``product_idx``.

    The item factors (a model-sized matrix, products x rank) go to the Python workers once; each block
    of users is scored against the head of the catalogue by factor norm, and only the users the head
    does not settle against more (:func:`~ecom_assets.speedups.exact_top.best_items`): exactly
    what scoring every item gives, at a few percent of its cost on ALS factors.
    """
    import pandas as pd

    items = ItemFactors.of(model)
    ids, matrix = items.ids, items.matrix
    top = min(k, len(ids))

    def best(batches):
        wide = matrix.astype(np.float64)
        order = NormOrder.of(wide, ids)
        for batch in batches:
            for first in range(0, len(batch) if top else 0, USERS_PER_BLOCK):
                block = batch.iloc[first:first + USERS_PER_BLOCK]
                vectors = np.stack(block["features"].map(lambda v: np.asarray(v, dtype=np.float64)).to_numpy())
                rows, _ = best_items(vectors, order, top)
                scores = np.einsum("ij,ikj->ik", vectors, wide[rows])
                yield pd.DataFrame({
                    "user_id": np.repeat(block["user_id"].to_numpy(), top),
                    PRODUCT_INDEX: ids[rows].ravel().astype(np.int32),
                    "als_score": scores.ravel(),
                    "rank": np.tile(np.arange(1, top + 1, dtype=np.int32), len(block)),
                })

    schema = f"user_id long, {PRODUCT_INDEX} int, als_score double, rank int"
    scored = user_factors.select("user_id", "features").mapInPandas(best, schema)
    return scored.join(products, PRODUCT_INDEX).select("user_id", "product_id", "als_score", "rank")
