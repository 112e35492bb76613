"""``WarmRunLauncher``: Dagster's default run launcher, with runs forked from a warm worker process.

Configured in ``dagster.yaml`` (``run_launcher``). For a run whose code location loads one of
``preload_modules``, the launcher asks its worker (``ecom_assets/runs/worker.py``, started on the
first launch) to fork the run's process from an interpreter that has already imported the code: a
replayed hour starts its step ~3 s sooner than from a fresh process. Everything else (other code
locations, a worker that cannot load the code) goes through ``DefaultRunLauncher`` unchanged.

When the code on disk changes (its files' sizes or modification times), the next launch starts a
new worker first, so a run never executes stale code. Terminating a run sends SIGINT to its process,
which Dagster turns into a clean cancellation, as for the default launcher.

Opt-in speed machinery (``dagster-warm-launcher.yaml``), justified by ``bench/replay_cadence.py``
(docs/benchmarks.md, ``replay``): ~3 s less before each replayed hour's step. The private Dagster
APIs it needs are in :mod:`ecom_assets.runs.dagster_private`, behind a test.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Self

import dagster as dg

from ecom_assets.replay.orchestration.orphans import HOST_TAG, PID_TAG
from ecom_assets.runs.dagster_private import (
    ConfigurableClassData,
    DagsterLaunchFailedError,
    LaunchRunContext,
    serialize_value,
)
from ecom_assets.runs.worker import code_fingerprint

DEFAULT_PRELOAD = ("ecom_assets.definitions",)
LOAD_TIMEOUT_S = 300.0  # importing the code and opening the instance
ANSWER_TIMEOUT_S = 30.0  # forking a run


class WorkerUnavailable(RuntimeError):
    """The warm worker could not start or load the code; the message says why."""


class WarmWorker:
    """One running worker process and its pipes."""

    def __init__(self, modules: Sequence[str], instance_ref_json: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ecom_assets.runs.worker", *modules],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self._send({"instance_ref": instance_ref_json})
        hello = self._read(LOAD_TIMEOUT_S)
        if "error" in hello:
            self.process.wait(timeout=30)
            raise WorkerUnavailable(f"the warm run worker could not load {', '.join(modules)}:\n{hello['error']}")
        self.pid: int = hello["pid"]
        self.fingerprint: str = hello["fingerprint"]

    def _read(self, timeout_s: float) -> dict[str, Any]:
        """The worker's next protocol line (a worker silent for ``timeout_s`` is stopped)."""
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout_s)
        if not ready:
            self.process.kill()
            self.process.wait()
            raise WorkerUnavailable(f"the warm run worker did not answer within {timeout_s:.0f} s; stopped it")
        line = self.process.stdout.readline()
        if not line:
            code = self.process.wait(timeout=30)
            raise WorkerUnavailable(f"the warm run worker exited (code {code}); see the daemon's log")
        return json.loads(line)

    def _send(self, message: dict[str, Any]) -> None:
        """Write one protocol line to the worker."""
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(message) + "\n")
            self.process.stdin.flush()
        except OSError as error:
            raise WorkerUnavailable(f"the warm run worker is gone ({error})") from error

    def alive(self) -> bool:
        """True while the worker process runs."""
        return self.process.poll() is None

    def start_run(self, run_id: str, instance_ref_json: str) -> int:
        """Have the worker fork ``run_id``'s process; its pid."""
        self._send({"run_id": run_id, "instance_ref": instance_ref_json})
        reply = self._read(ANSWER_TIMEOUT_S)
        if reply.get("run_id") != run_id:
            raise WorkerUnavailable(f"the warm run worker answered {reply!r} for run {run_id}")
        return int(reply["pid"])

    def stop(self) -> None:
        """Close the worker's stdin (it exits; runs in progress finish on their own)."""
        if self.process.stdin and not self.process.stdin.closed:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def module_of(run: dg.DagsterRun) -> str | None:
    """The module a run's code location loads its definitions from (``None`` for a file-based location)."""
    origin = run.job_code_origin
    pointer = origin.repository_origin.code_pointer if origin else None
    return getattr(pointer, "module", None)


class WarmRunLauncher(dg.DefaultRunLauncher):
    """Launches the runs of ``preload_modules``' code locations from a warm worker process (see the
    module docstring); other runs as ``DefaultRunLauncher`` does."""

    def __init__(self, preload_modules: Sequence[str] = DEFAULT_PRELOAD,
                 inst_data: ConfigurableClassData | None = None) -> None:
        super().__init__(inst_data=inst_data)
        self.preload_modules = tuple(preload_modules)
        self._worker: WarmWorker | None = None
        self._lock = threading.Lock()

    @classmethod
    def config_type(cls) -> dict:
        """``preload_modules``: the code locations' modules to import once and fork runs from."""
        return {"preload_modules": dg.Field([str], is_required=False, default_value=list(DEFAULT_PRELOAD))}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]) -> Self:
        """Build the launcher from its ``dagster.yaml`` section."""
        return cls(preload_modules=config_value.get("preload_modules", DEFAULT_PRELOAD), inst_data=inst_data)

    def warm_worker(self) -> WarmWorker:
        """The running worker, started (again) when there is none, it died, or the code changed."""
        worker = self._worker
        if worker is not None and worker.alive() and worker.fingerprint == code_fingerprint(self.preload_modules):
            return worker
        if worker is not None:
            worker.stop()
            self._worker = None
        self._worker = WarmWorker(self.preload_modules, serialize_value(self._instance.get_ref()))
        return self._worker

    def launch_run(self, context: LaunchRunContext) -> None:
        """Fork the run from the warm worker when its code is preloaded, else launch it the default way."""
        run = context.dagster_run
        if module_of(run) not in self.preload_modules or not hasattr(os, "fork"):
            return super().launch_run(context)
        with self._lock:
            try:
                worker = self.warm_worker()
            except WorkerUnavailable as error:
                self._instance.report_engine_event(f"Launching the default way: {error}", run, cls=self.__class__)
                return super().launch_run(context)
            try:
                pid = worker.start_run(run.run_id, serialize_value(self._instance.get_ref()))
            except WorkerUnavailable as error:
                # The run may have been forked already: launching it again elsewhere could run it twice.
                self._worker = None
                raise DagsterLaunchFailedError(f"the warm run worker failed to start the run: {error}") from error
        self._instance.add_run_tags(run.run_id, {PID_TAG: str(pid), HOST_TAG: socket.gethostname()})
        self._instance.report_engine_event(f"Run process forked from the warm run worker (pid {pid}).", run,
                                           cls=self.__class__)
        self._run_ids.add(run.run_id)

    def terminate(self, run_id: str) -> bool:
        """Cancel a warm-launched run by interrupting its process (SIGINT, which Dagster handles cleanly)."""
        run = self._instance.get_run_by_id(run_id) if self.has_instance else None
        if run is None or PID_TAG not in run.tags:
            return super().terminate(run_id)
        if run.is_finished:
            return False
        if run.tags.get(HOST_TAG) != socket.gethostname():
            self._instance.report_engine_event(
                f"Cannot terminate: the run's process runs on {run.tags.get(HOST_TAG)}, not here.", run,
                cls=self.__class__)
            return False
        self._instance.report_run_canceling(run)
        try:
            os.kill(int(run.tags[PID_TAG]), signal.SIGINT)
        except ProcessLookupError:
            self._instance.report_engine_event("The run's process has already ended.", run, cls=self.__class__)
            return False
        return True

    def dispose(self) -> None:
        """Stop the worker (runs in progress finish on their own)."""
        with self._lock:
            if self._worker is not None:
                self._worker.stop()
                self._worker = None
