"""Benchmark: ``ecom serve`` under a fixed request rate, on 127.0.0.1 only, with a bounded number of requests.

Starts the real server on a lake (``--lake``, e.g. one the whole graph made at the real files' size),
waits until it is ready (timing the first load: the sorted copies are built once per table version),
then sends ``--requests`` requests at ``--rate`` per second, open loop: each request has a scheduled
send time and its latency counts from then, so a server that falls behind shows it instead of
slowing the client down. The mix is what a shop page asks: 80% a user's recommendations (users drawn
from the lake's lists), 10% a product's similar products, 10% a user's segment. The client is
``requests`` in threads on the same 2 cores as the server (stated: the client's own CPU is part of
what the machine does). Reports p50/p95/p99, the rate achieved, errors, and the server's resident
memory; the section goes to ``docs/benchmarks.md`` (``serve-load``).

    python bench/serve_load.py --lake /path/to/lake --rate 500 --requests 20000
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pyarrow.dataset as ds
import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from ingest_vs_duckdb import write_results  # noqa: E402

START, END = "<!-- serve-load:start -->", "<!-- serve-load:end -->"


def free_port() -> int:
    """A free loopback port."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lake", type=Path, required=True)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--threads", type=int, default=64)
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

    port = free_port()
    env = {**os.environ, "ECOM_LAKE_DIR": str(args.lake)}
    began = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", "ecom_assets.cli", "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if requests.get(url + "/ready", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if server.poll() is not None:
                raise SystemExit("ecom serve exited before it was ready")
            time.sleep(0.5)
        load_s = time.perf_counter() - began
        process = psutil.Process(server.pid)
        rss_ready = process.memory_info().rss
        for path in paths[:200]:  # warm: the pages of the tables the first requests touch
            requests.get(url + path, timeout=30)

        local = threading.local()
        latencies: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()
        start = time.perf_counter() + 0.5

        def send(index: int) -> None:
            due = start + index / args.rate
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            session = getattr(local, "session", None) or requests.Session()
            local.session = session
            try:
                status = session.get(url + paths[index], timeout=30).status_code
                outcome = None if status in (200, 404) else f"HTTP {status}"
            except requests.RequestException as exc:
                outcome = exc.__class__.__name__
            done = time.perf_counter()
            with lock:
                latencies.append(done - due)
                if outcome:
                    errors.append(outcome)

        with ThreadPoolExecutor(args.threads) as pool:
            list(pool.map(send, range(args.requests)))
        elapsed = time.perf_counter() - start
        rss_after = process.memory_info().rss
    finally:
        server.terminate()
        server.wait(timeout=30)

    ms = [1000 * v for v in latencies]
    rows = (f"| {args.rate:.0f} | {args.requests:,} | {len(latencies) / elapsed:.0f} | {statistics.median(ms):.1f} | "
            f"{percentile(ms, 0.95):.1f} | {percentile(ms, 0.99):.1f} | {len(errors)} | "
            f"{rss_ready / 2**30:.2f} / {rss_after / 2**30:.2f} |")
    section = f"""## ecom serve under load

`python bench/serve_load.py --lake {args.lake} --rate {args.rate:.0f} --requests {args.requests}`, measured
{time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} cores, client and server on the same
machine (127.0.0.1), lake of {len(set(users)):,} sampled users. The server took {load_s:.0f} s from start to
ready (first load of the lake: sorted copies built). Mix: 80% recommendations with reasons, 10% similar
products, 10% segment; latency counted from each request's scheduled send time (open loop).

| target req/s | requests | achieved req/s | p50 ms | p95 ms | p99 ms | errors | server RSS ready / after (GiB) |
|---:|---:|---:|---:|---:|---:|---:|---|
{rows}
"""
    print(section)
    if errors:
        print("errors:", sorted(set(errors)))
    if args.write:
        write_results(section, START, END)


if __name__ == "__main__":
    main()
