"""One replay of a lake at a time: `ecom replay` against a second `ecom replay` and against the sensor.

`ecom replay` runs its hours in its own process, outside the run queue whose one-run lane keeps the
sensor's hours apart (``dagster.yaml``). So it holds an advisory lock file in the lake's replay state
for as long as it runs: a second `ecom replay` refuses to start, naming the first; the sensor skips
its ticks while the lock is held; an hour run the sensor had already launched stops before any work;
and `ecom replay` refuses to start while the sensor's hour runs are in flight. The lock is the operating
system's (``filelock``: flock on Linux and macOS, a locked file on Windows), released when the process
ends, however it ends, so a killed replay never leaves the lake locked; who holds it is written beside
it (``cli.lock.json``).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
from filelock import FileLock, Timeout

from ecom_assets.lake import Lake
from ecom_assets.replay.orchestration.ordering import IN_PROGRESS

LOCK_NAME = "replay/cli.lock"
# A sensor tick may be probing the lock this instant: wait that long before calling the lake busy.
ACQUIRE_TIMEOUT_S = 1.0


class ReplayBusyError(RuntimeError):
    """Another replay is running on the same lake."""


def lock_path(lake: Lake) -> Path:
    """The lock file of ``lake``'s command-line replay (in the lake's local replay state)."""
    return lake.local_state(LOCK_NAME)


def _holder_text(holder: dict) -> str:
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("since", 0)))
    return f"pid {holder.get('pid', '?')}, replay {holder.get('replay', '?')}, since {since}"


def _holder_file(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _read_holder(path: Path) -> dict:
    try:
        return json.loads(_holder_file(path).read_text(encoding="utf-8") or "{}")
    except (OSError, json.JSONDecodeError):
        return {}


def _os_lock(path: Path) -> FileLock:
    # Kept in place on release: deleting it would let two processes lock two different files.
    return FileLock(str(path), preserve_lock_file=True)


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
    probe = _os_lock(path)
    try:
        probe.acquire(timeout=0)
    except Timeout:
        return _read_holder(path)
    probe.release()
    return None


@dataclass
class CliReplayLock:
    """The lock `ecom replay` holds for its whole run (``with CliReplayLock(path, replay_id):``)."""

    path: Path
    replay: str
    _lock: FileLock | None = field(default=None, repr=False)

    def __enter__(self) -> CliReplayLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = _os_lock(self.path)
        try:
            lock.acquire(timeout=ACQUIRE_TIMEOUT_S)
        except Timeout:
            holder = _read_holder(self.path)
            raise ReplayBusyError(
                f"another `ecom replay` ({_holder_text(holder)}) is replaying this lake: wait until it ends, or stop "
                f"it (kill {holder.get('pid', 'its process')}); it resumes where it stopped") from None
        info = {"pid": os.getpid(), "replay": self.replay, "since": time.time()}
        _holder_file(self.path).write_text(json.dumps(info), encoding="utf-8")
        self._lock = lock
        return self

    def __exit__(self, *exc: object) -> None:
        if self._lock is not None:
            _holder_file(self.path).unlink(missing_ok=True)
            self._lock.release()
            self._lock = None


def sensor_runs_in_flight(instance: dg.DagsterInstance, job_name: str) -> list[dg.DagsterRun]:
    """The replay job's runs queued or running on ``instance`` (the sensor's: `ecom replay` runs in process)."""
    return list(instance.get_runs(filters=dg.RunsFilter(job_name=job_name, statuses=list(IN_PROGRESS)), limit=5))


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
