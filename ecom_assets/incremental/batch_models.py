"""What every replayed hour reuses from the batch graph, loaded once per process and Spark session.

The K-means pipeline, the ALS model, its indexers and params, the hybrid weights, the popularity
and similarity tables, and derived constants (the item factors and their gramian on the driver,
each segment's popular candidates) do not change during the replay. Loading them costs a dozen
Spark jobs, so ``ecom replay`` and the tests, which run many hours in one process, load them once.
A cached entry is keyed by the modification times of the folders it was read from, so a batch
asset materialized again in the same process is read again. Remote lakes are not cached.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from pyspark.ml import PipelineModel
from pyspark.ml.recommendation import ALSModel
from pyspark.sql import DataFrame, SparkSession

from ecom_assets.incremental.live_blend import BlendTables
from ecom_assets.lake import Lake, is_local, local_path
from ecom_assets.recommendation.als import AlsParams, Indexers, ItemFactors
from ecom_assets.recommendation.assets import ALS_INDEXERS, ALS_MODEL, ALS_PARAMS, read_hybrid_weights
from ecom_assets.recommendation.hybrid import CandidateSizes, Weights, popular_candidates
from ecom_assets.resources import LakeResource
from ecom_assets.segmentation.assets import MODEL_NAME
from ecom_assets.segmentation.assignment import load_segmentation

T = TypeVar("T")
_CACHE: dict[str, tuple[tuple, object]] = {}


@dataclass(frozen=True)
class RecsModels:
    """What the batch graph learned that the hourly refresh reuses (``popular`` holds ``sizes.popular``
    products per segment)."""

    sizes: CandidateSizes
    als: ALSModel
    indexers: Indexers
    params: AlsParams
    item_factors: ItemFactors
    weights: dict[str, Weights]
    fallback: Weights
    popularity: DataFrame
    popular: DataFrame
    catalogue: DataFrame
    similarity: DataFrame
    catalogue_size: int
    blend: BlendTables


def folder_stamp(paths: Iterable[str]) -> tuple | None:
    """The modification times of local folders and their ``_SUCCESS`` markers (None for a remote path)."""
    stamp = []
    for path in paths:
        if not is_local(path):
            return None
        folder = local_path(path)
        marker = folder / "_SUCCESS"
        stamp.append((str(folder), _mtime(folder), _mtime(marker)))
    return tuple(stamp)


def _mtime(path: os.PathLike) -> int:
    """``path``'s modification time in ns, -1 when it does not exist."""
    try:
        return os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return -1


def cached(name: str, session: SparkSession, paths: list[str], load: Callable[[], T]) -> T:
    """``load()``, reused while ``session`` and the folders of ``paths`` are unchanged."""
    stamp = folder_stamp(paths)
    if stamp is None:
        return load()
    key = (id(session), stamp)
    hit = _CACHE.get(name)
    if hit is not None and hit[0] == key:
        return hit[1][1]  # type: ignore[index, return-value]
    value = load()
    # The session is kept with the value so its id cannot be reused by another session meanwhile.
    _CACHE[name] = (key, (session, value))
    return value


def segmentation(session: SparkSession, lake: Lake) -> tuple[PipelineModel, dict[int, str]]:
    """The saved K-means pipeline and the cluster -> segment name table."""
    model_path, profiles = lake.model(MODEL_NAME), lake.processed("segment_profiles")
    return cached("segmentation", session, [model_path, profiles],
                  lambda: load_segmentation(session, model_path, profiles))


def recs_models(session: SparkSession, resource: LakeResource, sizes: CandidateSizes) -> RecsModels:
    """The recommendation models and tables of the batch graph."""
    lake, read_processed = resource.lake, resource.read_processed
    tables = ["hybrid_weights", "segment_popularity", "als_product_index", "content_similarity", "product_attributes"]
    paths = [lake.model(ALS_MODEL), lake.model(ALS_INDEXERS), lake.model(ALS_PARAMS)] + [lake.processed(t) for t in tables]

    def load() -> RecsModels:
        als = ALSModel.load(lake.model(ALS_MODEL))
        weights, fallback = read_hybrid_weights(session, resource)
        popularity = read_processed(session, "segment_popularity")
        items = ItemFactors.of(als)
        popular = popular_candidates(popularity, sizes.popular).localCheckpoint()
        catalogue = read_processed(session, "als_product_index")
        return RecsModels(
            sizes=sizes, als=als, indexers=Indexers.load(lake.model(ALS_INDEXERS)),
            params=AlsParams.load(session, lake.model(ALS_PARAMS)), item_factors=items,
            weights=weights, fallback=fallback, popularity=popularity, popular=popular, catalogue=catalogue,
            similarity=read_processed(session, "content_similarity").select(
                "product_id", "similar_product_id", "similarity"),
            catalogue_size=read_processed(session, "product_attributes").count(),
            blend=BlendTables.collect(items, catalogue, popularity, popular, weights, fallback, sizes),
        )

    return cached(f"recs:{sizes}", session, paths, load)
