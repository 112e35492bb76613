"""The embedded session's console logging (`spark_conf/log4j2.properties`), through a real JVM."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Starts a session with the project's configuration and logs through the scheduler's own logger.
SCRIPT = """
import sys
from ecom_assets.resources import SparkResource
session = SparkResource(master="local[1]", conf_dir=sys.argv[1]).get_session()
log = session._jvm.org.apache.logging.log4j.LogManager.getLogger("org.apache.spark.scheduler.DAGScheduler")
log.error("Failed to update accumulator 125810 (Unknown class) for task 0")
log.error("Stage 3 failed: a real scheduler error")
log.warn("a warning below the console's level")
session.stop()
"""


@pytest.mark.spark
def test_the_console_drops_the_harmless_accumulator_error_and_keeps_real_ones(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(REPO / "spark_conf")], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                                             "ECOM_SPARK_CONF": "spark.ui.enabled=false"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Stage 3 failed: a real scheduler error" in done.stderr
    assert "Failed to update accumulator" not in done.stderr
    assert "a warning below the console's level" not in done.stderr
