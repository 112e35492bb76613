"""Behaviour functions checked against an independent pandas computation on the same input."""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import SparkSession

from ecom_assets.behaviour.affinities import affinities
from ecom_assets.behaviour.funnel import conversion_funnel
from ecom_assets.behaviour.indicators import user_indicators
from ecom_assets.behaviour.navigation import navigation_paths, navigation_transitions
from ecom_assets.behaviour.popularity import popularity
from ecom_assets.behaviour.sessions import assign_session_ids, sessionize
from ecom_assets.behaviour.time_patterns import activity_patterns
from ecom_assets.ingest.generator import generate_dataset
from ecom_assets.ingest.parsing import EVENT_SCHEMA
from ecom_assets.ingest.pipeline import ingest_events
from ecom_assets.ingest.tables import read_raw_events
from ecom_assets.lake import Lake

COLUMNS = ["event_time", "event_type", "product_id", "category_id", "category_code", "brand", "price", "user_id",
           "user_session"]
RANK = {"view": 0, "cart": 1, "remove_from_cart": 2, "purchase": 3}


@pytest.fixture(scope="module")
def dataset(spark: SparkSession, real_heads: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory):
    """Real heads plus 30 k generated rows, ingested by Spark and read independently by pandas."""
    folder = tmp_path_factory.mktemp("behaviour")
    generate_dataset(folder / "gen", 30_000, seed=21, progress=False)
    files = [*real_heads, folder / "gen" / "2019-Oct.csv", folder / "gen" / "2019-Nov.csv"]
    lake = Lake(str(folder / "lake"))
    ingest_events(spark, [str(f) for f in files], lake, count_duplicates=False)
    frames = []
    for f in files:
        header = 0 if f.read_bytes().startswith(b"event_time") else None
        frame = pd.read_csv(f, header=header, names=COLUMNS, dtype={"category_code": str, "brand": str,
                                                                     "user_session": str})
        frames.append(frame[frame["user_id"].notna() & frame["user_session"].notna()])  # drops the truncated row
    expected = pd.concat(frames, ignore_index=True)
    expected = expected[expected["event_time"].str.len() == 23].copy()
    expected["time"] = pd.to_datetime(expected["event_time"].str[:19])
    expected["rank"] = expected["event_type"].map(RANK)
    expected["top"] = expected["category_code"].str.split(".").str[0].fillna("unknown")
    events = read_raw_events(spark, lake).cache()
    return events, expected


@pytest.fixture(scope="module")
def session_table(dataset) -> pd.DataFrame:
    """``sessionize`` on the dataset, as pandas."""
    events, _ = dataset
    return sessionize(events).toPandas().set_index(["session_id", "user_id"])


def test_sessions_match_pandas(dataset, session_table: pd.DataFrame) -> None:
    _, expected = dataset
    ordered = expected.sort_values(["user_session", "user_id", "time", "rank"], kind="stable")
    groups = ordered.groupby(["user_session", "user_id"])
    assert len(session_table) == groups.ngroups
    assert session_table["events"].sum() == len(expected)
    check = pd.DataFrame({
        "events": groups.size(),
        "purchases": groups["event_type"].agg(lambda s: (s == "purchase").sum()),
        "duration_s": (groups["time"].max() - groups["time"].min()).dt.total_seconds().astype(int),
        "revenue": ordered[ordered["event_type"] == "purchase"].groupby(["user_session", "user_id"])["price"].sum(),
        "distinct_products": groups["product_id"].nunique(),
    }).fillna({"revenue": 0.0})
    got = session_table.loc[check.index]
    assert (got["events"] == check["events"]).all()
    assert (got["purchases"] == check["purchases"]).all()
    assert (got["duration_s"] == check["duration_s"]).all()
    assert (got["distinct_products"] == check["distinct_products"]).all()
    assert got["revenue"].to_numpy() == pytest.approx(check["revenue"].round(2).to_numpy())
    assert (got["converted"] == (check["purchases"] > 0)).all()
    paths = groups["event_type"].agg(lambda s: list(s)[:50])
    assert all(list(got.loc[s, "event_path"]) == paths[s] for s in paths.index[:2000])
    folded = groups["top"].agg(lambda s: [k for k, _ in itertools.groupby(s)][:50])
    assert all(list(got.loc[s, "category_path"]) == folded[s] for s in folded.index[:2000])
    assert (session_table["duration_s"] >= 0).all()


def test_rows_without_session_are_cut_after_30_minutes(spark: SparkSession) -> None:
    base = dt.datetime(2019, 11, 1, 10, 0, 0)
    rows = [
        (base, "view", 1, None, None, None, 10.0, 7, None),
        (base + dt.timedelta(minutes=10), "view", 2, None, None, None, 10.0, 7, None),
        (base + dt.timedelta(minutes=41), "purchase", 2, None, None, None, 10.0, 7, None),  # 31 min later
        (base, "view", 3, None, None, None, 5.0, 8, None),
        (base, "view", 3, None, None, None, 5.0, 8, "real-session"),
    ]
    table = sessionize(spark.createDataFrame(rows, EVENT_SCHEMA)).orderBy("user_id", "start_time", "session_id").collect()
    assert [(r["user_id"], r["events"], r["is_synthetic"]) for r in table] == [
        (7, 2, True), (7, 1, True), (8, 1, True), (8, 1, False)]  # "nosession-8-1" sorts before "real-session"
    assert table[0]["session_id"] == "nosession-7-1" and table[1]["session_id"] == "nosession-7-2"
    assert table[1]["converted"] and table[0]["duration_s"] == 600


def test_user_indicators_match_pandas(dataset, spark: SparkSession) -> None:
    events, expected = dataset
    got = user_indicators(events, sessionize(events)).toPandas().set_index("user_id")
    assert len(got) == expected["user_id"].nunique()
    by_user = expected.groupby("user_id")
    assert (got["sessions"] == by_user["user_session"].nunique().reindex(got.index)).all()
    assert (got["views"] == by_user["event_type"].agg(lambda s: (s == "view").sum()).reindex(got.index)).all()
    revenue = expected[expected["event_type"] == "purchase"].groupby("user_id")["price"].sum()
    assert got["revenue"].to_numpy() == pytest.approx(revenue.reindex(got.index).fillna(0).round(2).to_numpy())
    pairs = expected.groupby(["user_id", "product_id"])["event_type"].agg(set)
    viewed = pairs[pairs.map(lambda s: "view" in s)]
    rate = viewed.map(lambda s: "purchase" in s).groupby(level=0).mean()
    assert got.loc[rate.index, "view_to_purchase_rate"].to_numpy() == pytest.approx(rate.to_numpy())
    carted = pairs[pairs.map(lambda s: "cart" in s)]
    abandonment = carted.map(lambda s: "purchase" not in s).groupby(level=0).mean()
    assert got.loc[abandonment.index, "cart_abandonment_rate"].to_numpy() == pytest.approx(abandonment.to_numpy())
    assert got["cart_abandonment_rate"].isna().sum() == len(got) - len(abandonment)
    brand = expected.dropna(subset=["brand"]).groupby(["user_id", "brand"]).size().reset_index(name="n")
    brand = brand.sort_values(["user_id", "n", "brand"], ascending=[True, False, True]).drop_duplicates("user_id")
    assert (got.loc[brand["user_id"], "preferred_brand"].to_numpy() == brand["brand"].to_numpy()).all()


def test_funnel_matches_pandas_and_raw_counts(dataset) -> None:
    events, expected = dataset
    funnel = conversion_funnel(events).toPandas()
    overall = funnel[funnel["level"] == "overall"].iloc[0]
    counts = expected["event_type"].value_counts()
    assert (overall["views"], overall["carts"], overall["purchases"]) == (counts["view"], counts["cart"],
                                                                          counts["purchase"])
    pairs = expected.groupby(["user_id", "product_id"])["event_type"].agg(set)
    viewed = pairs[pairs.map(lambda s: "view" in s)]
    assert overall["view_to_purchase_rate"] == pytest.approx(viewed.map(lambda s: "purchase" in s).mean())
    carted = pairs[pairs.map(lambda s: "cart" in s)]
    assert overall["cart_abandonment_rate"] == pytest.approx(carted.map(lambda s: "purchase" not in s).mean())
    for level in ("category", "brand", "day"):
        part = funnel[funnel["level"] == level]
        assert part["views"].sum() == counts["view"] and part["purchases"].sum() == counts["purchase"]
    days = funnel[funnel["level"] == "day"].set_index("key")
    assert days.loc["2019-11-01", "views"] == (expected[expected["event_time"].str.startswith("2019-11-01")]
                                               ["event_type"] == "view").sum()
    rates = funnel[["view_to_cart_rate", "view_to_purchase_rate", "cart_to_purchase_rate", "cart_abandonment_rate"]]
    assert ((rates.fillna(0) >= 0) & (rates.fillna(0) <= 1)).all().all()


def test_popularity_matches_pandas(dataset) -> None:
    events, expected = dataset
    table = popularity(events, top_n=10).toPandas()
    products = table[table["item_kind"] == "product"].set_index("item_id")
    views = expected[expected["event_type"] == "view"].groupby("product_id").size()
    top = views.sort_values(ascending=False)
    leader = str(top.index[0])
    assert products.loc[leader, "rank_views"] == 1 and products.loc[leader, "views"] == top.iloc[0]
    purchases = expected[expected["event_type"] == "purchase"].groupby("product_id").size()
    top_bought = set(map(str, purchases.sort_values(ascending=False).index[:5]))
    assert top_bought <= set(products.index) or purchases.sort_values(ascending=False).iloc[4] == \
        purchases.sort_values(ascending=False).iloc[10]
    categories = table[table["item_kind"] == "category"]
    assert categories["rank_views"].min() == 1 and len(categories) >= 10


def test_transitions_match_pandas(dataset, session_table: pd.DataFrame, spark: SparkSession) -> None:
    events, expected = dataset
    table = navigation_transitions(sessionize(events)).toPandas()
    counter: Counter = Counter()
    for path in session_table["category_path"]:
        if len(path) > 1:
            counter.update(zip(path[:-1], path[1:], strict=False))
    # Only sessions with more than one event take part; a folded path of >1 category implies that.
    got = table[table["kind"] == "category"].set_index(["from_state", "to_state"])["transitions"].to_dict()
    assert got == dict(counter)
    probabilities = table.groupby(["kind", "from_state"])["probability"].sum()
    assert probabilities.to_numpy() == pytest.approx(1.0)
    events_kind = table[table["kind"] == "event_type"].set_index(["from_state", "to_state"])["transitions"]
    steps = sum(max(min(n, 50) - 1, 0) for n in session_table["events"])
    assert events_kind.sum() == steps


def test_paths_separate_converting_sessions(dataset) -> None:
    events, _ = dataset
    table = navigation_paths(sessionize(events), top=50).toPandas()
    openings = table[table["kind"] == "first_3_events"].set_index("path")
    assert openings.loc["view > cart > purchase", "conversion_rate"] == 1.0
    assert openings.loc["view", "conversion_rate"] == 0.0
    assert set(table["kind"]) == {"category_2_steps", "category_3_steps", "first_3_events"}
    assert ((table["share_of_converting_sessions"] >= 0) & (table["share_of_converting_sessions"] <= 1)).all()


def test_affinities_match_pandas(dataset) -> None:
    events, expected = dataset
    table = affinities(assign_session_ids(events), min_sessions=3).toPandas()
    products = table[table["item_kind"] == "product"]
    baskets = expected.groupby("user_session")["product_id"].agg(lambda s: sorted(set(s))[:30])
    support = Counter(p for items in baskets for p in items)
    pairs = Counter(pair for items in baskets for pair in itertools.combinations(items, 2)
                    if support[pair[0]] >= 3 and support[pair[1]] >= 3)
    frequent = {(str(a), str(b)): n for (a, b), n in pairs.items() if n >= 3}
    got = {(r.item_a, r.item_b): r.sessions_together for r in products.itertuples()}
    # Spark compares item ids as numbers, pandas too: the same pairs in the same orientation.
    assert got == frequent
    total = len(baskets)
    row = products.iloc[0]
    a, b = int(row["item_a"]), int(row["item_b"])
    assert row["lift"] == pytest.approx(row["sessions_together"] * total / (support[a] * support[b]))
    assert (products["confidence_a_to_b"] <= 1).all() and (products["lift"] > 0).all()


def test_activity_patterns_match_pandas(dataset) -> None:
    events, expected = dataset
    table = activity_patterns(events).toPandas()
    hours = table[table["grain"] == "hour_of_day"].set_index("key")["events"]
    expected_hours = expected["time"].dt.hour.value_counts()
    assert {int(k): v for k, v in hours.items()} == expected_hours.to_dict()
    days = table[table["grain"] == "date"].set_index("key")
    assert days.loc["2019-10-01", "active_users"] == expected[expected["event_time"].str.startswith("2019-10-01")][
        "user_id"].nunique()
    weekdays = table[table["grain"] == "day_of_week"].set_index("key")["events"]
    assert set(weekdays.index) <= {"1-Mon", "2-Tue", "3-Wed", "4-Thu", "5-Fri", "6-Sat", "7-Sun"}
    assert weekdays.sum() == len(expected)
    # The sale: 17 November has several times the purchases of a normal November day.
    november = days[days.index.str.startswith("2019-11")]["purchases"]
    assert november["2019-11-17"] > 3 * november.median()


