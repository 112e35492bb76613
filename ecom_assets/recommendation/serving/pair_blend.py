"""The replay's recommendations in one pass from each active user's pairs: fold-in, recent products,
purchases and blend, all on the Python workers.

An hour's active users arrive as one row each: their segment and every (product, views, carts,
purchases, last seen) pair they have. From those pairs the workers derive what the Spark form
computes as separate jobs, with the same definitions:

- the ALS factors, folded in from the model's event strengths
  (:func:`ecom_assets.replay.models.recommendations.fold_in_active`);
- the ``sizes.recent`` products touched last, ties by the hybrid's event strength, then product id
  (:func:`ecom_assets.recommendation.hybrid.recent_products`);
- the purchased products;
- the category affinities (:func:`ecom_assets.recommendation.serving.user_blend.category_affinity`);

then blend them (:func:`ecom_assets.recommendation.serving.user_blend.blend_users`) and return each user's
list. One shuffle of the pairs replaces the fold-in's, the recent products' window and the blend's
own, and the rows travel as Arrow arrays (``mapInArrow``) instead of one pandas object per row.

Speed machinery, justified by ``bench/replay_cadence.py --models on`` (docs/benchmarks.md,
``replay-models-sale-scale-1``) and ``bench/live_blend_cpu.py``; tested to serve the same lists as the
Spark fold-in and recent products (``test_incremental.py``, ``test_pair_blend.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ecom_assets.recommendation.als import AlsParams
from ecom_assets.recommendation.fold_in import solve_users
from ecom_assets.recommendation.hybrid_definition import COMPONENTS, UNKNOWN_SEGMENT
from ecom_assets.recommendation.interactions import EVENT_WEIGHTS
from ecom_assets.recommendation.metrics import K
from ecom_assets.recommendation.serving.user_blend import BlendTables, UserBlock, blend_users, category_affinity
from ecom_assets.speedups.exact_top import USERS_PER_BLOCK, NormOrder, searchable
from ecom_assets.speedups.shipped import Shipped
from ecom_assets.speedups.sorted_lookup import places_in_runs, run_numbers, run_starts

PAIR_FIELDS = ("product_id", "views", "carts", "purchases", "last_seen")
# Each list keeps its products' three blend components (float32: 12 bytes a product), so a list served
# during the replay can say why it holds each product (ecom serve).
# ``features``: the folded-in ALS factors (null when not folded), which fold the hour's new products in.
SERVED_SCHEMA = ("user_id long, segment string, products array<long>, als array<float>, content array<float>, "
                 "popularity array<float>, folded boolean, features array<float>")


def pair_inputs(users: DataFrame, pairs: DataFrame) -> DataFrame:
    """(user_id, segment, pairs): one row per user of ``users`` (user_id, segment) with the list of their
    ``pairs`` (user_id, product_id, views, carts, purchases, last_seen), empty for a user without any."""
    pair = F.struct(*[F.col(name) for name in PAIR_FIELDS])
    rows = users.select("user_id", F.col("segment").cast("string"), F.lit(True).alias("wanted"),
                        F.lit(None).cast(pairs.select(pair.alias("p")).schema["p"].dataType).alias("p"))
    grouped = rows.unionByName(pairs.select("user_id", F.lit(None).cast("string").alias("segment"),
                                            F.lit(False).alias("wanted"), pair.alias("p")))
    return grouped.groupBy("user_id").agg(
        F.max("wanted").alias("wanted"), F.first("segment", ignorenulls=True).alias("segment"),
        F.collect_list("p").alias("pairs")).where("wanted").select("user_id", "segment", "pairs")


def strengths(views: np.ndarray, carts: np.ndarray, purchases: np.ndarray, weights: dict[str, float]) -> np.ndarray:
    """Each pair's implicit strength under ``weights`` (as :func:`~ecom_assets.replay.models.recommendations.pair_strengths`)."""
    return views * weights["view"] + carts * weights["cart"] + purchases * weights["purchase"]


def latest_products(user: np.ndarray, product: np.ndarray, last_seen: np.ndarray, strength: np.ndarray,
                    recent: int) -> tuple[np.ndarray, np.ndarray]:
    """(user, product) of each user's ``recent`` products touched last, ties by ``strength`` (larger first)
    then product id; ``last_seen`` in microseconds, a missing one last."""
    latest_first = np.where(last_seen == np.iinfo(np.int64).min, np.iinfo(np.int64).max, -last_seen)
    order = np.lexsort((product, -strength, latest_first, user))
    keep = order[places_in_runs(user[order]) < recent]
    return user[keep], product[keep]


class _PairBlock:
    """One block of :func:`pair_inputs` rows as flat numpy arrays, pairs ordered by (user, product)."""

    def __init__(self, batch: pa.RecordBatch) -> None:
        column = batch.column("pairs")
        lengths = column.value_lengths().fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        flat = column.flatten()
        owner = np.repeat(np.arange(batch.num_rows), lengths)
        product = _longs(flat.field("product_id"))
        order = np.lexsort((product, owner))
        self.users = batch.num_rows
        self.user_ids = _longs(batch.column("user_id"))
        self.segments = np.asarray(batch.column("segment").fill_null(UNKNOWN_SEGMENT).to_numpy(zero_copy_only=False),
                                   dtype=str)
        self.owner, self.product = owner[order], product[order]
        self.views, self.carts, self.purchases = (_longs(flat.field(name))[order].astype(np.float64)
                                                  for name in ("views", "carts", "purchases"))
        self.last_seen = _longs(flat.field("last_seen").cast(pa.int64()), np.iinfo(np.int64).min)[order]


def _longs(array: pa.Array, missing: int = 0) -> np.ndarray:
    """An Arrow integer (or timestamp as int64) array as int64, nulls as ``missing``."""
    return np.asarray(array.fill_null(missing).to_numpy(zero_copy_only=False), dtype=np.int64)


def _fold_in(block: _PairBlock, tables: BlendTables, matrix: np.ndarray, params: AlsParams
             ) -> tuple[np.ndarray, np.ndarray]:
    """(has_factors, vectors): each user's ALS factors solved from their pairs with factor rows and a
    positive strength (stored as float32, as the Spark form does), for the users that have any."""
    strength = strengths(block.views, block.carts, block.purchases, params.event_weights())
    rows = tables.row_of_product.get(block.product, -1)
    usable = (rows >= 0) & (strength > 0)
    owners = block.owner[usable]  # sorted
    users, local = owners[run_starts(owners)], run_numbers(owners)
    has_factors = np.zeros(block.users, dtype=bool)
    if not len(users):
        return has_factors, np.zeros((0, matrix.shape[1]))
    solved = solve_users(local, matrix[rows[usable]], strength[usable], len(users), tables.items.gramian,
                         params.alpha, params.reg_param)
    has_factors[users] = True
    return has_factors, solved.astype(np.float32).astype(np.float64)


def serve_block(batch: pa.RecordBatch, tables: BlendTables, matrix: np.ndarray, order: NormOrder, params: AlsParams,
                k: int = K) -> pa.RecordBatch:
    """``SERVED_SCHEMA`` rows for one block of :func:`pair_inputs` rows: each user's top ``k``, best first,
    whether their factors were folded in, and those factors."""
    block = _PairBlock(batch)
    has_factors, vectors = _fold_in(block, tables, matrix, params)
    event = strengths(block.views, block.carts, block.purchases, EVENT_WEIGHTS)
    recent = latest_products(block.owner, block.product, block.last_seen, event, tables.sizes.recent)
    bought = block.purchases > 0
    if tables.categories is None:
        raise ValueError("the replay's blend needs the products' categories (BlendTables.categories)")
    empty = np.empty(0, dtype=np.int64)
    users = UserBlock(block.segments, has_factors, vectors, (empty, empty, np.empty(0)), recent,
                      (block.owner[bought], block.product[bought]),
                      category_affinity(block.owner, block.product, event, tables.categories))
    ranked = blend_users(users, tables, matrix, order, k)
    counts = np.bincount(ranked.user, minlength=block.users)
    served = np.flatnonzero(counts)
    offsets = pa.array(np.append(0, np.cumsum(counts[served])).astype(np.int32), type=pa.int32())

    def per_user(values: np.ndarray, kind: pa.DataType) -> pa.ListArray:
        return pa.ListArray.from_arrays(offsets, pa.array(values, type=kind))

    folded = has_factors[served]
    rank = vectors.shape[1] if len(vectors) else 0
    vector_of = np.cumsum(has_factors) - 1  # each user's row of ``vectors`` (where has_factors)
    feature_offsets = np.append(0, np.cumsum(np.where(folded, rank, 0))).astype(np.int32)
    features = pa.ListArray.from_arrays(
        pa.array(feature_offsets, type=pa.int32()),
        pa.array(vectors[vector_of[served[folded]]].astype(np.float32).ravel(), type=pa.float32()),
        mask=pa.array(~folded))
    return pa.RecordBatch.from_arrays(
        [pa.array(block.user_ids[served], type=pa.int64()), pa.array(block.segments[served], type=pa.string()),
         per_user(ranked.product, pa.int64()), per_user(ranked.als.astype(np.float32), pa.float32()),
         per_user(ranked.content.astype(np.float32), pa.float32()),
         per_user(ranked.popularity.astype(np.float32), pa.float32()), pa.array(folded, type=pa.bool_()), features],
        names=["user_id", "segment", "products", *COMPONENTS, "folded", "features"])


@dataclass(frozen=True)
class NewProductFactors:
    """ALS factors of products the model never saw, folded in during the replay before one hour, which the
    hour's blend adds to the model's (:meth:`BlendTables.with_new_products`); ``stamp`` names them (the hour
    and a digest of the factors), so a worker builds the extended tables once for them."""

    stamp: str
    product_ids: np.ndarray
    factors: np.ndarray


_EXTENDED: dict[str, tuple[tuple[int, str], tuple[BlendTables, BlendTables]]] = {}


def tables_with(constants: BlendTables, new_products: NewProductFactors | None) -> BlendTables:
    """``constants`` with ``new_products`` added, built once per worker process and hour (every task of an
    hour gets the same tables object, so the item matrix's norm order is computed once too)."""
    if new_products is None or not len(new_products.product_ids):
        return constants
    key = (id(constants), new_products.stamp)
    hit = _EXTENDED.get("tables")
    if hit is not None and hit[0] == key:
        return hit[1][1]
    extended = constants.with_new_products(new_products.product_ids, new_products.factors)
    _EXTENDED["tables"] = (key, (constants, extended))  # the base kept alive: its id is the key
    return extended


def serve_from_pairs(users: DataFrame, pairs: DataFrame, params: AlsParams, tables: Shipped[BlendTables],
                     k: int = K, new_products: NewProductFactors | None = None) -> DataFrame:
    """(user_id, segment, products, ..., folded, features): the top ``k`` of every user of ``users``
    (user_id, segment) who gets any, best first, from all of their ``pairs`` (user_id, product_id, views,
    carts, purchases, last_seen); ``folded``: their ALS factors were folded in (they have a product with
    factors), ``features`` those factors. ``new_products``: factors of products first seen in the replay,
    candidates and fold-in inputs like the model's own."""
    rows = pair_inputs(users, pairs)

    def serve(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        constants = tables_with(tables.get(), new_products)
        matrix, order = searchable(constants.items.matrix, constants.items.ids)
        for batch in batches:
            for first in range(0, batch.num_rows, USERS_PER_BLOCK):
                yield serve_block(batch.slice(first, USERS_PER_BLOCK), constants, matrix, order, params, k)

    return rows.mapInArrow(serve, SERVED_SCHEMA)
