"""The served blend written as Spark joins, the reference the one-row-per-user pass is checked against."""

from __future__ import annotations

from pyspark.sql import DataFrame

from ecom_assets.recommendation.hybrid import HybridInputs, blend, score_components
from ecom_assets.recommendation.hybrid_definition import COMPONENTS, Weights
from ecom_assets.recommendation.metrics import K, top_k


def joined_blend(inputs: HybridInputs, pool: DataFrame, weights: DataFrame, fallback: Weights, k: int = K) -> DataFrame:
    """(user_id, segment, product_id, rank, hybrid_score, als, content, popularity): the top ``k`` per user
    of the candidate ``pool``, each component joined on and blended in Spark (as the tuning and the
    evaluation rank candidates)."""
    scored = score_components(inputs, pool)
    return top_k(blend(scored, weights, fallback), "hybrid_score", k).select(
        "user_id", "segment", "product_id", "rank", "hybrid_score", *COMPONENTS)
