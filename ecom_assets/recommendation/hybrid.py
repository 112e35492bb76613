"""The hybrid recommender as Spark joins: candidates from ALS, content and segment popularity, blended per segment.

The formula, weights and sizes are defined in :mod:`~ecom_assets.recommendation.hybrid_definition`;
this is its Spark form, which the weight tuning and the offline evaluation run.
Products the user already purchased are never recommended: the store sells durable goods
(electronics, appliances, furniture), where a second purchase of the same item is rare, and
showing it again wastes a slot. Viewed and carted products stay eligible: they are the strongest
signal of what a user buys next.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from pyspark.ml.recommendation import ALSModel
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from ecom_assets.recommendation.als import (
    USER_INDEX,
    Indexers,
    product_index_table,
    recommend_from_factors,
    recommend_top,
    score_pairs,
    score_with_factors,
    user_index_table,
)
from ecom_assets.recommendation.hybrid_definition import (
    COMPONENTS,
    UNKNOWN_SEGMENT,
    CandidateSizes,
    Weights,
    hybrid_score,
)
from ecom_assets.recommendation.metrics import K, top_k

POPULARITY_HALF_LIFE_DAYS = 7.0


@dataclass(frozen=True)
class HybridInputs:
    """What the blend needs, all learned from one training period.

    ``segments``: (user_id, segment); ``popularity``: (segment, product_id, popularity_score) with a
    row per segment including ``UNKNOWN_SEGMENT`` (global popularity, for users with no segment);
    ``content``: (user_id, product_id, content_score); ``purchased``: (user_id, product_id); ``catalogue``:
    (product_id, product_idx) of the ALS model; ``categories``: (product_id, category_id) of every product
    the shop lists; ``affinity``: (user_id, category_id, affinity) (:func:`category_affinity`);
    ``user_factors``: (user_id, features) used instead of the model's own user factors when given: folded
    in during the replay, or the model's own factors of a scored sample (:func:`build_inputs`).
    ``user_index``: (user_id, user_idx) of the users the blend will score; scoring joins it rather than
    running the users' ``StringIndexerModel`` again, whose transform ships its whole label map (3 M users
    at the real size) with every later stage.
    """

    model: ALSModel | None
    indexers: Indexers | None
    catalogue: DataFrame | None
    segments: DataFrame
    popularity: DataFrame
    content: DataFrame
    purchased: DataFrame
    sizes: CandidateSizes
    categories: DataFrame
    affinity: DataFrame
    user_factors: DataFrame | None = None
    user_index: DataFrame | None = None


def recent_products(interactions: DataFrame, recent: int) -> DataFrame:
    """(user_id, product_id): the ``recent`` products each user touched last."""
    order = Window.partitionBy("user_id").orderBy(F.desc("last_seen"), F.desc("strength"), F.asc("product_id"))
    return interactions.withColumn("n", F.row_number().over(order)).where(F.col("n") <= recent).select(
        "user_id", "product_id")


def content_scores(recent: DataFrame, similarity: DataFrame) -> DataFrame:
    """(user_id, product_id, content_score): the best cosine of each product to one of the user's recent products."""
    neighbours = recent.join(similarity.select(F.col("product_id"), F.col("similar_product_id"), "similarity"),
                             "product_id").select("user_id", F.col("similar_product_id").alias("product_id"),
                                                  "similarity")
    itself = recent.select("user_id", "product_id", F.lit(1.0).alias("similarity"))
    return neighbours.unionByName(itself).groupBy("user_id", "product_id").agg(
        F.max("similarity").alias("content_score"))


def product_categories(attributes: DataFrame) -> DataFrame:
    """(product_id, category_id) of every product with a category, from ``product_attributes``."""
    return attributes.select("product_id", "category_id").where(F.col("category_id").isNotNull())


def category_affinity(interactions: DataFrame, categories: DataFrame) -> DataFrame:
    """(user_id, category_id, affinity): each user's strength in a category over their strongest one's, in (0, 1].

    The content component's second half: a product in the category a user spends most of their
    activity in matches that user as well as a recent product does, even when it is new or is not
    among any recent product's nearest neighbours (numpy form:
    :func:`ecom_assets.recommendation.serving.user_blend.category_affinity`).
    """
    per_category = interactions.where(F.col("strength") > 0).join(categories, "product_id").groupBy(
        "user_id", "category_id").agg(F.sum("strength").alias("category_strength"))
    best = F.max("category_strength").over(Window.partitionBy("user_id"))
    return per_category.select("user_id", "category_id", (F.col("category_strength") / best).alias("affinity"))


def segment_popularity(interactions: DataFrame, segments: DataFrame, as_of: dt.date) -> DataFrame:
    """(segment, product_id, popularity_score): recent popularity within each segment over its best, in [0, 1].

    Each pair's strength counts with a half-life of ``POPULARITY_HALF_LIFE_DAYS`` before ``as_of``
    (what sold last week predicts next week better than what sold a month ago); the score is the
    log of that sum over the log of the segment's best. Users without a segment and the global
    ranking both go under ``UNKNOWN_SEGMENT``.
    """
    age_days = F.greatest(F.datediff(F.lit(as_of), F.to_date("last_seen")), F.lit(0))
    decayed = interactions.withColumn("recent_strength",
                                      F.col("strength") * F.pow(F.lit(0.5), age_days / POPULARITY_HALF_LIFE_DAYS))
    by_segment = decayed.join(segments, "user_id", "left").groupBy("segment", "product_id").agg(
        F.sum("recent_strength").alias("popularity")).where(F.col("segment").isNotNull())
    overall = decayed.groupBy("product_id").agg(F.sum("recent_strength").alias("popularity")).withColumn(
        "segment", F.lit(UNKNOWN_SEGMENT))
    both = by_segment.unionByName(overall)
    best = F.max("popularity").over(Window.partitionBy("segment"))
    return both.select("segment", "product_id",
                       (F.log1p("popularity") / F.log1p(best)).alias("popularity_score"))


def build_inputs(interactions: DataFrame, similarity: DataFrame, segments: DataFrame, categories: DataFrame,
                 model: ALSModel | None, indexers: Indexers | None, as_of: dt.date,
                 sizes: CandidateSizes = CandidateSizes(), users: DataFrame | None = None) -> HybridInputs:
    """The blend's inputs from one period's interactions (user_id, product_id, strength, last_seen, purchased)
    and the products' ``categories`` (:func:`product_categories`).

    ``users``: the only users who will be scored, when known (a validation sample): their segments, content
    scores, category affinities, purchases and ALS factors alone are computed, instead of every user's (a
    hundred rows per user, factors of 3 M users at the real size) joined and filtered at every scoring;
    popularity and the catalogue still come from everyone's interactions. Every table is checkpointed
    lazily (on first use): the candidates, each pool's scoring and the samples read them up to six
    times, and popularity alone is an aggregation of every interaction.
    """
    mine = interactions if users is None else interactions.join(users.select("user_id"), "user_id", "left_semi")
    scored_users = interactions if users is None else users
    user_index = (user_index_table(indexers, scored_users).localCheckpoint(eager=False)
                  if indexers is not None else None)
    # A sample's tables are small and read by every scoring: kept. Every user's are read once (serving).
    kept: Callable[[DataFrame], DataFrame] = (
        (lambda frame: frame) if users is None else (lambda frame: frame.localCheckpoint(eager=False)))
    user_factors = None
    if users is not None and model is not None and user_index is not None:
        factors = model.userFactors.select(F.col("id").alias(USER_INDEX), "features")
        user_factors = kept(user_index.join(factors, USER_INDEX).select("user_id", "features"))
    return HybridInputs(
        model=model,
        indexers=indexers,
        # Both index tables checkpointed (lazily: on first use) so no later plan carries an indexer's label map.
        catalogue=product_index_table(indexers, interactions).localCheckpoint(eager=False)
        if indexers is not None else None,
        segments=kept(segments.select("user_id", "segment") if users is None else
                      segments.join(users.select("user_id"), "user_id", "left_semi").select("user_id", "segment")),
        popularity=segment_popularity(interactions, segments, as_of).localCheckpoint(eager=False),
        content=kept(content_scores(recent_products(mine, sizes.recent), similarity)),
        purchased=kept(mine.where("purchased").select("user_id", "product_id")),
        sizes=sizes,
        categories=categories,
        affinity=kept(category_affinity(mine, categories)),
        user_factors=user_factors,
        user_index=user_index,
    )


def with_segment(inputs: HybridInputs, users: DataFrame) -> DataFrame:
    """(user_id, segment) for ``users``; users without one get ``UNKNOWN_SEGMENT``."""
    return users.select("user_id").distinct().join(inputs.segments, "user_id", "left").select(
        "user_id", F.coalesce(F.col("segment"), F.lit(UNKNOWN_SEGMENT)).alias("segment"))


def als_candidates(inputs: HybridInputs, users: DataFrame) -> DataFrame:
    """(user_id, product_id, als_score) of the ALS model's best products for ``users`` (empty without a model)."""
    if inputs.model is None or inputs.indexers is None:
        return users.select("user_id").limit(0).select("user_id", F.lit(None).cast("long").alias("product_id"),
                                                       F.lit(None).cast("double").alias("als_score"))
    if inputs.user_factors is not None:
        factors = inputs.user_factors.join(users.select("user_id").distinct(), "user_id")
        top = recommend_from_factors(factors, inputs.model, inputs.catalogue, inputs.sizes.als)
        return top.select("user_id", "product_id", "als_score")
    known = users_indexed(inputs, users)
    top = recommend_top(inputs.model, known, inputs.catalogue, inputs.sizes.als)
    return top.select("user_id", "product_id", "als_score")


def users_indexed(inputs: HybridInputs, users: DataFrame) -> DataFrame:
    """(user_id, user_idx) of the distinct ``users`` the ALS model knows, joined on ``inputs.user_index``."""
    return inputs.user_index.join(users.select("user_id").distinct(), "user_id")


def indexed_pairs(inputs: HybridInputs, pairs: DataFrame) -> DataFrame:
    """``pairs`` (user_id, product_id) with user_idx and product_idx, pairs of an unknown id dropped (as
    :func:`~ecom_assets.recommendation.als.index_ids`), through joins on the inputs' index tables."""
    return pairs.join(inputs.user_index, "user_id").join(inputs.catalogue, "product_id")


def popular_candidates(popularity: DataFrame, n: int) -> DataFrame:
    """(segment, product_id, popularity_score, n): each segment's ``n`` most popular products."""
    best = Window.partitionBy("segment").orderBy(F.desc("popularity_score"), F.asc("product_id"))
    return popularity.withColumn("n", F.row_number().over(best)).where(F.col("n") <= n)


def candidates(inputs: HybridInputs, users: DataFrame, als_top: DataFrame | None = None) -> DataFrame:
    """(user_id, product_id): ALS, content and segment-popularity candidates of ``users``, purchases removed.
    ``als_top``: the users' :func:`als_candidates` when already computed (two pools of the same users)."""
    who = users.select("user_id").distinct()
    from_als = (als_top if als_top is not None else als_candidates(inputs, who)).select("user_id", "product_id")
    from_content = inputs.content.join(who, "user_id").select("user_id", "product_id")
    popular = popular_candidates(inputs.popularity, inputs.sizes.popular)
    from_popularity = with_segment(inputs, who).join(popular, "segment").select("user_id", "product_id")
    pool = from_als.unionByName(from_content).unionByName(from_popularity).distinct()
    return pool.join(inputs.purchased, ["user_id", "product_id"], "left_anti")


def with_popularity(scored: DataFrame, popularity: DataFrame) -> DataFrame:
    """``scored`` (with ``segment`` and ``product_id``) plus its ``popularity`` component: the product's
    popularity score in the user's segment, 0 for a product without one."""
    return (scored.join(popularity, ["segment", "product_id"], "left")
            .withColumn("popularity", F.coalesce(F.col("popularity_score"), F.lit(0.0)))
            .drop("popularity_score"))


def score_components(inputs: HybridInputs, pairs: DataFrame) -> DataFrame:
    """``pairs`` (user_id, product_id, ...) plus segment and the three normalised components.

    Implicit ALS fits a 0/1 preference, so its raw score is already on that scale: it is capped at 1,
    not rescaled per user, and a negative score (a predicted dislike) is kept. A user or product unknown to the ALS model scores 0 on that component.
    Content is the better of the best cosine to a recent product and the user's affinity to the product's category.
    """
    scored = pairs.join(with_segment(inputs, pairs), "user_id")
    if inputs.model is not None and inputs.indexers is not None:
        keys = pairs.select("user_id", "product_id").distinct()
        if inputs.user_factors is not None:
            raw = score_with_factors(inputs.user_factors, inputs.model, keys.join(inputs.catalogue, "product_id"))
        else:
            raw = score_pairs(inputs.model, indexed_pairs(inputs, keys))
        # least() skips nulls: an unknown user or product must score 0, not the cap.
        capped = F.least(F.coalesce(F.col("als_score"), F.lit(0.0)), F.lit(1.0))
        als = raw.select("user_id", "product_id", capped.alias("als"))
        scored = scored.join(als, ["user_id", "product_id"], "left")
    else:
        scored = scored.withColumn("als", F.lit(0.0))
    content = F.greatest(F.coalesce(F.col("content_score"), F.lit(0.0)), F.coalesce(F.col("affinity"), F.lit(0.0)))
    return (
        scored.join(inputs.content, ["user_id", "product_id"], "left")
        .transform(lambda frame: with_popularity(frame, inputs.popularity))
        .join(inputs.categories.select("product_id", F.col("category_id").alias("affinity_category")),
              "product_id", "left")
        .join(inputs.affinity.withColumnRenamed("category_id", "affinity_category"),
              ["user_id", "affinity_category"], "left")
        .select("*")
        .withColumn("als", F.coalesce(F.col("als"), F.lit(0.0)))
        .withColumn("content", content)
        .drop("content_score", "affinity_category", "affinity")
    )


def weights_frame(spark: SparkSession, weights: dict[str, Weights]) -> DataFrame:
    """(segment, w_als, w_content, w_popularity) from a segment -> weights table."""
    rows = [(segment, w.als, w.content, w.popularity) for segment, w in sorted(weights.items())]
    return spark.createDataFrame(rows, "segment string, w_als double, w_content double, w_popularity double")


def blend(scored: DataFrame, weights: DataFrame, fallback: Weights) -> DataFrame:
    """``scored`` plus ``hybrid_score``, with each user's segment weights (``fallback`` for other segments)."""
    joined = scored.join(F.broadcast(weights), "segment", "left")
    w = {c: F.coalesce(F.col(f"w_{c}"), F.lit(getattr(fallback, c))) for c in COMPONENTS}
    hybrid = hybrid_score(w["als"], w["content"], w["popularity"], F.col("als"), F.col("content"), F.col("popularity"))
    return joined.withColumn("hybrid_score", hybrid).drop(*[f"w_{c}" for c in COMPONENTS])


def grid_frame(spark: SparkSession, grid: list[Weights]) -> DataFrame:
    """(combo, w_als, w_content, w_popularity) for every weight triple of ``grid``."""
    rows = [(i, w.als, w.content, w.popularity) for i, w in enumerate(grid)]
    return spark.createDataFrame(rows, "combo int, w_als double, w_content double, w_popularity double")


def grid_top_k(scored: DataFrame, grid: DataFrame, k: int = K) -> DataFrame:
    """(combo, user_id, segment, product_id, rank): every user's top ``k`` under every weight triple."""
    blended = scored.crossJoin(F.broadcast(grid)).withColumn(
        "hybrid_score", hybrid_score(*(F.col(f"w_{c}") for c in COMPONENTS), *(F.col(c) for c in COMPONENTS)))
    return top_k(blended, "hybrid_score", k, group=("combo", "user_id")).select(
        "combo", "user_id", "segment", "product_id", "rank")


def segment_top_products(popularity: DataFrame, k: int = K) -> DataFrame:
    """(segment, product_id, popularity_score, rank): each segment's ``k`` most popular products (ties by
    product id), the list of a user with no history."""
    best = Window.partitionBy("segment").orderBy(F.desc("popularity_score"), F.asc("product_id"))
    return popularity.withColumn("rank", F.row_number().over(best)).where(F.col("rank") <= k)
