"""ALS fold-in: a user's factors from fixed item factors, and a new product's from its users', without retraining.

For implicit feedback Spark solves, per user, ``(YtY + sum_i c1_i y_i y_i' + reg * n_u I) x = sum_i (1 + c1_i) y_i``
with ``c1_i = alpha * |r_ui|`` over the user's items (Hu, Koren and Volinsky's least squares with
Spark's regularisation scaled by the user's number of positive items). Solving the same system for a
user from the final item factors gives Spark's own user factors for a training user, and personal
factors for a user first seen in November after a few events. The item factors (products x rank, a
model-sized matrix) and ``YtY`` are collected once and shipped to the Python workers, which solve
blocks of users together from one row of interactions per user.

The system is symmetric: a product's factors solve ``(XtX + sum_u c1_u x_u x_u' + reg * n_i I) y = sum_u
(1 + c1_u) x_u`` over the users who touched it, with ``XtX`` the gramian of the model's user factors
(:func:`factor_gramian`); :func:`fold_in_items` solves it for products the model has never seen.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from scipy import sparse

from ecom_assets.recommendation.als import ItemFactors
from ecom_assets.speedups.shipped import Shipped
from ecom_assets.speedups.sorted_lookup import SortedMap


def solve_user(factors: np.ndarray, strengths: np.ndarray, yty: np.ndarray, alpha: float, reg: float) -> np.ndarray:
    """One user's factors from the factors (n x k) and strengths (n) of the items they touched."""
    c1 = alpha * np.abs(strengths)
    positive = strengths > 0
    a = yty + (factors * c1[:, None]).T @ factors + reg * max(int(positive.sum()), 0) * np.eye(yty.shape[0])
    b = ((1.0 + c1) * positive) @ factors
    return np.linalg.solve(a, b)


def solve_users(users: np.ndarray, factors: np.ndarray, strengths: np.ndarray, n_users: int, yty: np.ndarray,
                alpha: float, reg: float) -> np.ndarray:
    """:func:`solve_user` for ``n_users`` at once: row r of ``factors`` (n x k) and ``strengths`` is an
    item of user ``users[r]`` (0 .. n_users - 1); every user needs at least one row.

    Each row's ``c1 y y'`` is summed into its user's system by a sparse (users x rows) product, a few
    thousand rows at a time (their k x k outer products are the only row-sized memory)."""
    k = yty.shape[0]
    c1 = alpha * np.abs(strengths)
    positive = (strengths > 0).astype(np.float64)
    a = np.broadcast_to(yty, (n_users, k, k)).copy()
    b = np.zeros((n_users, k))
    for first in range(0, len(users), ROWS_PER_CHUNK):
        rows = slice(first, first + ROWS_PER_CHUNK)
        owner = sparse.csr_matrix((np.ones(len(users[rows])), (users[rows], np.arange(len(users[rows])))),
                                  shape=(n_users, len(users[rows])))
        outer = np.einsum("ni,nj->nij", factors[rows] * c1[rows, None], factors[rows]).reshape(-1, k * k)
        a += (owner @ outer).reshape(n_users, k, k)
        b += owner @ (factors[rows] * ((1.0 + c1[rows]) * positive[rows])[:, None])
    a += reg * np.bincount(users, weights=positive, minlength=n_users)[:, None, None] * np.eye(k)
    return np.linalg.solve(a, b[:, :, None])[:, :, 0]


ROWS_PER_CHUNK = 4096  # interaction rows whose outer products are summed at once (4096 x k x k doubles)
USERS_PER_BLOCK = 512


def fold_in_users(interactions: DataFrame, item_factors: DataFrame | None, rank: int, alpha: float, reg: float,
                  items: ItemFactors | Shipped[ItemFactors] | None = None,
                  row_of_product: SortedMap | Shipped[SortedMap] | None = None) -> DataFrame:
    """(user_id, features): factors of every user of ``interactions`` (user_id, product_idx, strength).

    The item factors go to the Python workers once (``items`` when already collected, possibly as a
    :class:`Shipped` file the workers read); each user's interactions arrive as one row and blocks
    of users are solved together. With ``row_of_product`` (product id -> row of ``items``),
    ``interactions`` carry ``product_id`` instead of the model's index. Products unknown to the
    model are ignored; a user with none of them gets no row.
    """
    if items is None:
        if item_factors is None:
            raise ValueError("fold_in_users needs the item factors (a frame or collected ItemFactors)")
        items = ItemFactors.from_frame(item_factors, rank)
    shipped_items = items if isinstance(items, Shipped) else Shipped.inline(items)
    by_product = (row_of_product if isinstance(row_of_product, Shipped) or row_of_product is None
                  else Shipped.inline(row_of_product))
    key = "product_id" if by_product is not None else "product_idx"
    grouped = interactions.groupBy("user_id").agg(
        F.collect_list(F.struct(F.col(key).cast("long").alias("idx"), F.col("strength").cast("double")
                                .alias("strength"))).alias("r"))
    rows = grouped.select("user_id", F.col("r.idx").alias("idx"), F.col("r.strength").alias("strength"))

    def solve(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        factors = shipped_items.get()
        rows_by_product = by_product.get() if by_product is not None else None
        wide = factors.matrix.astype(np.float64)
        for batch in batches:
            for first in range(0, len(batch), USERS_PER_BLOCK):
                block = batch.iloc[first:first + USERS_PER_BLOCK]
                lengths = block["idx"].map(len).to_numpy()
                if not lengths.sum():
                    continue
                owner = np.repeat(np.arange(len(block)), lengths)
                keys = np.concatenate(block["idx"].to_numpy()).astype(np.int64)
                item_rows = (factors.rows_of(keys) if rows_by_product is None
                             else rows_by_product.get(keys, -1))
                strengths = np.concatenate(block["strength"].to_numpy()).astype(np.float64)
                known = item_rows >= 0
                users, local = np.unique(owner[known], return_inverse=True)
                if not len(users):
                    continue
                x = solve_users(local, wide[item_rows[known]], strengths[known], len(users), factors.gramian, alpha, reg)
                yield pd.DataFrame({"user_id": block["user_id"].to_numpy(dtype=np.int64)[users],
                                    "features": list(x.astype(np.float32))})

    schema = T.StructType([T.StructField("user_id", T.LongType()), T.StructField("features", T.ArrayType(T.FloatType()))])
    return rows.mapInPandas(solve, schema)


def factor_gramian(factors: DataFrame, rank: int) -> np.ndarray:
    """``X'X`` of a factor table (``features``: arrays of ``rank`` floats), summed on the workers: each
    partition sends one ``rank x rank`` partial sum, so the factors themselves (3 M users at the real
    size) never reach the driver."""

    def partial(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        total = np.zeros((rank, rank))
        for batch in batches:
            column = batch.column("features")
            if len(column):
                rows = np.asarray(column.flatten().to_numpy(zero_copy_only=False), dtype=np.float64).reshape(-1, rank)
                total += rows.T @ rows
        yield pa.RecordBatch.from_arrays([pa.array([total.ravel()], type=pa.list_(pa.float64()))], names=["gramian"])

    sums = factors.select("features").mapInArrow(partial, "gramian array<double>").toArrow().column("gramian")
    total = np.zeros(rank * rank)
    for partial_sum in sums.to_pylist():
        total += np.asarray(partial_sum)
    return total.reshape(rank, rank)


ITEM_FACTOR_SCHEMA = T.StructType([T.StructField("product_id", T.LongType()),
                                   T.StructField("features", T.ArrayType(T.FloatType())),
                                   T.StructField("users", T.IntegerType())])


def fold_in_items(pairs: DataFrame, gramian: np.ndarray, alpha: float, reg: float) -> DataFrame:
    """(product_id, features, users): the factors of every product of ``pairs`` (product_id, user_id,
    strength, features: the user's factors) solved from its users' factors, and how many users it has.

    The mirror of :func:`fold_in_users` with ``gramian`` the users' ``X'X``. Each product's users are
    summed in user order, so the same pairs give the same bits whatever order the shuffle brings them in.
    """
    rank = gramian.shape[0]
    grouped = pairs.groupBy("product_id").agg(F.sort_array(F.collect_list(F.struct(
        F.col("user_id").cast("long").alias("user_id"), F.col("strength").cast("double").alias("strength"),
        F.col("features").cast("array<double>").alias("features")))).alias("r"))
    rows = grouped.select("product_id", F.col("r.strength").alias("strength"), F.col("r.features").alias("features"))

    def solve(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            for first in range(0, len(batch), USERS_PER_BLOCK):
                block = batch.iloc[first:first + USERS_PER_BLOCK]
                lengths = block["strength"].map(len).to_numpy()
                owner = np.repeat(np.arange(len(block)), lengths)
                strengths = np.concatenate(block["strength"].to_numpy()).astype(np.float64)
                factors = np.stack([np.asarray(f, dtype=np.float64) for fs in block["features"] for f in fs])
                y = solve_users(owner, factors.reshape(-1, rank), strengths, len(block), gramian, alpha, reg)
                yield pd.DataFrame({"product_id": block["product_id"].to_numpy(dtype=np.int64),
                                    "features": list(y.astype(np.float32)),
                                    "users": lengths.astype(np.int32)})

    return rows.mapInPandas(solve, ITEM_FACTOR_SCHEMA)
