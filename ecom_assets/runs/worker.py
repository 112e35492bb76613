"""The warm run worker: a process that imports the code once and forks one child per Dagster run.

A run launched the default way starts a new Python process that imports Dagster, PySpark and the
project again: ~3 s before the first step, on every replayed hour. This worker imports the code
locations' modules once, then forks a child per run; the child inherits the imported code and runs
the run exactly as ``dagster api execute_run`` does. Started and fed by ``WarmRunLauncher`` over its
stdin and stdout, one JSON object per line:

- launcher -> worker, once: ``{"instance_ref": <serialized InstanceRef>}`` (to warm up on);
- worker -> launcher, once: ``{"ready": true, "pid": ..., "fingerprint": ...}`` or ``{"error": ...}``;
- launcher -> worker: ``{"run_id": ..., "instance_ref": <serialized InstanceRef>}``;
- worker -> launcher: ``{"run_id": ..., "pid": <the run's process>}``.

A child that dies without ending its run (killed, crashed interpreter) has its run reported failed,
so the run never stays "started" forever. The worker exits when its stdin closes; runs in progress
finish on their own.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import selectors
import sys
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dagster import DagsterInstance

REAP_INTERVAL_S = 0.2


def code_fingerprint(modules: Iterable[str]) -> str:
    """A digest of every ``.py`` file (path, size, modification time) of the top-level packages of
    ``modules``, computed without importing them: it changes when the code on disk changes."""
    digest = hashlib.sha256()
    for top in sorted({module.split(".")[0] for module in modules}):
        spec = importlib.util.find_spec(top)
        if spec is None:
            digest.update(f"missing:{top}".encode())
            continue
        roots = list(spec.submodule_search_locations or []) or [spec.origin or ""]
        for root in roots:
            path = Path(root)
            files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
            for file in files:
                stat = file.stat()
                digest.update(f"{file}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def preload(modules: Iterable[str], instance_ref_json: str | None) -> None:
    """Import ``modules`` and build the Dagster repositories they define, and open (then close) the
    launcher's instance once, so forked runs start warm: the instance's storage code is imported
    here instead of in every run (~0.8 s each); no connection stays open across the forks."""
    import dagster as dg

    for name in modules:
        module = importlib.import_module(name)
        for value in vars(module).values():
            if isinstance(value, dg.Definitions):
                value.get_repository_def()
    if instance_ref_json:
        with open_instance(instance_ref_json) as instance:
            instance.get_run_by_id("warm-run-worker")
            _ = instance.compute_log_manager


def open_instance(instance_ref_json: str) -> DagsterInstance:
    """The Dagster instance a serialized ``InstanceRef`` (from the launcher) points at."""
    from dagster import DagsterInstance

    from ecom_assets.runs.dagster_private import InstanceRef, deserialize_value

    return DagsterInstance.from_ref(deserialize_value(instance_ref_json, InstanceRef))


def execute_run(run_id: str, instance_ref_json: str) -> int:
    """Run ``run_id`` in this process as ``dagster api execute_run`` would; the exit code."""
    from ecom_assets.runs.dagster_private import capture_interrupts, execute_run_command_body

    with capture_interrupts(), open_instance(instance_ref_json) as instance:
        return execute_run_command_body(run_id, instance, lambda _event: None, set_exit_code_on_failure=False)


def report_lost_run(run_id: str, instance_ref_json: str, how: str) -> None:
    """Mark ``run_id`` failed when its process ended without finishing it."""
    with open_instance(instance_ref_json) as instance:
        run = instance.get_run_by_id(run_id)
        if run is not None and not run.is_finished:
            instance.report_run_failed(run, message=f"The run's process (forked by the warm run worker) {how} "
                                                    "before the run ended.")


def fork_and_run(work: Callable[[], int], protocol_fd: int | None = None) -> int:
    """Fork a child that runs ``work`` and exits with its code; the child's pid.

    The child closes the worker's protocol pipe (so the launcher sees the worker's end alone) and
    reads nothing from stdin."""
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        if protocol_fd is not None:
            os.close(protocol_fd)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        code = work()
    except BaseException:  # noqa: BLE001 - the child must always reach os._exit
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def describe_exit(status: int) -> str | None:
    """How a child ended, when it ended abnormally (``None`` for a clean exit)."""
    if os.WIFSIGNALED(status):
        return f"was killed by signal {os.WTERMSIG(status)}"
    code = os.waitstatus_to_exitcode(status)
    return None if code == 0 else f"exited with code {code}"


class RunWorker:
    """The worker's loop: read requests, fork runs, reap them and report the lost ones."""

    def __init__(self, protocol_fd: int) -> None:
        self.protocol_fd = protocol_fd
        self.children: dict[int, tuple[str, str]] = {}  # pid -> (run_id, instance_ref_json)

    def reply(self, message: dict) -> None:
        """Write one protocol line to the launcher."""
        os.write(self.protocol_fd, (json.dumps(message) + "\n").encode())

    def start(self, request: dict) -> None:
        """Fork the run's process and tell the launcher its pid."""
        run_id, ref = request["run_id"], request["instance_ref"]
        pid = fork_and_run(lambda: execute_run(run_id, ref), self.protocol_fd)
        self.children[pid] = (run_id, ref)
        self.reply({"run_id": run_id, "pid": pid})

    def report(self, run_id: str, instance_ref_json: str, how: str) -> None:
        """Report a lost run from a short-lived child, so the worker itself never holds a connection."""

        def work() -> int:
            report_lost_run(run_id, instance_ref_json, how)
            return 0

        os.waitpid(fork_and_run(work, self.protocol_fd), 0)

    def reap(self) -> None:
        """Collect the ended children; a run whose process ended abnormally is reported failed."""
        while self.children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                return
            run_id, ref = self.children.pop(pid, (None, None))
            how = describe_exit(status)
            if run_id is not None and ref is not None and how is not None:
                self.report(run_id, ref, how)

    def serve(self, stdin_fd: int) -> None:
        """Answer requests until stdin closes."""
        selector = selectors.DefaultSelector()
        selector.register(stdin_fd, selectors.EVENT_READ)
        pending = b""
        while True:
            ready = selector.select(timeout=REAP_INTERVAL_S)
            self.reap()
            if not ready:
                continue
            chunk = os.read(stdin_fd, 65536)
            if not chunk:
                return
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.strip():
                    self.start(json.loads(line))


def main(argv: list[str] | None = None) -> None:
    """Preload the modules named on the command line, say ready, then serve run requests."""
    modules = list(sys.argv[1:] if argv is None else argv)
    # The protocol keeps the original stdout; anything the code prints goes to stderr instead.
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    worker = RunWorker(protocol_fd)
    try:
        fingerprint = code_fingerprint(modules)
        hello = json.loads(sys.stdin.readline() or "{}")
        preload(modules, hello.get("instance_ref"))
    except BaseException:  # noqa: BLE001 - any failure to load the code is reported to the launcher
        worker.reply({"error": traceback.format_exc()})
        return
    worker.reply({"ready": True, "pid": os.getpid(), "fingerprint": fingerprint})
    worker.serve(sys.stdin.fileno())


if __name__ == "__main__":
    main()
