"""Run the asset graph through Dagster from the command line, on the persistent ``DAGSTER_HOME``."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
from dagster_shared.error import SerializableErrorInfo

from ecom_assets.commands.progress import Heartbeat, RunProgress, progress_logger
from ecom_assets.resources.connect_outage import unavailable_message
from ecom_assets.settings import PROJECT_ROOT, Settings, load_settings

INSTANCE_CONFIG = PROJECT_ROOT / "dagster.yaml"


@dataclass
class MaterializeSummary:
    """What a command-line materialization did, for printing."""

    run_id: str
    success: bool
    materialized: list[str] = field(default_factory=list)
    checks: list[tuple[str, bool, str]] = field(default_factory=list)  # (name, passed, severity)
    lake_dir: str = ""
    dagster_home: str = ""
    error: str = ""

    def render(self) -> str:
        """A short human-readable report."""
        lines = [f"run {self.run_id}: {'success' if self.success else 'FAILED'}"]
        lines += [f"  materialized {key}" for key in self.materialized]
        lines += [
            f"  check {name}: {'passed' if ok else ('FAILED' if severity == 'ERROR' else 'warning')}"
            for name, ok, severity in self.checks
        ]
        if self.error:
            lines.append(f"  error: {self.error}")
        lines.append(f"results under {self.lake_dir}")
        lines.append(f"see the run in the Dagster UI: DAGSTER_HOME={self.dagster_home} make ui")
        return "\n".join(lines)


# A Java exception in a JVM stack trace (``Caused by: java.io.IOException: ...``).
JAVA_CAUSE = re.compile(r"^\s*Caused by: (?:[\w$]+\.)*([\w$]+): (.+)$")
DISK_FULL = "No space left on device"
WRITING_TO = re.compile(r"writing rows to (\S+?)\.?(?:\s|$)")


def root_error_message(error: SerializableErrorInfo) -> str:
    """The message of the innermost cause of a step failure (what the user has to fix), on one line.

    A Spark job's failure carries the JVM's stack trace: its innermost ``Caused by`` is the message; a
    full disk is said as such, with the folder being written and what to do; so is a Spark Connect server
    that does not answer.
    """
    while error.cause is not None:
        error = error.cause
    text = error.message.strip()
    outage = unavailable_message(text)
    if outage:
        return outage
    if DISK_FULL in text:
        target = WRITING_TO.search(text)
        where = f" while writing {target.group(1)}" if target else ""
        return (f"{DISK_FULL}{where}: free space on that disk (or set ECOM_LAKE_DIR to a larger one), then run the "
                "same command again")
    causes = [match for match in map(JAVA_CAUSE.match, text.splitlines()) if match]
    if causes:
        return f"{causes[-1].group(1)}: {causes[-1].group(2).strip()}"
    lines = [line for line in text.splitlines() if line.strip()]
    # The project's own errors are named without their module path (``NoValidEventsError: ...``).
    return re.sub(r"^(?:\w+\.)+(?=\w+Error: )", "", lines[0]) if lines else error.cls_name or "unknown error"


def install_instance_config(home: Path) -> bool:
    """Copy the project's ``dagster.yaml`` into ``home`` when it has none; True when copied."""
    target = home / "dagster.yaml"
    if target.exists() or not INSTANCE_CONFIG.is_file():
        return False
    shutil.copyfile(INSTANCE_CONFIG, target)
    return True


def ensure_dagster_home(settings: Settings) -> dg.DagsterInstance:
    """The persistent Dagster instance at ``DAGSTER_HOME`` (created when missing, with the project's dagster.yaml)."""
    home = Path(settings.dagster_home)
    home.mkdir(parents=True, exist_ok=True)
    install_instance_config(home)
    os.environ["DAGSTER_HOME"] = str(home)
    return dg.DagsterInstance.get()


def whole_steps(assets: Sequence[dg.AssetsDefinition], selection: str | Sequence[str] | None
                ) -> list[dg.AssetKey] | None:
    """The keys of ``selection`` (a Dagster selection string or names) plus every key computed in the same
    step as one of them: an asset that writes tables beside its main one (``raw_events`` and its
    quarantine, ``hybrid_recs`` and its weights, ...) always runs whole, as the UI runs it."""
    if selection is None:
        return None
    selected = set(dg.AssetSelection.from_coercible(selection).resolve(list(assets)))
    for definition in assets:
        if not definition.can_subset and selected & set(definition.keys):
            selected |= set(definition.keys)
    return sorted(selected, key=lambda key: key.to_user_string())


def materialize_batch(selection: str | None = None, settings: Settings | None = None,
                      write: Callable[[str], None] | None = None) -> MaterializeSummary:
    """Materialize the batch assets (or ``selection``) and summarise materializations and checks; progress
    lines go to ``write`` (default: stderr)."""
    from ecom_assets.definitions import BATCH_ASSETS, BATCH_JOB_NAME, build_resources

    settings = settings or load_settings()
    instance = ensure_dagster_home(settings)
    keys = whole_steps(BATCH_ASSETS, selection)
    steps = sum(1 for d in BATCH_ASSETS if keys is None or set(d.keys) & set(keys))
    progress = RunProgress(steps, write=write)
    # Dagster's own console logger prints long lines and nothing while a step computes: the progress
    # logger prints each step's start and end (n of N), what the assets log, and a heartbeat.
    definitions = dg.Definitions(
        assets=BATCH_ASSETS,
        jobs=[dg.define_asset_job(BATCH_JOB_NAME, selection=keys if keys is not None else BATCH_ASSETS)],
        resources=build_resources(settings),
        loggers={"progress": progress_logger(progress)},
    )
    with Heartbeat(progress):
        result = definitions.resolve_job_def(BATCH_JOB_NAME).execute_in_process(
            instance=instance, raise_on_error=False, run_config={"loggers": {"progress": {}}})
    materialized = sorted(
        {event.asset_key.to_user_string() for event in result.get_asset_materialization_events() if event.asset_key}
    )
    checks = [
        (f"{e.asset_key.to_user_string()}:{e.check_name}", e.passed, e.severity.value)
        for e in result.get_asset_check_evaluations()
    ]
    error = ""
    if not result.success:
        failures = [e for e in result.all_events if e.is_step_failure]
        if failures and failures[0].step_failure_data and failures[0].step_failure_data.error:
            error = root_error_message(failures[0].step_failure_data.error)
    return MaterializeSummary(
        run_id=result.run_id,
        # A failed WARN check is reported but does not fail the command; a failed ERROR check does.
        success=result.success and all(ok or severity != "ERROR" for _, ok, severity in checks),
        materialized=materialized,
        checks=checks,
        lake_dir=settings.lake_dir,
        dagster_home=settings.dagster_home,
        error=error,
    )
