"""Recommendation assets: ALS, content similarity, the hybrid's top-10 per user and its offline evaluation.

Each asset reads its inputs, calls the plain functions of this stage (``training``, ``content``,
``hybrid``, ``serving``, ``evaluation``), writes the tables and reports; the tables written beside the
main one are assets of their own, so the lineage shows them. Checks: :mod:`.checks`.
"""

import statistics

import dagster as dg

from ecom_assets.ingest.tables import read_raw_events
from ecom_assets.recommendation import checks, stored
from ecom_assets.recommendation.als import AlsParams, product_index_table, user_index_table
from ecom_assets.recommendation.content import (
    isolated_products,
    price_bands,
    product_attributes,
    product_tokens,
    similar_products,
)
from ecom_assets.recommendation.cross_validation import CrossValidation, TrainedContext, evaluate_validation_week
from ecom_assets.recommendation.evaluation import evaluate_holdout
from ecom_assets.recommendation.hybrid import segment_top_products
from ecom_assets.recommendation.hybrid_definition import WEIGHT_STEP, CandidateSizes, HybridSettings
from ecom_assets.recommendation.interactions import (
    Window,
    events_in,
    interaction_strengths,
    product_popularity,
    rolling_folds,
)
from ecom_assets.recommendation.next_item import PUBLISHED_GRU4REC, evaluate_next_item, scores_table
from ecom_assets.recommendation.serving.user_blend import serve_training_users
from ecom_assets.recommendation.training import AlsSearch, train_als, tune_blend_weights
from ecom_assets.recommendation.tuning import TUNING_TRAIN_USERS_CAP, TUNING_USERS_CAP
from ecom_assets.resources import LakeResource, SparkResource, TrainingResource
from ecom_assets.table_metadata import markdown_preview, table_metadata

GROUP = "recommendation"
DEFAULT_SIZES = CandidateSizes()


def _window(training: TrainingResource) -> Window:
    """The training resource's days as the recommenders' window."""
    return Window(training.window.start, training.window.end)


def _side_table(key: str, path: str) -> dg.MaterializeResult:
    """The materialization of a table written beside an asset's main output."""
    return dg.MaterializeResult(asset_key=key, metadata={"path": dg.MetadataValue.path(path)})


class AlsConfig(dg.Config):
    """The ALS grid searched on rolling validation weeks (every combination is fitted on every fold)."""

    # Rank 16 lost to 32 on every fold of generated data (NDCG@10 0.12-0.14 against 0.14-0.16).
    ranks: list[int] = [32]
    # regParam 0.05 and 0.1 lost to 0.5 on every fold and in bench/als_vs_implicit.py.
    reg_params: list[float] = [0.5]
    alphas: list[float] = [5.0, 20.0]
    # (cart, purchase) strengths against a view's 1: a steep and a flat scheme.
    event_weights: list[list[float]] = [[4.0, 8.0], [2.0, 3.0]]
    max_iter: int = 10
    folds: int = 2
    tuning_users: int = TUNING_USERS_CAP
    # Users whose interactions fit each tuning model (evaluated users first); the final fit uses all.
    tuning_train_users: int = TUNING_TRAIN_USERS_CAP

    def search(self) -> AlsSearch:
        """The grid as the training function takes it."""
        return AlsSearch(self.ranks, self.reg_params, self.alphas, self.event_weights, self.max_iter, self.folds,
                         self.tuning_users, self.tuning_train_users)


@dg.multi_asset(
    specs=[
        dg.AssetSpec("als_model", group_name=GROUP, deps=["raw_events"], kinds={"spark", "sparkml"}, description=(
            "Collaborative filtering (Spark ML ALS, implicit feedback) on the training window. Confidence per "
            "user-product pair = 1 + alpha x (views + carts x c + purchases x p). The cart and purchase strengths "
            "c and p, rank, regularisation and alpha are chosen by NDCG@10 on rolling validation weeks (train on "
            "the days before each week, predict its carts and purchases; each week's fits use at most "
            "tuning_train_users users, the evaluated ones first); the final model is then fitted on the whole "
            "window, every user. Saved in Spark ML format under models/als with the id indexers "
            "(models/als_indexers), its parameters (models/als_params) and each validation week's model "
            "(models/als_folds).")),
        dg.AssetSpec("als_user_index", group_name=GROUP, deps=["als_model"], kinds={"parquet"},
                     description="(user_id, user_idx): the ALS model's dense user index (processed/als_user_index)."),
        dg.AssetSpec("als_product_index", group_name=GROUP, deps=["als_model"], kinds={"parquet"},
                     description="(product_id, product_idx): the ALS model's dense product index "
                                 "(processed/als_product_index)."),
    ],
    check_specs=checks.ALS_CHECKS,
)
def als_model(context: dg.AssetExecutionContext, config: AlsConfig, spark: SparkResource, lake: LakeResource,
              training: TrainingResource):
    """ALS tuned on validation weeks, then fitted on the whole training window."""
    session = spark.get_session()
    window = _window(training)
    trained = train_als(read_raw_events(session, lake.lake), window, config.search(), log=context.log.info)
    context.log.info("saving the fold models, the final model and the id indexes")
    for f, (model, indexers) in trained.fold_models.items():
        model.write().overwrite().save(f"{stored.fold_model_path(lake.lake, f)}/als")
        indexers.save(f"{stored.fold_model_path(lake.lake, f)}/indexers")
    trained.model.write().overwrite().save(lake.lake.model(stored.ALS_MODEL))
    trained.indexers.save(lake.lake.model(stored.ALS_INDEXERS))
    trained.best.params.save(session, lake.lake.model(stored.ALS_PARAMS))
    users = lake.write_processed(user_index_table(trained.indexers, trained.interactions), "als_user_index")
    products = lake.write_processed(product_index_table(trained.indexers, trained.interactions), "als_product_index")
    yield dg.MaterializeResult(asset_key="als_model", metadata={
        "path": dg.MetadataValue.path(lake.lake.model(stored.ALS_MODEL)),
        "params": dg.MetadataValue.json(trained.best.params.as_dict()),
        "event_weights": dg.MetadataValue.json(trained.best.params.event_weights()),
        "validation_ndcg_at_10": round(trained.best.mean_ndcg, 5),
        "validation_ndcg_at_10_fold_spread": round(trained.best.ndcg_spread, 5),
        "validation_weeks": dg.MetadataValue.json([str(f.fold.evaluate) for f in trained.folds]),
        "grid": dg.MetadataValue.json(trained.grid_table()),
        "users": trained.users, "products": trained.products,
        "training_pairs": trained.interactions.count(), "training_window": str(window),
    }, check_results=checks.als_results(trained, trained.rows_with_bad_factors()))
    yield _side_table("als_user_index", users)
    yield _side_table("als_product_index", products)


class ContentConfig(dg.Config):
    """How many neighbours each product keeps."""

    neighbours: int = 20


@dg.multi_asset(
    specs=[
        dg.AssetSpec("content_similarity", group_name=GROUP, deps=["raw_events"], kinds={"spark", "parquet"},
                     description=(
            "The most similar products of every product by content: TF-IDF over the category levels "
            "(electronics > electronics.audio > electronics.audio.headphone), category id, brand and a price band "
            "within the category, compared by cosine. The catalogue is every product in the lake (a shop knows "
            "its products before anyone views them), so products new in November have neighbours; ties go to "
            "products popular in the training window.")),
        dg.AssetSpec("product_attributes", group_name=GROUP, deps=["raw_events"], kinds={"parquet"},
                     description="Every product's latest category, brand and price, with its price band within its "
                                 "category (processed/product_attributes): what content similarity compares."),
    ],
    check_specs=checks.CONTENT_CHECKS,
)
def content_similarity(config: ContentConfig, spark: SparkResource, lake: LakeResource, training: TrainingResource):
    """Content neighbours of every product, and the product attributes they come from."""
    session = spark.get_session()
    events = read_raw_events(session, lake.lake)
    attributes = price_bands(product_attributes(events)).cache()
    popularity = product_popularity(interaction_strengths(events_in(events, _window(training))))
    tokens = product_tokens(attributes).cache()
    path = lake.write_processed(similar_products(tokens, popularity, config.neighbours), "content_similarity")
    attributes_path = lake.write_processed(attributes, "product_attributes")
    table = lake.read_processed(session, "content_similarity")
    figures = checks.SimilarityFigures.of(table, config.neighbours)
    catalogue, isolated = attributes.count(), isolated_products(tokens).count()
    yield dg.MaterializeResult(
        asset_key="content_similarity",
        metadata=table_metadata(table.orderBy("product_id", "rank"), path, figures.rows, catalogue_products=catalogue,
                                products_with_neighbours=figures.products, isolated_products=isolated,
                                mean_neighbours=round(figures.rows / max(figures.products, 1), 2)),
        check_results=checks.content_results(figures, catalogue, isolated))
    yield _side_table("product_attributes", attributes_path)


class HybridConfig(dg.Config):
    """The blend's weight grid, the validation folds (as for ``als_model``) and the candidate pool sizes."""

    weight_step: float = WEIGHT_STEP
    folds: int = 2
    tuning_users: int = TUNING_USERS_CAP
    als_candidates: int = DEFAULT_SIZES.als
    recent_products: int = DEFAULT_SIZES.recent
    popular_candidates: int = DEFAULT_SIZES.popular

    def settings(self) -> HybridSettings:
        """The sizes and grid step this run blends with (recorded in ``hybrid_settings``)."""
        return HybridSettings(CandidateSizes(self.als_candidates, self.recent_products, self.popular_candidates),
                              self.weight_step)


@dg.multi_asset(
    specs=[
        dg.AssetSpec("hybrid_recs", group_name=GROUP, kinds={"spark", "parquet"},
                     deps=["als_model", "content_similarity", "product_attributes", "user_segments", "hybrid_weights"],
                     description=(
            "Top-10 products per user: a weighted blend of the ALS score, content (similarity to the user's recent "
            "products, or the user's affinity to the product's category) and popularity in the user's segment. "
            "Already purchased products are left out (durable goods); viewed and carted ones stay. Users with no history get their segment's most popular "
            "products (segment_top_products; segment Unknown = global).")),
        dg.AssetSpec("hybrid_weights", group_name=GROUP, kinds={"parquet"},
                     deps=["als_model", "content_similarity", "product_attributes", "user_segments"], description=(
            "The blend's weights per segment, chosen by NDCG@10 on the same rolling validation weeks as ALS "
            "(small segments and Unknown take the overall choice), with each fold's NDCG@10.")),
        dg.AssetSpec("hybrid_settings", group_name=GROUP, kinds={"parquet"}, description=(
            "The candidate sizes, weight step and minimum segment size hybrid_recs ran with: the evaluation and "
            "the replay blend with them.")),
        dg.AssetSpec("segment_popularity", group_name=GROUP, kinds={"parquet"}, deps=["user_segments"],
                     description="Each product's recent popularity score within each segment (0..1, half-life "
                                 "7 days): the blend's popularity component."),
        dg.AssetSpec("segment_top_products", group_name=GROUP, kinds={"parquet"}, deps=["segment_popularity"],
                     description="Each segment's 10 most popular products: the list of a user with no history."),
    ],
    check_specs=checks.HYBRID_CHECKS,
)
def hybrid_recs(context: dg.AssetExecutionContext, config: HybridConfig, spark: SparkResource, lake: LakeResource,
                training: TrainingResource):
    """The blend's weights tuned per segment, then every training user's top-10."""
    session, settings, window = spark.get_session(), config.settings(), _window(training)
    choice = tune_blend_weights(
        session, read_raw_events(session, lake.lake), lake.read_processed(session, "content_similarity"),
        lake.read_processed(session, "user_segments").select("user_id", "segment"),
        stored.read_categories(session, lake), window, config.folds,
        config.tuning_users, settings, lambda f: stored.load_fold_model(lake.lake, f, config.folds),
        log=context.log.info)
    weights_path = lake.write_processed(stored.weights_table(session, choice.by_segment), stored.HYBRID_WEIGHTS)
    settings_path = lake.write_processed(stored.settings_table(session, settings), stored.HYBRID_SETTINGS)
    interactions = stored.training_interactions(session, lake, window)
    inputs = stored.trained_inputs(session, lake, window.end, settings, interactions)
    weights = {segment: c.weights for segment, c in choice.by_segment.items()}
    similarity = lake.read_processed(session, "content_similarity")
    path = lake.write_processed(
        serve_training_users(inputs, interactions, similarity, weights, choice.overall.weights), "hybrid_recs")
    top_path = lake.write_processed(segment_top_products(inputs.popularity), "segment_top_products")
    popularity_path = lake.write_processed(inputs.popularity, "segment_popularity")
    table = lake.read_processed(session, "hybrid_recs")
    figures = checks.ListFigures.of(table, interactions, inputs.purchased)
    # A multi-asset yields in the order of its assets' dependencies: the side tables hybrid_recs reads first.
    for key, written in (("hybrid_weights", weights_path), ("hybrid_settings", settings_path),
                         ("segment_popularity", popularity_path), ("segment_top_products", top_path)):
        yield _side_table(key, written)
    yield dg.MaterializeResult(asset_key="hybrid_recs", metadata=table_metadata(
        table.orderBy("user_id", "rank"), path, figures.rows, users=figures.served_users,
        weights_by_segment=dg.MetadataValue.json({s: w.as_dict() for s, w in sorted(weights.items())}),
        validation_ndcg_at_10=round(statistics.fmean(choice.overall.fold_ndcg), 5),
        validation_ndcg_at_10_fold_spread=round(choice.overall.spread, 5), weight_grid_size=choice.grid_size,
    ), check_results=checks.hybrid_results(figures))


class EvaluationConfig(dg.Config):
    """The folds and the caps that bound the evaluation's cost at full scale (hash samples, deterministic)."""

    # The holdout week, then this many minus one validation weeks before the training window's end.
    folds: int = 3
    max_users: int = 20_000
    sampled_positives: int = 10_000


@dg.asset(
    group_name=GROUP,
    deps=["hybrid_recs", "hybrid_weights", "hybrid_settings"],
    kinds={"spark", "parquet"},
    check_specs=checks.EVALUATION_CHECKS,
)
def recs_evaluation(config: EvaluationConfig, spark: SparkResource, lake: LakeResource,
                    training: TrainingResource) -> dg.MaterializeResult:
    """Offline relevance, cross-validated on rolling weeks: the week after training (November's first, the
    served lists) and the validation weeks before its end (each trained on the days before it, scored on
    the half of its users the tuning never saw); at most max_users users per week. HitRate, Precision,
    Recall, NDCG, MAP at 10 and catalogue coverage against what they carted or bought (and, separately,
    viewed), plus sampled HitRate@10 (each positive ranked among 100 random products the user never touched:
    the protocol behind the specification's "relevance > 70%"); mean and spread over the weeks. Compared:
    global popularity, segment popularity, ALS alone, content alone and the hybrid, blended with the sizes
    and weights hybrid_recs ran with."""
    session, window = spark.get_session(), _window(training)
    events, interactions = read_raw_events(session, lake.lake), stored.training_interactions(session, lake, window)
    weights, fallback = stored.read_hybrid_weights(session, lake)
    settings = stored.read_hybrid_settings(session, lake)
    holdout = evaluate_holdout(
        session, events, interactions, window,
        lambda users: stored.trained_inputs(session, lake, window.end, settings, interactions, users),
        lake.read_processed(session, "hybrid_recs"), weights, fallback, config.max_users, config.sampled_positives)
    interactions.unpersist()
    context = TrainedContext(lake.read_processed(session, "content_similarity"),
                             lake.read_processed(session, "user_segments").select("user_id", "segment"),
                             stored.read_categories(session, lake), settings.sizes)
    params = AlsParams.load(session, lake.lake.model(stored.ALS_PARAMS))
    weeks = [evaluate_validation_week(session, events, fold, params, context, weights, fallback, config.max_users,
                                      config.sampled_positives) for fold in rolling_folds(window, config.folds - 1)]
    cv = CrossValidation([holdout, *weeks])
    path = lake.write_processed(cv.table(), "recs_evaluation")
    lake.write_processed(cv.segment_table(), "recs_evaluation_by_segment")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(path),
            "ndcg_at_10_by_segment": dg.MetadataValue.json(cv.ndcg_by_segment()), "folds": dg.MetadataValue.json([str(f.test) for f in cv.folds]),
            "cross_validated": dg.MetadataValue.md(cv.summary_markdown()),
            "cart_or_purchase": dg.MetadataValue.json(cv.summary()),
            "holdout": dg.MetadataValue.json({name: ev.as_dict() for name, ev in holdout.main.items()}),
            "hybrid_ndcg_at_10": round(cv.mean("hybrid", "ndcg_at_10"), 5),
            "hybrid_sampled_hit_rate_at_10": round(cv.mean("hybrid", "sampled_hit_rate_at_10"), 5),
            "users_per_fold": dg.MetadataValue.json([f.main["hybrid"].metrics.users for f in cv.folds]),
            "hybrid_settings": dg.MetadataValue.json(settings.as_row()),
        },
        check_results=checks.evaluation_results(cv),
    )


@dg.asset(group_name=GROUP, deps=["raw_events"], kinds={"spark", "parquet"}, check_specs=checks.NEXT_ITEM_CHECKS)
def next_item_evaluation(context: dg.AssetExecutionContext, spark: SparkResource,
                         lake: LakeResource) -> dg.MaterializeResult:
    """The session-based next-item protocol of the published results on this dataset, beside ours: view
    sessions of both months cut after 1 h of silence, consecutive repeats removed, sessions of >= 2 views and
    products seen >= 5 times (filtered until stable), test = the sessions starting on the last day, every
    product ranked; Recall@20 and MRR@20 of the next view for the most popular products and item-to-item
    co-visitation. Comparable with the published figures (GRU4Rec: Recall@20 0.529, MRR@20 0.201) only when
    the lake holds the real files; on generated data they only compare the two baselines."""
    session = spark.get_session()
    scores, figures = evaluate_next_item(session, read_raw_events(session, lake.lake), log=context.log.info)
    table = scores_table(session, scores)
    path = lake.write_processed(table, "next_item_evaluation")
    return dg.MaterializeResult(
        metadata={"path": dg.MetadataValue.path(path), "results": dg.MetadataValue.md(markdown_preview(table, 10)),
                  **{f"{s.recommender}_{m}": round(getattr(s, m), 5) for s in scores
                     for m in ("recall_at_20", "mrr_at_20")},
                  "protocol": dg.MetadataValue.json(figures.as_dict()),
                  "published_gru4rec_real_files": dg.MetadataValue.json(PUBLISHED_GRU4REC)},
        check_results=checks.next_item_results(scores))


RECOMMENDATION_ASSETS = [als_model, content_similarity, hybrid_recs, recs_evaluation, next_item_evaluation]
