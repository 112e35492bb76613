"""The PySpark resource's remote mode: a real Spark Connect server on loopback runs the same ingest."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyspark
import pytest

SPARK_HOME = Path(pyspark.__file__).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def connect_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Spark Connect server started from the pyspark wheel's sbin scripts, stopped afterwards."""
    folder = tmp_path_factory.mktemp("spark-connect")
    port = _free_port()
    env = {**os.environ, "SPARK_HOME": str(SPARK_HOME), "SPARK_LOCAL_IP": "127.0.0.1",
           "SPARK_PID_DIR": str(folder), "SPARK_LOG_DIR": str(folder), "SPARK_IDENT_STRING": f"test{port}"}
    subprocess.run(["bash", str(SPARK_HOME / "sbin" / "start-connect-server.sh"),
                    "--conf", f"spark.connect.grpc.binding.port={port}",
                    "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
                    "--conf", "spark.sql.session.timeZone=UTC", "--conf", "spark.ui.enabled=false",
                    "--conf", "spark.driver.memory=1g"], env=env, check=True, timeout=120)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        else:
            logs = "\n".join(p.read_text()[-2000:] for p in folder.glob("*.out"))
            pytest.fail(f"Spark Connect did not listen on {port}:\n{logs}")
        yield f"sc://127.0.0.1:{port}"
    finally:
        subprocess.run(["bash", str(SPARK_HOME / "sbin" / "stop-connect-server.sh")], env=env, timeout=120)


CLIENT = """
import json, sys
from ecom_assets.ingest.pipeline import ingest_events
from ecom_assets.lake import Lake
from ecom_assets.resources import SparkResource
url, lake, *paths = sys.argv[1:]
resource = SparkResource(remote=url)
session = resource.get_session()
report = ingest_events(session, paths, Lake(lake))
line = session.read.parquet(Lake(lake).quarantine).collect()[0]["line_number"]
print(json.dumps({"module": type(session).__module__, "remote": resource.is_remote, "accepted": report.rows_accepted,
                  "reasons": report.reasons, "months": report.rows_per_month, "conserved": report.conserved,
                  "line": line}))
"""


def test_remote_mode_ingests_the_real_heads(connect_url: str, real_heads: tuple[Path, Path], tmp_path: Path) -> None:
    # A process holding a classic local session cannot open a remote one, so the client runs on its own,
    # as a Dagster run process would.
    done = subprocess.run([sys.executable, "-c", CLIENT, connect_url, str(tmp_path / "lake"), *map(str, real_heads)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["module"].startswith("pyspark.sql.connect") and result["remote"]
    assert result["accepted"] == 17_434 + 683
    assert result["reasons"] == {"wrong_column_count": 1}
    assert result["months"] == {"2019-10": 17_434, "2019-11": 683}
    assert result["conserved"] and result["line"] == 17_436
