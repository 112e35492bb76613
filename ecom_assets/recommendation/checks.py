"""The recommendation assets' checks: what each one verifies (specs) and how (results from plain figures)."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ecom_assets.recommendation.cross_validation import CrossValidation
from ecom_assets.recommendation.metrics import K
from ecom_assets.recommendation.next_item import NextItemScore
from ecom_assets.recommendation.training import AlsTraining

MAX_INT32 = 2**31 - 1
SAMPLED_HIT_RATE_FLOOR = 0.70
COVERAGE_FLOOR = 0.01

ALS_CHECKS = [
    dg.AssetCheckSpec("ids_fit_in_32_bits", asset="als_model", blocking=True,
                      description="Re-indexed user and product ids are dense ints below 2^31."),
    dg.AssetCheckSpec("factors_finite", asset="als_model", blocking=True,
                      description="No NaN or infinite latent factor."),
]
CONTENT_CHECKS = [
    dg.AssetCheckSpec("neighbours_valid", asset="content_similarity",
                      description="Similarities in (0, 1], no product is its own neighbour, ranks 1..N."),
    dg.AssetCheckSpec("every_product_has_neighbours", asset="content_similarity",
                      description="Every product that shares a category, brand or price band token with "
                                  "another product has at least one neighbour."),
]
HYBRID_CHECKS = [
    dg.AssetCheckSpec("ten_per_user", asset="hybrid_recs",
                      description="Every training user gets 10 distinct products."),
    dg.AssetCheckSpec("no_purchased_products", asset="hybrid_recs",
                      description="No user is recommended a product they already bought."),
]
EVALUATION_CHECKS = [
    dg.AssetCheckSpec("hybrid_beats_popularity", asset="recs_evaluation",
                      description="The hybrid beats global and segment popularity on mean NDCG@10 and Recall@10 "
                                  "over the folds."),
    dg.AssetCheckSpec("sampled_hit_rate_above_70_percent", asset="recs_evaluation",
                      description=f"Hybrid sampled HitRate@10 (100 negatives), mean over the folds, "
                                  f">= {SAMPLED_HIT_RATE_FLOOR}."),
    dg.AssetCheckSpec("coverage_above_floor", asset="recs_evaluation",
                      description=f"The hybrid recommends at least {COVERAGE_FLOOR:.0%} of the catalogue "
                                  "(mean over the folds)."),
]
NEXT_ITEM_CHECKS = [
    dg.AssetCheckSpec("covisitation_beats_most_popular", asset="next_item_evaluation",
                      description="Item-to-item co-visitation beats the most popular products on Recall@20 and "
                                  "MRR@20 of the next view (the protocol's sanity check: sessions have structure)."),
]


def als_results(trained: AlsTraining, bad_factor_rows: int) -> list[dg.AssetCheckResult]:
    """``ALS_CHECKS`` from the trained model's sizes and its count of non-finite factor rows."""
    return [
        dg.AssetCheckResult(check_name="ids_fit_in_32_bits", passed=max(trained.users, trained.products) <= MAX_INT32,
                            metadata={"users": trained.users, "products": trained.products}),
        dg.AssetCheckResult(check_name="factors_finite", passed=bad_factor_rows == 0,
                            metadata={"rows_with_bad_factors": bad_factor_rows}),
    ]


@dataclass(frozen=True)
class SimilarityFigures:
    """What ``content_similarity``'s table holds: rows, products with neighbours and bad rows by kind."""

    rows: int
    products: int
    bad: dict[str, int]

    @staticmethod
    def of(table: DataFrame, neighbours: int) -> SimilarityFigures:
        """Counted in one Spark job."""
        stats = table.agg(
            F.count(F.lit(1)).alias("rows"),
            F.count_distinct("product_id").alias("products"),
            F.count_if((F.col("similarity") <= 0) | (F.col("similarity") > 1.000001)).alias("bad_similarity"),
            F.count_if(F.col("product_id") == F.col("similar_product_id")).alias("self"),
            F.count_if(~F.col("rank").between(1, neighbours)).alias("bad_rank"),
        ).collect()[0]
        return SimilarityFigures(int(stats["rows"]), int(stats["products"]),
                                 {k: int(stats[k]) for k in ("bad_similarity", "self", "bad_rank")})


def content_results(figures: SimilarityFigures, catalogue: int, isolated: int) -> list[dg.AssetCheckResult]:
    """``CONTENT_CHECKS`` from the table's figures, the catalogue's size and its isolated products."""
    return [
        dg.AssetCheckResult(check_name="neighbours_valid", passed=sum(figures.bad.values()) == 0,
                            metadata=figures.bad),
        dg.AssetCheckResult(check_name="every_product_has_neighbours",
                            passed=figures.products + isolated == catalogue,
                            metadata={"catalogue": catalogue, "with_neighbours": figures.products,
                                      "isolated": isolated}),
    ]


@dataclass(frozen=True)
class ListFigures:
    """What the served lists hold: rows, users served, training users, short lists, purchases served."""

    rows: int
    served_users: int
    users: int
    short: int
    purchased_served: int

    @staticmethod
    def of(table: DataFrame, interactions: DataFrame, purchased: DataFrame) -> ListFigures:
        """Counted on the written table against the training interactions and purchases."""
        per_user = table.groupBy("user_id").agg(F.count(F.lit(1)).alias("n"),
                                                F.size(F.collect_set("product_id")).alias("distinct"))
        short = per_user.where((F.col("n") < K) | (F.col("distinct") != F.col("n"))).count()
        users = interactions.select("user_id").distinct().count()
        served_users = per_user.count()
        purchased_served = table.join(purchased, ["user_id", "product_id"]).count()
        return ListFigures(table.count(), served_users, users, short, purchased_served)


def hybrid_results(figures: ListFigures) -> list[dg.AssetCheckResult]:
    """``HYBRID_CHECKS`` from the served lists' figures."""
    return [
        dg.AssetCheckResult(check_name="ten_per_user",
                            passed=figures.short == 0 and figures.served_users == figures.users,
                            metadata={"users_short_of_10": figures.short, "users": figures.users,
                                      "served": figures.served_users}),
        dg.AssetCheckResult(check_name="no_purchased_products", passed=figures.purchased_served == 0,
                            metadata={"purchased_recommended": figures.purchased_served}),
    ]


def evaluation_results(cv: CrossValidation) -> list[dg.AssetCheckResult]:
    """``EVALUATION_CHECKS`` on the cross-validated means (carts and purchases)."""
    sampled = cv.mean("hybrid", "sampled_hit_rate_at_10")
    coverage = cv.mean("hybrid", "catalogue_coverage")
    return [
        dg.AssetCheckResult(check_name="hybrid_beats_popularity", passed=cv.hybrid_beats_popularity(),
                            metadata={f"{n}_{m}": round(cv.mean(n, m), 5)
                                      for n in ("hybrid", "global_popularity", "segment_popularity")
                                      for m in ("ndcg_at_10", "recall_at_10")}),
        dg.AssetCheckResult(check_name="sampled_hit_rate_above_70_percent", passed=sampled >= SAMPLED_HIT_RATE_FLOOR,
                            metadata={"sampled_hit_rate_at_10_mean": round(sampled, 5),
                                      "folds": dg.MetadataValue.json(
                                          [round(v, 5) for v in cv.values("hybrid", "sampled_hit_rate_at_10")])}),
        dg.AssetCheckResult(check_name="coverage_above_floor", passed=coverage >= COVERAGE_FLOOR,
                            metadata={"catalogue_coverage_mean": round(coverage, 5)}),
    ]


def next_item_results(scores: list[NextItemScore]) -> list[dg.AssetCheckResult]:
    """``NEXT_ITEM_CHECKS`` from the two baselines' scores."""
    by_name = {s.recommender: s for s in scores}
    covisit, popular = by_name["covisitation"], by_name["most_popular"]
    return [dg.AssetCheckResult(
        check_name="covisitation_beats_most_popular",
        passed=covisit.recall_at_20 > popular.recall_at_20 and covisit.mrr_at_20 > popular.mrr_at_20,
        metadata={f"{s.recommender}_{m}": round(getattr(s, m), 5) for s in scores
                  for m in ("recall_at_20", "mrr_at_20")})]
