"""Benchmark: the live blend's ALS candidates, every item scored against the norm-bounded exact search.

Fits implicit ALS (the project's code and tuned parameters) on ``--days`` days of November in a lake
(scale 1.0: the real files' catalogue), takes ``--users`` users' factors, and finds each user's
``--n`` best items both ways, block by block as the live blend does (128 users), alternating which
runs first. Checks the two agree item for item and writes the median time per block, the ratio, and
the share of scores the bounded search computed, to ``docs/benchmarks.md`` (``live-blend-topn``).

    python bench/live_blend_topn.py --lake bench/results/lake-scale-1 --days 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from ingest_vs_duckdb import write_results
from pyspark.sql import functions as F

from ecom_assets.ingest.tables import read_raw_events
from ecom_assets.lake import Lake
from ecom_assets.recommendation.als import AlsParams, ItemFactors, fit_als, fit_indexers, index_ids
from ecom_assets.recommendation.interactions import interaction_strengths
from ecom_assets.resources import SparkResource
from ecom_assets.speedups.exact_top import USERS_PER_BLOCK, NormOrder, best_items, best_per_row

START, END = "<!-- live-blend-topn:start -->", "<!-- live-blend-topn:end -->"
# Rank and regularisation as AlsConfig's grid fixes them; alpha and the event weights its first choices.
PARAMS = AlsParams(rank=32, reg_param=0.5, alpha=5.0, cart_weight=4.0, purchase_weight=8.0)


def fitted_factors(lake: Lake, days: int, users: int) -> tuple[ItemFactors, np.ndarray, int]:
    """Item factors of an ALS fit on ``days`` days of November, ``users`` users' factors (a fixed hash
    sample), and the number of interactions fitted."""
    session = SparkResource(master="local[2]", conf_dir=str(REPO / "spark_conf"), driver_memory="12g").get_session()
    first = dt.date(2019, 11, 1)
    events = read_raw_events(session, lake).where(
        (F.col("event_date") >= F.lit(first)) & (F.col("event_date") < F.lit(first + dt.timedelta(days=days))))
    strengths = interaction_strengths(events, PARAMS.event_weights())
    indexers = fit_indexers(strengths)
    ratings = index_ids(indexers, strengths).select("user_idx", "product_idx", "strength").cache()
    model = fit_als(ratings, PARAMS)
    items = ItemFactors.of(model)
    sample = (model.userFactors.orderBy(F.xxhash64("id")).limit(users).select("features").collect())
    vectors = np.array([r["features"] for r in sample], dtype=np.float64)
    fitted = ratings.count()
    session.stop()
    return items, vectors, fitted


def main() -> None:
    """Fit, run both searches block by block, check they agree, write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, default=REPO / "bench" / "results" / "lake-scale-1",
                        help="a lake with November's raw events (default: the one bench/replay_cadence.py ingests)")
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--users", type=int, default=4096)
    parser.add_argument("--n", type=int, default=30, help="ALS candidates per user (CandidateSizes.als)")
    args = parser.parse_args()

    started = time.perf_counter()
    items, vectors, fitted = fitted_factors(Lake(str(args.lake)), args.days, args.users)
    fit_s = time.perf_counter() - started
    matrix = items.matrix.astype(np.float64)
    order = NormOrder.of(matrix, items.ids)
    plain_s, bounded_s, computed, mismatched = [], [], 0, 0
    for i, first in enumerate(range(0, len(vectors), USERS_PER_BLOCK)):
        block = vectors[first:first + USERS_PER_BLOCK]
        runs = {}
        for name in (("plain", "bounded") if i % 2 == 0 else ("bounded", "plain")):
            t = time.perf_counter()
            if name == "plain":
                runs[name] = best_per_row(block @ matrix.T, items.ids, args.n)
            else:
                runs[name], scored = best_items(block, order, args.n)
            (plain_s if name == "plain" else bounded_s).append(time.perf_counter() - t)
        computed += scored
        mismatched += int((runs["plain"] != runs["bounded"]).any(axis=1).sum())

    plain, bounded = statistics.median(plain_s), statistics.median(bounded_s)
    share = computed / (len(vectors) * len(items.ids))
    section = f"""## Live blend: each user's ALS candidates, every item scored against the bounded exact search

`python bench/live_blend_topn.py --lake {args.lake.name} --days {args.days} --users {args.users} --n {args.n}`,
measured {dt.date.today()} on {platform.machine()}, 2 cores, numpy {np.__version__}: implicit ALS
({PARAMS.label()}) fitted on {args.days} days of November ({fitted:,} user-product pairs, {fit_s:.0f} s),
{len(items.ids):,} items with factors; {len(vectors):,} users' factors in blocks of {USERS_PER_BLOCK}, both
searches on every block, alternating which runs first.

| search | median per block of {USERS_PER_BLOCK} users (ms) | per 1,000 users (s) | scores computed |
|---|---:|---:|---:|
| every item scored, then the {args.n} best (`best_per_row`) | {plain * 1e3:.1f} | {plain * 1000 / USERS_PER_BLOCK:.2f} | 100% |
| norm-bounded exact search (`best_items`) | {bounded * 1e3:.1f} | {bounded * 1000 / USERS_PER_BLOCK:.2f} | {share:.1%} |

Ratio: the bounded search takes {bounded / plain:.2f}x the time of scoring every item. Users whose
{args.n} best differ between the two: {mismatched} of {len(vectors):,}.
"""
    write_results(section, START, END)
    print(section)


if __name__ == "__main__":
    main()
