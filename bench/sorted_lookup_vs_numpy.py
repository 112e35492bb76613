"""Benchmark: each ``sorted_lookup`` helper that has a numpy equivalent, against that equivalent.

The blend's workers run these on a sale hour's block of users: about 400 k (user, product) keys built
as ``user * products + code`` (int64, many repeats) and the same number of float scores with ties.
Each pair of forms is checked to give the same result, then timed alternately; the medians and their
ratio go to ``docs/benchmarks.md`` between the ``sorted-lookup`` markers. A helper is kept only where
it is measurably faster than numpy's own.

    python bench/sorted_lookup_vs_numpy.py --keys 400000 --repeats 15
"""

from __future__ import annotations

import argparse
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

from ingest_vs_duckdb import write_results  # noqa: E402

from ecom_assets.speedups.sorted_lookup import order_within_runs, sorted_unique  # noqa: E402

START, END = "<!-- sorted-lookup:start -->", "<!-- sorted-lookup:end -->"


def blend_like_keys(n: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pair keys of a block (users x products with repeats), each pair's user, and tied float scores."""
    rng = np.random.default_rng(seed)
    users = np.sort(rng.integers(0, n // 40, n))
    products = rng.integers(0, 5_000, n)
    keys = users * 5_000 + products
    scores = np.round(rng.random(n), 3)  # rounded: many exact ties, as the blend's capped scores have
    return keys.astype(np.int64), users.astype(np.int64), scores


def timed(function: Callable[[], object], repeats: int) -> list[float]:
    """Seconds per call, ``repeats`` times."""
    out = []
    for _ in range(repeats):
        began = time.perf_counter()
        function()
        out.append(time.perf_counter() - began)
    return out


def main() -> None:
    """Check each pair gives the same result, time both alternately, write the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=400_000)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    keys, users, scores = blend_like_keys(args.keys)
    pairs = {
        "sorted_unique vs np.unique": (lambda: sorted_unique(keys), lambda: np.unique(keys)),
        "order_within_runs vs np.lexsort((-scores, users))": (lambda: order_within_runs(users, scores),
                                                              lambda: np.lexsort((-scores, users))),
    }
    for name, (ours, numpys) in pairs.items():  # same results first
        a, b = ours(), numpys()
        same = all(np.array_equal(x, y) for x, y in zip(a, b, strict=True)) if isinstance(a, tuple) else \
            np.array_equal(a, b)
        if not same:
            raise SystemExit(f"{name}: the two forms differ")
    rows = []
    for name, (ours, numpys) in pairs.items():
        ours_s, numpy_s = [], []
        for _ in range(args.repeats):
            ours_s += timed(ours, 1)
            numpy_s += timed(numpys, 1)
        o, n = statistics.median(ours_s) * 1000, statistics.median(numpy_s) * 1000
        rows.append(f"| {name} | {o:.1f} | {n:.1f} | {o / n:.2f} |")
    section = f"""## `sorted_lookup` helpers against numpy's own

`python bench/sorted_lookup_vs_numpy.py --keys {args.keys} --repeats {args.repeats}` on {platform.machine()},
numpy {np.__version__}, one core: {args.keys:,} int64 pair keys (a sale hour's block of users, many repeats) and
as many float scores with ties, generated. Same results checked first; medians of alternated calls.

| helper vs numpy | helper (ms) | numpy (ms) | ratio |
|---|---:|---:|---:|
{chr(10).join(rows)}
"""
    write_results(section, START, END)
    print(section)


if __name__ == "__main__":
    main()
