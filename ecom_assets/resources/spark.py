"""The PySpark resource: an embedded ``local[*]`` session or a Spark Connect client."""

from __future__ import annotations

import os
import sys
from contextlib import AbstractContextManager
from pathlib import Path

import dagster as dg
from pyspark.errors import PySparkRuntimeError
from pyspark.sql import SparkSession

from ecom_assets.resources.connect_outage import outage_explained
from ecom_assets.resources.connect_session import names_session, open_session, shared_session
from ecom_assets.resources.java import JavaMissingError, find_java
from ecom_assets.settings import DEFAULT_SPARK_CONNECT_WAIT_S

FORCED_CONF = {"spark.sql.session.timeZone": "UTC"}


def read_spark_defaults(conf_dir: str) -> dict[str, str]:
    """Key/value pairs of ``spark-defaults.conf`` in ``conf_dir`` (comments and blank lines skipped)."""
    path = Path(conf_dir) / "spark-defaults.conf"
    if not path.is_file():
        return {}
    conf: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        if not value.strip():
            raise ValueError(f"{path}:{number}: expected 'key value', got {line!r}")
        conf[key] = value.strip()
    return conf


def parse_conf_overrides(text: str) -> dict[str, str]:
    """``k=v,k=v`` (from ``ECOM_SPARK_CONF``) as a dict."""
    conf: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"ECOM_SPARK_CONF entries must be key=value, got {item!r}")
        conf[key.strip()] = value.strip()
    return conf


def build_spark_conf(conf_dir: str, driver_memory: str = "", extra: dict[str, str] | None = None) -> dict[str, str]:
    """The effective configuration: file, then environment overrides, then the settings we never let go (UTC)."""
    conf = read_spark_defaults(conf_dir)
    if driver_memory:
        conf["spark.driver.memory"] = driver_memory
    conf.update(parse_conf_overrides(os.environ.get("ECOM_SPARK_CONF", "")))
    conf.update(extra or {})
    conf.update(FORCED_CONF)
    # Python UDF workers (pandas UDFs, mapInPandas) run this interpreter, the one with the project's packages.
    conf.setdefault("spark.pyspark.python", sys.executable)
    log_config = Path(conf_dir) / "log4j2.properties"
    if log_config.is_file():
        option = f"-Dlog4j2.configurationFile=file:{log_config.resolve()}"
        conf["spark.driver.extraJavaOptions"] = f"{conf.get('spark.driver.extraJavaOptions', '')} {option}".strip()
    return conf


class SparkResource(dg.ConfigurableResource):
    """Spark for the assets: embedded (``master``, default ``local[*]``) or remote (``remote``, a Spark Connect URL).

    The session is created once per process and reused (``getOrCreate``); tests share one. In remote
    mode with ``session_id_file`` set, every process joins one server-side session whose id that file
    holds (see :mod:`ecom_assets.resources.connect_session`), so a new run process starts warm. A remote
    server that stops answering is retried for ``connect_wait_s`` seconds, then reported in one line
    (:mod:`ecom_assets.resources.connect_outage`).
    """

    master: str = "local[*]"
    remote: str = ""
    conf_dir: str = "spark_conf"
    driver_memory: str = ""
    local_ip: str = "127.0.0.1"
    app_name: str = "ecom-analytics"
    session_id_file: str = ""
    connect_wait_s: float = DEFAULT_SPARK_CONNECT_WAIT_S

    @property
    def is_remote(self) -> bool:
        """True when sessions come from a Spark Connect server."""
        return bool(self.remote)

    def get_session(self) -> SparkSession:
        """The process's Spark session, created on first use."""
        if self.is_remote:
            with self.outage_explained():
                if self.session_id_file and not names_session(self.remote):
                    return shared_session(self.remote, Path(self.session_id_file), self.connect_wait_s)
                return open_session(self.remote, self.connect_wait_s)
        os.environ.setdefault("SPARK_LOCAL_IP", self.local_ip)
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        active = SparkSession.getActiveSession()
        if active is not None:
            return active
        builder = SparkSession.builder.master(self.master).appName(self.app_name)
        for key, value in build_spark_conf(self.conf_dir, self.driver_memory).items():
            builder = builder.config(key, value)
        try:
            return builder.getOrCreate()
        except PySparkRuntimeError as error:
            java = find_java()
            if "JAVA_GATEWAY_EXITED" not in str(error) or not java.problem:
                raise
            # Without its cause: PySpark's "Java gateway process exited" says nothing the user can act on.
            raise JavaMissingError(f"Spark cannot start: {java.problem}; {java.fix}") from None

    def outage_explained(self) -> AbstractContextManager[None]:
        """A block in which an unreachable Spark Connect server fails as ``SparkConnectUnavailableError``,
        one line naming the server and ``ecom spark start`` (a no-op for an embedded session)."""
        return outage_explained(self.remote)
