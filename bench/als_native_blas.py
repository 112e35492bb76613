"""Benchmark: Spark's ALS with the JVM's own BLAS/LAPACK against the system's native libraries.

Spark ML reaches BLAS and LAPACK through ``dev.ludovic.netlib``: it loads the system's ``libblas.so.3``
and ``liblapack.so.3`` when they exist and otherwise falls back to Java (the vectorised ``VectorBLAS``
and F2j's LAPACK), printing ``dlopen(libblas.so.3) failed`` on the way. ALS solves one small
Cholesky system per user and item per iteration (LAPACK ``dppsv``) after rank-one updates (BLAS
``dspr``). This benchmark fits the project's ALS (default parameters, October's interactions of a
generated lake) in fresh JVMs, alternating the configurations, and writes the median fit times, the
ratio and the largest difference between the factors to ``docs/benchmarks.md`` (``als-blas`` markers).

    python bench/als_native_blas.py --rows 1000000 --repeats 3 \
        [--lib-dir openblas=/usr/lib/x86_64-linux-gnu/openblas-pthread]

``java`` forbids native code (``-Ddev.ludovic.netlib.{blas,lapack}.allowNative=false``); ``system``
allows it and takes what the dynamic loader finds (what the set-up installs: Debian's reference
``libblas3`` and ``liblapack3``); each ``--lib-dir NAME=DIR`` puts ``DIR`` first on
``LD_LIBRARY_PATH`` (a folder holding ``libblas.so.3`` and ``liblapack.so.3``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

START, END = "<!-- als-blas:start -->", "<!-- als-blas:end -->"
NO_NATIVE = "-Ddev.ludovic.netlib.blas.allowNative=false -Ddev.ludovic.netlib.lapack.allowNative=false"
NATIVE = "-Ddev.ludovic.netlib.blas.allowNative=true -Ddev.ludovic.netlib.lapack.allowNative=true"
SAMPLE_USERS = 500


def fit_once(lake_dir: str) -> dict:
    """In this process: fit the default ALS on October's interactions; time, implementations, a factor sample."""
    from ecom_assets.ingest.tables import read_raw_events
    from ecom_assets.lake import Lake
    from ecom_assets.recommendation.als import AlsParams, fit_als, fit_indexers, index_ids
    from ecom_assets.recommendation.interactions import Window, events_in, interaction_strengths
    from ecom_assets.resources.spark import SparkResource
    import datetime as dt

    spark = SparkResource(conf_dir=str(REPO / "spark_conf")).get_session()
    jvm = spark.sparkContext._jvm
    blas = jvm.dev.ludovic.netlib.blas.BLAS.getInstance().getClass().getSimpleName()
    lapack = jvm.dev.ludovic.netlib.lapack.LAPACK.getInstance().getClass().getSimpleName()
    params = AlsParams()
    october = Window(dt.date(2019, 10, 1), dt.date(2019, 11, 1))
    interactions = interaction_strengths(events_in(read_raw_events(spark, Lake(lake_dir)), october),
                                         params.event_weights())
    indexers = fit_indexers(interactions)
    ratings = index_ids(indexers, interactions).select("user_idx", "product_idx", "strength").cache()
    count = ratings.count()
    began = time.perf_counter()
    model = fit_als(ratings, params)
    model.userFactors.count()
    seconds = time.perf_counter() - began
    sample = [[float(x) for x in row.features] for row in
              model.userFactors.where(f"id < {SAMPLE_USERS}").orderBy("id").collect()]
    return {"seconds": seconds, "blas": blas, "lapack": lapack, "ratings": count, "sample": sample}


def run_config(lake: Path, name: str, lib_dir: str | None) -> dict:
    """One fit in a fresh process (and JVM) under configuration ``name``."""
    env = dict(os.environ)
    # Each configuration states its choice (this replaces spark_conf/'s line of JVM options).
    env["ECOM_SPARK_CONF"] = f"spark.driver.extraJavaOptions=-Duser.timezone=UTC {NO_NATIVE if name == 'java' else NATIVE}"
    if lib_dir:
        env["LD_LIBRARY_PATH"] = f"{lib_dir}:{env.get('LD_LIBRARY_PATH', '')}".rstrip(":")
        env.setdefault("OPENBLAS_NUM_THREADS", "1")  # Spark's tasks are the parallelism; no nested threads
    out = subprocess.run([sys.executable, __file__, "--child", str(lake)], env=env, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def ensure_lake(work_dir: Path, rows: int) -> Path:
    """A generated lake with ``raw/`` (generated and ingested once)."""
    from ecom_assets.ingest.generator import generate_dataset
    from ecom_assets.ingest.pipeline import ingest_events
    from ecom_assets.lake import Lake, input_month_files
    from ecom_assets.resources.spark import SparkResource

    lake = work_dir / f"lake-blas-{rows}"
    if (lake / "raw" / "events" / "_SUCCESS").is_file():
        return lake
    data = work_dir / f"data-{rows}"
    if not (data / "2019-Oct.csv").is_file():
        generate_dataset(data, rows, seed=42, progress=False)
    spark = SparkResource(conf_dir=str(REPO / "spark_conf")).get_session()
    ingest_events(spark, input_month_files(str(data)), Lake(str(lake)), count_duplicates=False)
    spark.stop()
    return lake


def main() -> None:
    """Alternate the configurations, check the factors agree, write the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work-dir", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--lib-dir", action="append", default=[], metavar="NAME=DIR")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(fit_once(args.child)))
        return
    from ingest_vs_duckdb import write_results

    lake = ensure_lake(args.work_dir, args.rows)
    configs: list[tuple[str, str | None]] = [("java", None), ("system", None)]
    configs += [(spec.split("=", 1)[0], spec.split("=", 1)[1]) for spec in args.lib_dir]
    runs: dict[str, list[dict]] = {name: [] for name, _ in configs}
    for repeat in range(args.repeats):
        for name, lib_dir in configs:
            result = run_config(lake, name, lib_dir)
            runs[name].append(result)
            print(f"{repeat + 1}/{args.repeats} {name}: {result['seconds']:.1f} s "
                  f"({result['blas']}, {result['lapack']})", flush=True)
    reference = runs["java"][0]["sample"]
    lines = [
        "## Spark ALS: Java BLAS/LAPACK against native libraries",
        "",
        f"`python bench/als_native_blas.py --rows {args.rows} --repeats {args.repeats}"
        + "".join(f" --lib-dir {s}" for s in args.lib_dir) + f"`, measured {time.strftime('%Y-%m-%d')} on "
        f"{platform.machine()}, {os.cpu_count()} cores: the project's ALS with default parameters "
        f"(rank {32}, 10 iterations, 4 blocks) on October's {runs['java'][0]['ratings']:,} interactions of "
        f"{args.rows:,} generated rows, each fit in a fresh JVM, configurations alternated.",
        "",
        "| configuration | BLAS | LAPACK | fit time, median (s) | runs | vs java | largest factor difference vs java |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    java_median = statistics.median(r["seconds"] for r in runs["java"])
    for name, _ in configs:
        median = statistics.median(r["seconds"] for r in runs[name])
        sample = runs[name][0]["sample"]
        diff = max((abs(a - b) for row_a, row_b in zip(sample, reference) for a, b in zip(row_a, row_b)),
                   default=0.0)
        lines.append(f"| {name} | {runs[name][0]['blas']} | {runs[name][0]['lapack']} | {median:.1f} | "
                     f"{len(runs[name])} | {median / java_median:.2f} | {diff:.2e} |")
    write_results("\n".join(lines), START, END)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
