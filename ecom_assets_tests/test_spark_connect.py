"""The PySpark resource's remote mode: a real Spark Connect server on loopback runs the same ingest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ecom_assets_tests.conftest import replay_environ

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def connect_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Spark Connect server started the way `ecom spark start` does, stopped afterwards."""
    from ecom_assets.processes import free_port
    from ecom_assets.resources import spark_server

    run_dir = tmp_path_factory.mktemp("spark-connect")
    port = free_port()
    state = spark_server.start(run_dir, port, str(REPO / "spark_conf"), "1g")
    assert state.running and state.listening and state.url == f"sc://127.0.0.1:{port}"
    assert spark_server.start(run_dir, port, str(REPO / "spark_conf"), "1g").pid == state.pid  # already running
    try:
        yield state.url
    finally:
        stopped = spark_server.stop(run_dir, port)
        assert not stopped.running


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


def test_replay_hour_runs_on_spark_connect(connect_url: str, real_heads: tuple[Path, Path], tmp_path: Path) -> None:
    # The real November head holds the first 683 events of 2019-11-01 00:00: replay that hour remotely.
    env = {**os.environ, "ECOM_SPARK_REMOTE": connect_url, "ECOM_LAKE_DIR": str(tmp_path / "lake"),
           "DAGSTER_HOME": str(tmp_path / "dagster_home"), "INFLUX_URL": "",
           "ECOM_REPLAY_MODELS": "off"}  # this lake has no trained models
    env.pop("ECOM_SPARK_CONF", None)
    ingest = subprocess.run([sys.executable, "-c", CLIENT, connect_url, str(tmp_path / "lake"), *map(str, real_heads)],
                            capture_output=True, text=True, timeout=300, env=env)
    assert ingest.returncode == 0, ingest.stderr[-3000:]
    done = subprocess.run([str(REPO / ".venv" / "bin" / "ecom"), "replay", "--hours", "1", "--from", "2019-11-01-00:00",
                           "--interval", "0"], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "1 hour(s) replayed (2019-11-01-00:00 .. 2019-11-01-00:00)" in done.stdout
    points = (tmp_path / "lake" / "temp" / "influx" / "ecommerce_analytics" / "user_behavior-hour_2019-11-01T00.lp")
    hour_line = next(line for line in points.read_text().splitlines() if "granularity=hour" in line)
    assert "events=683i" in hour_line
    # The run ended by caching the next hour's events on the server, where the next run finds them.
    cached = subprocess.run([sys.executable, "-c", CACHED, connect_url, str(tmp_path / "lake")],
                            capture_output=True, text=True, timeout=300)
    assert cached.returncode == 0, cached.stderr[-3000:]
    assert json.loads(cached.stdout.strip().splitlines()[-1]) == {"2019-11-01T01": True, "2019-11-01T02": False}


CACHED = """
import datetime as dt, json, sys
from pyspark.sql import SparkSession
from ecom_assets.ingest.tables import read_raw_events
from ecom_assets.lake import Lake
from ecom_assets.replay.behaviour.spark_jobs import HOUR_COLUMNS
from ecom_assets.replay.behaviour.metrics import events_between
url, lake = sys.argv[1:]
session = SparkSession.builder.remote(url).create()  # another session: the cache is the server's
result = {}
for hour in (1, 2):
    start = dt.datetime(2019, 11, 1, hour, tzinfo=dt.UTC)
    plan = events_between(read_raw_events(session, Lake(lake)), start, start + dt.timedelta(hours=1))
    result[start.strftime("%Y-%m-%dT%H")] = plan.select(*HOUR_COLUMNS).coalesce(1).storageLevel.useMemory
print(json.dumps(result))
"""


WARM_UP = """
import datetime as dt, json, sys
from ecom_assets.lake import Lake
from ecom_assets.replay.behaviour.warm_up import warm_up_server
url, lake, empty = sys.argv[1:]
first = dt.datetime(2019, 11, 1, tzinfo=dt.UTC)
done = warm_up_server(url, Lake(lake), hours=2, first=first)
print(json.dumps({"done": [done.hours, done.events, done.skipped],
                  "empty": warm_up_server(url, Lake(empty), hours=2).describe()}))
"""


def test_the_warm_up_runs_hours_on_the_server_and_leaves_the_lake_as_it_was(
        connect_url: str, real_heads: tuple[Path, Path], tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    ingest = subprocess.run([sys.executable, "-c", CLIENT, connect_url, str(lake), *map(str, real_heads)],
                            capture_output=True, text=True, timeout=300)
    assert ingest.returncode == 0, ingest.stderr[-3000:]
    before = sorted(str(p.relative_to(lake)) for p in lake.rglob("*"))
    done = subprocess.run([sys.executable, "-c", WARM_UP, connect_url, str(lake), str(tmp_path / "no-lake")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["done"] == [2, 683, ""]  # the head's first hour holds 683 events, its second none
    assert result["empty"].startswith("warm-up skipped: no raw events in")
    assert sorted(str(p.relative_to(lake)) for p in lake.rglob("*")) == before  # nothing written to the lake


def test_incremental_hour_on_spark_connect_matches_the_local_run(connect_url: str, replayed, tmp_path: Path) -> None:
    # Re-run two replayed hours remotely: the first (a cold start: centres from the K-means model) and the
    # last (state from the ledgers); same customers' state and same served lists as the local run.
    import pandas as pd

    lake = replayed.root / "lake" / "processed" / "replay"

    def read(part: Path) -> pd.DataFrame:
        frame = pd.read_parquet(part)
        return frame.sort_values("user_id").reset_index(drop=True).astype(str)

    env = {**os.environ, **replay_environ(replayed), "ECOM_SPARK_REMOTE": connect_url,
           "DAGSTER_HOME": str(tmp_path / "dagster_home"), "INFLUX_URL": ""}
    env.pop("ECOM_SPARK_CONF", None)
    for key, part in (("2019-11-01-21:00", "hour=2019-11-01T21"), ("2019-11-02-01:00", "hour=2019-11-02T01")):
        parts = [lake / "customers" / part, lake / "served_recs" / part]
        before = [read(path) for path in parts]
        done = subprocess.run([str(REPO / ".venv" / "bin" / "ecom"), "replay", "--hours", "1", "--from", key,
                               "--interval", "0"], capture_output=True, text=True, timeout=600, env=env)
        assert done.returncode == 0, done.stderr[-3000:]
        for path, frame in zip(parts, before, strict=True):
            assert read(path).equals(frame), path


SHARED_CLIENT = """
import json, sys
from ecom_assets.resources import SparkResource
url, id_file, action = sys.argv[1:]
session = SparkResource(remote=url, session_id_file=id_file).get_session()
# A pandas UDF runs in the session's Python workers; a shared session keeps them between processes.
total = session.range(100).mapInPandas(lambda batches: (b * 2 for b in batches), "id long").agg({"id": "sum"}).first()[0]
if action == "stop":
    session.stop()  # a shared session is not released by its clients
print(json.dumps({"session": session.session_id, "total": total}))
"""

RELEASING_CLIENT = """
import sys
from pyspark.sql import SparkSession
session = SparkSession.builder.remote(sys.argv[1] + "/;session_id=" + sys.argv[2]).getOrCreate()
session.range(1).count()
session.stop()  # an ordinary client releases the session: the server closes it for good
"""


def _client(code: str, *args: str) -> dict:
    """Run ``code`` in a new process (as a Dagster run would) and parse its last line as JSON."""
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else {}


def test_run_processes_share_one_session_and_replace_a_closed_one(connect_url: str, tmp_path: Path) -> None:
    from ecom_assets.resources.connect_session import read_session_id

    id_file = tmp_path / "shared-session-id"
    first = _client(SHARED_CLIENT, connect_url, str(id_file), "stop")
    second = _client(SHARED_CLIENT, connect_url, str(id_file), "keep")
    assert first["total"] == second["total"] == 2 * sum(range(100))
    assert first["session"] == second["session"] == read_session_id(id_file)

    _client(RELEASING_CLIENT, connect_url, first["session"])
    third = _client(SHARED_CLIENT, connect_url, str(id_file), "keep")
    assert third["total"] == 2 * sum(range(100))
    assert third["session"] != first["session"] and read_session_id(id_file) == third["session"]


def test_a_url_that_names_its_session_is_kept(tmp_path: Path) -> None:
    from ecom_assets.resources.connect_session import names_session, with_session_id

    assert with_session_id("sc://h:15002", "abc") == "sc://h:15002/;session_id=abc"
    assert with_session_id("sc://h:15002/;token=t", "abc") == "sc://h:15002/;token=t;session_id=abc"
    assert names_session("sc://h:15002/;user_id=u;session_id=abc") and not names_session("sc://h:15002/;token=t")
