"""Settings from the environment, Spark configuration layering, and the lake's paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecom_assets.lake import Lake, input_month_files, is_local
from ecom_assets.resources.spark import build_spark_conf, parse_conf_overrides
from ecom_assets.settings import PROJECT_ROOT, load_settings

CONF_DIR = str(PROJECT_ROOT / "spark_conf")


def test_defaults_are_safe(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ECOM_DATA_DIR", "ECOM_LAKE_DIR", "ECOM_SPARK_MASTER", "ECOM_SPARK_REMOTE", "SPARK_LOCAL_IP",
                 "ECOM_MAX_QUARANTINE_RATE"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.data_dir == str(PROJECT_ROOT / "data" / "input")
    assert settings.lake_dir == str(PROJECT_ROOT / "data" / "lake")
    assert settings.spark_master == "local[*]"
    assert settings.spark_remote == ""
    assert settings.spark_local_ip == "127.0.0.1"
    assert settings.max_quarantine_rate == 0.01


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ECOM_DATA_DIR", "relative/input")
    monkeypatch.setenv("ECOM_LAKE_DIR", "hdfs://namenode:8020/ecom")
    monkeypatch.setenv("ECOM_SPARK_REMOTE", "sc://localhost:15002")
    settings = load_settings()
    assert settings.data_dir == str(tmp_path / "relative" / "input")
    assert settings.lake_dir == "hdfs://namenode:8020/ecom"
    assert settings.spark_remote == "sc://localhost:15002"


def test_replay_learning_is_on_unless_turned_off_and_reaches_the_training_resource(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from ecom_assets.definitions import build_resources

    monkeypatch.delenv("ECOM_REPLAY_LEARNING", raising=False)
    assert load_settings().replay_learning and build_resources(load_settings())["training"].replay_learning
    monkeypatch.setenv("ECOM_REPLAY_LEARNING", "off")
    assert not build_resources(load_settings())["training"].replay_learning
    monkeypatch.setenv("ECOM_REPLAY_LEARNING", "sometimes")
    with pytest.raises(ValueError, match="ECOM_REPLAY_LEARNING"):
        load_settings()


def test_a_bad_number_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECOM_MAX_QUARANTINE_RATE", "five")
    with pytest.raises(ValueError, match="ECOM_MAX_QUARANTINE_RATE must be a number"):
        load_settings()


def test_spark_conf_layers_file_env_and_forced_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECOM_SPARK_CONF", "spark.sql.shuffle.partitions=3, spark.sql.session.timeZone=Europe/Paris")
    conf = build_spark_conf(CONF_DIR, driver_memory="2g")
    assert conf["spark.driver.memory"] == "2g"
    assert conf["spark.sql.shuffle.partitions"] == "3"
    assert conf["spark.sql.session.timeZone"] == "UTC"  # correctness depends on it: never overridden
    assert conf["spark.driver.bindAddress"] == "127.0.0.1"


def test_bad_spark_overrides_are_refused() -> None:
    with pytest.raises(ValueError, match="key=value"):
        parse_conf_overrides("spark.sql.shuffle.partitions")


def test_lake_paths_work_for_local_folders_and_uris(tmp_path: Path) -> None:
    hdfs = Lake("hdfs://nn:8020/ecom/")
    assert hdfs.raw_events == "hdfs://nn:8020/ecom/raw/events"
    assert hdfs.quarantine == "hdfs://nn:8020/ecom/temp/quarantine/events"
    assert hdfs.model("kmeans") == "hdfs://nn:8020/ecom/models/kmeans"
    assert hdfs.processed("sessions") == "hdfs://nn:8020/ecom/processed/sessions"
    assert not is_local(hdfs.root) and is_local(str(tmp_path)) and is_local("file:///tmp/x")
    assert input_month_files(str(tmp_path)) == []
    (tmp_path / "2019-Nov.csv").write_text("")
    assert input_month_files(str(tmp_path)) == [str(tmp_path / "2019-Nov.csv")]


def test_month_files_may_be_compressed_and_a_zip_is_named(tmp_path: Path) -> None:
    (tmp_path / "2019-Oct.csv.gz").write_bytes(b"")
    (tmp_path / "2019-Nov.csv.bz2").write_bytes(b"")
    assert input_month_files(str(tmp_path)) == [str(tmp_path / "2019-Oct.csv.gz"), str(tmp_path / "2019-Nov.csv.bz2")]
    (tmp_path / "2019-Oct.csv").write_bytes(b"")  # the plain file wins: it splits across cores
    assert input_month_files(str(tmp_path))[0] == str(tmp_path / "2019-Oct.csv")
    (tmp_path / "2019-Nov.csv.bz2").unlink()
    (tmp_path / "2019-Nov.csv.zip").write_bytes(b"PK")
    with pytest.raises(ValueError, match=r"2019-Nov.csv.zip is a zip archive, which Spark cannot read: unzip it"):
        input_month_files(str(tmp_path))


def test_the_replay_state_of_a_lake_at_a_uri_lives_in_the_run_folder(tmp_path: Path) -> None:
    local = Lake(str(tmp_path / "lake"), str(tmp_path / "run"))
    assert local.local_state("replay/state.json") == tmp_path / "lake" / "temp" / "replay" / "state.json"
    remote = Lake("hdfs://nn:8020/ecom/", str(tmp_path / "run"))
    state = remote.local_state("replay/state.json")
    assert state.parent.parent.parent == tmp_path / "run" / "lake-state" and state.name == "state.json"
    assert Lake("hdfs://nn:8020/ecom", str(tmp_path / "run")).local_state("influx") == state.parent.parent / "influx"
    assert Lake("hdfs://other:8020/ecom", str(tmp_path / "run")).local_state("influx") != state.parent.parent / "influx"
    with pytest.raises(ValueError, match="set ECOM_RUN_DIR"):
        Lake("hdfs://nn:8020/ecom").local_state("replay/state.json")
    with pytest.raises(ValueError, match="set ECOM_RUN_DIR"):
        Lake("hdfs://nn:8020/ecom", "s3a://bucket/run").local_state("influx")
