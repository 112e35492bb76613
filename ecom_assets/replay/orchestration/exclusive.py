"""One replay of a lake at a time: `ecom replay` against a second `ecom replay` and against the sensor.

`ecom replay` runs its hours in its own process, outside the run queue whose one-run lane keeps the
sensor's hours apart (``dagster.yaml``). So it holds an advisory lock file in the lake's replay state
for as long as it runs: a second `ecom replay` refuses to start, naming the first; the sensor skips
its ticks while the lock is held; an hour run the sensor had already launched stops before any work;
and `ecom replay` refuses to start while the sensor's hour runs are in flight. The kernel releases
the lock when the process ends, however it ends, so a killed replay never leaves the lake locked.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import dagster as dg

from ecom_assets.lake import Lake

LOCK_NAME = "replay/cli.lock"
ACQUIRE_ATTEMPTS = 5
ACQUIRE_PAUSE_S = 0.2


class ReplayBusyError(RuntimeError):
    """Another replay is running on the same lake."""


def lock_path(lake: Lake) -> Path:
    """The lock file of ``lake``'s command-line replay (in the lake's local replay state)."""
    return lake.local_state(LOCK_NAME)


def _holder_text(holder: dict) -> str:
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("since", 0)))
    return f"pid {holder.get('pid', '?')}, replay {holder.get('replay', '?')}, since {since}"


def _read(handle: IO[str]) -> dict:
    handle.seek(0)
    try:
        return json.loads(handle.read() or "{}")
    except json.JSONDecodeError:
        return {}


def cli_replay_holder(lake: Lake) -> dict | None:
    """The `ecom replay` holding ``lake`` (its pid, replay id and start), or ``None``.

    A lake at a URI without a local state folder has no lock (and no replay can run on it).
    """
    try:
        path = lock_path(lake)
    except ValueError:
        return None
    if not path.is_file():
        return None
    with path.open("r") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read(handle) or {}
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


@dataclass
class CliReplayLock:
    """The lock `ecom replay` holds for its whole run (``with CliReplayLock(path, replay_id):``)."""

    path: Path
    replay: str
    _handle: IO[str] | None = field(default=None, repr=False)

    def __enter__(self) -> CliReplayLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        for attempt in range(ACQUIRE_ATTEMPTS):
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt + 1 < ACQUIRE_ATTEMPTS:
                    time.sleep(ACQUIRE_PAUSE_S)  # a sensor tick may be reading the lock this instant
        else:
            holder = _read(handle)
            handle.close()
            raise ReplayBusyError(
                f"another `ecom replay` ({_holder_text(holder)}) is replaying this lake: wait until it ends, or stop "
                f"it (kill {holder.get('pid', 'its process')}); it resumes where it stopped") from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "replay": self.replay, "since": time.time()}))
        handle.flush()
        self._handle = handle
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.truncate(0)
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def sensor_runs_in_flight(instance: dg.DagsterInstance, job_name: str) -> list[dg.DagsterRun]:
    """The replay job's runs queued or running on ``instance`` (the sensor's: `ecom replay` runs in process)."""
    statuses = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
                dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
    return list(instance.get_runs(filters=dg.RunsFilter(job_name=job_name, statuses=statuses), limit=5))


def refuse_beside_sensor_runs(instance: dg.DagsterInstance, job_name: str, sensor_name: str) -> None:
    """Raise ``ReplayBusyError`` when the sensor's hour runs are in flight on ``instance``."""
    runs = sensor_runs_in_flight(instance, job_name)
    if runs:
        hours = ", ".join(sorted(r.tags.get("dagster/partition", "?") for r in runs))
        raise ReplayBusyError(
            f"the replay sensor's runs are in flight on this instance (hour(s) {hours}, run {runs[0].run_id[:8]}): "
            f"turn {sensor_name} off (UI > Automation, or `dagster sensor stop {sensor_name} -w workspace.yaml`) "
            "and let them finish, or let the sensor replay")


def other_replay_problem(lake: Lake, run_replay_id: str) -> str | None:
    """Why an hour run of the replay ``run_replay_id`` must not proceed: an `ecom replay` of another replay holds
    the lake (``None`` when it may)."""
    holder = cli_replay_holder(lake)
    if holder is None or holder.get("replay") == run_replay_id:
        return None
    return (f"an `ecom replay` ({_holder_text(holder)}) is replaying this lake: this run stops without processing; "
            "the sensor skips its ticks until that replay ends")


def require_lake_to_itself(context: dg.AssetExecutionContext, lake: Lake, replay_tag: str) -> None:
    """Raise ``dg.Failure`` when an `ecom replay` other than this run's own replay holds the lake."""
    problem = other_replay_problem(lake, context.run.tags.get(replay_tag, ""))
    if problem:
        raise dg.Failure(description=problem)
