"""The Dagster UI in a real browser: the webserver on 127.0.0.1, pages rendered by headless Chromium."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from ecom_assets.commands.materialize import install_instance_config
from ecom_assets.processes import free_port
from ecom_assets_tests.conftest import REPO_ROOT

LOCATION = "ecom_assets.definitions%3Adefs"
CORE_ASSETS = {"ingest": ["raw_events"], "behaviour": ["sessions"], "segmentation": ["rfm_table", "kmeans_model"],
               "recommendation": ["als_model", "content_similarity", "hybrid_recs"]}
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1600,3000", "--virtual-time-budget=20000"]


@pytest.fixture(scope="module")
def webserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``dagster-webserver`` for the repo's workspace, in its own process group, stopped at the end."""
    home = tmp_path_factory.mktemp("dagster_home")
    install_instance_config(home)
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    log = (home / "webserver.log").open("w")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port),
         "-w", "workspace.yaml"], cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/server_info", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"dagster-webserver did not start: {(home / 'webserver.log').read_text()[-2000:]}")
                time.sleep(1)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
        log.close()


def rendered_dom(url: str) -> str:
    """The page's DOM after its scripts ran, from headless Chromium with a fresh profile."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.fail("chromium is missing: `make test` installs Debian's chromium package")
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
                              capture_output=True, text=True, timeout=120, start_new_session=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_asset_graph_shows_the_core_assets(webserver: str) -> None:
    for group, assets in CORE_ASSETS.items():
        dom = rendered_dom(f"{webserver}/locations/{LOCATION}/asset-groups/{group}")
        missing = [a for a in assets if f'data-tooltip="{a}"' not in dom]
        assert not missing, f"the {group} graph does not show {missing}"


def test_automation_page_lists_the_replay_sensor(webserver: str) -> None:
    dom = rendered_dom(f"{webserver}/automation")
    assert f"/locations/{LOCATION}/sensors/november_replay_sensor" in dom
