"""The session-based next-item protocol of the published results on this dataset, with two baselines.

The protocol (GRU4Rec's preprocessing, as the papers on the REES46 files describe it): view events
of both months; a user's views cut into sessions after 1 hour of inactivity; consecutive repeats of
the same product removed; sessions shorter than 2 views and products seen fewer than 5 times removed,
again and again until neither is left; the sessions that start on the last day are the test set, the
others the training set (test products unseen in training and test sessions left shorter than 2 are
dropped). Every product is ranked, without sampling: at each position of a test session the next
product's rank gives Recall@20 and MRR@20.

Baselines: the most popular products of the training sessions (the same list everywhere), and
item-to-item co-visitation (the products most often viewed within the next few steps after the
current one in the training sessions, topped up with the most popular ones).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

SESSION_GAP_S = 60 * 60
MIN_SESSION_LENGTH = 2
MIN_PRODUCT_SUPPORT = 5
MAX_FILTER_ROUNDS = 20
CUTOFF = 20
# How far ahead a later view still counts as a co-visit, each weighted 1/distance: the next view
# says most about the next one, but one step alone is too sparse for rarely viewed products.
COVISIT_STEPS = 5
PUBLISHED_GRU4REC = {"recall_at_20": 0.529, "mrr_at_20": 0.201}


@dataclass(frozen=True)
class SplitFigures:
    """What the preprocessing kept: the filter's rounds and the size of each side."""

    filter_rounds: int
    train_sessions: int
    train_events: int
    test_sessions: int
    test_events: int
    products: int
    test_day: str

    def as_dict(self) -> dict[str, int | str]:
        """Flat dict for metadata."""
        return asdict(self)


@dataclass(frozen=True)
class NextItemScore:
    """One recommender's Recall@20 and MRR@20 over every next-item prediction of the test sessions."""

    recommender: str
    predictions: int
    recall_at_20: float
    mrr_at_20: float


def view_sessions(events: DataFrame, gap_s: int = SESSION_GAP_S) -> DataFrame:
    """(user_id, session, position, product_id, event_time): each user's views cut after ``gap_s`` of silence,
    consecutive repeats of a product removed; ``session`` numbers a user's sessions from 1."""
    views = events.where(F.col("event_type") == "view").select("user_id", "product_id", "event_time")
    by_user = Window.partitionBy("user_id").orderBy("event_time", "product_id")
    previous_time = F.lag("event_time").over(by_user)
    starts = previous_time.isNull() | (F.col("event_time").cast("long") - previous_time.cast("long") > gap_s)
    marked = views.select("*", starts.alias("_starts"), F.lag("product_id").over(by_user).alias("_previous"))
    numbered = marked.withColumn(
        "session", F.sum(F.col("_starts").cast("int")).over(by_user.rowsBetween(Window.unboundedPreceding, 0)))
    kept = numbered.where(F.col("_starts") | (F.col("product_id") != F.col("_previous")))
    return _positions(kept.select("user_id", "session", "product_id", "event_time"))


def _positions(rows: DataFrame) -> DataFrame:
    """``rows`` with ``position`` 1..n within each (user_id, session) in time order."""
    order = Window.partitionBy("user_id", "session").orderBy("event_time", "product_id")
    return rows.withColumn("position", F.row_number().over(order))


def filter_supported(rows: DataFrame, min_length: int = MIN_SESSION_LENGTH,
                     min_support: int = MIN_PRODUCT_SUPPORT,
                     max_rounds: int = MAX_FILTER_ROUNDS, log: Callable[[str], None] = lambda _: None
                     ) -> tuple[DataFrame, int]:
    """``rows`` without products seen fewer than ``min_support`` times and sessions shorter than
    ``min_length``, repeated until a round removes nothing; also the number of rounds run.

    Each round's result is checkpointed locally (materialized, its lineage cut: a plan that referred to
    every earlier round twice would double with each round) and counted (the test of "nothing removed");
    at most ``max_rounds``. The supported products are a broadcast set and a session's length a window,
    so a round shuffles every view once (for the window), not twice (a join by product, then by session).
    """
    current = rows.localCheckpoint()
    size = current.count()
    log(f"view sessions: {size:,} views before filtering")
    for round_no in range(1, max_rounds + 1):
        support = current.groupBy("product_id").agg(F.count(F.lit(1)).alias("_support"))
        supported = current.join(F.broadcast(support.where(F.col("_support") >= min_support).select("product_id")),
                                 "product_id")
        length = F.count(F.lit(1)).over(Window.partitionBy("user_id", "session"))
        kept = supported.withColumn("_length", length).where(F.col("_length") >= min_length).drop(
            "_length").select(*rows.columns).localCheckpoint()
        kept_size = kept.count()
        log(f"filter round {round_no}: {kept_size:,} views kept")
        current.unpersist()
        current = kept
        if kept_size == size:
            return current, round_no
        size = kept_size
    raise ValueError(f"the session filter did not settle in {max_rounds} rounds")


def split_last_day(rows: DataFrame) -> tuple[DataFrame, DataFrame, str]:
    """(train, test, test day): the sessions that start on the last day of ``rows`` are the test set.

    Test views of products absent from training are dropped, then test sessions shorter than 2; the
    test positions are renumbered 1..n.
    """
    starts = rows.groupBy("user_id", "session").agg(F.to_date(F.min("event_time")).alias("_start_day"))
    last_day = starts.agg(F.max("_start_day")).first()[0]
    if last_day is None:
        raise ValueError("no session is left after the protocol's filters: the lake has too few views")
    dated = rows.join(starts, ["user_id", "session"])
    train = dated.where(F.col("_start_day") < F.lit(last_day)).drop("_start_day")
    test = dated.where(F.col("_start_day") == F.lit(last_day)).drop("_start_day", "position")
    test = test.join(train.select("product_id").distinct(), "product_id")
    lengths = test.groupBy("user_id", "session").agg(F.count(F.lit(1)).alias("_length"))
    test = test.join(lengths.where(F.col("_length") >= MIN_SESSION_LENGTH).select("user_id", "session"),
                     ["user_id", "session"])
    return train, _positions(test), str(last_day)


def most_popular(spark: SparkSession, train: DataFrame, cutoff: int = CUTOFF) -> DataFrame:
    """(product_id, rank): the ``cutoff`` most viewed products of the training sessions (ties by id)."""
    top = (train.groupBy("product_id").agg(F.count(F.lit(1)).alias("views"))
           .orderBy(F.desc("views"), "product_id").limit(cutoff).collect())
    return spark.createDataFrame([(int(r["product_id"]), i) for i, r in enumerate(top, start=1)],
                                 "product_id long, rank int")


def covisitation_lists(train: DataFrame, popular: DataFrame, steps: int = COVISIT_STEPS,
                       cutoff: int = CUTOFF) -> DataFrame:
    """(current_id, product_id, rank): for every training product, the ``cutoff`` products most often
    viewed within ``steps`` views after it (each co-visit weighted 1/distance; ties by id), topped up
    with ``popular`` (product_id, rank) when it has fewer."""
    order = Window.partitionBy("user_id", "session").orderBy("position")
    ahead = train.select(
        F.col("product_id").alias("current_id"),
        F.array(*[F.struct(F.lit(1.0 / d).alias("w"), F.lead("product_id", d).over(order).alias("p"))
                  for d in range(1, steps + 1)]).alias("_ahead"))
    pairs = ahead.select("current_id", F.inline("_ahead")).where(
        F.col("p").isNotNull() & (F.col("p") != F.col("current_id")))
    covisits = pairs.groupBy("current_id", F.col("p").alias("product_id")).agg(F.sum("w").alias("score"))
    products = train.select(F.col("product_id").alias("current_id")).distinct()
    filler = products.crossJoin(F.broadcast(popular)).where(F.col("product_id") != F.col("current_id")).select(
        "current_id", "product_id", F.lit(1).alias("tier"), (-F.col("rank").cast("double")).alias("score"))
    pool = covisits.select("current_id", "product_id", F.lit(0).alias("tier"), "score").unionByName(filler)
    best = Window.partitionBy("current_id", "product_id").orderBy("tier")
    unique = pool.withColumn("_n", F.row_number().over(best)).where(F.col("_n") == 1)
    ranked = Window.partitionBy("current_id").orderBy("tier", F.desc("score"), "product_id")
    return unique.withColumn("rank", F.row_number().over(ranked)).where(F.col("rank") <= cutoff).select(
        "current_id", "product_id", "rank")


def next_item_targets(test: DataFrame) -> DataFrame:
    """(current_id, product_id): each test view with the view right after it, the product to predict."""
    order = Window.partitionBy("user_id", "session").orderBy("position")
    return test.select(F.col("product_id").alias("current_id"),
                       F.lead("product_id").over(order).alias("next_id")).where(F.col("next_id").isNotNull()) \
        .select("current_id", F.col("next_id").alias("product_id"))


def score_ranks(recommender: str, ranked: DataFrame) -> NextItemScore:
    """Recall@20 and MRR@20 from one row per prediction with the target's ``rank`` (null beyond the cut-off)."""
    row = ranked.agg(F.count(F.lit(1)).alias("n"), F.sum(F.when(F.col("rank").isNotNull(), 1).otherwise(0)).alias("hits"),
                     F.sum(F.coalesce(1.0 / F.col("rank"), F.lit(0.0))).alias("rr")).first()
    n = int(row["n"])
    if n == 0:
        raise ValueError("the test sessions hold no next-item prediction")
    return NextItemScore(recommender, n, int(row["hits"]) / n, float(row["rr"]) / n)


def evaluate_next_item(spark: SparkSession, events: DataFrame, log: Callable[[str], None] = lambda _: None
                       ) -> tuple[list[NextItemScore], SplitFigures]:
    """Both baselines on the protocol, and what the preprocessing kept."""
    rows, rounds = filter_supported(view_sessions(events), log=log)
    train, test, test_day = split_last_day(rows)
    log(f"test day {test_day}: scoring the most popular products and the co-visitation lists")
    train, test = train.cache(), test.cache()
    targets = next_item_targets(test).cache()
    popular = most_popular(spark, train)
    lists = covisitation_lists(train, popular)
    scores = [
        score_ranks("most_popular", targets.join(F.broadcast(popular), "product_id", "left")),
        score_ranks("covisitation", targets.join(lists, ["current_id", "product_id"], "left")),
    ]
    figures = SplitFigures(rounds, train.select("user_id", "session").distinct().count(), train.count(),
                           test.select("user_id", "session").distinct().count(), test.count(),
                           train.select("product_id").distinct().count(), test_day)
    for frame in (rows, train, test, targets):
        frame.unpersist()
    return scores, figures


def scores_table(spark: SparkSession, scores: list[NextItemScore]) -> DataFrame:
    """One row per recommender: predictions, Recall@20, MRR@20."""
    return spark.createDataFrame([(s.recommender, s.predictions, s.recall_at_20, s.mrr_at_20) for s in scores],
                                 "recommender string, predictions long, recall_at_20 double, mrr_at_20 double")
