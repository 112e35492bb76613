"""A throwaway local InfluxDB 1.x server (Debian's ``influxd``): for the tests, the benchmarks and quick demos.

Data, meta and WAL directories live in one folder; HTTP listens on a loopback port; the server is
detached from the terminal's Ctrl-C (the tests stop it themselves) and stopped with Python's own means.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from ecom_assets.processes import detached, free_port


@dataclass
class LocalInflux:
    """A running ``influxd``: its URL, folder and process."""

    url: str
    folder: Path
    process: subprocess.Popen

    def log_tail(self) -> str:
        """The end of the server's log."""
        path = self.folder / "influxd.log"
        return path.read_text(errors="replace")[-2000:] if path.is_file() else ""

    def stop(self) -> None:
        """Terminate the server (killed when still there after 20 s)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_local_influx(folder: Path, timeout_s: float = 60.0, admin: tuple[str, str] | None = None,
                       port: int | None = None) -> LocalInflux:
    """Start ``influxd`` with its files under ``folder``; raises with its log when it does not answer.

    With ``admin`` (user, password), authentication is on and that admin is created: the token of a
    1.x server is then ``user:password``. ``port``: its HTTP port (default a free one); a stopped
    server started again on the same folder and port keeps its data, as a restarted service does.
    """
    binary = shutil.which("influxd")
    if binary is None:
        raise FileNotFoundError("influxd is not installed: install Debian's influxdb package (`make setup-dev` does)")
    folder.mkdir(parents=True, exist_ok=True)
    port, rpc_port = port or free_port(), free_port()
    config = folder / "influxdb.conf"
    config.write_text(
        f'reporting-disabled = true\nbind-address = "127.0.0.1:{rpc_port}"\n'
        f'[meta]\n  dir = "{folder}/meta"\n'
        f'[data]\n  dir = "{folder}/data"\n  wal-dir = "{folder}/wal"\n  query-log-enabled = false\n'
        f'[http]\n  bind-address = "127.0.0.1:{port}"\n  log-enabled = false\n'
        f"  auth-enabled = {'true' if admin else 'false'}\n"
        "[monitor]\n  store-enabled = false\n",
        encoding="utf-8",
    )
    with (folder / "influxd.log").open("a") as log:
        process = subprocess.Popen([binary, "-config", str(config)], stdout=log, stderr=subprocess.STDOUT,
                                   **detached())
    server = LocalInflux(f"http://127.0.0.1:{port}", folder, process)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if requests.get(f"{server.url}/ping", timeout=1).status_code == 204:
                if admin:  # the first user may be created without credentials
                    user, password = admin
                    requests.post(f"{server.url}/query", timeout=10, params={
                        "q": f"CREATE USER \"{user}\" WITH PASSWORD '{password}' WITH ALL PRIVILEGES"}).raise_for_status()
                return server
        except requests.RequestException:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"influxd did not answer on {server.url}: {server.log_tail()}")
