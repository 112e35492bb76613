"""Environment variables and their defaults, read in this one place.

Relative paths given in the environment are taken from the current directory; the defaults sit
inside the project folder. Secrets (the InfluxDB token) are read here but never logged.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from ecom_assets.lake import Lake

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# October trains the models; November is replayed.
DEFAULT_TRAIN_START = "2019-10-01"
DEFAULT_TRAIN_END = "2019-11-01"
# Above 1% of quarantined lines the input is more likely the wrong file than a few bad rows.
DEFAULT_MAX_QUARANTINE_RATE = 0.01
# The hours of day d use the models re-fitted after day d - 2: a full day of replay (4 minutes at the 10 s
# cadence) for the re-fit to finish before its first hour.
DEFAULT_REFIT_LAG_DAYS = 2
# Spark Connect's own default port.
DEFAULT_SPARK_CONNECT_PORT = 15002
# How long an unreachable Spark Connect server is retried: longer than a restarting server's JVM start
# (~10 s), far shorter than pyspark's own policy (over ten minutes).
DEFAULT_SPARK_CONNECT_WAIT_S = 20.0
# The Dagster UI's port (dagster dev's own default).
DEFAULT_UI_PORT = 3000


def _path_or_uri(name: str, default: Path) -> str:
    """A path variable: URIs kept as given, local paths made absolute."""
    value = os.environ.get(name, "").strip()
    if not value:
        return str(default)
    if "://" in value or value.startswith("file:"):
        return value
    return str(Path(value).expanduser().resolve())


def _float(name: str, default: float) -> float:
    """A numeric variable, with a clear error when it is not a number."""
    raw = os.environ.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc


def _port(name: str, default: int) -> int:
    """A TCP port number, with a clear error when it is not one."""
    value = float(_float(name, default))
    if not value.is_integer() or not 0 < value < 65536:
        raise ValueError(f"{name} must be a port number (1-65535), got {os.environ.get(name)!r}")
    return int(value)


def _seconds(name: str, default: float) -> float:
    """A positive duration in seconds, with a clear error otherwise."""
    value = _float(name, default)
    if not value > 0:
        raise ValueError(f"{name} must be a number of seconds above 0, got {os.environ.get(name)!r}")
    return value


def _days(name: str, default: int) -> int:
    """A whole number of days, 1 or more, with a clear error otherwise."""
    value = float(_float(name, default))
    if not value.is_integer() or value < 1:
        raise ValueError(f"{name} must be a whole number of days, 1 or more, got {os.environ.get(name)!r}")
    return int(value)


def _choice(name: str, allowed: tuple[str, ...], default: str) -> str:
    """A variable restricted to ``allowed`` values, with a clear error otherwise."""
    raw = os.environ.get(name, "").strip().lower() or default
    if raw not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
    return raw


def _date(name: str, default: str) -> dt.date:
    """A ``YYYY-MM-DD`` variable, with a clear error otherwise."""
    raw = os.environ.get(name, "").strip() or default
    try:
        return dt.date.fromisoformat(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a date YYYY-MM-DD, got {raw!r}") from exc


@dataclass(frozen=True)
class TrainingWindow:
    """The days the models learn from: ``start`` included, ``end`` excluded (UTC)."""

    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"the training window must end after it starts ({self.start} .. {self.end})")


@dataclass(frozen=True)
class Settings:
    """Every setting of the project (see the README's table of environment variables)."""

    data_dir: str
    lake_dir: str
    spark_conf_dir: str
    spark_master: str
    spark_remote: str
    spark_shared_session: bool
    spark_driver_memory: str
    spark_local_ip: str
    dagster_home: str
    max_quarantine_rate: float
    influx_url: str
    influx_database: str
    influx_org: str
    replay_time_mode: str
    replay_models: bool
    replay_learning: bool
    replay_refits: bool
    replay_refit_lag_days: int
    spark_connect_port: int
    run_dir: str
    training_window: TrainingWindow
    serve_host: str = "127.0.0.1"
    serve_port: int = 8100
    spark_connect_wait_s: float = DEFAULT_SPARK_CONNECT_WAIT_S
    ui_port: int = DEFAULT_UI_PORT

    @property
    def influx_token(self) -> str:
        """The InfluxDB token (a secret: read on demand, never stored in metadata or logs)."""
        return os.environ.get("INFLUX_TOKEN", "")

    @property
    def lake(self) -> Lake:
        """The lake's paths (its small replay state under ``run_dir`` when the lake is at a URI)."""
        return Lake(self.lake_dir, self.run_dir)

    @property
    def spark_connect_dir(self) -> Path:
        """The folder of the managed Spark Connect server (pid file, log) and of the shared session's id."""
        return Path(self.run_dir) / "spark-connect"

    @property
    def spark_session_id_file(self) -> str:
        """Where the Spark Connect session shared by the run processes is named (empty: not shared)."""
        if not (self.spark_remote and self.spark_shared_session) or "://" in self.run_dir:
            return ""
        return str(self.spark_connect_dir / "shared-session-id")


def load_settings() -> Settings:
    """Read the environment now (tests change it between calls)."""
    return Settings(
        data_dir=_path_or_uri("ECOM_DATA_DIR", PROJECT_ROOT / "data" / "input"),
        lake_dir=_path_or_uri("ECOM_LAKE_DIR", PROJECT_ROOT / "data" / "lake"),
        spark_conf_dir=_path_or_uri("ECOM_SPARK_CONF_DIR", PROJECT_ROOT / "spark_conf"),
        spark_master=os.environ.get("ECOM_SPARK_MASTER", "").strip() or "local[*]",
        spark_remote=os.environ.get("ECOM_SPARK_REMOTE", "").strip(),
        spark_shared_session=_choice("ECOM_SPARK_SHARED_SESSION", ("on", "off"), "on") == "on",
        spark_driver_memory=os.environ.get("ECOM_SPARK_DRIVER_MEMORY", "").strip(),
        spark_local_ip=os.environ.get("SPARK_LOCAL_IP", "").strip() or "127.0.0.1",
        dagster_home=_path_or_uri("DAGSTER_HOME", PROJECT_ROOT / ".dagster_home"),
        max_quarantine_rate=_float("ECOM_MAX_QUARANTINE_RATE", DEFAULT_MAX_QUARANTINE_RATE),
        influx_url=os.environ.get("INFLUX_URL", "").strip().rstrip("/"),
        influx_database=os.environ.get("INFLUX_DATABASE", "").strip() or "ecommerce_analytics",
        influx_org=os.environ.get("INFLUX_ORG", "").strip() or "ecommerce",
        spark_connect_port=int(_float("ECOM_SPARK_CONNECT_PORT", DEFAULT_SPARK_CONNECT_PORT)),
        run_dir=_path_or_uri("ECOM_RUN_DIR", PROJECT_ROOT / ".run"),
        replay_time_mode=_choice("ECOM_REPLAY_TIME", ("shifted", "original"), "shifted"),
        replay_models=_choice("ECOM_REPLAY_MODELS", ("on", "off"), "on") == "on",
        replay_learning=_choice("ECOM_REPLAY_LEARNING", ("on", "off"), "on") == "on",
        replay_refits=_choice("ECOM_REPLAY_REFITS", ("on", "off"), "on") == "on",
        replay_refit_lag_days=_days("ECOM_REPLAY_REFIT_LAG_DAYS", DEFAULT_REFIT_LAG_DAYS),
        training_window=TrainingWindow(_date("ECOM_TRAIN_START", DEFAULT_TRAIN_START),
                                       _date("ECOM_TRAIN_END", DEFAULT_TRAIN_END)),
        serve_host=os.environ.get("ECOM_SERVE_HOST", "").strip() or "127.0.0.1",
        serve_port=_port("ECOM_SERVE_PORT", 8100),
        spark_connect_wait_s=_seconds("ECOM_SPARK_CONNECT_WAIT_S", DEFAULT_SPARK_CONNECT_WAIT_S),
        ui_port=_port("ECOM_UI_PORT", DEFAULT_UI_PORT),
    )
