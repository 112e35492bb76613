"""Benchmark: ``ecom serve`` under a fixed request rate, on 127.0.0.1 only, with a bounded number of requests.

Starts the real server on a lake (``--lake``, e.g. one the whole graph made at the real files' size),
waits until it is ready (timing the first load: the sorted copies are built once per table version),
then sends ``--requests`` requests at ``--rate`` per second, open loop: each request has a scheduled
send time and its latency counts from then, so a server that falls behind shows it instead of
slowing the client down. The mix is what a shop page asks: 80% a user's recommendations (users drawn
from the lake's lists), 10% a product's similar products, 10% a user's segment. The client is the
standard library's HTTP/1.1 client, one keep-alive connection per thread, on the same 2 cores as the
server (stated: the client's own CPU is part of what the machine does). Reports p50/p95/p99, the rate achieved, errors, and the server's resident
memory; the section goes to ``docs/benchmarks.md`` (``serve-load``).

    python bench/serve_load.py --lake /path/to/lake --rate 500 --requests 20000
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import random
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psutil
import pyarrow.dataset as ds
import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
from ingest_vs_duckdb import write_results  # noqa: E402

from ecom_assets.shop_api.launch import start_server, wait_until  # noqa: E402

START, END = "<!-- serve-load:start -->", "<!-- serve-load:end -->"


def sample_ids(lake: Path, table: str, column: str, count: int, seed: int) -> list[int]:
    """``count`` ids drawn from a column of a lake table (distinct values, reproducible)."""
    values = ds.dataset(str(lake / "processed" / table), format="parquet").to_table(columns=[column])
    distinct = values.column(column).unique().to_pylist()
    rng = random.Random(seed)
    return [rng.choice(distinct) for _ in range(count)]


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class LoadRun:
    """One pass of the requests: their latencies (s), the errors and how long the pass took."""

    latencies: list[float]
    errors: list[str]
    elapsed: float


def load_run(url: str, paths: list[str], rate: float, threads: int) -> LoadRun:
    """Send every request of ``paths`` at ``rate`` per second (open loop) and time each one."""
    local = threading.local()
    host, port = url.removeprefix("http://").split(":")
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = time.perf_counter() + 0.5

    def send(index: int) -> None:
        due = start + index / rate
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        connection = getattr(local, "connection", None)
        if connection is None:
            connection = local.connection = http.client.HTTPConnection(host, port, timeout=30)
        try:
            connection.request("GET", paths[index])
            response = connection.getresponse()
            response.read()
            outcome = None if response.status in (200, 404) else f"HTTP {response.status}"
        except (OSError, http.client.HTTPException) as exc:
            outcome = exc.__class__.__name__
            connection.close()
            local.connection = None
        done = time.perf_counter()
        with lock:
            latencies.append(done - due)
            if outcome:
                errors.append(outcome)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(send, range(len(paths))))
    return LoadRun(latencies, errors, time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lake", type=Path, required=True)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3, help="passes of the requests against the same server")
    parser.add_argument("--write", action="store_true", help="write the section into docs/benchmarks.md")
    args = parser.parse_args()

    users = sample_ids(args.lake, "hybrid_recs", "user_id", args.requests, 1)
    products = sample_ids(args.lake, "content_similarity", "product_id", args.requests, 2)
    rng = random.Random(3)
    paths = []
    for i in range(args.requests):
        draw = rng.random()
        if draw < 0.8:
            paths.append(f"/users/{users[i]}/recommendations")
        elif draw < 0.9:
            paths.append(f"/products/{products[i]}/similar")
        else:
            paths.append(f"/users/{users[i]}/segment")

    fresh = not any((args.lake / "temp" / "serving").glob("*.arrow"))
    server, url = start_server(args.lake)
    try:
        load_s = wait_until(url, server)
        process = psutil.Process(server.pid)
        rss_ready = process.memory_info().rss
        for path in paths[:200]:  # warm: the pages of the tables the first requests touch
            requests.get(url + path, timeout=30)

        runs = [load_run(url, paths, args.rate, args.threads) for _ in range(args.repeat)]
        rss_after = process.memory_info().rss
    finally:
        server.terminate()
        server.wait(timeout=30)

    table = []
    for number, run in enumerate(runs, start=1):
        ms = [1000 * v for v in run.latencies]
        table.append((number, len(run.latencies) / run.elapsed, statistics.median(ms), percentile(ms, 0.95),
                      percentile(ms, 0.99), len(run.errors)))
    rows = "\n".join(f"| {n} | {args.rate:.0f} | {args.requests:,} | {rps:.0f} | {p50:.1f} | {p95:.1f} | {p99:.1f} | {errors} |"
                     for n, rps, p50, p95, p99, errors in table)
    medians = [statistics.median(column) for column in list(zip(*table))[1:5]]
    errors = [e for run in runs for e in run.errors]
    copies_gb = sum(f.stat().st_size for f in (args.lake / "temp" / "serving").glob("*.arrow")) / 1e9
    section = f"""## ecom serve under load

`python bench/serve_load.py --lake {args.lake} --rate {args.rate:.0f} --requests {args.requests}`, measured
{time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} cores, client and server on the same
machine (127.0.0.1), lake of {len(set(users)):,} sampled users. The server took {load_s:.0f} s from start to
ready ({"building the sorted copies of the tables" if fresh else "the sorted copies already built"}). Mix: 80% recommendations with reasons, 10% similar
products, 10% segment; latency counted from each request's scheduled send time (open loop).

| pass | target req/s | requests | achieved req/s | p50 ms | p95 ms | p99 ms | errors |
|---:|---:|---:|---:|---:|---:|---:|---:|
{rows}

Median over the passes: {medians[0]:.0f} req/s, p50 {medians[1]:.1f} ms, p95 {medians[2]:.1f} ms, p99 {medians[3]:.1f} ms.
Server resident memory {rss_ready / 2**30:.2f} GiB when ready, {rss_after / 2**30:.2f} GiB after the passes: most of
it is pages of the memory-mapped tables the requests touched (file-backed, the kernel drops them under
pressure); the tables' copies take {copies_gb:.1f} GB on disk.
"""
    print(section)
    if errors:
        print("errors:", sorted(set(errors)))
    if args.write:
        write_results(section, START, END)


if __name__ == "__main__":
    main()
