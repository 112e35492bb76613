"""Segments during the replay: re-assign the hour's active users to centres that follow the data.

The saved pipeline's feature stages (log transform, assembly, scaling) are kept fixed, so every hour
measures users on October's scale; only the K-means centres move, by the decayed mini-batch rule of
:mod:`ecom_assets.segmentation.streaming`. The hours do not run the saved pipeline itself: its
constants (each feature's mean and scale, the centres, the segment names) are read from it once
(:class:`SegmentModel`) and the scaling is written as column expressions, which spares every hourly
run the loading of a Spark ML model (1.5 s per run on Spark Connect). Each centre is moved by its
own users only, so it keeps its cluster id and its segment name. Users are placed on the nearest
current centre (ties to the smaller id), which is the saved model's own assignment until the
centres first move.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pyspark.ml import PipelineModel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ecom_assets.segmentation.kmeans import FEATURE_COLUMNS, build_pipeline, feature_sql
from ecom_assets.segmentation.streaming import HOURLY_DECAY, update_centres

CENTRE_SCHEMA = T.StructType([
    T.StructField("cluster", T.IntegerType()),
    T.StructField("centre", T.ArrayType(T.DoubleType())),
    T.StructField("weight", T.DoubleType()),
    T.StructField("users", T.LongType()),
])


@dataclass(frozen=True)
class SegmentModel:
    """The saved segmentation pipeline as driver-side constants: the mean and scale (1 / std, 0 where
    the std is 0, as Spark's ``StandardScalerModel``) of each feature of ``FEATURE_COLUMNS``, the
    K-means centres (k x d, scaled space) and the cluster -> segment name table."""

    mean: np.ndarray
    scale: np.ndarray
    centres: np.ndarray
    names: dict[int, str]

    @staticmethod
    def of(model: PipelineModel, names: dict[int, str]) -> SegmentModel:
        """The constants of ``model`` (the pipeline of :func:`build_pipeline`); a pipeline whose feature
        stages differ from this version's is refused with the asset to materialize again."""
        sql, assembler, scaler, kmeans = model.stages
        expected_sql = build_pipeline(2).getStages()[0].getStatement()
        if (sql.getStatement() != expected_sql or tuple(assembler.getInputCols()) != FEATURE_COLUMNS
                or not (scaler.getWithMean() and scaler.getWithStd())):
            raise ValueError("the saved segmentation pipeline computes other features than this version of "
                             "the replay; materialize kmeans_model (and what follows it) again")
        std = np.asarray(scaler.std.toArray(), dtype=np.float64)
        scale = np.array([0.0 if v == 0 else 1.0 / v for v in std])
        centres = np.array([np.asarray(c, dtype=np.float64) for c in kmeans.clusterCenters()])
        return SegmentModel(np.asarray(scaler.mean.toArray(), dtype=np.float64), scale, centres, dict(names))

    def scaled(self, features: DataFrame) -> DataFrame:
        """``features`` (the pipeline's input columns) with ``scaled``: the pipeline's scaled vector as an
        array, computed as the pipeline computes it (log1p of the skewed counts, nulls as 0, then
        ``(x - mean) * scale``)."""
        raw = [F.expr(sql).cast("double") for sql in feature_sql()]
        scaled = [(x - F.lit(float(m))) * F.lit(float(s)) for x, m, s in zip(raw, self.mean, self.scale, strict=True)]
        return features.withColumn("scaled", F.array(*scaled))


@dataclass(frozen=True)
class Centres:
    """The segments' state: centre coordinates (k x d, scaled space), decayed weights, and users per segment."""

    centres: np.ndarray
    weights: np.ndarray
    users: np.ndarray

    @classmethod
    def from_model(cls, model: SegmentModel, users: dict[int, int]) -> Centres:
        """The starting state: the saved model's centres, weighted by the users each holds."""
        sizes = np.array([users.get(k, 0) for k in range(len(model.centres))], dtype=np.int64)
        return cls(model.centres.copy(), sizes.astype(np.float64), sizes)

    @classmethod
    def from_rows(cls, rows: list[dict]) -> Centres:
        """The state read back from its table rows."""
        ordered = sorted(rows, key=lambda r: r["cluster"])
        return cls(np.array([r["centre"] for r in ordered], dtype=np.float64),
                   np.array([r["weight"] for r in ordered], dtype=np.float64),
                   np.array([r["users"] for r in ordered], dtype=np.int64))

    def frame(self, session: SparkSession) -> DataFrame:
        """The state as a small table (one row per cluster)."""
        rows = [(k, [float(x) for x in c], float(w), int(n))
                for k, (c, w, n) in enumerate(zip(self.centres, self.weights, self.users, strict=True))]
        return session.createDataFrame(rows, CENTRE_SCHEMA)


def _squared_distance(point: str, centre: np.ndarray) -> Column:
    """Squared Euclidean distance from an array column to one fixed centre."""
    fixed = F.array(*[F.lit(float(x)) for x in centre])
    return F.aggregate(F.zip_with(F.col(point), fixed, lambda a, b: (a - b) * (a - b)), F.lit(0.0),
                       lambda acc, x: acc + x)


def nearest_centre(frame: DataFrame, centres: np.ndarray, point: str = "scaled") -> DataFrame:
    """``frame`` with ``cluster``: the index of the nearest centre (the smaller index on a tie)."""
    distances = F.array(*[F.struct(_squared_distance(point, c).alias("d"), F.lit(k).alias("k"))
                          for k, c in enumerate(centres)])
    return frame.withColumn("cluster", F.array_min(distances)["k"].cast("int"))


def cluster_groups(assigned: DataFrame, dimensions: int) -> list[dict]:
    """The hour's users grouped by (cluster, previous_cluster, is_new): their number ``n``, whether the
    group moved, and the sum of their scaled points (``s0``..): a few small rows to the driver, from
    which both :func:`sums_by_cluster` and :meth:`SegmentChange.from_groups` are read."""
    moved = F.col("previous_cluster").isNotNull() & (F.col("previous_cluster") != F.col("cluster"))
    sums = [F.sum(F.col("scaled")[i]).alias(f"s{i}") for i in range(dimensions)]
    rows = assigned.groupBy("cluster", "previous_cluster", "is_new").agg(
        F.count(F.lit(1)).alias("n"), F.max(moved.cast("int")).alias("moved"), *sums).collect()
    return [r.asDict() for r in rows]


def sums_by_cluster(groups: list[dict], dimensions: int) -> dict[int, tuple[np.ndarray, int]]:
    """Per cluster: the sum of its users' scaled points and their number."""
    result: dict[int, tuple[np.ndarray, int]] = {}
    for g in groups:
        total, n = result.get(int(g["cluster"]), (np.zeros(dimensions), 0))
        point = np.array([g[f"s{i}"] for i in range(dimensions)], dtype=np.float64)
        result[int(g["cluster"])] = (total + point, n + int(g["n"]))
    return result


def advance(state: Centres, sums: dict[int, tuple[np.ndarray, int]], moves: dict[int, int],
            decay: float = HOURLY_DECAY) -> Centres:
    """The next state: centres moved by the batch, weights decayed, users changed by ``moves`` (net per cluster)."""
    k, d = state.centres.shape
    batch = np.zeros((k, d))
    counts = np.zeros(k)
    for cluster, (total, n) in sums.items():
        batch[cluster], counts[cluster] = total, n
    centres, weights = update_centres(state.centres, state.weights, batch, counts, decay)
    users = state.users + np.array([moves.get(c, 0) for c in range(k)], dtype=np.int64)
    return Centres(centres, weights, users)


@dataclass(frozen=True)
class SegmentChange:
    """How the hour changed the segments: per cluster, users that arrived, left, were new, were active."""

    arrived: dict[int, int]
    left: dict[int, int]
    new: dict[int, int]
    active: dict[int, int]

    @staticmethod
    def from_groups(groups: list[dict]) -> SegmentChange:
        """Arrivals, departures, new and active users per cluster from :func:`cluster_groups`."""
        arrived: dict[int, int] = {}
        left: dict[int, int] = {}
        new: dict[int, int] = {}
        active: dict[int, int] = {}
        for g in groups:
            cluster, n = int(g["cluster"]), int(g["n"])
            active[cluster] = active.get(cluster, 0) + n
            if g["is_new"]:
                new[cluster] = new.get(cluster, 0) + n
            elif g["moved"]:
                arrived[cluster] = arrived.get(cluster, 0) + n
                before = int(g["previous_cluster"])
                left[before] = left.get(before, 0) + n
        return SegmentChange(arrived, left, new, active)

    def net(self) -> dict[int, int]:
        """Net change of users per cluster."""
        keys = set(self.arrived) | set(self.left) | set(self.new)
        return {k: self.arrived.get(k, 0) + self.new.get(k, 0) - self.left.get(k, 0) for k in keys}


def evolution_rows(before: Centres, after: Centres, change: SegmentChange, names: dict[int, str]) -> list[dict]:
    """One row per segment and one for ``all``: users, new users, users who left, the share of the
    segment's previous users who left, its relative size change, and its active users."""
    rows = []
    for k in range(len(after.users)):
        previous = int(before.users[k])
        rows.append({
            "segment": names.get(k, f"cluster {k}"), "users": int(after.users[k]), "new_users": change.new.get(k, 0),
            "changed_users": change.left.get(k, 0),
            "changed_share": change.left.get(k, 0) / previous if previous else 0.0,
            "size_change": (int(after.users[k]) - previous) / previous if previous else 0.0,
            "active_users": change.active.get(k, 0),
        })
    previous_total = int(before.users.sum())
    moved = sum(change.left.values())
    rows.append({
        "segment": "all", "users": int(after.users.sum()), "new_users": sum(change.new.values()),
        "changed_users": moved, "changed_share": moved / previous_total if previous_total else 0.0,
        "size_change": (int(after.users.sum()) - previous_total) / previous_total if previous_total else 0.0,
        "active_users": sum(change.active.values()),
        "active_changed_share": moved / returning if (returning := sum(change.active.values()) - sum(change.new.values()))
        else 0.0,
    })
    return rows
