"""Start ``ecom serve`` in a child process and wait until it answers (benchmarks, scripts, tests)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import requests

from ecom_assets.processes import free_port


def start_server(lake: Path, port: int | None = None, refresh_s: float | None = None,
                 env: dict[str, str] | None = None, log: IO | None = None) -> tuple[subprocess.Popen, str]:
    """``ecom serve`` on ``lake`` at 127.0.0.1 (a free port unless given); returns the process and its URL."""
    port = port or free_port()
    command = [sys.executable, "-m", "ecom_assets.cli", "serve", "--port", str(port)]
    if refresh_s is not None:
        command += ["--refresh", str(refresh_s)]
    process = subprocess.Popen(command, env={**(env if env is not None else os.environ), "ECOM_LAKE_DIR": str(lake)},
                               stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT if log else subprocess.DEVNULL)
    return process, f"http://127.0.0.1:{port}"


def wait_until(url: str, process: subprocess.Popen, path: str = "/ready", timeout_s: float = 600.0) -> float:
    """Wait until ``path`` answers 200; returns the seconds waited. Raises when the process ends first or the
    time runs out (the first start on a large lake builds its sorted copies: tens of seconds)."""
    began = time.monotonic()
    while time.monotonic() - began < timeout_s:
        if process.poll() is not None:
            raise RuntimeError(f"ecom serve exited with code {process.returncode} before {path} answered")
        try:
            if requests.get(url + path, timeout=5).status_code == 200:
                return time.monotonic() - began
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"ecom serve did not answer {path} within {timeout_s:.0f} s")
