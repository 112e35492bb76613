"""``ecom ui``: the Dagster UI and daemon (``dagster dev``) on 127.0.0.1, once its port is known to be free.

``dagster dev`` on a port another program holds fails deep in its webserver's log, after the daemon has
started, while a script waiting for the UI finds the other program answering. Checking the port first
gives one line that names the program and the setting to change.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from ecom_assets.processes import port_holder
from ecom_assets.settings import PROJECT_ROOT, Settings

HOST = "127.0.0.1"


def ui_port_problem(port: int) -> str | None:
    """Why the UI cannot listen on ``port`` at 127.0.0.1 (None when it can)."""
    with socket.socket() as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return (f"port {port} on {HOST} is taken by {port_holder(port)}: stop it, or choose another port for the "
                    f"Dagster UI with ECOM_UI_PORT (e.g. ECOM_UI_PORT={port + 2} make ui)")
    return None


def dagster_ui_at(port: int, timeout_s: float = 2.0) -> bool:
    """True when a Dagster webserver answers on ``port`` (its ``/server_info``): the UI already runs."""
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/server_info", timeout=timeout_s) as response:
            return "dagster_webserver_version" in json.loads(response.read() or b"{}")
    except (OSError, ValueError):
        return False


def dagster_dev_command(settings: Settings) -> list[str]:
    """``dagster dev`` of this interpreter's environment, on loopback at the UI port, for the project's workspace."""
    dagster = Path(sys.executable).with_name("dagster.exe" if sys.platform == "win32" else "dagster")
    return [str(dagster), "dev", "-h", HOST, "-p", str(settings.ui_port), "-w", str(PROJECT_ROOT / "workspace.yaml")]


def run_ui(settings: Settings) -> int:
    """Run ``dagster dev`` on the persistent instance until it ends (Ctrl-C); its exit code."""
    from ecom_assets.commands.materialize import ensure_dagster_home

    ensure_dagster_home(settings)
    return subprocess.run(dagster_dev_command(settings), check=False).returncode
