"""Runs left "started" by a process that died: found by their process, marked failed, so work resumes.

A run's process can die without ending its run: SIGKILL, the kernel's OOM killer, a power cut.
Dagster's code server marks failed the runs it launched when their process dies, and the warm run
launcher does the same for its forks; but a run executed in the process of `ecom replay`, or one whose
code server died with it (all of ``dagster dev`` killed), stays "started" for ever. Such a run holds
the replay back: the sensor waits for it, the run queue's one-run lane stays taken, and `ecom replay`
takes it for a sensor run in flight and refuses to start.

Every run records its process: the warm launcher and `ecom replay` tag it (``PID_TAG``, ``HOST_TAG``),
Dagster's run worker reports ``Started process for run (pid: N)`` with the pid in its metadata (trusted
only when the default launcher sent the run to a code server on this machine: a container's or another
host's pid means nothing here, and such a run is left to its launcher). A
started run whose process is gone from this machine (or whose pid now belongs to a process started
after the run) is an orphan: it is marked failed with a message that says why, and the replay retries
its hour like any failed hour (an hour re-run overwrites its parts in the lake and its points in
InfluxDB, so nothing is doubled).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable

import dagster as dg
import psutil

PID_TAG = "ecom/run_process_pid"
HOST_TAG = "ecom/run_process_host"
# Where Dagster's default launcher sent the run (its code server: host and port, or a Unix socket); a
# hidden run tag, read only to know the run's process is on this machine.
GRPC_INFO_TAG = ".dagster/grpc_info"
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
# Seconds a process may have started after its run did and still be that run's (clocks read apart).
START_SLACK_S = 5.0


def process_tags() -> dict[str, str]:
    """The tags that name this process as a run's process (for runs executed in this process)."""
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def run_process_pid(instance: dg.DagsterInstance, run: dg.DagsterRun) -> int | None:
    """The pid of ``run``'s process on this machine, or ``None`` when unknown or on another machine."""
    if PID_TAG in run.tags:
        if run.tags.get(HOST_TAG, socket.gethostname()) != socket.gethostname():
            return None
        return int(run.tags[PID_TAG])
    if not launched_on_this_machine(run):
        return None  # another launcher (a container, another host): its pid means nothing here
    for record in instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT).records:
        event = record.event_log_entry.dagster_event
        data = event.engine_event_data if event is not None else None
        pid = data.metadata.get("pid") if data is not None else None
        if pid is not None and record.event_log_entry.message.startswith("Started process for run"):
            return int(pid.value)
    return None


def launched_on_this_machine(run: dg.DagsterRun) -> bool:
    """Whether Dagster's default launcher started ``run`` through a code server on this machine."""
    try:
        info = json.loads(run.tags.get(GRPC_INFO_TAG) or "null")
    except ValueError:
        return False
    if not isinstance(info, dict):
        return False
    return bool(info.get("socket")) or info.get("host") in LOCAL_HOSTS | {socket.gethostname()}


def process_ended(pid: int, run_started_at: float | None) -> bool:
    """Whether process ``pid`` is gone (a process that started after the run is another one)."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return True
        created = process.create_time()
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:  # not ours to inspect: it exists
        return False
    return run_started_at is not None and created > run_started_at + START_SLACK_S


def orphaned(instance: dg.DagsterInstance, runs: Iterable[dg.DagsterRun]) -> list[tuple[dg.DagsterRun, int]]:
    """The started ``runs`` whose process on this machine has ended, each with that process's pid."""
    found = []
    for run in runs:
        if run.status != dg.DagsterRunStatus.STARTED:
            continue
        pid = run_process_pid(instance, run)
        if pid is None:
            continue
        record = instance.get_run_record_by_id(run.run_id)
        if process_ended(pid, record.start_time if record else None):
            found.append((run, pid))
    return found


def fail_orphaned_runs(instance: dg.DagsterInstance, job_names: Iterable[str]) -> list[dg.DagsterRun]:
    """Mark failed every started run of ``job_names`` whose process has ended; the runs so marked."""
    started = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    names = set(job_names)
    failed = []
    for run, pid in orphaned(instance, (run for run in started if run.job_name in names)):
        fail_run(instance, run, f"the run's process (pid {pid}) ended without finishing the run (killed?): "
                                "marked failed so that its work is run again")
        failed.append(run)
    return failed


def fail_run(instance: dg.DagsterInstance, run: dg.DagsterRun, why: str) -> None:
    """Record why ``run`` is marked failed, then mark it (its process is known to be gone)."""
    instance.report_engine_event(why, run)
    instance.report_run_failed(run, why)
