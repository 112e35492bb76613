"""``ecom doctor``: check what the project needs and say how to fix what is missing."""

from __future__ import annotations

import json
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import requests
import yaml

from ecom_assets.lake import input_month_files, is_local, local_path
from ecom_assets.publishing.sinks import CREDENTIALS_FIX, InfluxWriteError, server_version, v1_auth_headers
from ecom_assets.resources.connect_outage import server_address
from ecom_assets.resources.java import find_java
from ecom_assets.resources.spark_server import url_answers
from ecom_assets.settings import PROJECT_ROOT, Settings, load_settings

WARM_LAUNCHER_MODULE, WARM_LAUNCHER_CLASS = "ecom_assets.runs.launcher", "WarmRunLauncher"
WARM_LAUNCHER_FILE = PROJECT_ROOT / "dagster-warm-launcher.yaml"


@dataclass(frozen=True)
class CheckResult:
    """One line of the doctor's report."""

    name: str
    status: str  # "ok", "WARN" or "FAIL"
    detail: str
    fix: str = ""

    def render(self) -> str:
        """``status name: detail (fix: ...)``."""
        text = f"{self.status:<4} {self.name}: {self.detail}"
        return f"{text}\n     fix: {self.fix}" if self.fix and self.status != "ok" else text


def check_java() -> CheckResult:
    """Java 17 or newer where Spark's launcher looks (JAVA_HOME, else the PATH)."""
    java = find_java()
    if java.problem:
        return CheckResult("java", "FAIL", java.problem, java.fix)
    return CheckResult("java", "ok", f"{java.version} ({java.path})")


def check_spark(settings: Settings, start: bool) -> CheckResult:
    """PySpark imports and (unless skipped) a session runs a tiny job."""
    try:
        import pyspark
    except ImportError:
        return CheckResult("spark", "FAIL", "pyspark is not installed", "make setup (or pip install -e .)")
    if not start:
        return CheckResult("spark", "ok", f"pyspark {pyspark.__version__} (session not started)")
    from ecom_assets.definitions import build_resources

    spark_resource = build_resources(settings)["spark"]
    mode = f"remote {server_address(settings.spark_remote)}" if settings.spark_remote else f"master {settings.spark_master}"
    if settings.spark_remote and not url_answers(settings.spark_remote):
        return CheckResult("spark", "FAIL", f"{mode}: nothing answers there",
                           "start the Spark Connect server (`ecom spark start`) or unset ECOM_SPARK_REMOTE")
    try:
        session = spark_resource.get_session()
        total = session.range(1000).selectExpr("sum(id) AS s").collect()[0]["s"]
    except Exception as exc:  # noqa: BLE001 - any failure is reported, with its message
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        fix = ("start the Spark Connect server (`ecom spark start`) or unset ECOM_SPARK_REMOTE"
               if settings.spark_remote else "check the ECOM_SPARK_* settings (and `java`, above)")
        return CheckResult("spark", "FAIL", f"{mode}: {message}", fix)
    if total != 499500:
        return CheckResult("spark", "FAIL", f"{mode}: wrong result {total}", "check the Spark installation")
    return CheckResult("spark", "ok", f"pyspark {pyspark.__version__}, {mode}, session works")


def check_input(settings: Settings) -> CheckResult:
    """The month CSVs are present in ECOM_DATA_DIR."""
    try:
        files = input_month_files(settings.data_dir)
    except ValueError as exc:
        return CheckResult("input", "FAIL", str(exc), "unzip it (plain, .gz and .bz2 month files are read as they are)")
    if not files:
        return CheckResult(
            "input",
            "WARN",
            f"no 2019-Oct.csv / 2019-Nov.csv in {settings.data_dir}",
            f"ecom generate --out {settings.data_dir}  (or set ECOM_DATA_DIR to the real files)",
        )
    return CheckResult("input", "ok", ", ".join(Path(f).name for f in files) + f" in {settings.data_dir}")


def check_lake(settings: Settings) -> CheckResult:
    """The lake root is writable (local folders; URIs are written by Spark and only reported)."""
    if not is_local(settings.lake_dir):
        return CheckResult("lake", "ok", f"{settings.lake_dir} (remote: Spark writes it)")
    root = local_path(settings.lake_dir)
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".doctor-"):
            pass
    except OSError as exc:
        return CheckResult("lake", "FAIL", f"{root} is not writable: {exc.strerror}", "set ECOM_LAKE_DIR to a writable folder")
    free_gb = shutil.disk_usage(root).free / 1e9
    return CheckResult("lake", "ok", f"{root} writable, {free_gb:,.0f} GB free")


def credentials_refused(url: str, version: str, token: str, timeout_s: float) -> str | None:
    """The server's answer when it refuses ``token`` on a read that needs it (``None`` when accepted): 1.x
    ``SHOW DATABASES``, 2.x and later the bucket list. The token goes in a header, never in a message."""
    if version.lstrip("v").startswith("1."):
        probe, headers = f"{url}/query?q=SHOW+DATABASES", v1_auth_headers(token)
    else:
        probe, headers = f"{url}/api/v2/buckets?limit=1", {"Authorization": f"Token {token}"} if token else {}
    request = urllib.request.Request(probe, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s):  # noqa: S310 - URL from settings
            return None
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            return f"HTTP {exc.code} {exc.read(200).decode(errors='replace').strip()}"
        return None


def check_influx(settings: Settings, timeout_s: float = 3.0) -> CheckResult:
    """InfluxDB answers ``/ping`` and accepts the credentials (the replay writes line-protocol files when
    INFLUX_URL is unset); a URL where another program answers is named as such."""
    if not settings.influx_url:
        return CheckResult("influxdb", "ok", "INFLUX_URL unset: the replay writes line-protocol files under temp/influx/")
    if not http_answers(settings.influx_url, timeout_s):
        return CheckResult(
            "influxdb",
            "WARN",
            f"{settings.influx_url} unreachable; the batch graph does not need it, the replay does",
            "start InfluxDB (apt-get install influxdb, then influxd), fix INFLUX_URL, or unset it to write files",
        )
    try:
        version = server_version(settings.influx_url, timeout_s)
    except InfluxWriteError as exc:
        return CheckResult("influxdb", "FAIL", f"{settings.influx_url} answers but is not InfluxDB ({exc})",
                           "point INFLUX_URL at InfluxDB (it listens on port 8086 by default), or unset it to write files")
    refused = credentials_refused(settings.influx_url, version, settings.influx_token, timeout_s)
    if refused:
        return CheckResult("influxdb", "FAIL", f"{settings.influx_url} ({version}) refused INFLUX_TOKEN: {refused}",
                           CREDENTIALS_FIX)
    return CheckResult("influxdb", "ok", f"{settings.influx_url} answers ({version}), credentials accepted")


def http_answers(url: str, timeout_s: float) -> bool:
    """Whether any HTTP server answers at ``url`` (whatever its status)."""
    try:
        requests.get(url, timeout=timeout_s)
    except requests.RequestException:
        return False
    return True


def check_dagster_home(settings: Settings) -> CheckResult:
    """The Dagster instance's ``dagster.yaml`` is valid, and which run launcher it uses: Dagster's default, or
    the opt-in warm launcher that forks the project's runs from a warm worker (~3 s sooner per replayed hour)."""
    config = Path(settings.dagster_home) / "dagster.yaml"
    if not config.is_file():
        return CheckResult("dagster", "ok", f"{config} will be created from the project's dagster.yaml")
    try:
        launcher = (yaml.safe_load(config.read_text()) or {}).get("run_launcher") or {}
    except yaml.YAMLError as exc:
        return CheckResult("dagster", "FAIL", f"{config} is not valid YAML: {exc}", "fix or delete it (the set-up copies the project's)")
    if (launcher.get("module"), launcher.get("class")) == (WARM_LAUNCHER_MODULE, WARM_LAUNCHER_CLASS):
        return CheckResult("dagster", "ok", f"{config}: runs forked from the warm run worker")
    return CheckResult("dagster", "ok", f"{config}: Dagster's default run launcher, a new Python process per run "
                       f"(for a live replay, opt in to the warm one: cat {WARM_LAUNCHER_FILE} >> {config})")


def check_shop_api(settings: Settings, timeout_s: float = 3.0) -> CheckResult:
    """``ecom serve`` (optional) answers at ECOM_SERVE_HOST:ECOM_SERVE_PORT and has the lake's lists loaded."""
    url = f"http://{settings.serve_host}:{settings.serve_port}/ready"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - URL from settings
            loaded = json.loads(response.read()).get("loaded_at", "?")
            return CheckResult("shop api", "ok", f"{url} ready, tables loaded at {loaded}")
    except urllib.error.HTTPError as exc:
        detail = json.loads(exc.read() or b"{}").get("detail", exc.reason)
        return CheckResult("shop api", "WARN", f"{url} answers but is not ready: {detail}",
                           "materialize what it names; the server picks the tables up without a restart")
    except (urllib.error.URLError, OSError, ValueError):
        return CheckResult("shop api", "ok", f"not running at {url} (optional: `ecom serve` starts it)")


def check_ports(settings: Settings) -> CheckResult:
    """The Dagster UI's port is free (or already the Dagster UI's), and so is Spark Connect's unless the
    project's own server holds it."""
    from ecom_assets.commands.ui import dagster_ui_at, ui_port_problem
    from ecom_assets.resources import spark_server

    problems = []
    ui_problem = ui_port_problem(settings.ui_port)
    if ui_problem and not dagster_ui_at(settings.ui_port):
        problems.append(ui_problem)
    ours = spark_server.status(settings.spark_connect_dir, settings.spark_connect_port).running
    if not ours and spark_server.listening(settings.spark_connect_port):
        problems.append(spark_server.port_taken(settings.spark_connect_port))
    if problems:
        return CheckResult("ports", "FAIL", "; ".join(problems), "free the port or set the variable named")
    return CheckResult("ports", "ok", f"the Dagster UI's {settings.ui_port} and Spark Connect's "
                                      f"{settings.spark_connect_port} on 127.0.0.1 are free (or ours)")


def run_checks(settings: Settings | None = None, start_spark: bool = True) -> list[CheckResult]:
    """Every check, in the order a user would fix them."""
    settings = settings or load_settings()
    return [
        check_java(),
        check_spark(settings, start=start_spark),
        check_input(settings),
        check_lake(settings),
        check_influx(settings),
        check_dagster_home(settings),
        check_shop_api(settings),
        check_ports(settings),
    ]
