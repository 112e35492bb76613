"""Benchmark: does learning during the replay help? The same hours replayed with and without it, hour by hour.

Materializes the batch graph once on N generated rows (default 1 M), copies that lake twice, and replays
the same H hours (default 72) from 2019-11-01 00:00 in each copy through ``ecom replay``'s code path,
once with ``ECOM_REPLAY_LEARNING=on`` (products new in November folded in after each hour, the models
re-fitted after each day and used two days later) and once ``off`` (the batch graph's models serve every
hour; users' factors are folded in either way). Reads each hour's online HitRate@10 (any event; carts
and purchases) and catalogue coverage from the file sink's points, and the new products with factors
from the Dagster instance; plots both runs hour by hour (``docs/learning.png``) and writes the table to
``docs/benchmarks.md`` between the ``learning`` markers.

    python bench/learning_replay.py --rows 1000000 --hours 72
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import dagster as dg
from incremental_replay import field_values, prepare_lake, summary
from ingest_vs_duckdb import write_results

from ecom_assets.settings import load_settings

START, END = "<!-- learning:start -->", "<!-- learning:end -->"
MODES = ("on", "off")
# What an hour's replay writes: removed from a copy, so each mode starts from the batch graph's lake.
REPLAY_OUTPUTS = ("processed/replay", "temp/replay", "temp/influx", "models/replay_refit")


def fresh_copy(base: Path, target: Path) -> None:
    """``base`` (a lake with the batch graph and its Dagster home) copied to ``target``, without replay outputs."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(base, target, ignore=shutil.ignore_patterns("*.tmp"))
    for relative in REPLAY_OUTPUTS:
        shutil.rmtree(target / relative, ignore_errors=True)


def replay_mode(lake: Path, mode: str, hours: int) -> dict[str, list[float]]:
    """Replay ``hours`` hours in ``lake`` with learning ``mode``; each hour's figures, in hour order."""
    from ecom_assets.commands.materialize import ensure_dagster_home
    from ecom_assets.commands.replay import run_replay

    os.environ["ECOM_LAKE_DIR"] = str(lake)
    os.environ["DAGSTER_HOME"] = str(lake / "dagster_home")
    os.environ["ECOM_REPLAY_LEARNING"] = mode
    started = time.time()
    replay = run_replay(hours, "2019-11-01-00:00", interval_s=0, log=print)
    if not replay.success:
        raise SystemExit(f"learning {mode}: the replay stopped at {replay.failed_hour}: {replay.error}")
    points = lake / "temp" / "influx" / "ecommerce_analytics"
    online = {"segment": "all", "kind": "online"}
    figures = {
        "hit_any": field_values(points, "recommendation_metrics", {**online, "target": "any"}, "hit_rate_at_10"),
        "hit_cart": field_values(points, "recommendation_metrics", {**online, "target": "cart_purchase"},
                                 "hit_rate_at_10"),
        "coverage": field_values(points, "recommendation_metrics", {**online, "target": "any"}, "catalogue_coverage"),
        "seconds": list(replay.seconds),
    }
    instance = ensure_dagster_home(load_settings())
    records = [r for r in instance.fetch_materializations(dg.AssetKey("live_recommendations"), limit=10_000).records
               if r.timestamp >= started]
    records.sort(key=lambda r: r.partition_key or "")
    figures["new_products"] = [float(r.asset_materialization.metadata["new_products_with_factors"].value)
                               if "new_products_with_factors" in r.asset_materialization.metadata else 0.0
                               for r in records]
    return figures


def plot(runs: dict[str, dict[str, list[float]]], out: Path) -> None:
    """Online HitRate@10 (any event) and coverage per hour, both modes, one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
    for mode, style in zip(MODES, ("-", "--"), strict=True):
        label = f"learning {mode}"
        axes[0].plot(runs[mode]["hit_any"], style, label=label)
        axes[1].plot(runs[mode]["coverage"], style, label=label)
        axes[2].plot(runs[mode]["new_products"], style, label=label)
    axes[0].set_ylabel("online HitRate@10\n(any event)")
    axes[1].set_ylabel("catalogue coverage\nof the hour's lists")
    axes[2].set_ylabel("new products\nwith ALS factors")
    axes[2].set_xlabel("replayed hour from 2019-11-01 00:00")
    axes[0].legend()
    fig.suptitle("Replay with and without learning (generated data)")
    fig.tight_layout()
    fig.savefig(out, dpi=90)


def paired(on: list[float], off: list[float]) -> str:
    """Median of the hour-by-hour difference (on - off) and the share of hours where on is higher."""
    pairs = list(zip(on, off, strict=False))
    if not pairs:
        return "n/a"
    differences = [a - b for a, b in pairs]
    return (f"{statistics.median(differences):+.4f} (on higher in {sum(d > 0 for d in differences)} of "
            f"{len(pairs)} hours, lower in {sum(d < 0 for d in differences)})")


def main() -> None:
    """Prepare the lake once, replay it in both modes, plot and write the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--hours", type=int, default=72)
    parser.add_argument("--work-dir", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    data = args.work_dir / f"data-{args.rows}"
    base = args.work_dir / f"lake-learning-base-{args.rows}"
    batch_min = prepare_lake(args.rows, data, base)
    runs = {}
    for mode in MODES:
        lake = args.work_dir / f"lake-learning-{mode}-{args.rows}"
        fresh_copy(base, lake)
        runs[mode] = replay_mode(lake, mode, args.hours)
    plot(runs, REPO / "docs" / "learning.png")
    on, off = runs["on"], runs["off"]
    rows = [
        f"| online HitRate@10, any event | {summary(on['hit_any'])} | {summary(off['hit_any'])} | "
        f"{paired(on['hit_any'], off['hit_any'])} |",
        f"| online HitRate@10, carts and purchases | {summary(on['hit_cart'])} | {summary(off['hit_cart'])} | "
        f"{paired(on['hit_cart'], off['hit_cart'])} |",
        f"| catalogue coverage of the hour's lists | {summary(on['coverage'], 5)} | {summary(off['coverage'], 5)} | "
        f"{paired(on['coverage'], off['coverage'])} |",
        f"| new products with ALS factors (before the hour) | {summary(on['new_products'], 0)} | "
        f"{summary(off['new_products'], 0)} | |",
        f"| wall time per replayed hour (s), in-process run | {summary(on['seconds'], 2)} | "
        f"{summary(off['seconds'], 2)} | {paired(on['seconds'], off['seconds'])} |",
    ]
    section = f"""## Learning during the replay: on against off, hour by hour

`python bench/learning_replay.py --rows {args.rows} --hours {args.hours}` on {platform.machine()}, {os.cpu_count()} cores,
{time.strftime('%Y-%m-%d')}, {args.rows:,} generated rows, batch graph with default configs
{f'({batch_min:.1f} min) ' if batch_min else ''}materialized once and copied; the same hours from 2019-11-01 00:00
replayed in each copy through `ecom replay`'s code path (in-process runs, local SparkSession, file sink).
On: products first seen in November folded into ALS after each hour, K-means and ALS re-fitted after each
day and used from two days later (`ECOM_REPLAY_LEARNING=on`, the default); off: the batch graph's models
serve every hour. Plot: `docs/learning.png`.

| per hour: median / p95 / max | learning on | learning off | on - off, hour by hour: median |
|---|---|---|---|
{chr(10).join(rows)}
"""
    write_results(section, START, END)
    print(section)


if __name__ == "__main__":
    main()
