"""Recommendation functions on small hand-made DataFrames: content neighbours, ALS re-indexing, the blend."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from ecom_assets.recommendation.als import (
    AlsParams,
    ItemFactors,
    fit_als,
    fit_indexers,
    index_ids,
    product_index_table,
    recommend_top,
    score_pairs,
    user_index_table,
)
from ecom_assets.recommendation.content import isolated_products, price_bands, product_tokens, similar_products
from ecom_assets.recommendation.evaluation import popularity_components, rank_with, sampled_scores, without_segments
from ecom_assets.recommendation.hybrid import (
    build_inputs,
    candidates,
    content_scores,
    score_components,
    weights_frame,
)
from ecom_assets.recommendation.hybrid_definition import CandidateSizes, Weights
from ecom_assets.recommendation.interactions import interaction_strengths
from ecom_assets.recommendation.serving.content_neighbours import ContentNeighbours
from ecom_assets.speedups.exact_top import FIRST_HEAD, NormOrder, best_items
from ecom_assets_tests.blend_reference import joined_blend

ATTRIBUTES = "product_id long, category_id long, category_code string, brand string, price double"
BIG_CATEGORY = 2053013555631882655  # category ids never fit in 32 bits


def _catalogue(spark: SparkSession):
    rows = [
        (1, BIG_CATEGORY, "electronics.audio.headphone", "sony", 50.0),
        (2, BIG_CATEGORY, "electronics.audio.headphone", "sony", 55.0),
        (3, BIG_CATEGORY, "electronics.audio.headphone", "apple", 300.0),
        (4, BIG_CATEGORY + 1, "electronics.audio.subwoofer", "sony", 200.0),
        (5, BIG_CATEGORY + 2, "furniture.bedroom.bed", "ikea", 400.0),
        (6, BIG_CATEGORY + 2, None, None, 80.0),  # no code, no brand: only its category id and price band
        (7, BIG_CATEGORY + 3, "electronics.smartphone", "apple", 900.0),
        (8, BIG_CATEGORY + 4, None, None, 10.0),  # alone in its category with nothing else: no neighbour possible
    ]
    return spark.createDataFrame(rows, ATTRIBUTES)


def test_content_neighbours_follow_category_brand_and_price(spark: SparkSession) -> None:
    tokens = product_tokens(price_bands(_catalogue(spark)))
    popularity = spark.createDataFrame([(1, 5.0), (2, 9.0)], "product_id long, popularity double")
    result = similar_products(tokens, popularity, neighbours=3, token_cap=100)
    rows = result.collect()
    neighbours = {}
    for r in rows:
        neighbours.setdefault(r["product_id"], []).append((r["rank"], r["similar_product_id"], r["similarity"]))
    best = {p: sorted(n)[0][1] for p, n in neighbours.items()}
    assert best[1] == 2 and best[2] == 1  # same leaf category and brand
    assert best[3] in (1, 2)  # same leaf category, other brand
    assert best[4] in (1, 2)  # same brand, sibling category: shares electronics.audio
    assert best[6] == 5 and best[5] == 6  # the bare product still finds its category sibling
    assert all(r["product_id"] != r["similar_product_id"] for r in rows)
    assert all(0 < r["similarity"] <= 1.0 + 1e-9 for r in rows)
    assert {len(n) for n in neighbours.values()} <= {1, 2, 3}
    assert 8 not in neighbours
    assert [r["product_id"] for r in isolated_products(tokens).collect()] == [8]


def test_content_neighbours_expand_recent_products_as_the_spark_content_scores(spark: SparkSession) -> None:
    rng = np.random.default_rng(5)
    similarity = spark.createDataFrame(
        [(int(p), int(q), float(rng.random())) for p in range(1, 60) for q in rng.choice(np.arange(1, 80), 6, replace=False)
         if p != q], "product_id long, similar_product_id long, similarity double")
    # Recent products with and without neighbours (70-79 have none), some shared between users.
    recent = spark.createDataFrame([(u, int(p)) for u in range(1, 40) for p in rng.choice(np.arange(1, 80), 5, replace=False)],
                                   "user_id long, product_id long")
    expected = {(r["user_id"], r["product_id"]): r["content_score"] for r in content_scores(recent, similarity).collect()}
    rows = recent.toPandas()
    user, product, score = ContentNeighbours.collect(similarity).expand(rows["user_id"].to_numpy(),
                                                                        rows["product_id"].to_numpy())
    got: dict[tuple[int, int], float] = {}
    for u, p, s in zip(user.tolist(), product.tolist(), score.tolist(), strict=True):
        got[(u, p)] = max(got.get((u, p), 0.0), s)
    assert len(expected) > 500 and got.keys() == expected.keys()
    assert all(abs(got[key] - expected[key]) < 1e-12 for key in expected)


def test_frequent_tokens_do_not_generate_candidate_pairs(spark: SparkSession) -> None:
    tokens = product_tokens(price_bands(_catalogue(spark)))
    # With a cap of 1 no token is shared by few enough signatures: only a product's own signature is a candidate.
    result = similar_products(tokens, spark.createDataFrame([], "product_id long, popularity double"), 3, token_cap=1)
    assert result.count() == 0


def _events(spark: SparkSession):
    day = dt.datetime(2019, 10, 5, tzinfo=dt.UTC)
    big_user = 2**40  # a user id beyond 32 bits
    rows = []
    for user, products in ((big_user, [1, 2, 3]), (big_user + 1, [1, 2]), (big_user + 2, [2, 3]), (big_user + 3, [5, 6])):
        for i, product in enumerate(products):
            rows.append((day + dt.timedelta(minutes=i), "view", product, user))
    rows.append((day + dt.timedelta(hours=1), "purchase", 1, big_user))
    return spark.createDataFrame(rows, "event_time timestamp, event_type string, product_id long, user_id long")


def test_als_reindexes_wide_ids_and_scores_match_factors(spark: SparkSession) -> None:
    interactions = interaction_strengths(_events(spark))
    indexers = fit_indexers(interactions)
    ratings = index_ids(indexers, interactions)
    assert ratings.agg(F.max("user_idx")).first()[0] == 3
    model = fit_als(ratings.select("user_idx", "product_idx", "strength"), AlsParams(rank=4, max_iter=5))
    scored = score_pairs(model, ratings).collect()
    users = {r["id"]: np.array(r["features"]) for r in model.userFactors.collect()}
    items = {r["id"]: np.array(r["features"]) for r in model.itemFactors.collect()}
    for r in scored:
        assert abs(r["als_score"] - float(users[r["user_idx"]] @ items[r["product_idx"]])) < 1e-4


def test_batch_als_lists_equal_spark_scoring_every_item(spark: SparkSession) -> None:
    """A catalogue longer than the bounded search's first head, power-law popular: the lists equal
    ``recommendForUserSubset``'s (which scores every item), up to the order of equal scores."""
    rng = np.random.default_rng(7)
    n_items, n_users, k = FIRST_HEAD * 6, 600, 12
    weights = 1.0 / np.arange(1, n_items + 1) ** 0.6
    rows = [(int(u), int(p), float(rng.integers(1, 4)))
            for u in range(n_users) for p in rng.choice(n_items, size=25, replace=False, p=weights / weights.sum())]
    interactions = spark.createDataFrame(rows, "user_id long, product_id long, strength double")
    indexers = fit_indexers(interactions)
    ratings = index_ids(indexers, interactions).select("user_idx", "product_idx", "strength")
    model = fit_als(ratings, AlsParams(rank=8, max_iter=5, alpha=5.0))
    users = user_index_table(indexers, interactions)
    products = product_index_table(indexers, interactions)
    items = ItemFactors.of(model)
    matrix = items.matrix.astype(np.float64)
    vectors = np.array([r["features"] for r in model.userFactors.collect()], dtype=np.float64)
    _, computed = best_items(vectors, NormOrder.of(matrix, items.ids), k)
    assert len(items.ids) > 2 * FIRST_HEAD and computed < 0.6 * vectors.shape[0] * len(items.ids)  # the bound is used
    ours = recommend_top(model, users, products, k).collect()
    spark_lists = model.recommendForUserSubset(users.select("user_idx"), k).join(users, "user_idx").collect()

    mine: dict[int, list[tuple[int, float]]] = {}
    for r in sorted(ours, key=lambda r: (r["user_id"], r["rank"])):
        mine.setdefault(r["user_id"], []).append((r["product_id"], r["als_score"]))
    product_of = {r["product_idx"]: r["product_id"] for r in products.collect()}
    assert len(mine) == n_users and {len(v) for v in mine.values()} == {k}
    for row in spark_lists:
        theirs = [(product_of[rec["product_idx"]], rec["rating"]) for rec in row["recommendations"]]
        got = mine[row["user_id"]]
        assert np.allclose([s for _, s in got], [s for _, s in theirs], atol=1e-4)
        assert all(a >= b for (_, a), (_, b) in zip(got, got[1:], strict=False))
        kth = got[-1][1]
        # Items scored clearly above the k-th are the same; only exact (float) ties at the edge may differ.
        clear = lambda items: {p for p, s in items if s > kth + 1e-4}
        assert clear(got) == clear(theirs)


def test_hybrid_never_recommends_purchased_products(spark: SparkSession) -> None:
    interactions = interaction_strengths(_events(spark)).cache()
    similarity = spark.createDataFrame([(1, 2, 0.9, 1), (2, 3, 0.8, 1), (5, 6, 0.7, 1)],
                                       "product_id long, similar_product_id long, similarity double, rank int")
    segments = spark.createDataFrame([(2**40, "Top"), (2**40 + 1, "Top")], "user_id long, segment string")
    categories = spark.createDataFrame([(p, 10 + p % 2) for p in range(1, 10)], "product_id long, category_id long")
    inputs = build_inputs(interactions, similarity, segments, categories, None, None, dt.date(2019, 11, 1),
                          CandidateSizes(als=5, recent=3, popular=5))
    weights = {"Top": Weights(0.0, 0.5, 0.5)}
    recs = joined_blend(inputs, candidates(inputs, interactions.select("user_id")), weights_frame(spark, weights),
                     Weights(0.0, 0.0, 1.0)).collect()
    assert not [r for r in recs if r["user_id"] == 2**40 and r["product_id"] == 1]
    assert {r["segment"] for r in recs if r["user_id"] == 2**40 + 3} == {"Unknown"}
    assert all(1 <= r["rank"] <= 10 for r in recs)

    # Inputs built for known users carry those users' content scores only, the same as for everyone.
    some = spark.createDataFrame([(2**40,), (2**40 + 3,)], "user_id long")
    restricted = build_inputs(interactions, similarity, segments, categories, None, None, dt.date(2019, 11, 1),
                              CandidateSizes(als=5, recent=3, popular=5), users=some)
    rows = lambda frame: sorted(tuple(r) for r in frame.collect())
    assert rows(restricted.content) == rows(inputs.content.join(some, "user_id").select(*inputs.content.columns))
    assert {r["user_id"] for r in restricted.content.collect()} == {2**40, 2**40 + 3}


def test_global_popularity_scored_on_popularity_alone_ranks_as_the_full_scoring(spark: SparkSession) -> None:
    """The evaluation scores the global-popularity baseline's pool on popularity only: with an ALS model and
    content in the inputs, its lists and sampled scores equal the full scoring's under weights (0, 0, 1)."""
    interactions = interaction_strengths(_events(spark)).cache()
    indexers = fit_indexers(interactions)
    model = fit_als(index_ids(indexers, interactions).select("user_idx", "product_idx", "strength"),
                    AlsParams(rank=4, max_iter=5))
    similarity = spark.createDataFrame([(1, 2, 0.9, 1), (2, 3, 0.8, 1), (5, 6, 0.7, 1)],
                                       "product_id long, similar_product_id long, similarity double, rank int")
    segments = spark.createDataFrame([(2**40, "Top"), (2**40 + 1, "Top")], "user_id long, segment string")
    categories = spark.createDataFrame([(p, 10 + p % 2) for p in range(1, 10)], "product_id long, category_id long")
    users = interactions.select("user_id").distinct()
    inputs = without_segments(build_inputs(interactions, similarity, segments, categories, model, indexers,
                                           dt.date(2019, 11, 1), CandidateSizes(als=5, recent=3, popular=2),
                                           users=users))
    pool = candidates(inputs, users)
    popularity_only = Weights(0.0, 0.0, 1.0)
    full, short = score_components(inputs, pool), popularity_components(inputs, pool)
    assert full.where("als != 0").count() > 0  # the skipped component is really there in the full scoring
    rows = lambda frame: sorted(tuple(r) for r in frame.collect())
    assert rows(rank_with(spark, short, {}, popularity_only)) == rows(rank_with(spark, full, {}, popularity_only))
    samples = pool.select("user_id", "product_id", F.xxhash64("user_id", "product_id").alias("positive_id"),
                          (F.col("product_id") == 1).alias("is_positive"))
    assert rows(sampled_scores(spark, popularity_components(inputs, samples), {}, popularity_only)) == rows(
        sampled_scores(spark, score_components(inputs, samples), {}, popularity_only))


def test_fold_in_reproduces_spark_user_factors_and_direct_least_squares(spark: SparkSession) -> None:
    from ecom_assets.recommendation.als import ItemFactors
    from ecom_assets.recommendation.fold_in import fold_in_users, solve_user, solve_users

    rng = np.random.default_rng(3)
    rows = [(int(u), int(p), float(rng.integers(1, 9))) for u in range(40) for p in rng.choice(30, 6, replace=False)]
    ratings = spark.createDataFrame(rows, "user_idx int, product_idx int, strength double")
    params = AlsParams(rank=4, reg_param=0.1, alpha=5.0, max_iter=8)
    model = fit_als(ratings, params)
    items = {r["id"]: np.array(r["features"], dtype=np.float64) for r in model.itemFactors.collect()}
    y = np.stack([items[i] for i in sorted(items)])
    assert np.allclose(ItemFactors.of(model).gramian, y.T @ y, atol=1e-6)

    folded = fold_in_users(ratings.withColumn("user_id", F.col("user_idx").cast("long")), model.itemFactors,
                           4, params.alpha, params.reg_param)
    mine = {r["user_id"]: np.array(r["features"]) for r in folded.collect()}
    spark_users = {r["id"]: np.array(r["features"]) for r in model.userFactors.collect()}
    # Spark's last half-iteration solves the users from the final item factors: fold-in must match it.
    assert max(np.abs(mine[u] - spark_users[u]).max() for u in spark_users) < 1e-3

    # The normal equations against a direct weighted least squares over every item (numpy lstsq).
    user = [r for r in rows if r[0] == 7]
    strengths = np.zeros(len(items))
    for _, p, s in user:
        strengths[p] = s
    confidence = 1 + params.alpha * strengths
    preference = (strengths > 0).astype(float)
    weights = np.sqrt(confidence)
    lhs = np.vstack([y * weights[:, None], np.sqrt(params.reg_param * len(user)) * np.eye(4)])
    rhs = np.concatenate([preference * weights, np.zeros(4)])
    direct = np.linalg.lstsq(lhs, rhs, rcond=None)[0]
    observed = [p for _, p, _ in user]
    assert np.allclose(solve_user(y[observed], strengths[observed], y.T @ y, params.alpha, params.reg_param), direct,
                       atol=1e-8)
    # Solving several users at once gives each user's own solution.
    two = [r for r in rows if r[0] in (7, 8)]
    owner = np.array([0 if u == 7 else 1 for u, _, _ in two])
    together = solve_users(owner, y[[p for _, p, _ in two]], np.array([s for _, _, s in two]), 2, y.T @ y,
                           params.alpha, params.reg_param)
    assert np.allclose(together[0], direct, atol=1e-8)
    assert np.allclose(together[1], mine[8], atol=1e-5)


def test_item_fold_in_reproduces_spark_item_factors_from_the_users_before_them(spark: SparkSession) -> None:
    """Spark's iteration n solves the items from iteration n-1's users: folding each product in from the
    users of a fit one iteration shorter (same seed, same path) gives Spark's item factors; the users'
    gramian summed on the workers is numpy's."""
    from ecom_assets.recommendation.fold_in import factor_gramian, fold_in_items

    rng = np.random.default_rng(5)
    rows = [(int(u), int(p), float(rng.integers(1, 9))) for u in range(40) for p in rng.choice(30, 6, replace=False)]
    ratings = spark.createDataFrame(rows, "user_idx int, product_idx int, strength double")
    params = AlsParams(rank=4, reg_param=0.1, alpha=5.0, max_iter=6)
    model = fit_als(ratings, params)
    before = fit_als(ratings, AlsParams(rank=4, reg_param=0.1, alpha=5.0, max_iter=5)).userFactors
    users = np.stack([np.array(r["features"], dtype=np.float64) for r in before.orderBy("id").collect()])
    gramian = factor_gramian(before.repartition(3), 4)
    assert np.allclose(gramian, users.T @ users, atol=1e-9)

    pairs = ratings.join(before.select(F.col("id").alias("user_idx"), "features"), "user_idx").select(
        F.col("product_idx").cast("long").alias("product_id"), F.col("user_idx").cast("long").alias("user_id"),
        "strength", "features")
    folded = {r["product_id"]: (np.array(r["features"]), r["users"])
              for r in fold_in_items(pairs, gramian, params.alpha, params.reg_param).collect()}
    spark_items = {r["id"]: np.array(r["features"]) for r in model.itemFactors.collect()}
    assert set(folded) == set(spark_items)
    assert max(np.abs(folded[i][0] - spark_items[i]).max() for i in spark_items) < 1e-4
    assert {i: n for i, (_, n) in folded.items()} == {
        i: sum(1 for _, p, _ in rows if p == i) for i in spark_items}
    # The same pairs in another order give the same bits.
    again = {r["product_id"]: np.array(r["features"]) for r in fold_in_items(
        pairs.repartition(4, "user_id").orderBy(F.rand(1)), gramian, params.alpha, params.reg_param).collect()}
    assert all(np.array_equal(again[i], folded[i][0]) for i in folded)


def test_shipped_constants_load_from_the_pack_once_and_refuse_a_rebuilt_one(tmp_path: Path) -> None:
    """A pack-backed constant pickles to its path and stamp only, resolves dict keys and attributes,
    and a worker that meets a pack rebuilt under another stamp fails clearly instead of mixing models."""
    import pickle

    from ecom_assets.recommendation.als import ItemFactors
    from ecom_assets.speedups.shipped import Shipped, StalePackError, load_pack

    matrix = np.arange(600, dtype=np.float32).reshape(3, 200)
    items = ItemFactors(np.arange(3), matrix, matrix.T.astype(np.float64) @ matrix)
    path = tmp_path / "pack.pkl"
    path.write_bytes(pickle.dumps((("v", 1), {"blend": {"items": items}})))
    shipped = Shipped.from_pack(str(path), ("v", 1), "blend").part("items")
    assert len(pickle.dumps(shipped)) < 500 < len(pickle.dumps(Shipped.inline(items)))
    loaded = pickle.loads(pickle.dumps(shipped)).get()
    assert np.array_equal(loaded.matrix, items.matrix)
    assert load_pack(str(path), ("v", 1)) is load_pack(str(path), ("v", 1))  # loaded once per process
    assert Shipped.inline({"items": items}).part("items").get() is items

    path.write_bytes(pickle.dumps((("v", 2), {"blend": {"items": items}})))
    with pytest.raises(StalePackError, match="rebuilt"):
        Shipped.from_pack(str(path), ("v", 3), "blend").get()

    # A worker keeps the packs it read last only (one per re-fitted model would pile up over the month).
    from ecom_assets.speedups import shipped as module

    paths = [tmp_path / f"day-{day}.pkl" for day in range(module.MAX_LOADED_PACKS + 2)]
    for day, pack in enumerate(paths):
        pack.write_bytes(pickle.dumps((("day", day), {"n": day})))
        assert load_pack(str(pack), ("day", day)) == {"n": day}
    assert [p for p in module._LOADED if "day-" in p] == [str(p) for p in paths[-module.MAX_LOADED_PACKS:]]


def test_category_affinity_is_the_same_in_spark_and_numpy(spark: SparkSession) -> None:
    """A user's affinity to a category (their strength in it over their strongest category's) comes out
    the same from the Spark form (training) and the numpy form (the replay's workers); products without
    a category and zero strengths count nowhere."""
    from ecom_assets.recommendation.hybrid import category_affinity
    from ecom_assets.recommendation.serving.user_blend import category_affinity as category_affinity_arrays
    from ecom_assets.speedups.sorted_lookup import SortedMap

    rng = np.random.default_rng(7)
    pairs = {(int(u), int(p)): float(rng.choice([0.0, 1.0, 4.0, 8.0, 13.0])) for u in rng.integers(0, 50, 400)
             for p in rng.integers(0, 60, 1)}
    categories = {p: 100 + p % 7 for p in range(55)}  # products 55..59 have no category
    interactions = spark.createDataFrame([(u, p, s) for (u, p), s in pairs.items()],
                                         "user_id long, product_id long, strength double")
    table = spark.createDataFrame(list(categories.items()), "product_id long, category_id long")
    expected = {(r["user_id"], r["category_id"]): r["affinity"]
                for r in category_affinity(interactions, table).collect()}
    user, product = (np.array([k[i] for k in pairs], dtype=np.int64) for i in (0, 1))
    got_user, got_category, got = category_affinity_arrays(
        user, product, np.array(list(pairs.values())), SortedMap.of(np.array(list(categories)),
                                                                    np.array(list(categories.values()))))
    assert dict(zip(zip(got_user.tolist(), got_category.tolist(), strict=True), got.tolist(), strict=True)) == expected
    assert expected and max(expected.values()) == 1.0 and min(expected.values()) > 0
    by_user: dict[int, float] = {}
    for (u, _), a in expected.items():
        by_user[u] = max(by_user.get(u, 0.0), a)
    assert set(by_user.values()) == {1.0}
