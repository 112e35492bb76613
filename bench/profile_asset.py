"""Where an asset's time goes, by our functions: one selection of the batch graph materialized in this process
under cProfile, on the lake and instance of the environment (``ECOM_LAKE_DIR``, ``DAGSTER_HOME``, ...).

Spark work blocks the Python call that asked for it, so a function's cumulative time is the wall time of
everything it computed, lazily built inputs included: the first action on a cached table pays for the
table. Spark's event log cannot say this for PySpark (its jobs are named after Py4J, not our lines).

    python bench/profile_asset.py recs_evaluation --out recs.prof [--top 40]
    python bench/profile_asset.py --show recs.prof       # print an earlier profile again
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def show(profile: Path, top: int, package: str = "ecom_assets") -> None:
    """Our functions by cumulative time, largest first."""
    rows = []
    for (file, line, function), (_, calls, _, cumulative, _) in pstats.Stats(str(profile)).stats.items():
        if f"/{package}/" in file:
            rows.append((cumulative, calls, f"{file.split(f'/{package}/')[-1]}:{line} {function}"))
    print(f"{'cumul. s':>9} {'calls':>6}  function")
    for cumulative, calls, name in sorted(rows, reverse=True)[:top]:
        print(f"{cumulative:9.1f} {calls:6d}  {name}")


def main() -> None:
    """Profile one materialization, or show a saved profile."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("selection", nargs="?", help="assets to materialize (Dagster's selection syntax)")
    parser.add_argument("--out", type=Path, default=Path("asset.prof"))
    parser.add_argument("--show", type=Path, help="print a saved profile instead of running one")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    if args.show:
        show(args.show, args.top)
        return
    if not args.selection:
        parser.error("give a selection, or --show a profile")
    from ecom_assets.commands.materialize import materialize_batch

    started = time.perf_counter()
    profiler = cProfile.Profile()
    result = profiler.runcall(materialize_batch, args.selection)
    profiler.dump_stats(str(args.out))
    print(result.render())
    print(f"wall time {time.perf_counter() - started:.1f} s; profile in {args.out}")
    show(args.out, args.top)


if __name__ == "__main__":
    main()
