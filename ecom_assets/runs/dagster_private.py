"""Every private Dagster API the warm run launcher uses, in this one place.

The launcher (opt-in, ``dagster-warm-launcher.yaml``; measured in ``bench/replay_cadence.py``: each
replayed hour starts ~3 s sooner) forks runs from a worker and runs them as
``dagster api execute_run`` would, which Dagster exposes only through private modules. Dagster may
change them in any release: ``ecom_assets_tests/test_dagster_private.py`` checks every name and
signature used here and fails with :data:`FALLBACK` when one changed. The project pins Dagster's
release (``pyproject.toml``), so such a change only comes with a deliberate upgrade.
"""

from __future__ import annotations

import inspect

from dagster._cli.api import _execute_run_command_body as execute_run_command_body
from dagster._core.errors import DagsterLaunchFailedError
from dagster._core.instance.ref import InstanceRef
from dagster._core.launcher.base import LaunchRunContext
from dagster._serdes import ConfigurableClassData, deserialize_value, serialize_value
from dagster._utils.interrupts import capture_interrupts

__all__ = ["ConfigurableClassData", "DagsterLaunchFailedError", "InstanceRef", "LaunchRunContext",
           "capture_interrupts", "deserialize_value", "execute_run_command_body", "serialize_value"]

FALLBACK = ("Dagster's private API used by the warm run launcher changed; until ecom_assets/runs/ is updated, "
            "remove the run_launcher section from DAGSTER_HOME/dagster.yaml: Dagster's default launcher then "
            "runs every run (each replayed hour starts ~3 s later, nothing else changes)")
# The parameters the worker passes to ``execute_run_command_body``, by name.
EXECUTE_RUN_PARAMETERS = ("run_id", "instance", "write_stream_fn", "set_exit_code_on_failure")


def api_changes() -> list[str]:
    """What no longer matches the private API this package was written against (empty: all good)."""
    changes = []
    parameters = tuple(inspect.signature(execute_run_command_body).parameters)
    if parameters[:len(EXECUTE_RUN_PARAMETERS)] != EXECUTE_RUN_PARAMETERS:
        changes.append(f"_execute_run_command_body takes {parameters}, expected {EXECUTE_RUN_PARAMETERS} first")
    if "dagster_run" not in getattr(LaunchRunContext, "__annotations__", {}) and not hasattr(LaunchRunContext,
                                                                                               "dagster_run"):
        changes.append("LaunchRunContext has no dagster_run")
    if not {"module_name", "class_name", "config_yaml"} <= set(getattr(ConfigurableClassData, "_fields", ())):
        changes.append("ConfigurableClassData no longer has module_name, class_name and config_yaml")
    if not callable(getattr(InstanceRef, "from_dir", None)):
        changes.append("InstanceRef.from_dir is gone")
    return changes
