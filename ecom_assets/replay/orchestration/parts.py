"""The parts of a replayed hour's step: independent Spark jobs submitted together, and what each part hands back.

A replayed hour is small: each of its queries keeps about one core busy, so two independent queries
submitted from two threads finish in about the time of the longer one. Spark (embedded through py4j,
or Spark Connect) accepts concurrent jobs from one session. Pass DataFrame work only: Spark ML's
model methods (``clusterCenters``, ``transform`` of a loaded model) look up the calling thread's
active session on Spark Connect and fail in a worker thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import dagster as dg

T = TypeVar("T")


def run_concurrently(jobs: Mapping[str, Callable[[], Any]], seconds: dict[str, float] | None = None
                     ) -> dict[str, Any]:
    """Run every job of ``jobs`` in its own thread and return their results by name.

    Every job runs to its end before anything is raised, so a failure leaves nothing running behind
    it; then the first failed job's error (in ``jobs`` order) is raised. ``seconds``, when given,
    receives each job's duration.
    """
    durations = seconds if seconds is not None else {}

    def timed(name: str, job: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            began = time.perf_counter()
            try:
                return job()
            finally:
                durations[name] = round(time.perf_counter() - began, 3)
        return run

    with ThreadPoolExecutor(max_workers=max(1, len(jobs)), thread_name_prefix="spark-job") as pool:
        futures = {name: pool.submit(timed(name, job)) for name, job in jobs.items()}
    return {name: future.result() for name, future in futures.items()}


@contextmanager
def running_beside(job: Callable[[], T]) -> Iterator[Future[T]]:
    """Start ``job`` in a thread while the ``with`` block runs on this one; its future is yielded.

    Leaving the block waits for the job, so nothing keeps running behind a failure; ``.result()``
    gives the job's value or raises its error.
    """
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spark-job")
    try:
        yield pool.submit(job)
    finally:
        pool.shutdown(wait=True)


@dataclass
class Published:
    """The results (materializations with their checks) of one part of an hour, computed and already
    written to the sink, and the warnings for the run's log."""

    results: list[dg.MaterializeResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
