"""What every replayed hour reuses from the batch graph, loaded once per process and Spark session.

The K-means pipeline's constants, the ALS params, the hybrid weights, the popularity and similarity
tables and constants derived from them (the item factors and their gramian on the driver, each segment's
popular candidates, the offline metrics) do not change during the replay. Loading them costs a
dozen Spark jobs, so ``ecom replay`` and the tests, which run many hours in one process, load them
once; and the driver-side constants are saved as packs under ``temp/replay/`` for the processes the
daemon starts, one per hour. Both are keyed by the modification times of the folders they were read
from, so a batch asset materialized again is read again. Remote lakes are read every time.

Speed machinery, justified by ``bench/replay_cadence.py --models on`` (docs/benchmarks.md,
``replay-models-10000000``): a dozen Spark jobs fewer per hourly run.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from pyspark.ml.recommendation import ALSModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ecom_assets.lake import Lake, is_local, local_path
from ecom_assets.recommendation.als import AlsParams, ItemFactors
from ecom_assets.recommendation.fold_in import factor_gramian
from ecom_assets.recommendation.hybrid import popular_candidates
from ecom_assets.recommendation.hybrid_definition import CandidateSizes
from ecom_assets.recommendation.serving.content_neighbours import ContentNeighbours
from ecom_assets.recommendation.serving.user_blend import BlendTables, collect_categories
from ecom_assets.recommendation.stored import (
    ALS_MODEL,
    ALS_PARAMS,
    read_categories,
    read_hybrid_settings,
    read_hybrid_weights,
)
from ecom_assets.replay.models.segments import SegmentModel
from ecom_assets.resources import LakeResource
from ecom_assets.segmentation.assets import MODEL_NAME
from ecom_assets.segmentation.assignment import load_segmentation
from ecom_assets.speedups.shipped import Shipped

if TYPE_CHECKING:
    from ecom_assets.replay.orchestration.refit_schedule import RefitPaths

T = TypeVar("T")
BATCH_VERSION = "batch"  # the batch graph's ALS model (a daily re-fit's is ``refit=YYYY-MM-DD``)
_CACHE: dict[str, tuple[tuple, object]] = {}


@dataclass(frozen=True)
class RecsModels:
    """What the batch graph learned that the hourly refresh reuses: the ALS params, the blend's
    constants (item factors, popularity, weights; built for ``sizes``), the catalogue's size, the
    offline metrics of the models in use, the gramian of the model's user factors (the new products'
    fold-in); the content similarity table is among the blend's constants. ``version`` names the ALS model
    (``batch``, or a daily re-fit's ``refit=YYYY-MM-DD``), ``product_index`` is where its (product_id,
    product_idx) table lives.
    ``shipped_blend`` is how the Python workers get the blend's constants: from the saved pack when
    the lake is local, else in the UDFs' closures."""

    sizes: CandidateSizes
    params: AlsParams
    blend: BlendTables
    catalogue_size: int
    offline: list[dict]
    user_gramian: np.ndarray
    shipped_blend: Shipped[BlendTables]
    version: str
    product_index: str

    @property
    def item_factors(self) -> ItemFactors:
        """The ALS model's item factors on the driver."""
        return self.blend.items


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


def segmentation(session: SparkSession, lake: Lake) -> SegmentModel:
    """The saved K-means pipeline's constants and the cluster -> segment name table, from this
    process's cache, else from the pack saved under ``temp/replay/`` by an earlier process, else
    from the saved model (then saved there)."""
    model_path, profiles = lake.model(MODEL_NAME), lake.processed("segment_profiles")

    def load() -> SegmentModel:
        stamp = (PACK_VERSION, folder_stamp([model_path, profiles]))
        pack_path = lake.temp("replay/segmentation.pkl")
        saved = _read_pack(pack_path, stamp)
        if saved is None:
            saved = SegmentModel.of(*load_segmentation(session, model_path, profiles))
            _write_pack(pack_path, stamp, saved)
        return saved

    return cached("segmentation", session, [model_path, profiles], load)


RECS_TABLES = ("hybrid_weights", "hybrid_settings", "segment_popularity", "content_similarity",
               "product_attributes", "recs_evaluation")
PACK_VERSION = 7


def recs_models(session: SparkSession, resource: LakeResource, refit: RefitPaths | None = None) -> RecsModels:
    """The recommendation models and tables of the batch graph, from this process's cache, else from
    the pack saved under ``temp/replay/`` by an earlier process, else from Spark (then saved there).

    Each replayed hour runs in a new process when the daemon launches it; the pack (a pickle of a
    few driver-side arrays, model-sized) spares every hour a dozen Spark jobs, and the Python
    workers read the blend's constants from it (see :mod:`ecom_assets.speedups.shipped`). It
    is rebuilt when any folder it was read from changes. The blend's candidate sizes are those
    ``hybrid_recs`` ran with (``hybrid_settings``). ``refit``: a daily re-fit's ALS model and product index
    instead of the batch graph's (its own pack; of the re-fits' packs the two newest are kept)."""
    lake = resource.lake
    als_path = refit.als if refit else lake.model(ALS_MODEL)
    product_index = refit.product_index if refit else lake.processed("als_product_index")
    version = f"refit={refit.root.rsplit('day=', 1)[-1]}" if refit else BATCH_VERSION
    paths = [als_path, product_index, lake.model(ALS_PARAMS)] + [lake.processed(t) for t in RECS_TABLES]

    def load() -> RecsModels:
        stamp = (PACK_VERSION, folder_stamp(paths))
        pack_path = lake.temp(f"replay/recs_models-{version.replace('=', '-')}.pkl")
        saved = _read_pack(pack_path, stamp)
        if saved is None:
            saved = _build_pack(session, resource, als_path, product_index)
            _write_pack(pack_path, stamp, saved)
            if refit is not None:
                _remove_older_packs(pack_path, "recs_models-refit-*.pkl", keep=2)
        shipped = (Shipped.from_pack(str(local_path(pack_path)), stamp, "blend") if is_local(pack_path)
                   else Shipped.inline(saved["blend"]))
        return RecsModels(**saved, shipped_blend=shipped, version=version, product_index=product_index)

    # One cache entry for every version: consecutive hours use the same model, and each re-fit's is
    # model-sized (the process would otherwise keep one per replayed day).
    return cached("recs", session, paths, load)


def _build_pack(session: SparkSession, resource: LakeResource, als_path: str, product_index: str) -> dict:
    """The driver-side constants of :class:`RecsModels`, computed with Spark from the ALS model at
    ``als_path`` and its product index table."""
    lake, read_processed = resource.lake, resource.read_processed
    sizes = read_hybrid_settings(session, resource).sizes
    weights, fallback = read_hybrid_weights(session, resource)
    popularity = read_processed(session, "segment_popularity")
    model = ALSModel.load(als_path)
    items = ItemFactors.of(model)
    blend = BlendTables.collect(items, session.read.parquet(product_index), popularity,
                                popular_candidates(popularity, sizes.popular), weights, fallback, sizes)
    blend = replace(blend, neighbours=ContentNeighbours.collect(read_processed(session, "content_similarity")),
                    categories=collect_categories(read_categories(session, resource)))
    return {"sizes": sizes, "params": AlsParams.load(session, lake.model(ALS_PARAMS)), "blend": blend,
            "catalogue_size": read_processed(session, "product_attributes").count(),
            "user_gramian": factor_gramian(model.userFactors, model.rank),
            "offline": [r.asDict() for r in holdout_rows(read_processed(session, "recs_evaluation")).collect()]}


def holdout_rows(evaluation: DataFrame) -> DataFrame:
    """``recs_evaluation``'s rows of the holdout fold: the evaluation of the very models the replay serves
    (a table written before the cross-validation has only those rows)."""
    return evaluation.where(F.col("fold") == 0) if "fold" in evaluation.columns else evaluation


def _remove_older_packs(path: str, pattern: str, keep: int) -> None:
    """Remove the packs next to ``path`` matching ``pattern`` but the ``keep`` newest (local lakes only): an
    hour that needs a removed one builds it again."""
    if not is_local(path):
        return
    packs = sorted(local_path(path).parent.glob(pattern), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for old in packs[keep:]:
        old.unlink(missing_ok=True)


def _read_pack(path: str, stamp: tuple) -> Any:
    """The saved pack when it exists locally and was built from the same folders, else None."""
    if not is_local(path) or not local_path(path).is_file():
        return None
    try:
        with open(local_path(path), "rb") as handle:
            saved_stamp, pack = pickle.load(handle)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, TypeError, ValueError):
        return None
    return pack if saved_stamp == stamp else None


def _write_pack(path: str, stamp: tuple, pack: object) -> None:
    """Save the pack next to the replay's state (local lakes only), atomically."""
    if not is_local(path):
        return
    target = local_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.tmp")
    with open(partial, "wb") as handle:
        pickle.dump((stamp, pack), handle, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(partial, target)
