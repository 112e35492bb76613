"""The warm run launcher on a real Dagster instance: runs forked from a worker that imported the code
once, their cancellation, a run whose process dies, and a worker restarted when the code changes."""

from __future__ import annotations

import json
import os
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.definitions.reconstruct import ReconstructableRepository

from ecom_assets.runs.launcher import WarmRunLauncher, module_of
from ecom_assets.replay.orchestration.orphans import PID_TAG
from ecom_assets.runs.worker import code_fingerprint

REPO_ROOT = Path(__file__).resolve().parents[1]
JOBS_MODULE = "warm_jobs_under_test.jobs"
JOBS_SOURCE = textwrap.dedent('''
    """Jobs for the warm launcher's tests."""
    import json, os, signal, time
    import dagster as dg

    IMPORTED_BY = os.getpid()
    VERSION = 1
    print("imported: code that prints must not disturb the launcher's pipe")

    @dg.op
    def report_processes():
        """Write which process imported this module and which ran the op."""
        with open(os.environ["WARM_TEST_OUT"], "w") as out:
            json.dump({"imported_by": IMPORTED_BY, "ran_in": os.getpid(), "version": VERSION}, out)

    @dg.op
    def wait_a_minute():
        """Run until interrupted."""
        for _ in range(600):
            time.sleep(0.1)

    @dg.op
    def die():
        """Kill this process the hard way, without ending the run."""
        os.kill(os.getpid(), signal.SIGKILL)

    @dg.job(executor_def=dg.in_process_executor)
    def quick():
        report_processes()

    @dg.job(executor_def=dg.in_process_executor)
    def slow():
        wait_a_minute()

    @dg.job(executor_def=dg.in_process_executor)
    def crash():
        die()

    defs = dg.Definitions(jobs=[quick, slow, crash])
''')


@pytest.fixture()
def code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A code location's package on disk, importable by the test and by the worker."""
    package = tmp_path / "code" / "warm_jobs_under_test"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "jobs.py").write_text(JOBS_SOURCE)
    monkeypatch.syspath_prepend(str(package.parent))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(package.parent), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("WARM_TEST_OUT", str(tmp_path / "out.json"))
    for name in [name for name in sys.modules if name.startswith(package.name)]:
        monkeypatch.delitem(sys.modules, name)  # an earlier test's copy, from another folder
    yield package


@pytest.fixture()
def instance(code: Path) -> Iterator[dg.DagsterInstance]:
    """A real instance whose run launcher is the warm launcher, preloading the test's code location."""
    launcher = {"module": "ecom_assets.runs.launcher", "class": "WarmRunLauncher",
                "config": {"preload_modules": [JOBS_MODULE]}}
    with dg.instance_for_test(overrides={"run_launcher": launcher}) as test_instance:
        yield test_instance


def launch(instance: dg.DagsterInstance, code: Path, job_name: str) -> dg.DagsterRun:
    """Create a run of ``job_name`` from the code location's module and launch it."""
    repository = ReconstructableRepository.for_module(JOBS_MODULE, "defs", working_directory=str(code.parent))
    job = repository.get_reconstructable_job(job_name)
    run = instance.create_run_for_job(job_def=job.get_definition(), job_code_origin=job.get_python_origin())
    return instance.launch_run(run.run_id, workspace=None)  # type: ignore[arg-type]  # the warm path needs none


def wait_finished(instance: dg.DagsterInstance, run_id: str, timeout_s: float = 60.0) -> dg.DagsterRun:
    """The run once it has ended."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run = instance.get_run_by_id(run_id)
        if run is not None and run.is_finished:
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not end within {timeout_s} s")


def engine_messages(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """The run's event messages, in order."""
    return [entry.message or "" for entry in instance.all_logs(run_id)]


def test_runs_are_forked_from_a_worker_that_imported_the_code_once(instance, code, tmp_path):
    """Two runs: each in its own process, both children of the one process that imported the code."""
    outputs = []
    for _ in range(2):
        run = launch(instance, code, "quick")
        finished = wait_finished(instance, run.run_id)
        assert finished.status == dg.DagsterRunStatus.SUCCESS
        outputs.append(json.loads((tmp_path / "out.json").read_text()))
        assert int(finished.tags[PID_TAG]) == outputs[-1]["ran_in"]
        assert any("forked from the warm run worker" in message for message in engine_messages(instance, run.run_id))
    worker_pid = instance.run_launcher._worker.pid
    assert [out["imported_by"] for out in outputs] == [worker_pid, worker_pid]
    assert len({out["ran_in"] for out in outputs} | {worker_pid, os.getpid()}) == 4


def test_terminating_a_run_cancels_it(instance, code):
    """The UI's terminate: the run's process is interrupted and the run ends canceled."""
    run = launch(instance, code, "slow")
    deadline = time.monotonic() + 30
    while "Executing step" not in " ".join(engine_messages(instance, run.run_id)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert instance.run_launcher.terminate(run.run_id)
    assert wait_finished(instance, run.run_id).status == dg.DagsterRunStatus.CANCELED
    assert not instance.run_launcher.terminate(run.run_id)  # already ended


def test_a_run_whose_process_dies_is_reported_failed(instance, code):
    """A run process killed mid-run does not leave its run "started" forever."""
    run = launch(instance, code, "crash")
    finished = wait_finished(instance, run.run_id)
    assert finished.status == dg.DagsterRunStatus.FAILURE
    assert any("was killed by signal 9" in message for message in engine_messages(instance, run.run_id))


def test_changed_code_starts_a_new_worker(instance, code, tmp_path):
    """Editing the code location's files makes the next run start from a worker that loaded the new code."""
    wait_finished(instance, launch(instance, code, "quick").run_id)
    first = json.loads((tmp_path / "out.json").read_text())
    before = code_fingerprint([JOBS_MODULE])
    jobs = code / "jobs.py"
    jobs.write_text(jobs.read_text().replace("VERSION = 1", "VERSION = 2"))
    assert code_fingerprint([JOBS_MODULE]) != before
    wait_finished(instance, launch(instance, code, "quick").run_id)
    second = json.loads((tmp_path / "out.json").read_text())
    assert (first["version"], second["version"]) == (1, 2)
    assert first["imported_by"] != second["imported_by"]


def test_a_worker_that_cannot_load_the_code_says_why(instance, code, tmp_path):
    """Code that fails to import: the launch records the import error, then falls back to the default
    launcher (which, with no code server here, refuses the launch)."""
    repository = ReconstructableRepository.for_module(JOBS_MODULE, "defs", working_directory=str(code.parent))
    job = repository.get_reconstructable_job("quick")
    run = instance.create_run_for_job(job_def=job.get_definition(), job_code_origin=job.get_python_origin())
    (code / "jobs.py").write_text(JOBS_SOURCE + "\nraise RuntimeError('broken on purpose')\n")
    with pytest.raises(dg.DagsterInvariantViolationError, match="requires a workspace"):
        instance.launch_run(run.run_id, workspace=None)  # type: ignore[arg-type]
    assert any("broken on purpose" in message for message in engine_messages(instance, run.run_id))


def test_the_project_instance_forks_the_projects_runs(tmp_path):
    """The project's dagster.yaml with the opt-in section builds a warm launcher that preloads the definitions
    the workspace loads."""
    (tmp_path / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text()
                                           + (REPO_ROOT / "dagster-warm-launcher.yaml").read_text())
    workspace = yaml.safe_load((REPO_ROOT / "workspace.yaml").read_text())
    loaded = [location["python_module"]["module_name"] for location in workspace["load_from"]]
    with dg.DagsterInstance.from_config(str(tmp_path)) as project_instance:
        launcher = project_instance.run_launcher
        assert isinstance(launcher, WarmRunLauncher)
        assert list(launcher.preload_modules) == loaded


def test_runs_of_other_code_locations_are_not_warm(code):
    """A run whose code comes from a file, not a preloaded module, is left to the default launcher."""
    repository = ReconstructableRepository.for_module(JOBS_MODULE, "defs", working_directory=str(code.parent))
    job = repository.get_reconstructable_job("quick")
    with dg.instance_for_test() as plain:
        run = plain.create_run_for_job(job_def=job.get_definition(), job_code_origin=job.get_python_origin())
    assert module_of(run) == JOBS_MODULE
    assert module_of(run) not in WarmRunLauncher().preload_modules
