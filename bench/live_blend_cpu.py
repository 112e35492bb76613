"""Benchmark: the CPU of the replay hour's Python work (the live blend and the ALS fold-in) at one real-size hour.

Builds one hour's inputs in a local Spark session exactly as the replay does (the active users'
state from the ledgers, their folded-in factors, recent products and purchases; each user's segment
is the one they had before the hour, so nothing is written to the lake), then times on one core, as
a Spark Python worker runs (BLAS on one thread):

- the exact ALS top-N search (``best_items``) with the first head and growth used before (2048, x4)
  against the current ones (4096, x2), with the share of scores each computes;
- the whole blend (``blend_block``, blocks of 128 users);
- the fold-in's solve (``solve_users``, blocks of 512 users) against the form it replaced (each row's
  outer product summed per user with ``np.add.reduceat``), checked equal.

Each timing is the median of ``--passes`` passes over all the hour's users, the peers alternating.
Writes ``docs/benchmarks.md`` (``live-blend-cpu``).

    python bench/live_blend_cpu.py --lake /work/benchdata/lake-batch-scale-1 --hour 2019-11-01-07:00
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # as in a Spark Python worker (spark.task.cpus = 1)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import datetime as dt
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

START, END = "<!-- live-blend-cpu:start -->", "<!-- live-blend-cpu:end -->"
PREVIOUS_HEAD, PREVIOUS_GROWTH = 2048, 4


def reduceat_solve(users: np.ndarray, factors: np.ndarray, strengths: np.ndarray, n_users: int, yty: np.ndarray,
                   alpha: float, reg: float) -> np.ndarray:
    """The fold-in's solve as it was: every row's outer product, summed per user by ``np.add.reduceat``."""
    k = yty.shape[0]
    order = np.argsort(users, kind="stable")
    users, factors, strengths = users[order], factors[order], strengths[order]
    c1 = alpha * np.abs(strengths)
    positive = (strengths > 0).astype(np.float64)
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    a = np.broadcast_to(yty, (n_users, k, k)).copy()
    b = np.zeros((n_users, k))
    a[users[starts]] += np.add.reduceat(np.einsum("ni,nj->nij", factors * c1[:, None], factors), starts, axis=0)
    b[users[starts]] += np.add.reduceat(factors * ((1.0 + c1) * positive)[:, None], starts, axis=0)
    a += reg * np.bincount(users, weights=positive, minlength=n_users)[:, None, None] * np.eye(k)
    return np.linalg.solve(a, b[:, :, None])[:, :, 0]


def median_seconds(runs: dict[str, Callable[[], object]], passes: int) -> dict[str, float]:
    """The median time of each run over ``passes`` passes, the runs alternating within a pass."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(passes):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    """Build the hour's inputs, time the peers, write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, required=True, help="a lake the whole batch graph was materialized on")
    parser.add_argument("--hour", default="2019-11-01-07:00", help="the replayed hour (partition key)")
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args()
    os.environ["ECOM_LAKE_DIR"] = str(args.lake)
    os.environ.setdefault("ECOM_SPARK_CONF", "spark.ui.enabled=false")

    from pyspark.sql import functions as F

    from ecom_assets.definitions import build_resources
    from ecom_assets.recommendation.fold_in import USERS_PER_BLOCK as FOLD_BLOCK
    from ecom_assets.recommendation.fold_in import solve_users
    from ecom_assets.recommendation.hybrid import category_affinity, recent_products
    from ecom_assets.recommendation.hybrid_definition import CandidateSizes
    from ecom_assets.recommendation.serving.user_blend import blend_block, user_inputs
    from ecom_assets.replay.behaviour.spark_jobs import hour_events
    from ecom_assets.recommendation.stored import read_categories
    from ecom_assets.replay.models.batch_models import recs_models, segmentation
    from ecom_assets.replay.models.recommendations import event_strengths, fold_in_active
    from ecom_assets.replay.models.state import Ledgers
    from ecom_assets.replay.models.update import active_user_ids, look_up_state
    from ecom_assets.replay.orchestration.partitions import hour_start
    from ecom_assets.segmentation.assignment import segment_name
    from ecom_assets.settings import load_settings
    from ecom_assets.speedups.exact_top import (
        FIRST_HEAD,
        HEAD_GROWTH,
        USERS_PER_BLOCK,
        NormOrder,
        best_items,
    )

    resources = build_resources(load_settings())
    lake = resources["lake"]
    session = resources["spark"].get_session()
    start = hour_start(args.hour)
    events = hour_events(session, lake.lake, start)
    active = active_user_ids(events)
    names = segmentation(session, lake.lake).names
    models = recs_models(session, lake, CandidateSizes())
    state = look_up_state(session, Ledgers.of(lake.lake), events, active, start)
    pairs = state.pairs.drop("changed")
    strengths = event_strengths(pairs).localCheckpoint()
    factors = fold_in_active(pairs, models.params, models.shipped_blend)
    users = state.customers.select("user_id", segment_name(names, F.col("previous_cluster")).alias("segment"))
    purchased = strengths.where("purchased").select("user_id", "product_id")
    affinity = category_affinity(strengths, read_categories(session, lake))
    rows = user_inputs(users, factors, None, purchased, recent_products(strengths, models.sizes.recent),
                       affinity).toPandas()
    pairs = strengths.where(F.col("strength") > 0).select("user_id", "product_id", "strength").toPandas()
    session.stop()

    tables = models.shipped_blend.get()
    matrix = tables.items.matrix.astype(np.float64)
    order = NormOrder.of(matrix, tables.items.ids)
    n = tables.sizes.als
    vectors = np.stack(rows["features"].dropna().to_numpy()).astype(np.float64)
    blocks = [vectors[i:i + USERS_PER_BLOCK] for i in range(0, len(vectors), USERS_PER_BLOCK)]
    scores = {}

    def search(head: int, growth: int) -> Callable[[], object]:
        def run() -> None:
            scores[(head, growth)] = sum(best_items(b, order, n, head, growth)[1] for b in blocks)
        return run

    searches = median_seconds({"previous": search(PREVIOUS_HEAD, PREVIOUS_GROWTH),
                               "current": search(FIRST_HEAD, HEAD_GROWTH)}, args.passes)
    same = all(np.array_equal(best_items(b, order, n, PREVIOUS_HEAD, PREVIOUS_GROWTH)[0],
                              best_items(b, order, n)[0]) for b in blocks)
    user_blocks = [rows.iloc[i:i + USERS_PER_BLOCK].reset_index(drop=True) for i in range(0, len(rows), USERS_PER_BLOCK)]
    blend = median_seconds({"blend": lambda: [blend_block(b, tables, matrix, order) for b in user_blocks]},
                           args.passes)["blend"]

    # The fold-in's blocks: the hour's users' pairs with factor rows, 512 users at a time.
    pairs["row"] = tables.row_of_product.get(pairs["product_id"].to_numpy(), -1)
    pairs = pairs[pairs["row"] >= 0]
    codes, owner = np.unique(pairs["user_id"].to_numpy(), return_inverse=True)
    fold_blocks = []
    for first in range(0, len(codes), FOLD_BLOCK):
        mine = (owner >= first) & (owner < first + FOLD_BLOCK)
        fold_blocks.append((owner[mine] - first, matrix[pairs["row"].to_numpy()[mine]],
                            pairs["strength"].to_numpy()[mine], min(FOLD_BLOCK, len(codes) - first)))
    alpha, reg, yty = models.params.alpha, models.params.reg_param, tables.items.gramian
    folds = median_seconds({
        "reduceat": lambda: [reduceat_solve(u, f, s, m, yty, alpha, reg) for u, f, s, m in fold_blocks],
        "sparse": lambda: [solve_users(u, f, s, m, yty, alpha, reg) for u, f, s, m in fold_blocks]}, args.passes)
    equal = all(np.allclose(reduceat_solve(u, f, s, m, yty, alpha, reg), solve_users(u, f, s, m, yty, alpha, reg))
                for u, f, s, m in fold_blocks)

    users_k = len(rows) / 1000
    catalogue = len(tables.items.ids)
    share = {key: value / (len(vectors) * catalogue) for key, value in scores.items()}
    section = f"""## The replay hour's Python work on one core: live blend and fold-in

`python bench/live_blend_cpu.py --lake {args.lake.name} --hour {args.hour}`, measured {dt.date.today()} on
{platform.machine()}, numpy {np.__version__}, BLAS on one thread (as in a Spark Python worker): the hour's
{len(rows):,} active users ({len(vectors):,} with folded-in factors, {len(pairs):,} pairs with item factors),
{catalogue:,} items with factors; median of {args.passes} passes over all of them, peers alternating.

| work | seconds | per 1,000 users (s) | note |
|---|---:|---:|---|
| ALS top-{n} search, first head {PREVIOUS_HEAD}, x{PREVIOUS_GROWTH} (before) | {searches['previous']:.2f} | {searches['previous'] / users_k:.3f} | {share[(PREVIOUS_HEAD, PREVIOUS_GROWTH)]:.1%} of the scores |
| ALS top-{n} search, first head {FIRST_HEAD}, x{HEAD_GROWTH} (now) | {searches['current']:.2f} | {searches['current'] / users_k:.3f} | {share[(FIRST_HEAD, HEAD_GROWTH)]:.1%} of the scores |
| the whole blend (`blend_block`, search included) | {blend:.2f} | {blend / users_k:.3f} | |
| fold-in solve, per-user sums by `np.add.reduceat` (before) | {folds['reduceat']:.2f} | {folds['reduceat'] / users_k:.3f} | |
| fold-in solve, per-user sums by a sparse product (now) | {folds['sparse']:.2f} | {folds['sparse'] / users_k:.3f} | |

Ratios: the search takes {searches['current'] / searches['previous']:.2f}x its previous time (the same items
for every user: {same}); the fold-in's solve {folds['sparse'] / folds['reduceat']:.2f}x (equal factors: {equal}).
"""
    from ingest_vs_duckdb import write_results

    write_results(section, START, END)
    print(section)


if __name__ == "__main__":
    main()
