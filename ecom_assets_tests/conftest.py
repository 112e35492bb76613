"""Shared fixtures: one real local SparkSession per test run, the real REES46 heads, temporary lakes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ecom_assets.processes import free_port

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
REAL_OCT_HEAD = SHARED_DATA / "rees46-real" / "2019-Oct-head-raw.csv"
REAL_NOV_HEAD = SHARED_DATA / "rees46-real" / "2019-Nov-head-raw-noheader.csv"
# The suite runs on a local SparkSession, its own temporary lakes and the InfluxDB it starts: settings a
# developer exported for their own replay (a Spark Connect server, an InfluxDB, a run folder, a time mode)
# must not redirect it. Tests that need one of them set it themselves.
REDIRECTING_SETTINGS = ("ECOM_SPARK_REMOTE", "ECOM_SPARK_MASTER", "ECOM_SPARK_SHARED_SESSION", "ECOM_SPARK_CONNECT_PORT",
                        "ECOM_RUN_DIR", "ECOM_REPLAY_MODELS", "ECOM_REPLAY_TIME", "ECOM_TRAIN_START", "ECOM_TRAIN_END",
                        "INFLUX_URL", "INFLUX_TOKEN", "INFLUX_ORG", "INFLUX_DATABASE")
for _name in REDIRECTING_SETTINGS:
    os.environ.pop(_name, None)
TEST_SPARK_CONF = (
    "spark.ui.enabled=false,spark.sql.shuffle.partitions=4,spark.driver.memory=3g,"
    "spark.sql.adaptive.coalescePartitions.minPartitionSize=1m"
)


# Markers for quick feedback: ``pytest -m "not spark and not stack"`` runs in seconds. A test is ``spark``
# when it starts the local SparkSession (through a fixture that needs it, or a materialization in its
# module) and ``stack`` when it starts servers (InfluxDB, Spark Connect, the Dagster webserver or
# daemon, forked run workers). The README's test command runs everything.
SPARK_FIXTURES = {"spark", "trained_lake", "replayed"}
STACK_FIXTURES = {"influx_url"}
SPARK_MODULES = {"test_behaviour", "test_behaviour_assets", "test_incremental", "test_ingest", "test_parsing",
                 "test_raw_events_asset", "test_csv_forms", "test_hostile_input", "test_recommendation", "test_recommendation_assets", "test_replay",
                 "test_replay_hourly", "test_segmentation", "test_segmentation_assets", "test_remote_lake"}
STACK_MODULES = {"test_spark_connect", "test_ui", "test_run_launcher", "test_shop_api"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test ``spark`` and/or ``stack`` from its module and the fixtures it needs."""
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""
        fixtures = set(getattr(item, "fixturenames", ()))
        if module in SPARK_MODULES or fixtures & SPARK_FIXTURES:
            item.add_marker(pytest.mark.spark)
        if module in STACK_MODULES or fixtures & STACK_FIXTURES:
            item.add_marker(pytest.mark.stack)


@pytest.fixture(scope="session")
def spark():
    """A real local SparkSession shared by every test (about 8 s to start once)."""
    os.environ["ECOM_SPARK_CONF"] = TEST_SPARK_CONF
    from ecom_assets.resources import SparkResource

    session = SparkResource(master="local[2]", conf_dir=str(REPO_ROOT / "spark_conf")).get_session()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def real_heads() -> tuple[Path, Path]:
    """The real heads of both months, byte for byte (read-only)."""
    if not REAL_OCT_HEAD.is_file() or not REAL_NOV_HEAD.is_file():
        pytest.fail(f"the real REES46 heads are missing under {SHARED_DATA}; CI clones shared/ beside the repo")
    return REAL_OCT_HEAD, REAL_NOV_HEAD


@pytest.fixture()
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """ECOM_* variables pointing into a fresh temporary folder."""
    monkeypatch.setenv("ECOM_DATA_DIR", str(tmp_path / "input"))
    monkeypatch.setenv("ECOM_LAKE_DIR", str(tmp_path / "lake"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("ECOM_RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("ECOM_UI_PORT", str(free_port()))  # nothing else's ports, whatever runs beside the tests
    monkeypatch.setenv("ECOM_SPARK_CONNECT_PORT", str(free_port()))
    (tmp_path / "input").mkdir()
    yield tmp_path



@pytest.fixture(scope="session")
def influx_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real InfluxDB 1.x server (Debian's ``influxd``) on a free loopback port, its files in a temp folder."""
    from ecom_assets.publishing.influx_server import start_local_influx

    try:
        server = start_local_influx(tmp_path_factory.mktemp("influxdb"))
    except (FileNotFoundError, RuntimeError) as exc:
        pytest.fail(str(exc))
    try:
        yield server.url
    finally:
        server.stop()


@dataclass(frozen=True)
class Planted:
    """November rows added to generated data, with what the incremental models should do with them."""

    changed_user: int  # an October browser who buys expensive products on 2019-11-01 at 21:xx
    new_user: int  # first seen on 2019-11-01 at 22:xx
    new_product: int  # first seen on 2019-11-01 at 23:xx, viewed by the new user and two October browsers
    category_id: int  # the new product's category
    browser: int  # an October browser who views the new product at 23:xx


@dataclass(frozen=True)
class TrainedLake:
    """A lake with the whole batch graph materialized on generated data with planted November changes."""

    root: Path
    result: object
    planted: Planted


TRAINED_SELECTION = ["raw_events", "rfm_table", "kmeans_model", "segment_profiles", "user_segments",
                     "als_model", "content_similarity", "hybrid_recs", "recs_evaluation", "next_item_evaluation",
                     "replay_baseline"]
TRAINED_RUN_CONFIG = {"ops": {
    "kmeans_model": {"config": {"k_min": 3, "k_max": 4, "sweep_sample_rows": 5000}},
    "als_model": {"config": {"ranks": [32], "reg_params": [0.5], "alphas": [10.0], "folds": 2,
                             "event_weights": [[4.0, 8.0], [2.0, 3.0]]}},
    "hybrid_recs": {"config": {"folds": 2}},
    # The holdout week and one validation week (the default adds a second: ~80 s more at this size).
    "recs_evaluation": {"config": {"folds": 2}},
}}


def plant_november_changes(input_dir: Path) -> Planted:
    """Append the planted rows to the generated ``2019-Nov.csv``: a taste change, a new user, a new product."""
    import pandas as pd

    october = pd.read_csv(input_dir / "2019-Oct.csv", usecols=["user_id", "event_type", "product_id", "category_id",
                                                                "category_code", "brand", "price"])
    per_user = october.groupby("user_id")["event_type"].agg(["count", lambda t: (t == "purchase").sum()])
    browsers = per_user[(per_user.iloc[:, 1] == 0) & (per_user["count"].between(2, 4))].index
    changed, browser = (int(b) for b in sorted(browsers)[:2])
    top = october[october["category_code"].notna()].groupby("category_id").size().idxmax()
    in_category = october[october["category_id"] == top].drop_duplicates("product_id")
    sample = in_category.head(3)
    code, brand = sample["category_code"].iloc[0], sample["brand"].iloc[0]
    new_user, new_product = 990_000_001, 990_000_777
    rows = []

    def add(minute: str, kind: str, product: int, price: float, user: int, session: str) -> None:
        rows.append(f"{minute} UTC,{kind},{product},{int(top)},{code},{brand if isinstance(brand, str) else ''},"
                    f"{price:.2f},{user},{session}")

    for i, product in enumerate(int(p) for p in sample["product_id"]):
        for kind in ("view", "cart", "purchase", "purchase"):
            add(f"2019-11-01 21:{10 + i * 5:02d}:00", kind, product, 950.0, changed, "planted-change")
        add(f"2019-11-01 22:{10 + i:02d}:00", "view", product, float(sample["price"].iloc[i]), new_user, "planted-new")
    add("2019-11-01 22:20:00", "cart", int(sample["product_id"].iloc[0]), float(sample["price"].iloc[0]), new_user,
        "planted-new")
    for minute in ("23:05", "23:06", "23:07"):
        add(f"2019-11-01 {minute}:00", "view", new_product, 123.0, new_user, "planted-new-2")
    # Two more users with ALS factors view it in the same hour: enough to fold it in (MIN_USERS).
    add("2019-11-01 23:08:00", "view", new_product, 123.0, changed, "planted-new-3")
    add("2019-11-01 23:09:00", "view", new_product, 123.0, browser, "planted-new-4")
    # The new user comes back after midnight, when the new product has factors.
    add("2019-11-02 00:05:00", "view", int(sample["product_id"].iloc[1]), float(sample["price"].iloc[1]), new_user,
        "planted-new-5")
    with (input_dir / "2019-Nov.csv").open("a", encoding="utf-8") as out:
        out.write("".join(line + "\n" for line in rows))
    return Planted(changed, new_user, new_product, int(top), browser)


@pytest.fixture(scope="session")
def trained_lake(tmp_path_factory: pytest.TempPathFactory, spark) -> TrainedLake:
    """Generated data (250 k rows, planted tastes and November changes) through the whole batch graph, once."""
    import dagster as dg

    from ecom_assets.commands.materialize import install_instance_config, whole_steps
    from ecom_assets.definitions import BATCH_ASSETS, build_resources
    from ecom_assets.ingest.generator import generate_dataset
    from ecom_assets.settings import load_settings

    root = tmp_path_factory.mktemp("trained")
    generate_dataset(root / "input", 250_000, seed=5, progress=False)
    planted = plant_november_changes(root / "input")
    home = root / "dagster_home"  # persistent, as `ecom materialize` leaves it: the replay and the report read it
    home.mkdir()
    install_instance_config(home)
    with pytest.MonkeyPatch.context() as env, dg.DagsterInstance.from_config(str(home)) as instance:
        env.setenv("ECOM_DATA_DIR", str(root / "input"))
        env.setenv("ECOM_LAKE_DIR", str(root / "lake"))
        result = dg.materialize(BATCH_ASSETS, selection=whole_steps(BATCH_ASSETS, TRAINED_SELECTION),
                                resources=build_resources(load_settings()), instance=instance,
                                run_config=TRAINED_RUN_CONFIG, raise_on_error=False)
    assert result.success
    return TrainedLake(root, result, planted)


def replay_environ(trained: TrainedLake) -> dict[str, str]:
    """The variables of the tests' replay: the trained lake, its own Dagster home; the hours of a day use the
    previous day's re-fit (a lag of one day, so the replays of the tests, which cross one midnight, use one).
    A run that must reproduce ``replayed``'s hours (another process, Spark Connect) takes the same ones."""
    return {"ECOM_DATA_DIR": str(trained.root / "input"), "ECOM_LAKE_DIR": str(trained.root / "lake"),
            "DAGSTER_HOME": str(trained.root / "dagster_home"), "ECOM_REPLAY_REFIT_LAG_DAYS": "1"}


def replay_env(env: pytest.MonkeyPatch, trained: TrainedLake) -> None:
    """Point the project at the trained lake (``replay_environ``) and the file sink."""
    for name, value in replay_environ(trained).items():
        env.setenv(name, value)
    env.delenv("INFLUX_URL", raising=False)


@pytest.fixture(scope="session")
def replayed(trained_lake: TrainedLake) -> TrainedLake:
    """Five hours of the replay (through midnight) with the incremental models, on the trained lake; the
    points are line-protocol files under ``lake/temp/influx/ecommerce_analytics/``."""
    from ecom_assets.commands.replay import run_replay

    with pytest.MonkeyPatch.context() as env:
        replay_env(env, trained_lake)
        summary = run_replay(5, "2019-11-01-21:00", interval_s=0, log=lambda _: None)
    assert summary.success, summary.error
    return trained_lake
