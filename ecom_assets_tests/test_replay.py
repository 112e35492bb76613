"""The replay end to end: generated November hours through the replay job into a real InfluxDB, read back."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from pyspark.sql import SparkSession

from ecom_assets.commands.materialize import whole_steps
from ecom_assets.commands.replay import run_replay
from ecom_assets.definitions import BATCH_ASSETS, build_resources
from ecom_assets.ingest.generator import generate_dataset
from ecom_assets.publishing.sinks import V1Sink
from ecom_assets.replay.orchestration.clock import RETENTION, offset_weeks_for
from ecom_assets.settings import load_settings


def _events(lake: Path, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    frame = pd.read_parquet(lake / "raw" / "events")
    times = pd.to_datetime(frame["event_time"], utc=True)
    return frame[(times >= start) & (times < end)]


def _expected(frame: pd.DataFrame) -> dict[str, float]:
    views = int((frame.event_type == "view").sum())
    purchases = int((frame.event_type == "purchase").sum())
    times = pd.to_datetime(frame.dropna(subset=["user_session"]).groupby(["user_session", "user_id"]).event_time
                           .agg(["min", "max"]).stack(), utc=True).unstack()
    return {"events": len(frame), "views": views, "carts": int((frame.event_type == "cart").sum()),
            "purchases": purchases, "active_users": frame.user_id.nunique(),
            "sessions": frame.user_session.nunique(), "conversion_rate": purchases / views if views else 0.0,
            # a session's duration: its last minus its first event, per (session, user)
            "session_duration_mean_s": (times["max"] - times["min"]).dt.total_seconds().mean()}


def _query(sink: V1Sink, statement: str) -> list[dict]:
    result = sink.query(statement)["results"][0]
    rows = []
    for series in result.get("series", []):
        for values in series["values"]:
            rows.append({**series.get("tags", {}), **dict(zip(series["columns"], values, strict=True))})
    return rows


@pytest.fixture(scope="module")
def replay_lake(tmp_path_factory: pytest.TempPathFactory, spark: SparkSession) -> Path:
    """Generated data with raw_events materialized once for the module."""
    root = tmp_path_factory.mktemp("replay")
    generate_dataset(root / "input", 80_000, seed=11, progress=False)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("ECOM_DATA_DIR", str(root / "input"))
        env.setenv("ECOM_LAKE_DIR", str(root / "lake"))
        assert dg.materialize(BATCH_ASSETS, selection=whole_steps(BATCH_ASSETS, ["raw_events"]), resources=build_resources(load_settings()),
                              instance=dg.DagsterInstance.ephemeral()).success
    return root


def test_replayed_hours_reach_influxdb_with_the_right_numbers(replay_lake: Path, influx_url: str,
                                                              monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ECOM_DATA_DIR", str(replay_lake / "input"))
    monkeypatch.setenv("ECOM_LAKE_DIR", str(replay_lake / "lake"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("INFLUX_URL", influx_url)
    monkeypatch.setenv("INFLUX_DATABASE", "replay_e2e")
    monkeypatch.setenv("ECOM_REPLAY_MODELS", "off")  # behaviour only: this lake has no trained models
    summary = run_replay(2, "2019-11-01-22:00", interval_s=0, log=lambda _: None)
    assert summary.success and summary.done == ["2019-11-01-22:00", "2019-11-01-23:00"]
    assert summary.days == ["2019-11-01"] and not summary.failed_days  # the day's roll-up after its last hour

    state = json.loads((replay_lake / "lake" / "temp" / "replay" / "state.json").read_text())
    offset = dt.timedelta(weeks=state["offset_weeks"])
    assert state["offset_weeks"] == offset_weeks_for(dt.datetime.fromisoformat(state["started_at"]), "shifted")
    assert dt.datetime(2019, 11, 1, tzinfo=dt.UTC) + offset > dt.datetime.now(dt.UTC) - RETENTION
    sink = V1Sink(influx_url, "replay_e2e")
    lake = replay_lake / "lake"

    hours = _query(sink, "SELECT * FROM \"ecom_30d\".\"user_behavior\" WHERE granularity = 'hour' ORDER BY time")
    assert len(hours) == 2
    for row, start in zip(hours, (dt.datetime(2019, 11, 1, 22, tzinfo=dt.UTC), dt.datetime(2019, 11, 1, 23, tzinfo=dt.UTC)),
                          strict=True):
        assert pd.Timestamp(row["time"]) == pd.Timestamp(start + offset)
        expected = _expected(_events(lake, start, start + dt.timedelta(hours=1)))
        for key, value in expected.items():
            assert row[key] == pytest.approx(value), key
    minutes = _query(sink, "SELECT sum(events) FROM \"ecom_30d\".\"user_behavior\" WHERE granularity = 'minute'")
    assert minutes[0]["sum"] == sum(r["events"] for r in hours)

    day = _query(sink, "SELECT * FROM \"ecom_30d\".\"user_behavior\" WHERE granularity = 'day'")
    day_start = dt.datetime(2019, 11, 1, tzinfo=dt.UTC)
    assert len(day) == 1 and pd.Timestamp(day[0]["time"]) == pd.Timestamp(day_start + offset)
    for key, value in _expected(_events(lake, day_start, day_start + dt.timedelta(days=1))).items():
        assert day[0][key] == pytest.approx(value), key

    top = _query(sink, "SELECT product_id, score FROM \"ecom_30d\".\"product_popularity\" "
                       "WHERE kind = 'product' AND rank = '01' ORDER BY time")
    last_hour = _events(lake, dt.datetime(2019, 11, 1, 23, tzinfo=dt.UTC), dt.datetime(2019, 11, 2, tzinfo=dt.UTC))
    weights = last_hour.event_type.map({"view": 1.0, "cart": 4.0, "purchase": 8.0})
    scores = weights.groupby(last_hour.product_id).sum().sort_index().sort_values(ascending=False, kind="stable")
    assert top[-1]["product_id"] == scores.index[0] and top[-1]["score"] == scores.iloc[0]
    replay = _query(sink, "SELECT * FROM \"ecom_30d\".\"replay\" ORDER BY time")
    assert [r["batch_events"] for r in replay] == [r["events"] for r in hours]
    assert all(r["offset_weeks"] == state["offset_weeks"] for r in replay)

    counts = {m: _query(sink, f'SELECT count(*) FROM "ecom_30d"."{m}"') for m in ("user_behavior", "product_popularity")}
    again = run_replay(1, "2019-11-01-23:00", interval_s=0, log=lambda _: None)
    assert again.success
    after = {m: _query(sink, f'SELECT count(*) FROM "ecom_30d"."{m}"') for m in ("user_behavior", "product_popularity")}
    assert after == counts  # the same points, overwritten: nothing doubled


def test_the_hour_keeps_its_behaviour_when_the_models_part_fails(replay_lake: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    from ecom_assets.replay.hour import replay_hour

    monkeypatch.setenv("ECOM_DATA_DIR", str(replay_lake / "input"))
    monkeypatch.setenv("ECOM_LAKE_DIR", str(replay_lake / "lake"))
    monkeypatch.delenv("INFLUX_URL", raising=False)
    # The whole step selected on a lake without the batch graph's models: the models part fails, the
    # behaviour part beside it still finishes, and the step fails with what to materialize.
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([replay_hour], partition_key="2019-11-02-05:00", raise_on_error=False,
                            resources=build_resources(load_settings()), instance=instance)
    assert not result.success
    warnings = [e.user_message for e in instance.all_logs(result.run_id) if e.level == logging.WARNING]
    assert any("no trend state for the hour before 2019-11-02-05:00" in w for w in warnings), warnings
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == {"hourly_behaviour", "product_trends", "replay_progress"}
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    description = failure.step_failure_data.user_failure_data.description
    assert "the incremental models need the batch graph's outputs" in description and "kmeans_model" in description
    points = replay_lake / "lake" / "temp" / "influx" / "ecommerce_analytics" / "user_behavior-hour_2019-11-02T05.lp"
    assert "granularity=hour" in points.read_text()


def test_the_day_roll_up_merges_the_hours_session_tables_into_the_raw_scans_totals(
        replay_lake: Path, spark: SparkSession, tmp_path: Path) -> None:
    """Every hour's step keeps its session table; the day's roll-up merges the 24 of them (sessions that
    cross an hour included) into the totals a scan of the day's events gives, and scans the events
    when an hour's table is missing or older than the raw events."""
    import os
    import shutil

    from ecom_assets.lake import Lake
    from ecom_assets.replay.behaviour.spark_jobs import day_rollup, hour_events, process_hour

    lake = Lake(str(tmp_path / "lake"))
    shutil.copytree(replay_lake / "lake" / "raw", tmp_path / "lake" / "raw")
    day = dt.datetime(2019, 11, 3, tzinfo=dt.UTC)
    for h in range(24):
        events = hour_events(spark, lake, day + dt.timedelta(hours=h))
        process_hour(spark, lake, day + dt.timedelta(hours=h), events)
        events.unpersist()
    hours = sorted(p.name for p in (tmp_path / "lake" / "processed" / "replay" / "hourly_sessions").iterdir())
    assert len(hours) == 24 and hours[0] == "hour=2019-11-03T00"

    expected = _expected(_events(tmp_path / "lake", day, day + dt.timedelta(days=1)))
    crossing = _events(tmp_path / "lake", day, day + dt.timedelta(days=1)).assign(
        hour=lambda f: pd.to_datetime(f.event_time, utc=True).dt.hour).groupby("user_session").hour.nunique()
    assert (crossing > 1).any()  # the merge has sessions to join across hours
    merged = day_rollup(spark, lake, day)
    assert merged.source == "hourly_sessions"
    for key, value in expected.items():
        assert merged.values[key] == pytest.approx(value), key

    success = tmp_path / "lake" / "raw" / "events" / "_SUCCESS"
    later = (tmp_path / "lake" / "processed" / "replay" / "hourly_sessions" / hours[5] / "_SUCCESS").stat().st_mtime + 5
    os.utime(success, (later, later))  # the raw events re-ingested after the hours ran
    scanned = day_rollup(spark, lake, day)
    assert scanned.source == "raw_events" and scanned.values == pytest.approx(merged.values)
    os.utime(success, (0, 0))
    shutil.rmtree(tmp_path / "lake" / "processed" / "replay" / "hourly_sessions" / hours[5])
    assert day_rollup(spark, lake, day).source == "raw_events"
