"""ALS fold-in: a user's factors from fixed item factors, without retraining.

For implicit feedback Spark solves, per user, ``(YtY + sum_i c1_i y_i y_i' + reg * n_u I) x = sum_i (1 + c1_i) y_i``
with ``c1_i = alpha * |r_ui|`` over the user's items (Hu, Koren and Volinsky's least squares with
Spark's regularisation scaled by the user's number of positive items). Solving the same system for a
user from the final item factors gives Spark's own user factors for a training user, and personal
factors for a user first seen in November after a few events. ``YtY`` is computed once per model,
partition by partition (one k x k partial sum each), so item factors never travel to the driver.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T


def gramian(item_factors: DataFrame, rank: int) -> np.ndarray:
    """``YtY`` of the item factors (``id``, ``features``), summed from per-partition partial products."""

    def partial(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        total = np.zeros((rank, rank))
        for batch in batches:
            if len(batch):
                factors = np.stack(batch["features"].to_numpy()).astype(np.float64)
                total += factors.T @ factors
        yield pd.DataFrame({"gram": [total.ravel().tolist()]})

    parts = item_factors.select("features").mapInPandas(partial, "gram array<double>").collect()
    return np.sum([np.array(r["gram"]).reshape(rank, rank) for r in parts], axis=0) if parts else np.zeros((rank, rank))


def solve_user(factors: np.ndarray, strengths: np.ndarray, yty: np.ndarray, alpha: float, reg: float) -> np.ndarray:
    """One user's factors from the factors (n x k) and strengths (n) of the items they touched."""
    c1 = alpha * np.abs(strengths)
    positive = strengths > 0
    a = yty + (factors * c1[:, None]).T @ factors + reg * max(int(positive.sum()), 0) * np.eye(yty.shape[0])
    b = ((1.0 + c1) * positive) @ factors
    return np.linalg.solve(a, b)


def fold_in_users(interactions: DataFrame, item_factors: DataFrame, rank: int, alpha: float, reg: float) -> DataFrame:
    """(user_id, features): factors of every user of ``interactions`` (user_id, product_idx, strength).

    Products unknown to the model are ignored; a user with none of them gets no row.
    """
    yty = gramian(item_factors, rank)
    items = item_factors.select(F.col("id").alias("product_idx"), F.col("features").alias("item_features"))
    joined = interactions.select("user_id", "product_idx", "strength").join(items, "product_idx")

    def solve(group: pd.DataFrame) -> pd.DataFrame:
        factors = np.stack(group["item_features"].to_numpy()).astype(np.float64)
        x = solve_user(factors, group["strength"].to_numpy(dtype=np.float64), yty, alpha, reg)
        return pd.DataFrame({"user_id": [int(group["user_id"].iloc[0])], "features": [x.astype(np.float32).tolist()]})

    schema = T.StructType([T.StructField("user_id", T.LongType()), T.StructField("features", T.ArrayType(T.FloatType()))])
    return joined.groupBy("user_id").applyInPandas(solve, schema)
