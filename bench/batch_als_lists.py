"""Benchmark: the batch ALS lists, Spark's ``recommendForUserSubset`` against ``recommend_top``.

``hybrid_recs`` and the ALS tuning need each user's best products by ALS score. Spark's
``recommendForUserSubset`` scores every item for every user; ``recommend_top`` (the project's) finds
the same lists with the norm-bounded exact search (``recommendation/exact_top.py``) in a
``mapInPandas`` pass. Fits implicit ALS (the project's code, AlsConfig's first parameters) on
``--days`` days of October in a lake, takes ``--users`` users (a fixed hash sample), and computes
their ``--n`` best both ways, ``--repeats`` times alternating which runs first (each written to
Spark's ``noop`` sink, so the whole list is computed). Checks the lists agree and writes medians
and the ratio to ``docs/benchmarks.md`` (``batch-als-lists``).

    python bench/batch_als_lists.py                      # on the 10 M lake of bench/batch_graph_scale.py
    python bench/batch_als_lists.py --lake LAKE --days 31 --users 100000
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from ingest_vs_duckdb import write_results
from pyspark.ml.recommendation import ALSModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ecom_assets.ingest.tables import read_raw_events
from ecom_assets.lake import Lake
from ecom_assets.recommendation.als import (
    PRODUCT_INDEX,
    USER_INDEX,
    AlsParams,
    fit_als,
    fit_indexers,
    index_ids,
    product_index_table,
    recommend_top,
    user_index_table,
)
from ecom_assets.recommendation.interactions import interaction_strengths
from ecom_assets.resources import SparkResource

START, END = "<!-- batch-als-lists:start -->", "<!-- batch-als-lists:end -->"
PARAMS = AlsParams(rank=32, reg_param=0.5, alpha=5.0, cart_weight=4.0, purchase_weight=8.0)
TIE = 1e-4  # scores closer than this to a list's last one may be ordered either way by float rounding


def spark_lists(model: ALSModel, users: DataFrame, products: DataFrame, n: int) -> DataFrame:
    """(user_id, product_id, als_score, rank) from Spark's own ``recommendForUserSubset``."""
    recs = model.recommendForUserSubset(users.select(USER_INDEX), n)
    exploded = recs.select(USER_INDEX, F.posexplode("recommendations").alias("pos", "rec")).select(
        USER_INDEX, (F.col("pos") + 1).alias("rank"), F.col("rec")[PRODUCT_INDEX].alias(PRODUCT_INDEX),
        F.col("rec")["rating"].cast("double").alias("als_score"))
    return exploded.join(users, USER_INDEX).join(products, PRODUCT_INDEX).select(
        "user_id", "product_id", "als_score", "rank")


def disagreements(ours: DataFrame, theirs: DataFrame) -> int:
    """Users whose lists differ by a product scored clearly (more than ``TIE``) above their last one."""
    last = ours.groupBy("user_id").agg(F.min("als_score").alias("last"))

    def clear(frame: DataFrame) -> DataFrame:
        return frame.join(last, "user_id").where(F.col("als_score") > F.col("last") + TIE).select(
            "user_id", "product_id")

    differ = clear(ours).exceptAll(clear(theirs)).unionByName(clear(theirs).exceptAll(clear(ours)))
    return differ.select("user_id").distinct().count()


def main() -> None:
    """Fit, time both ways, check they agree, write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, default=REPO / "bench" / "results" / "lake-batch-10000000",
                        help="a lake with October's raw events (default: the one bench/batch_graph_scale.py builds)")
    parser.add_argument("--days", type=int, default=7, help="days of October fitted, ending Oct 31")
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--n", type=int, default=30, help="products per user (CandidateSizes.als)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    session = SparkResource(master="local[2]", conf_dir=str(REPO / "spark_conf"), driver_memory="12g").get_session()
    end = dt.date(2019, 11, 1)
    events = read_raw_events(session, Lake(str(args.lake))).where(
        (F.col("event_date") >= F.lit(end - dt.timedelta(days=args.days))) & (F.col("event_date") < F.lit(end)))
    strengths = interaction_strengths(events, PARAMS.event_weights()).cache()
    indexers = fit_indexers(strengths)
    ratings = index_ids(indexers, strengths).select(USER_INDEX, PRODUCT_INDEX, "strength").cache()
    started = time.perf_counter()
    model = fit_als(ratings, PARAMS)
    model.itemFactors.count()
    fit_s = time.perf_counter() - started
    products = product_index_table(indexers, strengths).cache()
    users = user_index_table(indexers, strengths).orderBy(F.xxhash64("user_id")).limit(args.users).cache()
    n_users, n_products, fitted = users.count(), products.count(), ratings.count()

    ways = {"spark": lambda: spark_lists(model, users, products, args.n),
            "bounded": lambda: recommend_top(model, users, products, args.n)}
    seconds: dict[str, list[float]] = {name: [] for name in ways}
    for repeat in range(args.repeats):
        for name in (("spark", "bounded") if repeat % 2 == 0 else ("bounded", "spark")):
            t = time.perf_counter()
            ways[name]().write.format("noop").mode("overwrite").save()
            seconds[name].append(time.perf_counter() - t)
            print(name, round(seconds[name][-1], 1), flush=True)
    differ = disagreements(ways["bounded"]().cache(), ways["spark"]().cache())
    spark_s, bounded_s = statistics.median(seconds["spark"]), statistics.median(seconds["bounded"])
    section = f"""## Batch ALS lists: Spark's `recommendForUserSubset` against the bounded exact search

`python bench/batch_als_lists.py --lake {args.lake.name} --days {args.days} --users {args.users} --n {args.n}`,
measured {dt.date.today()} on {platform.machine()}, 2 cores, Spark `local[2]`: implicit ALS
({PARAMS.label()}) fitted on October's last {args.days} days ({fitted:,} user-product pairs, {fit_s:.0f} s),
{n_products:,} products; the {args.n} best of {n_users:,} users, each way {args.repeats} times, alternating
which runs first, written to the `noop` sink.

| way | median (s) | per 100,000 users (s) |
|---|---:|---:|
| `recommendForUserSubset` (every item scored) | {spark_s:.1f} | {spark_s * 100_000 / n_users:.1f} |
| `recommend_top` (norm-bounded exact search) | {bounded_s:.1f} | {bounded_s * 100_000 / n_users:.1f} |

Ratio: `recommend_top` takes {bounded_s / spark_s:.2f}x the time of `recommendForUserSubset`. Users whose
lists differ by a product scored more than {TIE:g} above their last one: {differ} of {n_users:,}.
"""
    write_results(section, START, END)
    print(section)
    session.stop()


if __name__ == "__main__":
    main()
