"""``ecom report``: the technical report of a lake, with the metadata of the instance that materialized it."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from ecom_assets.report.build import BuiltReport, build_report
from ecom_assets.report.sources import Sources
from ecom_assets.settings import Settings


def open_instance(settings: Settings) -> dg.DagsterInstance | None:
    """The Dagster instance at ``DAGSTER_HOME`` when one was created there (never creates one)."""
    home = Path(settings.dagster_home)
    if not (home / "dagster.yaml").is_file() and not (home / "history").is_dir():
        return None
    os.environ["DAGSTER_HOME"] = str(home)
    return dg.DagsterInstance.get()


def run_report(settings: Settings, out: Path) -> BuiltReport:
    """Build the report of ``settings.lake`` into ``out``, printing each section's progress."""
    instance = open_instance(settings)
    if instance is None:
        print(f"report: no Dagster instance at {settings.dagster_home}: the silhouette sweep and the replay's "
              "timings are left out (set DAGSTER_HOME to the one that materialized the lake)")
    try:
        return build_report(Sources(settings.lake, instance), out, progress=lambda line: print(line, flush=True))
    finally:
        if instance is not None:
            instance.dispose()
