"""The hybrid blend in one Spark pass over one row per user: how ``hybrid_recs`` serves every training
user; the replay's hours run the same array core (:func:`blend_users`) from each user's pairs
(:mod:`ecom_assets.recommendation.serving.pair_blend`).

The blend is defined in :mod:`ecom_assets.recommendation.hybrid_definition`; its Spark form
(:mod:`ecom_assets.recommendation.hybrid`) is Spark joins (candidates, then
each component joined onto them, then a window per user), which the weight tuning and the offline
evaluation use; the test suite checks both give the same lists and scores. Here each user is one
row (segment, factors, content candidates, purchases) and a ``mapInPandas`` function, which holds
the model-sized constants (item factors, each segment's popularity), scores blocks of users with
numpy: one shuffle instead of a dozen, the difference between seconds and hours at ~3 M users.

- ALS: the user's ``sizes.als`` best items by score are candidates, found exactly without scoring
  every item (:mod:`ecom_assets.speedups.exact_top`), and every candidate's ALS component is
  ``min(score, 1)`` (0 for a product or user the model does not know);
- content: the better of the best cosine to the user's recent products (computed in Spark beforehand,
  or by the workers from the shipped similarity table) and the user's affinity to the product's
  category (given per user, or for the replay's hours computed by the workers from the user's pairs:
  :func:`category_affinity`);
- popularity: the segment's ``sizes.popular`` best are candidates; the component is the product's
  popularity score in the user's segment (0 when absent);
- purchased products are removed, the per-segment weights blend the three, and the ``k`` best by
  score (then product id) are kept.

Speed machinery, justified by ``bench/live_blend_cpu.py`` (docs/benchmarks.md, ``live-blend-cpu``)
and tested equal to the Spark joins form (``test_recommendation_assets.py``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ecom_assets.recommendation.als import USER_INDEX, ItemFactors
from ecom_assets.recommendation.hybrid import (
    HybridInputs,
    popular_candidates,
    recent_products,
    users_indexed,
    with_segment,
)
from ecom_assets.recommendation.hybrid_definition import UNKNOWN_SEGMENT, CandidateSizes, Weights, hybrid_score
from ecom_assets.recommendation.metrics import K
from ecom_assets.recommendation.serving.content_neighbours import ContentNeighbours
from ecom_assets.speedups.exact_top import USERS_PER_BLOCK, NormOrder, best_items, searchable
from ecom_assets.speedups.shipped import Shipped
from ecom_assets.speedups.sorted_lookup import (
    SortedMap,
    index_in,
    order_within_runs,
    places_in_runs,
    positions_in,
    read_at,
    run_starts,
    sorted_unique,
)

OUTPUT_SCHEMA = ("user_id long, segment string, product_id long, rank int, hybrid_score double, als double, "
                 "content double, popularity double")


@dataclass(frozen=True)
class BlendTables:
    """The model-sized constants of the blend, on the driver.

    ``product_of_row``: product id of each row of the item factors (-1 where the catalogue has none);
    ``row_of_product``: the reverse over every product the tables know (its keys, the catalogue),
    -1 for a product without factors; ``popularity``: per segment, each catalogue product's
    popularity score (aligned with ``row_of_product.keys``; 0 when absent); ``popular``: per segment,
    its best products in order; ``neighbours``: the content similarity table, for users given by
    their recent products; ``categories``: each listed product's category id, for the content
    component's category affinity. A block's products are found in the catalogue once, then everything
    known per product is an array lookup.
    """

    items: ItemFactors
    product_of_row: np.ndarray
    row_of_product: SortedMap
    popularity: dict[str, np.ndarray]
    popular: dict[str, np.ndarray]
    weights: dict[str, Weights]
    fallback: Weights
    sizes: CandidateSizes
    neighbours: ContentNeighbours | None = None
    categories: SortedMap | None = None

    @staticmethod
    def collect(items: ItemFactors, catalogue: DataFrame, popularity: DataFrame, popular: DataFrame,
                weights: dict[str, Weights], fallback: Weights, sizes: CandidateSizes) -> BlendTables:
        """Collect the catalogue (product_id, product_idx), the popularity table and the popular lists."""
        index = catalogue.select("product_id", F.col("product_idx").cast("long")).toPandas()
        index = index.assign(row=items.rows_of(index["product_idx"].to_numpy(dtype=np.int64)))
        index = index[index["row"] >= 0]
        product_of_row = np.full(len(items.ids), -1, dtype=np.int64)
        product_of_row[index["row"].to_numpy()] = index["product_id"].to_numpy()
        scores = popularity.select("segment", "product_id", "popularity_score").toPandas()
        products = sorted_unique(np.concatenate([index["product_id"].to_numpy(dtype=np.int64),
                                                 scores["product_id"].to_numpy(dtype=np.int64)]))
        with_factors = SortedMap.of(index["product_id"].to_numpy(dtype=np.int64), index["row"].to_numpy(dtype=np.int64))
        by_segment = {segment: SortedMap.of(group["product_id"].to_numpy(dtype=np.int64),
                                            group["popularity_score"].to_numpy(dtype=np.float64)).get(products, 0.0)
                      for segment, group in scores.groupby("segment")}
        best = popular.select("segment", "product_id", "n").toPandas().sort_values(["segment", "n"])
        lists = {segment: group["product_id"].to_numpy(dtype=np.int64) for segment, group in best.groupby("segment")}
        return BlendTables(items, product_of_row, SortedMap(products, with_factors.get(products, -1)),
                           by_segment, lists, weights, fallback, sizes)

    def with_new_products(self, product_ids: np.ndarray, factors: np.ndarray) -> BlendTables:
        """These tables with factors for products the model never saw (folded in during the replay):
        new rows of the item matrix (and of its gramian, which the users' fold-in reads), with ids after
        the model's, and their products in the catalogue with no popularity. A product the model already
        has factors for keeps the model's."""
        product_ids = np.asarray(product_ids, dtype=np.int64)
        new = self.row_of_product.get(product_ids, -1) < 0
        product_ids, factors = product_ids[new], np.asarray(factors, dtype=np.float32)[new]
        if not len(product_ids):
            return self
        first_id = int(self.items.ids.max()) + 1 if len(self.items.ids) else 0
        wide = factors.astype(np.float64)
        items = ItemFactors(np.concatenate([self.items.ids, first_id + np.arange(len(product_ids))]),
                            np.vstack([self.items.matrix, factors]), self.items.gramian + wide.T @ wide)
        keys = sorted_unique(np.concatenate([self.row_of_product.keys, product_ids]))
        entries = self.row_of_product.entries(keys)  # each key's place among the old keys (-1: a new key)
        rows = read_at(self.row_of_product.values, entries, -1)
        rows[index_in(keys, product_ids)] = len(self.items.ids) + np.arange(len(product_ids))
        popularity = {segment: read_at(scores, entries, 0.0) for segment, scores in self.popularity.items()}
        return replace(self, items=items, product_of_row=np.concatenate([self.product_of_row, product_ids]),
                       row_of_product=SortedMap(keys, rows), popularity=popularity)


def collect_categories(categories: DataFrame) -> SortedMap:
    """(product_id, category_id) on the driver as a product -> category map (a catalogue-sized table)."""
    table = categories.select("product_id", "category_id").toArrow()
    return SortedMap.of(np.asarray(table.column("product_id").to_numpy(), dtype=np.int64),
                        np.asarray(table.column("category_id").to_numpy(), dtype=np.int64))


def category_affinity(user: np.ndarray, product: np.ndarray, strength: np.ndarray, categories: SortedMap
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(user, category, affinity) from (user, product, strength) pairs: the numpy form of
    :func:`ecom_assets.recommendation.hybrid.category_affinity` (each user's strength per category over
    their strongest category's; products without a known category and zero strengths count nowhere)."""
    category = categories.get(product, -1)
    usable = (category >= 0) & (strength > 0)
    user, category, strength = user[usable].astype(np.int64), category[usable], strength[usable]
    if not len(user):
        return user, category, strength.astype(np.float64)
    order = np.lexsort((category, user))
    user, category, strength = user[order], category[order], strength[order]
    firsts = np.flatnonzero(np.r_[True, (user[1:] != user[:-1]) | (category[1:] != category[:-1])])
    sums = np.add.reduceat(strength.astype(np.float64), firsts)
    owner = user[firsts]
    user_starts = run_starts(owner)
    best = np.maximum.reduceat(sums, user_starts)
    return owner, category[firsts], sums / np.repeat(best, np.diff(np.append(user_starts, len(owner))))


def _affinity_of_pairs(block: UserBlock, tables: BlendTables, user: np.ndarray, products: np.ndarray,
                       code: np.ndarray) -> np.ndarray:
    """Each pool pair's category affinity (user ``user``, product ``products[code]``); 0 when none is known."""
    affinity_user, affinity_category, affinity = block.affinity
    out = np.zeros(len(user))
    if not len(affinity_user):
        return out
    if tables.categories is None:
        raise ValueError("category affinities were given without the products' categories (BlendTables.categories)")
    category = tables.categories.get(products, -1)[code]
    known = category >= 0
    names, codes = np.unique(np.concatenate([affinity_category, category[known]]), return_inverse=True)
    keys = affinity_user.astype(np.int64) * len(names) + codes[:len(affinity_category)]
    order = np.argsort(keys, kind="stable")
    position, found = positions_in(keys[order], user[known] * len(names) + codes[len(affinity_category):])
    values = np.zeros(int(known.sum()))
    values[found] = affinity[order][position[found]]
    out[known] = values
    return out


def _empty() -> pd.DataFrame:
    """No recommendations, with the output's columns."""
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in (
        ("user_id", "int64"), ("segment", "object"), ("product_id", "int64"), ("rank", "int32"),
        ("hybrid_score", "float64"), ("als", "float64"), ("content", "float64"), ("popularity", "float64"))})


def _explode(lists: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(position of the row, value) for every element of a column of arrays (None counts as empty)."""
    lengths = lists.map(lambda v: 0 if v is None else len(v)).to_numpy(dtype=np.int64)
    if not lengths.sum():
        return np.empty(0, dtype=np.int64), np.empty(0)
    values = np.concatenate([np.asarray(v) for v in lists if v is not None and len(v)])
    return np.repeat(np.arange(len(lists)), lengths), values


def _popular_candidates(segment_of_user: np.ndarray, lists: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(user, product) for every product of each user's segment list (``lists[segment code]``)."""
    lengths = np.array([len(lists[s]) for s in segment_of_user], dtype=np.int64)
    if not lengths.sum():
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    products = np.concatenate([lists[s] for s in segment_of_user]).astype(np.int64)
    return np.repeat(np.arange(len(segment_of_user)), lengths), products


def _best_content(places: np.ndarray, scores: np.ndarray, size: int) -> np.ndarray:
    """For each of ``size`` pool entries, the best of ``scores`` given at its place in ``places`` (-1: none);
    0 where none is given, or only NaN."""
    content = np.full(size, -np.inf)
    given = places >= 0
    np.fmax.at(content, places[given], scores[given])
    content[~np.isfinite(content)] = 0.0
    return content


def _content_candidates(block: UserBlock, tables: BlendTables) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(user, product, score) of the block's content candidates: given as rows, and expanded from the
    users' recent products through ``tables.neighbours``."""
    user, product, score = block.content
    recent_user, recent = block.recent
    if len(recent):
        if tables.neighbours is None:
            raise ValueError("recent products were given without the content similarity table (BlendTables.neighbours)")
        more_user, more_product, more_score = tables.neighbours.expand(recent_user, recent)
        user, product = np.concatenate([user, more_user]), np.concatenate([product, more_product])
        score = np.concatenate([score, more_score])
    return user.astype(np.int64), product.astype(np.int64), score.astype(np.float64)


@dataclass(frozen=True)
class UserBlock:
    """A block of users as flat arrays, what :func:`blend_users` reads: ``segments`` (one per user,
    ``UNKNOWN_SEGMENT`` for none); ``has_factors`` and ``vectors`` (the factors of the users that have
    them, in block order, in double precision); ``content`` (user, product, score) candidates given as
    rows; ``recent`` and ``purchased`` (user, product); ``affinity`` (user, category id, affinity).
    ``user`` arrays are positions in the block."""

    segments: np.ndarray
    has_factors: np.ndarray
    vectors: np.ndarray
    content: tuple[np.ndarray, np.ndarray, np.ndarray]
    recent: tuple[np.ndarray, np.ndarray]
    purchased: tuple[np.ndarray, np.ndarray]
    affinity: tuple[np.ndarray, np.ndarray, np.ndarray]

    @staticmethod
    def of_frame(block: pd.DataFrame, rank: int) -> UserBlock:
        """From one row per user (segment, features, content_products, content_scores, recent_products,
        purchased, affinity_categories, affinities), as :func:`user_inputs` gives them."""
        has_factors = block["features"].notna().to_numpy()
        vectors = (np.stack(block["features"].to_numpy()[has_factors]).astype(np.float64) if has_factors.any()
                   else np.zeros((0, rank)))
        content_user, content_product = _explode(block["content_products"])
        _, content_score = _explode(block["content_scores"])
        affinity_user, affinity_category = _explode(block["affinity_categories"])
        _, affinity = _explode(block["affinities"])
        return UserBlock(block["segment"].fillna(UNKNOWN_SEGMENT).to_numpy(dtype=str), has_factors, vectors,
                         (content_user, content_product, content_score), _explode(block["recent_products"]),
                         _explode(block["purchased"]),
                         (affinity_user, affinity_category.astype(np.int64), affinity.astype(np.float64)))


@dataclass(frozen=True)
class RankedPairs:
    """Each user's top ``k`` from :func:`blend_users`, by user (a position in the block) then rank."""

    user: np.ndarray
    product: np.ndarray
    rank: np.ndarray
    hybrid: np.ndarray
    als: np.ndarray
    content: np.ndarray
    popularity: np.ndarray


def blend_block(block: pd.DataFrame, tables: BlendTables, matrix: np.ndarray, order: NormOrder,
                k: int = K) -> pd.DataFrame:
    """:func:`blend_users` for one row per user (user_id, segment, features, content_products,
    content_scores, recent_products, purchased, affinity_categories, affinities), as rows of ``OUTPUT_SCHEMA``."""
    users = UserBlock.of_frame(block, matrix.shape[1])
    ranked = blend_users(users, tables, matrix, order, k)
    if not len(ranked.user):
        return _empty()
    return pd.DataFrame({
        "user_id": block["user_id"].to_numpy(dtype=np.int64)[ranked.user], "segment": users.segments[ranked.user],
        "product_id": ranked.product, "rank": ranked.rank, "hybrid_score": ranked.hybrid, "als": ranked.als,
        "content": ranked.content, "popularity": ranked.popularity,
    })


def _no_pairs() -> RankedPairs:
    """No recommendations."""
    empty = np.empty(0)
    return RankedPairs(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int32),
                       empty, empty, empty, empty)


def blend_users(block: UserBlock, tables: BlendTables, matrix: np.ndarray, order: NormOrder,
                k: int = K) -> RankedPairs:
    """The top ``k`` of each user of ``block``: candidates, components and blend, vectorised over the block.
    ``matrix`` is the item factors in double precision, ``order`` their norm order.

    A (user, product) pair is one integer key, ``user x products + code`` with ``code`` the
    product's rank among the block's candidates, so the pool, the purchased filter and the content
    lookup are numpy set operations, and what depends on the product alone (its factor row, its
    popularity in each segment) is looked up once per product of the block."""
    n_users = len(block.segments)
    segment_names, segment_of_user = np.unique(block.segments, return_inverse=True)
    has_factors = block.has_factors & (len(tables.items.ids) > 0)
    users_with = np.flatnonzero(has_factors)
    # Factors of the users that have them (row i: user users_with[i]).
    vectors = block.vectors if len(users_with) else np.zeros((0, matrix.shape[1]))
    score_row = np.full(n_users, -1, dtype=np.int64)
    score_row[users_with] = np.arange(len(users_with))

    # Candidates: content, each segment's popular products, and the ALS best of users with factors.
    content_user, content_product, content_score = _content_candidates(block, tables)
    empty = np.empty(0, dtype=np.int64)
    popular_user, popular_product = _popular_candidates(
        segment_of_user, [np.asarray(tables.popular.get(name, empty)) for name in segment_names])
    best, _ = best_items(vectors, order, tables.sizes.als)
    als_product = tables.product_of_row[best].ravel()
    als_user = np.repeat(users_with, best.shape[1])
    known = als_product >= 0
    candidate_product = np.concatenate([content_product, popular_product, als_product[known]]).astype(np.int64)
    if not len(candidate_product):
        return _no_pairs()
    products, candidate_code = np.unique(candidate_product, return_inverse=True)
    width = len(products)
    candidate_user = np.concatenate([content_user, popular_user, als_user[known]]).astype(np.int64)
    pool, pool_of_candidate = np.unique(candidate_user * width + candidate_code, return_inverse=True)  # by user, product
    bought_user, bought_product = block.purchased
    position, found = positions_in(products, bought_product.astype(np.int64))
    _, bought = positions_in(sorted_unique(bought_user[found].astype(np.int64) * width + position[found]), pool)
    pool = pool[~bought]
    if not len(pool):
        return _no_pairs()
    # Each content candidate's place in the pool (-1 for a purchased product, removed above).
    content_place = np.where(bought, -1, np.cumsum(~bought) - 1)[pool_of_candidate[:len(content_product)]]

    user, code = pool // width, pool % width
    product = products[code]
    entries = tables.row_of_product.entries(products)  # each product's place in the catalogue
    rows = read_at(tables.row_of_product.values, entries, -1)[code]
    with_model = (rows >= 0) & has_factors[user]
    als = np.zeros(len(pool))
    scored = np.einsum("ij,ij->i", np.take(vectors, score_row[user[with_model]], axis=0),
                       np.take(matrix, rows[with_model], axis=0))
    als[with_model] = np.minimum(scored, 1.0)
    content = np.maximum(_best_content(content_place, content_score, len(pool)),
                         _affinity_of_pairs(block, tables, user, products, code))
    # Per segment of the block: every product's popularity in it, and its weights.
    segment_popularity = np.zeros((len(segment_names), width))
    segment_weights = np.zeros((len(segment_names), 3))
    for segment, name in enumerate(segment_names):
        scores = tables.popularity.get(name)
        if scores is not None:
            segment_popularity[segment] = read_at(scores, entries, 0.0)
        w = tables.weights.get(name, tables.fallback)
        segment_weights[segment] = (w.als, w.content, w.popularity)
    segment_of_pair = segment_of_user[user]
    popularity = segment_popularity[segment_of_pair, code]
    weights = segment_weights[segment_of_pair]
    hybrid = hybrid_score(weights[:, 0], weights[:, 1], weights[:, 2], als, content, popularity)

    # The pool is in (user, product) order: each user's pairs by score, ties by product.
    ranking = order_within_runs(user, hybrid)
    ranked_user = user[ranking]
    ranks = places_in_runs(ranked_user) + 1
    keep = ranking[ranks <= k]
    return RankedPairs(user[keep], product[keep], ranks[ranks <= k].astype(np.int32), hybrid[keep], als[keep],
                       content[keep], popularity[keep])


CANDIDATE_TYPE = "struct<product_id:long,content_score:double>"
AFFINITY_TYPE = "struct<category_id:long,affinity:double>"


def _user_rows(frame: DataFrame, segment: Column | None = None, wanted: bool = False, features: Column | None = None,
               candidate: Column | None = None, recent: Column | None = None, bought: Column | None = None,
               affinity: Column | None = None) -> DataFrame:
    """``frame`` as (user_id, segment, wanted, f, c, r, p, a): the columns :func:`recommend_per_user` groups
    by user, null where this input has nothing to say; ``wanted`` marks the users to recommend to."""
    def value(column: Column | None, dtype: str) -> Column:
        return (column if column is not None else F.lit(None)).cast(dtype)

    return frame.select("user_id", value(segment, "string").alias("segment"), F.lit(wanted).alias("wanted"),
                        value(features, "array<float>").alias("f"), value(candidate, CANDIDATE_TYPE).alias("c"),
                        value(recent, "long").alias("r"), value(bought, "long").alias("p"),
                        value(affinity, AFFINITY_TYPE).alias("a"))


def user_inputs(users: DataFrame, factors: DataFrame, content: DataFrame | None, purchased: DataFrame,
                recent: DataFrame | None = None, affinity: DataFrame | None = None) -> DataFrame:
    """One row per user of ``users``, as :func:`blend_block` reads it (user_id, segment, features,
    content_products, content_scores, recent_products, purchased, affinity_categories, affinities), from
    the inputs of :func:`recommend_per_user`."""
    # One row per user from a single aggregation (one shuffle) instead of three joins and two
    # aggregations (five shuffles): every input becomes rows of one shape, grouped by user.
    parts = [_user_rows(users, segment=F.col("segment"), wanted=True),
             _user_rows(factors, features=F.col("features")),
             _user_rows(purchased, bought=F.col("product_id"))]
    if content is not None:
        parts.append(_user_rows(content, candidate=F.struct(F.col("product_id").cast("long").alias("product_id"),
                                                            F.col("content_score").cast("double")
                                                            .alias("content_score"))))
    if recent is not None:
        parts.append(_user_rows(recent, recent=F.col("product_id")))
    if affinity is not None:
        parts.append(_user_rows(affinity, affinity=F.struct(F.col("category_id").cast("long").alias("category_id"),
                                                            F.col("affinity").cast("double").alias("affinity"))))
    grouped = functools.reduce(DataFrame.unionByName, parts).groupBy("user_id").agg(
        F.max("wanted").alias("wanted"), F.first("segment", ignorenulls=True).alias("segment"),
        F.first("f", ignorenulls=True).alias("features"), F.collect_list("c").alias("c"),
        F.collect_list("r").alias("recent_products"), F.collect_list("p").alias("purchased"),
        F.collect_list("a").alias("a"))
    return grouped.where("wanted").select(
        "user_id", "segment", "features", F.col("c.product_id").alias("content_products"),
        F.col("c.content_score").alias("content_scores"), "recent_products", "purchased",
        F.col("a.category_id").alias("affinity_categories"), F.col("a.affinity").alias("affinities"))


def recommend_per_user(users: DataFrame, factors: DataFrame, content: DataFrame | None, purchased: DataFrame,
                       tables: BlendTables | Shipped[BlendTables], k: int = K,
                       recent: DataFrame | None = None, affinity: DataFrame | None = None) -> DataFrame:
    """(user_id, segment, product_id, rank, hybrid_score, als, content, popularity): the top ``k`` of
    every user of ``users`` (user_id, segment), from their ALS ``factors`` (user_id, features),
    ``content`` candidates (user_id, product_id, content_score) and ``purchased`` (user_id, product_id).
    With ``recent`` (user_id, product_id: the users' recent products), the workers add the content
    candidates of :func:`~ecom_assets.recommendation.hybrid.content_scores` themselves from
    ``tables.neighbours``, which spares shuffling about a hundred candidate rows per user. ``affinity``
    (user_id, category_id, affinity): the users' category affinities (none when not given).
    ``tables`` reach the Python workers in the UDF's closure, or from a file as :class:`Shipped`."""
    rows = user_inputs(users, factors, content, purchased, recent, affinity)
    shipped = tables if isinstance(tables, Shipped) else Shipped.inline(tables)

    def blend(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        constants = shipped.get()
        matrix, order = searchable(constants.items.matrix, constants.items.ids)
        for batch in batches:
            for first in range(0, len(batch), USERS_PER_BLOCK):
                block = batch.iloc[first:first + USERS_PER_BLOCK].reset_index(drop=True)
                yield blend_block(block, constants, matrix, order, k)

    return rows.mapInPandas(blend, OUTPUT_SCHEMA)


def serve_training_users(inputs: HybridInputs, interactions: DataFrame, similarity: DataFrame,
                         weights: dict[str, Weights], fallback: Weights) -> DataFrame:
    """Every training user's top-10 under the chosen weights, one row per user through
    :func:`recommend_per_user` (the blend's constants, the content ``similarity`` table included,
    collected once on the driver): ``hybrid_recs``. The workers expand each user's recent products
    into content candidates themselves, so the hundred content rows per user of the Spark form are
    never shuffled (at 3 M users, 300 M rows)."""
    if inputs.model is None or inputs.indexers is None or inputs.catalogue is None:
        raise ValueError("hybrid_recs needs the ALS model: materialize als_model first")
    popular = popular_candidates(inputs.popularity, inputs.sizes.popular)
    tables = replace(BlendTables.collect(ItemFactors.of(inputs.model), inputs.catalogue, inputs.popularity, popular,
                                         weights, fallback, inputs.sizes),
                     neighbours=ContentNeighbours.collect(similarity), categories=collect_categories(inputs.categories))
    users = with_segment(inputs, interactions)
    factors = users_indexed(inputs, users).join(
        inputs.model.userFactors.select(F.col("id").alias(USER_INDEX), "features"), USER_INDEX)
    return recommend_per_user(users, factors.select("user_id", "features"), None, inputs.purchased, tables,
                              recent=recent_products(interactions, inputs.sizes.recent), affinity=inputs.affinity)
