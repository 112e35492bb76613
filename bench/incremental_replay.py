"""Benchmark: the incremental models over days of replay (segment churn, online metrics, time per phase).

Generates N rows (default 1 M), materializes the batch graph once, then replays H hours (default
72) from 2019-11-01 00:00 with ``ecom replay``'s code path and the file sink; reads the
``segment_evolution`` and ``recommendation_metrics`` points and each hour's phase timings from the
Dagster instance, and writes the distributions to ``docs/benchmarks.md`` between the
``incremental`` markers.

    python bench/incremental_replay.py --rows 1000000 --hours 72
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import dagster as dg
from ingest_vs_duckdb import write_results
from replay_cadence import percentile, phase_seconds

from ecom_assets.ingest.generator import generate_dataset
from ecom_assets.settings import load_settings

START, END = "<!-- incremental:start -->", "<!-- incremental:end -->"


def field_values(folder: Path, measurement: str, tags: dict[str, str], field: str) -> list[float]:
    """One field of the points of ``measurement`` whose tags include ``tags``, hour by hour."""
    values = []
    for path in sorted(folder.glob(f"{measurement}-*.lp")):
        for line in path.read_text().splitlines():
            head, fields, _ = re.split(r"(?<!\\) ", line)
            line_tags = dict(part.split("=", 1) for part in head.split(",")[1:])
            if all(line_tags.get(k) == v for k, v in tags.items()):
                found = dict(part.split("=", 1) for part in fields.split(","))
                if field in found:
                    values.append(float(found[field].rstrip("i")))
    return values


def summary(values: list[float], digits: int = 4) -> str:
    """``median / p95 / max`` of ``values``."""
    if not values:
        return "n/a"
    return (f"{round(statistics.median(values), digits)} / {round(percentile(values, 0.95), digits)} / "
            f"{round(max(values), digits)}")


def prepare_lake(rows: int, data: Path, lake: Path) -> float:
    """Point the project at ``lake`` (its Dagster home inside, the file sink) and materialize the batch
    graph there once, on ``rows`` generated rows in ``data``; the minutes it took (0 when already there)."""
    if not (data / "2019-Nov.csv").is_file():
        generate_dataset(data, rows, seed=42, progress=False)
    os.environ["ECOM_DATA_DIR"] = str(data)
    os.environ["ECOM_LAKE_DIR"] = str(lake)
    os.environ["DAGSTER_HOME"] = str(lake / "dagster_home")
    os.environ.pop("INFLUX_URL", None)
    os.environ.setdefault("ECOM_SPARK_CONF", "spark.ui.enabled=false")
    from ecom_assets.definitions import BATCH_ASSETS, build_resources

    if (lake / "processed" / "replay_base_customers" / "_SUCCESS").is_file():
        return 0.0
    started = time.perf_counter()
    result = dg.materialize(BATCH_ASSETS, resources=build_resources(load_settings()),
                            instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    if not result.success:
        raise SystemExit("the batch graph failed; see the log above")
    return (time.perf_counter() - started) / 60


def main() -> None:
    """Prepare the lake, replay the hours, write the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--hours", type=int, default=72)
    parser.add_argument("--work-dir", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    data = args.work_dir / f"data-{args.rows}"
    lake = args.work_dir / f"lake-incremental-{args.rows}"
    batch_s = prepare_lake(args.rows, data, lake) * 60
    from ecom_assets.commands.materialize import ensure_dagster_home
    from ecom_assets.commands.replay import run_replay

    replay_started = time.time()
    replay = run_replay(args.hours, "2019-11-01-00:00", interval_s=0, log=print)
    if not replay.success:
        raise SystemExit(f"the replay stopped at {replay.failed_hour}: {replay.error}")

    instance = ensure_dagster_home(load_settings())
    phases = phase_seconds(instance, replay_started, ("customer_segments", "live_recommendations"))
    points = lake / "temp" / "influx" / "ecommerce_analytics"
    churn = field_values(points, "segment_evolution", {"segment": "all"}, "changed_share")
    active_churn = field_values(points, "segment_evolution", {"segment": "all"}, "active_changed_share")
    size_change = [abs(v) for v in field_values(points, "segment_evolution", {}, "size_change")]
    new_users = field_values(points, "segment_evolution", {"segment": "all"}, "new_users")
    online = {t: field_values(points, "recommendation_metrics", {"kind": "online", "segment": "all", "target": t},
                              "hit_rate_at_10") for t in ("any", "cart_purchase")}
    precision = field_values(points, "recommendation_metrics", {"kind": "online", "segment": "all", "target": "any"},
                             "precision_at_10")
    coverage = field_values(points, "recommendation_metrics", {"kind": "online", "segment": "all", "target": "any"},
                            "catalogue_coverage")
    rows = [
        f"| share of assigned users who changed segment, per hour | {summary(churn, 6)} |",
        f"| share of the hour's returning users who changed segment | {summary(active_churn)} |",
        f"| relative size change of a segment, per hour (abs) | {summary(size_change, 6)} |",
        f"| new users per hour | {summary(new_users, 0)} |",
        f"| online HitRate@10, any event | {summary(online['any'])} |",
        f"| online HitRate@10, carts and purchases | {summary(online['cart_purchase'])} |",
        f"| online Precision@10, any event | {summary(precision)} |",
        f"| catalogue coverage of the hour's lists | {summary(coverage, 5)} |",
        f"| wall time per replayed hour (s), in-process run | {summary(replay.seconds, 2)} |",
    ]
    rows += [f"| phase `{name}` (s) | {summary(values, 2)} |" for name, values in sorted(phases.items())]
    section = f"""## Incremental models over {args.hours} replayed hours

`python bench/incremental_replay.py --rows {args.rows} --hours {args.hours}` on {platform.machine()}, {os.cpu_count()} cores,
{args.rows:,} generated rows, batch graph with default configs{f' ({batch_s / 60:.1f} min)' if batch_s else ''}, then
hours from 2019-11-01 00:00 through `ecom replay`'s code path (in-process runs, local SparkSession, file sink).
Churn must stay under 15% per hour (the specification's bar; `churn_below_15_percent` warns above it).

| per hour: median / p95 / max | value |
|---|---|
{chr(10).join(rows)}
"""
    write_results(section, START, END)
    print(section)


if __name__ == "__main__":
    main()
