"""Benchmark: Spark ML ALS against the `implicit` library on the same confidence matrix and split.

Both train on the last validation fold of a generated dataset (October minus its last week) with the
same confidences (1 + alpha x strength), rank, regularisation and iterations, and are scored with the
same Python code on the same users: NDCG@10 and Recall@10 against the carts and purchases of the
held-out week, purchased products filtered out for both. Medians over repeated runs; the results go
to ``docs/benchmarks.md`` between the ``als`` markers.

    pip install -e '.[dev,bench]' && python bench/als_vs_implicit.py --rows 2000000

Note: Spark scales the regularisation by each user's and item's number of ratings (ALS-WR);
`implicit` does not, so the same nominal ``reg`` is not the same penalty. Both are also run at
their own best ``reg`` from a small sweep so neither side is handicapped by the convention.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import numpy as np  # noqa: E402
from ingest_vs_duckdb import write_results  # noqa: E402
from scipy.sparse import csr_matrix  # noqa: E402

from ecom_assets.ingest.generator import generate_dataset  # noqa: E402
from ecom_assets.ingest.pipeline import ingest_events  # noqa: E402
from ecom_assets.ingest.tables import read_raw_events  # noqa: E402
from ecom_assets.lake import Lake  # noqa: E402
from ecom_assets.recommendation.als import AlsParams, fit_als, fit_indexers, index_ids, product_index_table  # noqa: E402
from ecom_assets.recommendation.interactions import Window, rolling_folds  # noqa: E402
from ecom_assets.recommendation.tuning import als_top_k, prepare_fold  # noqa: E402
from ecom_assets.resources import SparkResource  # noqa: E402

START, END = "<!-- als:start -->", "<!-- als:end -->"
K = 10


def ndcg_recall(recs: dict[int, list[int]], truth: dict[int, set[int]]) -> tuple[float, float]:
    """Mean NDCG@10 and Recall@10 over the users of ``truth`` (no list counts as zero)."""
    ndcg, recall = [], []
    for user, relevant in truth.items():
        ranked = recs.get(user, [])[:K]
        dcg = sum(1 / np.log2(r + 2) for r, p in enumerate(ranked) if p in relevant)
        ideal = sum(1 / np.log2(r + 2) for r in range(min(len(relevant), K)))
        ndcg.append(dcg / ideal)
        recall.append(sum(p in relevant for p in ranked) / len(relevant))
    return float(np.mean(ndcg)), float(np.mean(recall))


def main() -> None:
    """Prepare the fold once, then time and score both libraries ``--runs`` times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rank", type=int, default=32)
    parser.add_argument("--alpha", type=float, default=10.0)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--work-dir", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    from implicit.als import AlternatingLeastSquares  # benchmark-only dependency (the `bench` extra)
    from threadpoolctl import threadpool_limits

    data = args.work_dir / f"data-{args.rows}"
    if not (data / "2019-Nov.csv").is_file():
        generate_dataset(data, args.rows, seed=42, progress=False)
    os.environ.setdefault("ECOM_SPARK_CONF", "spark.ui.enabled=false")
    spark = SparkResource(master="local[2]", conf_dir=str(REPO / "spark_conf"), driver_memory="6g").get_session()
    lake = Lake(str(args.work_dir / f"lake-als-{args.rows}"))
    if not Path(lake.raw_events).is_dir():
        ingest_events(spark, [str(data / "2019-Oct.csv"), str(data / "2019-Nov.csv")], lake, count_duplicates=False)
    fold = rolling_folds(Window(dt.date(2019, 10, 1), dt.date(2019, 11, 1)), 1)[0]
    prepared = prepare_fold(read_raw_events(spark, lake), fold, users_cap=50_000)
    indexers = fit_indexers(prepared.interactions)
    ratings = index_ids(indexers, prepared.interactions).cache()
    catalogue = product_index_table(indexers, prepared.interactions)
    bought = prepared.interactions.where("purchased").select("user_id", "product_id")
    pairs = ratings.select("user_idx", "product_idx", "strength", "purchased", "user_id", "product_id").toPandas()
    truth_rows = prepared.truth.collect()
    truth: dict[int, set[int]] = {}
    for r in truth_rows:
        truth.setdefault(r["user_id"], set()).add(r["product_id"])
    users_n, items_n = int(pairs.user_idx.max()) + 1, int(pairs.product_idx.max()) + 1
    confidence = csr_matrix((1.0 + args.alpha * pairs.strength.to_numpy(), (pairs.user_idx, pairs.product_idx)),
                            shape=(users_n, items_n))
    product_of = np.zeros(items_n, dtype=np.int64)
    product_of[pairs.product_idx.to_numpy()] = pairs.product_id.to_numpy()
    user_idx_of = dict(zip(pairs.user_id, pairs.user_idx, strict=False))
    purchased = {(u, p) for u, p, b in zip(pairs.user_idx, pairs.product_idx, pairs.purchased, strict=True) if b}
    eval_idx = np.array(sorted({user_idx_of[u] for u in truth if u in user_idx_of}), dtype=np.int64)
    user_id_of = {v: k for k, v in user_idx_of.items()}

    def spark_run(reg: float) -> tuple[float, float, float]:
        started = time.perf_counter()
        model = fit_als(ratings.select("user_idx", "product_idx", "strength"),
                        AlsParams(args.rank, reg, args.alpha, args.iterations))
        model.userFactors.count()
        seconds = time.perf_counter() - started
        recs: dict[int, list[int]] = {}
        for r in als_top_k(model, indexers, prepared.users, catalogue, bought).orderBy("rank").collect():
            recs.setdefault(r["user_id"], []).append(r["product_id"])
        return (seconds, *ndcg_recall(recs, truth))

    def implicit_run(reg: float) -> tuple[float, float, float]:
        model = AlternatingLeastSquares(factors=args.rank, regularization=reg, alpha=1.0,
                                        iterations=args.iterations, random_state=46, use_gpu=False)
        started = time.perf_counter()
        with threadpool_limits(1, "blas"):
            model.fit(confidence, show_progress=False)
        seconds = time.perf_counter() - started
        ids, _ = model.recommend(eval_idx, confidence[eval_idx], N=3 * K, filter_already_liked_items=False)
        recs = {}
        for u, row in zip(eval_idx, ids, strict=True):
            kept = [int(product_of[i]) for i in row if (u, i) not in purchased][:K]
            recs[user_id_of[int(u)]] = kept
        return (seconds, *ndcg_recall(recs, truth))

    rows = []
    for name, run in (("Spark ML ALS", spark_run), ("implicit ALS (CPU)", implicit_run)):
        sweep = {reg: run(reg) for reg in (0.01, 0.1, 0.5)}
        best_reg = max(sweep, key=lambda reg: sweep[reg][1])
        runs = [sweep[best_reg]] + [run(best_reg) for _ in range(args.runs - 1)]
        rows.append((name, best_reg, [r[0] for r in runs], runs[0][1], runs[0][2],
                     {reg: round(v[1], 4) for reg, v in sweep.items()}))
        print(name, rows[-1], flush=True)
    spark_median = statistics.median(rows[0][2])
    section = [
        "## ALS: Spark ML against `implicit` (same confidences, same split)",
        "",
        f"`python bench/als_vs_implicit.py --rows {args.rows}`, measured {dt.date.today()}. Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"`--rows {args.rows:,}`; split: train {fold.train}, evaluate {fold.evaluate}; "
        f"{users_n:,} users x {items_n:,} products, {len(pairs):,} pairs, {len(truth):,} evaluated users; "
        f"rank {args.rank}, alpha {args.alpha:g}, {args.iterations} iterations; {args.runs} runs.",
        "",
        "| library | best reg | fit median (s) | runs (s) | ratio to Spark | NDCG@10 | Recall@10 | NDCG@10 by reg |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, reg, seconds, ndcg, recall, sweep in rows:
        median = statistics.median(seconds)
        section.append(f"| {name} | {reg:g} | {median:.1f} | {', '.join(f'{s:.1f}' for s in seconds)} | "
                       f"{median / spark_median:.2f} | {ndcg:.4f} | {recall:.4f} | {sweep} |")
    write_results("\n".join(section), START, END)
    print("\n".join(section))
    spark.stop()


if __name__ == "__main__":
    main()
