"""The command line's progress lines: step n of N, phases, heartbeat, from a real Dagster run (no Spark)."""


import dagster as dg
import pytest

from ecom_assets.commands.progress import Heartbeat, RunProgress, clock_text, progress_logger


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_clock_text() -> None:
    assert clock_text(0) == "0:00"
    assert clock_text(75.9) == "1:15"
    assert clock_text(3725) == "1:02:05"


def test_steps_phases_and_heartbeat() -> None:
    clock, lines = FakeClock(), []
    progress = RunProgress(3, write=lines.append, heartbeat_s=30, clock=clock)
    progress.step_started("raw_events")
    clock.now += 12
    progress.message("raw_events", "ingesting 2 file(s)\nsecond line not shown")
    assert progress.heartbeat() is None  # printed just now
    clock.now += 31
    assert progress.heartbeat() == "raw_events (1/3) running for 0:43, last: ingesting 2 file(s)"
    assert progress.heartbeat() is None  # the heartbeat itself counts as output
    progress.step_finished("raw_events", True)
    progress.step_started("als_model")
    clock.now += 65
    progress.step_finished("als_model", False)
    assert lines == [
        "[   0:00] raw_events (1/3): started",
        "[   0:12] raw_events: ingesting 2 file(s)",
        "[   0:43] raw_events (1/3) running for 0:43, last: ingesting 2 file(s)",
        "[   0:43] raw_events (1/3): done in 0:43",
        "[   0:43] als_model (2/3): started",
        "[   1:48] als_model (2/3): FAILED in 1:05",
    ]
    assert progress.failed == ["als_model"]
    assert progress.heartbeat() is None  # nothing running


@dg.asset
def first(context: dg.AssetExecutionContext) -> None:
    context.log.info("phase one of first")
    context.log.debug("not shown")


@dg.asset(deps=[first])
def second(context: dg.AssetExecutionContext) -> None:
    context.log.warning("something to know")


@dg.asset(deps=[second])
def broken() -> None:
    raise ValueError("bad input")


def test_progress_logger_in_a_real_run() -> None:
    lines: list[str] = []
    progress = RunProgress(3, write=lines.append)
    definitions = dg.Definitions(assets=[first, second, broken],
                                 jobs=[dg.define_asset_job("job", selection=[first, second, broken])],
                                 loggers={"progress": progress_logger(progress)})
    with Heartbeat(progress, poll_s=0.05), dg.DagsterInstance.ephemeral() as instance:
        result = definitions.resolve_job_def("job").execute_in_process(
            instance=instance, raise_on_error=False, run_config={"loggers": {"progress": {}}})
    assert not result.success
    texts = [line.split("] ", 1)[1] for line in lines]
    assert texts[0] == "first (1/3): started"
    assert "first: phase one of first" in texts
    assert "second: WARNING: something to know" in texts
    assert any(t.startswith("first (1/3): done in") for t in texts)
    assert any(t.startswith("broken (3/3): FAILED in") for t in texts)
    assert not any("not shown" in t for t in texts)
    assert progress.failed == ["broken"]


@pytest.mark.parametrize("total", [0, 1])
def test_unknown_step_has_no_number(total: int) -> None:
    lines: list[str] = []
    progress = RunProgress(total, write=lines.append)
    progress.message(None, "a run-level message")
    assert lines[0].endswith("run: a run-level message")
