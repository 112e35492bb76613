"""Recommendation assets: ALS, content similarity, the hybrid's top-10 per user and its offline evaluation."""

import statistics

import dagster as dg
from pyspark.ml.recommendation import ALSModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import Window as SparkWindow
from pyspark.sql import functions as F

from ecom_assets.ingest.tables import read_raw_events
from ecom_assets.lake import Lake
from ecom_assets.recommendation.als import (
    USER_INDEX,
    Indexers,
    ItemFactors,
    fit_als,
    fit_indexers,
    index_ids,
    product_index_table,
    user_index_table,
)
from ecom_assets.recommendation.content import (
    isolated_products,
    price_bands,
    product_attributes,
    product_tokens,
    similar_products,
)
from ecom_assets.recommendation.evaluation import (
    BASELINES,
    Evaluation,
    evaluate,
    evaluated_users,
    negative_samples,
    rank_with,
    restrict,
    scored_candidates,
    without_segments,
)
from ecom_assets.recommendation.hybrid import (
    UNKNOWN_SEGMENT,
    CandidateSizes,
    HybridInputs,
    Weights,
    build_inputs,
    popular_candidates,
    score_components,
    weight_grid,
    with_segment,
)
from ecom_assets.recommendation.interactions import (
    Window,
    events_in,
    ground_truth,
    holdout_window,
    interaction_strengths,
    product_popularity,
    rolling_folds,
)
from ecom_assets.recommendation.metrics import K
from ecom_assets.recommendation.tuning import (
    TUNING_TRAIN_USERS_CAP,
    TUNING_USERS_CAP,
    als_grid,
    choose_weights,
    fold_inputs,
    grid_metrics,
    prepare_fold,
    tune_als,
)
from ecom_assets.recommendation.user_blend import BlendTables, recommend_per_user
from ecom_assets.resources import LakeResource, SparkResource
from ecom_assets.settings import load_settings
from ecom_assets.table_metadata import markdown_preview, table_metadata

GROUP = "recommendation"
ALS_MODEL = "als"
ALS_INDEXERS = "als_indexers"
ALS_PARAMS = "als_params"
MAX_INT32 = 2**31 - 1
SAMPLED_HIT_RATE_FLOOR = 0.70
COVERAGE_FLOOR = 0.01


def _training_window() -> Window:
    """The models' training days from the settings."""
    window = load_settings().training_window
    return Window(window.start, window.end)


def _fold_model_path(lake: Lake, fold: int) -> str:
    """Where the chosen ALS parameters' model of one validation fold is kept (for tuning the blend)."""
    return lake.model(f"als_folds/fold_{fold}")


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


@dg.asset(
    group_name=GROUP,
    deps=["raw_events"],
    kinds={"spark", "sparkml"},
    check_specs=[
        dg.AssetCheckSpec("ids_fit_in_32_bits", asset="als_model", blocking=True,
                          description="Re-indexed user and product ids are dense ints below 2^31."),
        dg.AssetCheckSpec("factors_finite", asset="als_model", blocking=True,
                          description="No NaN or infinite latent factor."),
    ],
)
def als_model(context: dg.AssetExecutionContext, config: AlsConfig, spark: SparkResource,
              lake: LakeResource) -> dg.MaterializeResult:
    """Collaborative filtering (Spark ML ALS, implicit feedback) on the training window.

    Confidence per user-product pair = 1 + alpha x (views + carts x c + purchases x p). The cart and
    purchase strengths c and p, rank, regularisation and alpha are chosen by NDCG@10 on rolling
    validation weeks (train on the days before each week, predict its carts and purchases; each week's
    fits use at most ``tuning_train_users`` users, the evaluated ones first); the final model is then
    fitted on the whole window, every user. Saved in Spark ML format under models/als with the id
    indexers (models/als_indexers).
    """
    session = spark.get_session()
    events = read_raw_events(session, lake.lake)
    training = _training_window()
    folds = [prepare_fold(events, fold, config.tuning_users) for fold in rolling_folds(training, config.folds)]
    if not folds:
        raise dg.Failure(description=f"the training window {training} is too short for a validation week")
    schemes = [(float(w[0]), float(w[1])) for w in config.event_weights]
    if any(len(w) != 2 or min(w) <= 0 for w in config.event_weights):
        raise dg.Failure(description=f"event_weights must be [cart, purchase] pairs of positive numbers, "
                         f"got {config.event_weights}")
    grid = als_grid(config.ranks, config.reg_params, config.alphas, config.max_iter, schemes)
    best, trials, fold_models = tune_als(folds, grid, config.tuning_train_users, log=context.log.info)
    for f, (model, indexers) in fold_models.items():
        model.write().overwrite().save(f"{_fold_model_path(lake.lake, f)}/als")
        indexers.save(f"{_fold_model_path(lake.lake, f)}/indexers")

    interactions = interaction_strengths(events_in(events, training), best.params.event_weights()).cache()
    indexers = fit_indexers(interactions)
    ratings = index_ids(indexers, interactions).select("user_idx", "product_idx", "strength")
    model = fit_als(ratings, best.params)
    model.write().overwrite().save(lake.lake.model(ALS_MODEL))
    indexers.save(lake.lake.model(ALS_INDEXERS))
    best.params.save(session, lake.lake.model(ALS_PARAMS))
    lake.write_processed(user_index_table(indexers, interactions), "als_user_index")
    lake.write_processed(product_index_table(indexers, interactions), "als_product_index")
    users, products = len(indexers.users.labelsArray[0]), len(indexers.products.labelsArray[0])
    finite = lambda frame: frame.where(F.exists("features", lambda x: F.isnan(x) | (F.abs(x) == float("inf")))).count()
    bad_factors = finite(model.userFactors) + finite(model.itemFactors)
    trial_table = {t.params.label(): {"mean_ndcg_at_10": round(t.mean_ndcg, 5),
                                      "fold_ndcg_at_10": [round(m.ndcg_at_10, 5) for m in t.fold_metrics]}
                   for t in trials}
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(lake.lake.model(ALS_MODEL)),
            "params": dg.MetadataValue.json(best.params.as_dict()),
            "event_weights": dg.MetadataValue.json(best.params.event_weights()),
            "validation_ndcg_at_10": round(best.mean_ndcg, 5),
            "validation_ndcg_at_10_fold_spread": round(best.ndcg_spread, 5),
            "validation_weeks": dg.MetadataValue.json([str(f.fold.evaluate) for f in folds]),
            "grid": dg.MetadataValue.json(trial_table),
            "users": users,
            "products": products,
            "training_pairs": interactions.count(),
            "training_window": str(training),
        },
        check_results=[
            dg.AssetCheckResult(check_name="ids_fit_in_32_bits", passed=max(users, products) <= MAX_INT32,
                                metadata={"users": users, "products": products}),
            dg.AssetCheckResult(check_name="factors_finite", passed=bad_factors == 0,
                                metadata={"rows_with_bad_factors": bad_factors}),
        ],
    )


class ContentConfig(dg.Config):
    """How many neighbours each product keeps."""

    neighbours: int = 20


@dg.asset(
    group_name=GROUP,
    deps=["raw_events"],
    kinds={"spark", "parquet"},
    check_specs=[
        dg.AssetCheckSpec("neighbours_valid", asset="content_similarity",
                          description="Similarities in (0, 1], no product is its own neighbour, ranks 1..N."),
        dg.AssetCheckSpec("every_product_has_neighbours", asset="content_similarity",
                          description="Every product that shares a category, brand or price band token with "
                                      "another product has at least one neighbour."),
    ],
)
def content_similarity(config: ContentConfig, spark: SparkResource, lake: LakeResource) -> dg.MaterializeResult:
    """The most similar products of every product by content: TF-IDF over the category levels
    (electronics > electronics.audio > electronics.audio.headphone), category id, brand and a price band
    within the category, compared by cosine. The catalogue is every product in the lake (a shop knows
    its products before anyone views them), so products new in November have neighbours; ties go to
    products popular in the training window."""
    session = spark.get_session()
    events = read_raw_events(session, lake.lake)
    attributes = price_bands(product_attributes(events)).cache()
    popularity = product_popularity(interaction_strengths(events_in(events, _training_window())))
    tokens = product_tokens(attributes).cache()
    neighbours = similar_products(tokens, popularity, config.neighbours)
    path = lake.write_processed(neighbours, "content_similarity")
    lake.write_processed(attributes, "product_attributes")
    table = lake.read_processed(session, "content_similarity")
    stats = table.agg(
        F.count(F.lit(1)).alias("rows"),
        F.count_distinct("product_id").alias("products"),
        F.count_if((F.col("similarity") <= 0) | (F.col("similarity") > 1.000001)).alias("bad_similarity"),
        F.count_if(F.col("product_id") == F.col("similar_product_id")).alias("self"),
        F.count_if(~F.col("rank").between(1, config.neighbours)).alias("bad_rank"),
    ).collect()[0]
    catalogue = attributes.count()
    isolated = isolated_products(tokens).count()
    products = int(stats["products"])
    bad = int(stats["bad_similarity"]) + int(stats["self"]) + int(stats["bad_rank"])
    return dg.MaterializeResult(
        metadata=table_metadata(table.orderBy("product_id", "rank"), path, int(stats["rows"]),
                                catalogue_products=catalogue, products_with_neighbours=products,
                                isolated_products=isolated,
                                mean_neighbours=round(int(stats["rows"]) / max(products, 1), 2)),
        check_results=[
            dg.AssetCheckResult(check_name="neighbours_valid", passed=bad == 0,
                                metadata={k: int(stats[k]) for k in ("bad_similarity", "self", "bad_rank")}),
            dg.AssetCheckResult(check_name="every_product_has_neighbours",
                                passed=products + isolated == catalogue,
                                metadata={"catalogue": catalogue, "with_neighbours": products,
                                          "isolated": isolated}),
        ],
    )


class HybridConfig(dg.Config):
    """The blend's weight grid, the validation folds (as for ``als_model``) and the candidate pool sizes."""

    weight_step: float = 0.25
    folds: int = 2
    tuning_users: int = TUNING_USERS_CAP
    als_candidates: int = 30
    recent_products: int = 10
    popular_candidates: int = 30

    def sizes(self) -> CandidateSizes:
        """The candidate pool sizes."""
        return CandidateSizes(self.als_candidates, self.recent_products, self.popular_candidates)


def _final_interactions(session: SparkSession, lake: LakeResource) -> DataFrame:
    """The interactions of the whole training window (cached)."""
    return interaction_strengths(events_in(read_raw_events(session, lake.lake), _training_window())).cache()


def _final_inputs(session: SparkSession, lake: LakeResource, sizes: CandidateSizes, interactions: DataFrame,
                  users: DataFrame | None = None) -> HybridInputs:
    """The blend's inputs learned on the whole training window (content scores of ``users`` only, when given)."""
    model = ALSModel.load(lake.lake.model(ALS_MODEL))
    indexers = Indexers.load(lake.lake.model(ALS_INDEXERS))
    similarity = lake.read_processed(session, "content_similarity")
    segments = lake.read_processed(session, "user_segments").select("user_id", "segment")
    as_of = _training_window().end
    return build_inputs(interactions, similarity, segments, model, indexers, as_of, sizes, users=users)


def read_hybrid_weights(session: SparkSession, lake: LakeResource) -> tuple[dict[str, Weights], Weights]:
    """The per-segment weights written by ``hybrid_recs`` and the fallback (the ``Unknown`` row)."""
    rows = lake.read_processed(session, "hybrid_weights").collect()
    weights = {r["segment"]: Weights(r["w_als"], r["w_content"], r["w_popularity"]) for r in rows}
    return weights, weights[UNKNOWN_SEGMENT]


def _served_lists(inputs: HybridInputs, interactions: DataFrame, weights: dict[str, Weights],
                  fallback: Weights) -> DataFrame:
    """Every training user's top-10 under the chosen weights, one row per user through
    :func:`recommend_per_user` (the blend's constants collected once on the driver)."""
    if inputs.model is None or inputs.indexers is None or inputs.catalogue is None:
        raise dg.Failure(description="hybrid_recs needs the ALS model: materialize als_model first")
    popular = popular_candidates(inputs.popularity, inputs.sizes.popular)
    tables = BlendTables.collect(ItemFactors.of(inputs.model), inputs.catalogue, inputs.popularity, popular,
                                 weights, fallback, inputs.sizes)
    users = with_segment(inputs, interactions)
    factors = user_index_table(inputs.indexers, users).join(
        inputs.model.userFactors.select(F.col("id").alias(USER_INDEX), "features"), USER_INDEX)
    return recommend_per_user(users, factors.select("user_id", "features"), inputs.content, inputs.purchased, tables)


@dg.asset(
    group_name=GROUP,
    deps=[als_model, content_similarity, "user_segments"],
    kinds={"spark", "parquet"},
    check_specs=[
        dg.AssetCheckSpec("ten_per_user", asset="hybrid_recs",
                          description="Every training user gets 10 distinct products."),
        dg.AssetCheckSpec("no_purchased_products", asset="hybrid_recs",
                          description="No user is recommended a product they already bought."),
    ],
)
def hybrid_recs(context: dg.AssetExecutionContext, config: HybridConfig, spark: SparkResource,
                lake: LakeResource) -> dg.MaterializeResult:
    """Top-10 products per user: a weighted blend of the ALS score, content similarity to the user's recent
    products and popularity in the user's segment. The weights are chosen per segment by NDCG@10 on the
    same rolling validation weeks as ALS (small segments take the overall choice). Already purchased
    products are left out (durable goods); viewed and carted ones stay. Users with no history get
    their segment's most popular products (``segment_top_products``; segment ``Unknown`` = global)."""
    session = spark.get_session()
    events = read_raw_events(session, lake.lake)
    similarity = lake.read_processed(session, "content_similarity")
    segments = lake.read_processed(session, "user_segments").select("user_id", "segment")
    grid = weight_grid(config.weight_step)
    rows_per_fold = []
    for f, fold in enumerate(rolling_folds(_training_window(), config.folds)):
        path = _fold_model_path(lake.lake, f)
        try:
            model, indexers = ALSModel.load(f"{path}/als"), Indexers.load(f"{path}/indexers")
        except Exception as exc:
            raise dg.Failure(description=f"no ALS model for validation fold {f} under {path}: materialize "
                             f"als_model with folds >= {config.folds} first ({exc.__class__.__name__})") from exc
        data = prepare_fold(events, fold, config.tuning_users)
        inputs = fold_inputs(data, similarity, segments, model, indexers, config.sizes())
        rows_per_fold.append(grid_metrics(session, inputs, data, grid))
        context.log.info(f"fold {f} ({fold.evaluate}): {len(grid)} weight triples evaluated")
    overall, chosen = choose_weights(rows_per_fold, grid)
    choices = {**chosen, UNKNOWN_SEGMENT: overall}
    weight_rows = [(segment, c.weights.als, c.weights.content, c.weights.popularity, c.fold_ndcg, c.users)
                   for segment, c in sorted(choices.items())]
    weights_table = session.createDataFrame(
        weight_rows, "segment string, w_als double, w_content double, w_popularity double, "
                     "fold_ndcg_at_10 array<double>, validation_users long")
    lake.write_processed(weights_table, "hybrid_weights")

    interactions = _final_interactions(session, lake)
    inputs = _final_inputs(session, lake, config.sizes(), interactions)
    weights = {segment: c.weights for segment, c in choices.items()}
    path = lake.write_processed(_served_lists(inputs, interactions, weights, overall.weights), "hybrid_recs")
    popular = inputs.popularity.withColumn(
        "rank", F.row_number().over(
            SparkWindow.partitionBy("segment").orderBy(F.desc("popularity_score"),
                                                                                 F.asc("product_id"))))
    lake.write_processed(popular.where(F.col("rank") <= K), "segment_top_products")
    lake.write_processed(inputs.popularity, "segment_popularity")
    table = lake.read_processed(session, "hybrid_recs")
    per_user = table.groupBy("user_id").agg(F.count(F.lit(1)).alias("n"),
                                            F.size(F.collect_set("product_id")).alias("distinct"))
    short = per_user.where((F.col("n") < K) | (F.col("distinct") != F.col("n"))).count()
    users = interactions.select("user_id").distinct().count()
    served_users = per_user.count()
    purchased_served = table.join(inputs.purchased, ["user_id", "product_id"]).count()
    rows = table.count()
    return dg.MaterializeResult(
        metadata=table_metadata(
            table.orderBy("user_id", "rank"), path, rows,
            users=served_users,
            weights_by_segment=dg.MetadataValue.json({s: w.as_dict() for s, w in sorted(weights.items())}),
            validation_ndcg_at_10=round(statistics.fmean(overall.fold_ndcg), 5),
            validation_ndcg_at_10_fold_spread=round(overall.spread, 5),
            weight_grid_size=len(grid),
        ),
        check_results=[
            dg.AssetCheckResult(check_name="ten_per_user", passed=short == 0 and served_users == users,
                                metadata={"users_short_of_10": short, "users": users, "served": served_users}),
            dg.AssetCheckResult(check_name="no_purchased_products", passed=purchased_served == 0,
                                metadata={"purchased_recommended": purchased_served}),
        ],
    )


class EvaluationConfig(dg.Config):
    """Caps that bound the evaluation's cost at full scale (hash samples, deterministic)."""

    max_users: int = 50_000
    sampled_positives: int = 20_000


def _evaluation_table(session: SparkSession, results: dict[tuple[str, str], Evaluation]) -> DataFrame:
    """One row per (recommender, ground truth) with every metric."""
    rows = []
    for (name, truth), ev in results.items():
        d = ev.as_dict()
        rows.append((name, truth, int(d["users"]), d["hit_rate_at_10"], d["precision_at_10"], d["recall_at_10"],
                     d["ndcg_at_10"], d["map_at_10"], d["catalogue_coverage"], d.get("sampled_hit_rate_at_10")))
    return session.createDataFrame(rows, "recommender string, ground_truth string, users long, hit_rate_at_10 double, "
                                         "precision_at_10 double, recall_at_10 double, ndcg_at_10 double, "
                                         "map_at_10 double, catalogue_coverage double, sampled_hit_rate_at_10 double")


@dg.asset(
    group_name=GROUP,
    deps=[hybrid_recs],
    kinds={"spark", "parquet"},
    check_specs=[
        dg.AssetCheckSpec("hybrid_beats_popularity", asset="recs_evaluation",
                          description="The hybrid beats global and segment popularity on NDCG@10 and Recall@10."),
        dg.AssetCheckSpec("sampled_hit_rate_above_70_percent", asset="recs_evaluation",
                          description=f"Hybrid sampled HitRate@10 (100 negatives) >= {SAMPLED_HIT_RATE_FLOOR}."),
        dg.AssetCheckSpec("coverage_above_floor", asset="recs_evaluation",
                          description=f"The hybrid recommends at least {COVERAGE_FLOOR:.0%} of the catalogue."),
    ],
)
def recs_evaluation(config: EvaluationConfig, spark: SparkResource, lake: LakeResource) -> dg.MaterializeResult:
    """Offline relevance on the week after training (November's first week), for users seen in training:
    HitRate, Precision, Recall, NDCG, MAP at 10 and catalogue coverage against what they carted or bought
    (and, separately, viewed), plus sampled HitRate@10 (each positive ranked among 100 random products
    the user never touched: the protocol behind the specification's "relevance > 70%"). Compared:
    global popularity, segment popularity, ALS alone, content alone and the served hybrid."""
    session = spark.get_session()
    interactions = _final_interactions(session, lake)
    weights, fallback = read_hybrid_weights(session, lake)
    events = read_raw_events(session, lake.lake)
    test = holdout_window(_training_window())
    test_events = events_in(events, test)
    truth_all = ground_truth(test_events)
    users = evaluated_users(interactions, truth_all)
    users = users.orderBy(F.xxhash64("user_id")).limit(config.max_users).cache()
    if users.count() == 0:
        raise dg.Failure(description=f"no user seen in training carted or bought anything in {test}: "
                         "the lake needs the month after the training window")
    inputs = _final_inputs(session, lake, HybridConfig().sizes(), interactions, users)
    truths = {"cart_or_purchase": restrict(truth_all, users).cache(),
              "view": restrict(ground_truth(test_events, ("view",)), users).cache()}
    catalogue = interactions.select("product_id").unionByName(test_events.select("product_id")).distinct()
    catalogue_size = catalogue.count()
    interacted = interactions.select("user_id", "product_id").unionByName(
        test_events.select("user_id", "product_id")).distinct()
    samples = negative_samples(truths["cart_or_purchase"], catalogue, interacted,
                               cap=config.sampled_positives).cache()
    global_inputs = without_segments(inputs)
    scored = {"segment": scored_candidates(inputs, users).cache(),
              "global": scored_candidates(global_inputs, users).cache()}
    scored_samples = {"segment": score_components(inputs, samples).cache(),
                      "global": score_components(global_inputs, samples).cache()}
    served = lake.read_processed(session, "hybrid_recs").join(users, "user_id").select("user_id", "product_id", "rank")

    recommenders = {name: ("global" if name == "global_popularity" else "segment", {}, w)
                    for name, w in BASELINES.items()}
    recommenders["hybrid"] = ("segment", weights, fallback)
    results: dict[tuple[str, str], Evaluation] = {}
    for name, (kind, segment_weights, default) in recommenders.items():
        if name == "hybrid":
            recs = served
        else:
            recs = rank_with(session, scored[kind], segment_weights, default)
        recs = recs.cache()
        for truth_name, truth in truths.items():
            with_samples = truth_name == "cart_or_purchase"
            results[(name, truth_name)] = evaluate(
                session, recs, truth, catalogue_size,
                scored_samples[kind] if with_samples else None, segment_weights, default if with_samples else None)
        recs.unpersist()
    table = _evaluation_table(session, results)
    path = lake.write_processed(table, "recs_evaluation")
    main = {name: results[(name, "cart_or_purchase")] for name in recommenders}
    hybrid = main["hybrid"]
    beats = all(hybrid.metrics.ndcg_at_10 > main[b].metrics.ndcg_at_10
                and hybrid.metrics.recall_at_10 > main[b].metrics.recall_at_10
                for b in ("global_popularity", "segment_popularity"))
    hybrid_weights = lake.read_processed(session, "hybrid_weights").where(F.col("segment") == UNKNOWN_SEGMENT).first()
    fold_ndcg = list(hybrid_weights["fold_ndcg_at_10"]) if hybrid_weights else []
    summary = {name: ev.as_dict() for name, ev in main.items()}
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(path),
            "test_window": str(test),
            "users": hybrid.metrics.users,
            "catalogue_size": catalogue_size,
            "results": dg.MetadataValue.md(markdown_preview(table.orderBy("ground_truth", "recommender"), 20)),
            "cart_or_purchase": dg.MetadataValue.json(summary),
            "hybrid_ndcg_at_10": round(hybrid.metrics.ndcg_at_10, 5),
            "hybrid_sampled_hit_rate_at_10": round(hybrid.sampled_hit_rate_at_10 or 0.0, 5),
            "validation_fold_ndcg_at_10": dg.MetadataValue.json([round(v, 5) for v in fold_ndcg]),
            "validation_fold_spread": round(statistics.pstdev(fold_ndcg), 5) if len(fold_ndcg) > 1 else 0.0,
        },
        check_results=[
            dg.AssetCheckResult(check_name="hybrid_beats_popularity", passed=beats,
                                metadata={f"{n}_{m}": round(getattr(main[n].metrics, m), 5)
                                          for n in ("hybrid", "global_popularity", "segment_popularity")
                                          for m in ("ndcg_at_10", "recall_at_10")}),
            dg.AssetCheckResult(check_name="sampled_hit_rate_above_70_percent",
                                passed=(hybrid.sampled_hit_rate_at_10 or 0.0) >= SAMPLED_HIT_RATE_FLOOR,
                                metadata={"sampled_hit_rate_at_10": round(hybrid.sampled_hit_rate_at_10 or 0.0, 5)}),
            dg.AssetCheckResult(check_name="coverage_above_floor", passed=hybrid.coverage >= COVERAGE_FLOOR,
                                metadata={"catalogue_coverage": round(hybrid.coverage, 5)}),
        ],
    )


RECOMMENDATION_ASSETS = [als_model, content_similarity, hybrid_recs, recs_evaluation]
