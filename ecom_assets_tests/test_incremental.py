"""Incremental models during the replay: ledgers, customer updates, centres, online metrics, and the replay itself."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest
from pyspark.sql import Row, SparkSession
from pyspark.sql import types as T

from ecom_assets.commands.replay import run_replay
from ecom_assets.lake import Lake
from ecom_assets.recommendation.hybrid import content_scores, recent_products
from ecom_assets.replay.models.customers import CUSTOMER_SCHEMA, hour_activity, update_customers
from ecom_assets.replay.models.ledger import HANDOFF_KEEP_SECONDS, Ledger
from ecom_assets.replay.models.online import coverage, online_metrics
from ecom_assets.replay.models.recommendations import event_strengths
from ecom_assets.replay.models.segments import (
    Centres,
    SegmentChange,
    advance,
    cluster_groups,
    nearest_centre,
    sums_by_cluster,
)
from ecom_assets_tests.conftest import TrainedLake, replay_env

UTC = dt.UTC
KV = T.StructType([T.StructField("k", T.LongType()), T.StructField("v", T.LongType())])


def _t(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_ledger_keeps_the_latest_row_per_key_and_compacts_days(spark: SparkSession, tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    spark.createDataFrame([(1, 10), (2, 20)], KV).write.parquet(lake.processed("kv_base"))
    ledger = Ledger(lake, "kv", ("k",), KV, lake.processed("kv_base"))
    day1 = _t("2019-11-01T00:00")
    ledger.write_hour(spark.createDataFrame([(2, 21), (3, 30)], KV), day1)
    ledger.write_hour(spark.createDataFrame([(2, 22)], KV), day1.replace(hour=1))

    def state(start: dt.datetime) -> dict[int, int]:
        frame, _ = ledger.latest(spark, start)
        return {r["k"]: r["v"] for r in frame.collect()}

    assert state(day1) == {1: 10, 2: 20}
    assert state(day1.replace(hour=1)) == {1: 10, 2: 21, 3: 30}
    assert state(day1.replace(hour=2)) == {1: 10, 2: 22, 3: 30}
    wanted = spark.createDataFrame([(3, 0)], KV)
    only, _ = ledger.latest(spark, day1.replace(hour=2), wanted)
    assert [r["v"] for r in only.collect()] == [30]

    ledger.compact_day(spark, day1)
    snapshot = {r["k"]: r["v"] for r in spark.read.parquet(ledger.day_path(day1)).collect()}
    assert snapshot == {2: 22, 3: 30}  # only keys changed in November; the base stays where it is
    day2 = _t("2019-11-02T00:00")
    assert state(day2) == {1: 10, 2: 22, 3: 30}
    ledger.write_hour(spark.createDataFrame([(1, 11)], KV), day2)
    assert state(day2.replace(hour=1)) == {1: 11, 2: 22, 3: 30}
    _, missing = ledger.latest(spark, _t("2019-11-03T05:00"))
    assert missing  # no snapshot of Nov 2 and no earlier hours of Nov 3


def test_keyed_lookups_match_the_spark_ledger_without_scanning_the_base(spark: SparkSession, tmp_path: Path) -> None:
    """The binary-searched lookups give each wanted key's newest row exactly as the Spark ledger does, at
    every point of a day and across a snapshot; the base's sorted copy is made once and remade when the
    base is rewritten."""
    lake = Lake(str(tmp_path / "lake"))
    rng = np.random.default_rng(7)
    base_keys = rng.choice(np.arange(1, 5_000), size=2_000, replace=False)
    spark.createDataFrame([(int(k), int(k) * 10) for k in base_keys], KV).repartition(3).write.parquet(
        lake.processed("kv_base"))
    ledger = Ledger(lake, "kv", ("k",), KV, lake.processed("kv_base"))
    day1 = _t("2019-11-01T00:00")
    for hour in range(3):
        changed = rng.choice(np.arange(1, 6_000), size=300, replace=False)  # some keys new in November
        ledger.write_hour(spark.createDataFrame([(int(k), hour * 100_000 + int(k)) for k in changed], KV),
                          day1.replace(hour=hour))
    wanted = np.concatenate([rng.choice(np.arange(1, 6_500), size=400, replace=False), [base_keys[0]] * 3])

    def both(start: dt.datetime) -> tuple[dict[int, int], dict[int, int]]:
        keyed_frame, keyed_missing = ledger.latest_for_keys(spark, start, wanted)
        spark_frame, spark_missing = ledger.latest(spark, start, spark.createDataFrame(
            [(int(k), 0) for k in set(wanted.tolist())], KV))
        assert keyed_missing == spark_missing
        return ({r["k"]: r["v"] for r in keyed_frame.collect()}, {r["k"]: r["v"] for r in spark_frame.collect()})

    for hour in range(4):
        keyed_state, spark_state = both(day1.replace(hour=hour))
        assert keyed_state == spark_state and keyed_state
    # The rows reach Spark as files, a new one per lookup; files past their keep time are removed.
    handoff = tmp_path / "lake" / "temp" / "replay" / "handoff" / "kv"
    stale = sorted(handoff.glob("*.parquet"))
    assert len(stale) == 4
    os.utime(stale[0], (time.time() - 2 * HANDOFF_KEEP_SECONDS,) * 2)
    both(day1.replace(hour=1))
    assert not stale[0].exists() and len(list(handoff.glob("*.parquet"))) == 4
    copies = sorted((tmp_path / "lake" / "temp" / "replay" / "keyed").glob("kv-base-*.arrow"))
    assert len(copies) == 1
    ledger.compact_day(spark, day1)
    keyed_state, spark_state = both(_t("2019-11-02T00:00"))
    assert keyed_state == spark_state
    assert sorted((tmp_path / "lake" / "temp" / "replay" / "keyed").glob("kv-base-*.arrow")) == copies
    assert len(list((tmp_path / "lake" / "temp" / "replay" / "keyed").glob("kv-daily-*.arrow"))) == 1

    spark.createDataFrame([(int(k), -1) for k in base_keys], KV).write.mode("overwrite").parquet(lake.processed("kv_base"))
    keyed_state, spark_state = both(day1)
    assert keyed_state == spark_state and set(keyed_state.values()) == {-1}
    assert sorted((tmp_path / "lake" / "temp" / "replay" / "keyed").glob("kv-base-*.arrow")) != copies
    empty, _ = ledger.latest_for_keys(spark, day1, np.array([999_999]))
    assert empty.count() == 0
    # A lake Spark reads but this process cannot (object storage) takes the Spark join instead.
    local_state, _ = ledger.latest_for_keys(spark, day1.replace(hour=3), wanted)
    with pytest.MonkeyPatch.context() as env:
        env.setattr("ecom_assets.replay.models.ledger.is_local", lambda _uri: False)
        remote_state, _ = ledger.latest_for_keys(spark, day1.replace(hour=3), wanted)
    assert sorted(remote_state.collect()) == sorted(local_state.collect())


def test_customer_update_counts_sessions_days_and_new_users(spark: SparkSession) -> None:
    previous = spark.createDataFrame([
        (1, 5, 4, 1, 0, 0.0, 3, 300.0, 2, _t("2019-10-31T23:50"), None, "s9", 2),
    ], CUSTOMER_SCHEMA)
    events = spark.createDataFrame([
        Row(user_id=1, user_session="s9", event_type="view", event_time=_t("2019-11-01T00:05"), price=10.0),
        Row(user_id=1, user_session="s10", event_type="view", event_time=_t("2019-11-01T00:20"), price=50.0),
        Row(user_id=1, user_session="s10", event_type="purchase", event_time=_t("2019-11-01T00:30"), price=50.0),
        Row(user_id=2, user_session="n1", event_type="view", event_time=_t("2019-11-01T00:40"), price=5.0),
    ])
    updated = {r["user_id"]: r for r in update_customers(previous, hour_activity(events)).collect()}
    one = updated[1]
    assert (one["events"], one["views"], one["purchases"], one["revenue"]) == (8, 6, 1, 50.0)
    assert one["sessions"] == 4  # s9 continues from the previous hour; s10 is new
    assert one["session_seconds"] == 300.0 + 0.0 + 600.0
    assert one["active_days"] == 3  # a new calendar day
    assert one["last_purchase"] == _t("2019-11-01T00:30").replace(tzinfo=None) and one["last_session"] == "s10"
    assert one["previous_cluster"] == 2 and not one["is_new"]
    two = updated[2]
    assert two["is_new"] and two["previous_cluster"] is None
    assert (two["events"], two["sessions"], two["active_days"], two["purchases"]) == (1, 1, 1, 0)


def test_nearest_centre_and_the_decayed_update(spark: SparkSession) -> None:
    centres = np.array([[0.0, 0.0], [2.0, 0.0]])
    points = spark.createDataFrame([(1, [0.1, 0.0], 0, False), (2, [1.0, 0.0], 0, False), (3, [2.5, 0.0], 0, False),
                                    (4, [1.9, 0.1], None, True)],
                                   "user_id long, scaled array<double>, previous_cluster int, is_new boolean")
    assigned = nearest_centre(points, centres)
    clusters = {r["user_id"]: r["cluster"] for r in assigned.collect()}
    assert clusters == {1: 0, 2: 0, 3: 1, 4: 1}  # user 2 is equidistant: the smaller id wins
    groups = cluster_groups(assigned, 2)
    change = SegmentChange.from_groups(groups)
    assert change.left == {0: 1} and change.arrived == {1: 1} and change.new == {1: 1}
    sums = sums_by_cluster(groups, 2)
    np.testing.assert_allclose(sums[0][0], [1.1, 0.0])
    np.testing.assert_allclose(sums[1][0], [4.4, 0.1])
    assert (sums[0][1], sums[1][1]) == (2, 2)
    state = Centres(centres, np.array([10.0, 10.0]), np.array([100, 50]))
    after = advance(state, sums, change.net(), decay=0.5)
    np.testing.assert_allclose(after.centres[1], (5 * np.array([2.0, 0.0]) + np.array([4.4, 0.1])) / 7)
    np.testing.assert_allclose(after.weights, [7.0, 7.0])
    assert after.users.tolist() == [99, 52]


def test_online_metrics_on_a_hand_made_case(spark: SparkSession) -> None:
    served = spark.createDataFrame([
        (1, "A", [101, 102, 103, 104, 105, 106, 107, 108, 109, 110]),
        (2, "B", [201, 202, 203, 204, 205, 206, 207, 208, 209, 210]),
        (3, "A", [101, 301, 302, 303, 304, 305, 306, 307, 308, 309]),
    ], "user_id long, segment string, products array<long>")
    events = spark.createDataFrame([
        (1, 103, "view"), (1, 103, "cart"), (1, 999, "view"), (1, 105, "view"),  # two hits, one carted
        (2, 999, "view"),  # active, no hit
        (4, 101, "purchase"),  # never served: not evaluated
    ], "user_id long, product_id long, event_type string")
    rows = {(r["target"], r["segment"]): r for r in online_metrics(served, events)}
    assert rows[("any", "all")]["users"] == 2
    assert rows[("any", "all")]["hit_rate_at_10"] == pytest.approx(0.5)
    assert rows[("any", "all")]["precision_at_10"] == pytest.approx((2 / 10 + 0) / 2)
    assert rows[("any", "A")]["hit_rate_at_10"] == 1.0 and rows[("any", "B")]["hit_rate_at_10"] == 0.0
    assert rows[("cart_purchase", "all")]["users"] == 1
    assert rows[("cart_purchase", "all")]["precision_at_10"] == pytest.approx(0.1)
    shares = coverage(served, catalogue_size=100)
    assert shares["all"] == pytest.approx(29 / 100) and shares["B"] == pytest.approx(10 / 100)


def _points(folder: Path, measurement: str) -> list[tuple[dict[str, str], dict[str, str]]]:
    """(tags, fields) of every line of a measurement written by the file sink."""
    result = []
    for path in sorted(folder.glob(f"{measurement}-*.lp")):
        for line in path.read_text().splitlines():
            head, fields, _ = re.split(r"(?<!\\) ", line)
            tags = dict(part.split("=", 1) for part in head.split(",")[1:])
            result.append((tags, dict(part.split("=", 1) for part in fields.split(","))))
    return result


def test_replay_updates_segments_and_recommendations(replayed: TrainedLake, spark: SparkSession) -> None:
    lake = Lake(str(replayed.root / "lake"))
    planted = replayed.planted
    points = replayed.root / "lake" / "temp" / "influx" / "ecommerce_analytics"

    churn = [float(f["changed_share"]) for tags, f in _points(points, "segment_evolution") if tags["segment"] == "all"]
    assert len(churn) == 5 and max(churn) < 0.15

    october = spark.read.parquet(lake.processed("replay_base_customers")).where(
        f"user_id = {planted.changed_user}").first()
    after = spark.read.parquet(lake.replay_table("customers", "hour=2019-11-01T21")).where(
        f"user_id = {planted.changed_user}").first()
    assert after["purchases"] == 6 and after["cluster"] != october["cluster"]
    profiles = {r["cluster"]: r for r in spark.read.parquet(lake.processed("segment_profiles")).collect()}
    assert profiles[after["cluster"]]["buyer_share"] > profiles[october["cluster"]]["buyer_share"]

    new_user = spark.read.parquet(lake.replay_table("served_recs", "hour=2019-11-01T22")).where(
        f"user_id = {planted.new_user}").first()
    assert new_user is not None and len(set(new_user["products"])) == 10
    new_rows = [f for tags, f in _points(points, "segment_evolution") if tags["segment"] == "all"]
    assert int(new_rows[1]["new_users"].rstrip("i")) >= 1

    # A product first seen in November has no ALS factors; the content table covers it.
    assert spark.read.parquet(lake.processed("content_similarity")).where(
        f"product_id = {planted.new_product}").count() > 0
    # It is among the content candidates of the user who viewed it (whether it makes the top 10 depends
    # on the segment's tuned content weight), together with its own neighbours.
    pairs = spark.read.parquet(lake.replay_table("pairs", "hour=2019-11-01T23")).where(
        f"user_id = {planted.new_user}")
    similarity = spark.read.parquet(lake.processed("content_similarity"))
    candidates = {r["product_id"]: r["content_score"] for r in content_scores(
        recent_products(event_strengths(pairs), 10), similarity).collect()}
    assert candidates[planted.new_product] == 1.0 and len(candidates) > 10
    assert spark.read.parquet(lake.replay_table("customers_daily", "day=2019-11-01")).count() > 0
    # The hours found their users by binary search in sorted copies: of the bases, made by replay_baseline,
    # and of the day's snapshots, made when the day was compacted.
    copies = {path.name.rsplit("-", 1)[0] for path in (replayed.root / "lake" / "temp" / "replay" / "keyed").glob("*.arrow")}
    assert copies == {f"{name}-{kind}" for name in ("customers", "pairs", "served_recs") for kind in ("base", "daily")} | {
        f"{name}-daily" for name in ("new_product_pairs", "user_factors", "new_product_factors")}

    online = [(tags, f) for tags, f in _points(points, "recommendation_metrics") if tags["kind"] == "online"]
    assert any(tags["segment"] == "all" and tags["target"] == "any" for tags, _ in online)
    offline = {(tags["recommender"], tags["target"]) for tags, _ in _points(points, "recommendation_metrics")
               if tags["kind"] == "offline"}
    assert ("hybrid", "cart_or_purchase") in offline


def test_a_new_product_gets_als_factors_from_its_users_and_reaches_them(replayed: TrainedLake,
                                                                        spark: SparkSession) -> None:
    """The planted product first seen at 23:xx, viewed by three users with factors, is folded in after that
    hour from their factors (the system solved with numpy gives the stored factors); from the next hour on
    the blend scores it with ALS for a user who viewed it."""
    from ecom_assets.recommendation.fold_in import solve_users
    from ecom_assets.recommendation.serving.pair_blend import serve_from_pairs
    from ecom_assets.replay.models.batch_models import recs_models
    from ecom_assets.replay.models.new_products import new_products_before
    from ecom_assets.replay.models.state import Ledgers
    from ecom_assets.resources import LakeResource

    lake = Lake(str(replayed.root / "lake"))
    planted = replayed.planted
    part = lambda table, hour: spark.read.parquet(lake.replay_table(table, f"hour={hour}"))
    assert part("new_product_factors", "2019-11-01T22").where(f"product_id = {planted.new_product}").count() == 0
    solved = part("new_product_factors", "2019-11-01T23").where(f"product_id = {planted.new_product}").first()
    assert solved is not None and solved["users"] == 3
    users = [planted.new_user, planted.changed_user, planted.browser]
    factors = {r["user_id"]: np.array(r["features"], dtype=np.float64)
               for r in part("user_factors", "2019-11-01T23").where(f"user_id in ({','.join(map(str, users))})").collect()}
    assert set(factors) == set(users)
    models = recs_models(spark, LakeResource(data_dir=str(replayed.root / "input"), root=lake.root))
    strengths = np.array([3.0, 1.0, 1.0])  # three views by the new user, one by each browser
    expected = solve_users(np.zeros(3, dtype=np.int64), np.stack([factors[u] for u in users]), strengths, 1,
                           models.user_gramian, models.params.alpha, models.params.reg_param)[0]
    assert np.allclose(np.array(solved["features"]), expected, atol=1e-5)

    # Served by the October model, the next hour's blend would know it: an ALS score for the user who viewed it
    # (a list long enough to hold every candidate, since whether it makes the top 10 depends on the weights).
    ledgers = Ledgers.of(lake)
    midnight = _t("2019-11-02T00:00")
    known = new_products_before(spark, ledgers.item_factors, midnight, models.version)
    assert models.version == "batch"
    assert planted.new_product in set(known.product_ids.tolist()) and known.factors.shape[1] == models.params.rank
    pairs, _ = ledgers.pairs.latest_for_keys(spark, midnight, np.array([planted.new_user]))
    user = spark.createDataFrame([(planted.new_user, None)], "user_id long, segment string")

    def als_of_new_product(new_products) -> float:
        row = serve_from_pairs(user, pairs, models.params, models.shipped_blend, k=1000,
                               new_products=new_products).first()
        return row["als"][list(row["products"]).index(planted.new_product)]

    assert als_of_new_product(None) == 0.0
    assert als_of_new_product(known) != 0.0
    # The replay's midnight used the day's re-fit instead (ECOM_REPLAY_REFIT_LAG_DAYS=1 in the tests), which
    # learned the product itself: the factors folded in against the October model are not used with it.
    assert new_products_before(spark, ledgers.item_factors, midnight, "refit=2019-11-01").product_ids.size == 0


def test_the_day_s_re_fit_keeps_segment_ids_and_serves_the_next_day(replayed: TrainedLake,
                                                                    spark: SparkSession) -> None:
    """After the replayed day, its re-fit is written: K-means centres matched to those in force (ids kept,
    near them), an ALS model that knows November's products; the next day's first hour starts from its
    centres and is served by its model."""
    from ecom_assets.replay.orchestration.refit_schedule import RefitPaths
    from ecom_assets.replay.models.segments import CENTRE_SCHEMA

    lake = Lake(str(replayed.root / "lake"))
    paths = RefitPaths.of(lake, dt.date(2019, 11, 1))
    assert paths.ready(spark)
    read = lambda path: {r["cluster"]: np.array(r["centre"]) for r in spark.read.schema(CENTRE_SCHEMA).parquet(path).collect()}
    refitted, in_force = read(paths.centres), read(lake.replay_table("segment_centres", "hour=2019-11-01T23"))
    assert refitted.keys() == in_force.keys()
    # The ids were given by the Hungarian method: no other pairing of the centres is closer in total.
    ids = sorted(refitted)
    total = lambda pairing: sum(float(np.linalg.norm(refitted[a] - in_force[b])) for a, b in zip(ids, pairing))
    assert all(total(ids) <= total(other) + 1e-9 for other in itertools.permutations(ids))
    products = {r["product_id"] for r in spark.read.parquet(paths.product_index).collect()}
    assert replayed.planted.new_product in products
    assert replayed.planted.new_product not in {r["product_id"] for r in spark.read.parquet(
        lake.processed("als_product_index")).collect()}
    served = spark.read.parquet(lake.replay_table("served_recs", "hour=2019-11-02T00"))
    assert served.count() > 0


def test_rerunning_an_hour_gives_the_same_state(replayed: TrainedLake, spark: SparkSession,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    replay_env(monkeypatch, replayed)
    lake = Lake(str(replayed.root / "lake"))
    points = replayed.root / "lake" / "temp" / "influx" / "ecommerce_analytics"
    part = lake.replay_table("served_recs", "hour=2019-11-02T00")
    before = sorted(map(tuple, spark.read.parquet(part).collect()))
    lines = (points / "segment_evolution-hour_2019-11-02T00.lp").read_text()
    again = run_replay(1, "2019-11-02-00:00", interval_s=0, log=lambda _: None)
    assert again.success, again.error
    assert sorted(map(tuple, spark.read.parquet(part).collect())) == before
    assert (points / "segment_evolution-hour_2019-11-02T00.lp").read_text() == lines


def test_a_lake_without_the_batch_graph_gets_a_clear_error(tmp_path: Path) -> None:
    import dagster as dg

    from ecom_assets.replay.models.assets import _require_batch_outputs
    from ecom_assets.resources import LakeResource

    with pytest.raises(dg.Failure, match="materialize als_model, content_similarity, hybrid_recs, kmeans_model, "
                                         "recs_evaluation, replay_baseline first"):
        _require_batch_outputs(LakeResource(data_dir=str(tmp_path / "input"), root=str(tmp_path / "lake")))


def test_live_blend_matches_the_batch_hybrid(replayed: TrainedLake, spark: SparkSession) -> None:
    """The replay's one-pass blend serves the same top-10s, with the same scores, as the batch hybrid
    given the same folded-in factors, recent products and purchases; the fold-in by product id (from
    the saved pack) gives the factors of the fold-in by the model's own index."""
    from pyspark.ml.recommendation import ALSModel
    from pyspark.sql import functions as F

    from ecom_assets.recommendation.als import Indexers
    from ecom_assets.recommendation.fold_in import fold_in_users
    from ecom_assets.recommendation.hybrid import (
        HybridInputs,
        candidates,
        category_affinity,
        product_categories,
        weights_frame,
    )
    from ecom_assets.recommendation.serving.pair_blend import serve_from_pairs
    from ecom_assets.recommendation.serving.user_blend import recommend_per_user
    from ecom_assets.recommendation.stored import ALS_INDEXERS, ALS_MODEL, read_hybrid_weights
    from ecom_assets.replay.models.batch_models import recs_models
    from ecom_assets.replay.models.recommendations import fold_in_active, pair_strengths
    from ecom_assets.resources import LakeResource
    from ecom_assets_tests.blend_reference import joined_blend

    lake = LakeResource(data_dir=str(replayed.root / "input"), root=str(replayed.root / "lake"))
    models = recs_models(spark, lake)
    assert (replayed.root / "lake" / "temp" / "replay" / "recs_models-batch.pkl").is_file()
    # The Python workers read the blend's constants from the pack, not from the UDFs' closures.
    assert models.shipped_blend.path is not None and models.shipped_blend.value is None
    pairs = spark.read.parquet(lake.lake.replay_table("pairs", "hour=2019-11-01T23"))
    users = spark.read.parquet(lake.lake.replay_table("served_recs", "hour=2019-11-01T23")).select("user_id", "segment")
    # One user the model knows nothing of (no factors, no segment): popularity alone, under "Unknown".
    users = users.unionByName(spark.createDataFrame([(-7, None)], "user_id long, segment string"))
    strengths = event_strengths(pairs).cache()
    recent = recent_products(strengths, models.sizes.recent)
    factors = fold_in_active(pairs, models.params, models.shipped_blend).cache()
    purchased = strengths.where("purchased").select("user_id", "product_id")

    als, indexers = ALSModel.load(lake.lake.model(ALS_MODEL)), Indexers.load(lake.lake.model(ALS_INDEXERS))
    positive = pair_strengths(pairs, models.params.event_weights()).where(F.col("strength") > 0)
    by_index = fold_in_users(indexers.products.transform(positive), als.itemFactors, als.rank, models.params.alpha,
                             models.params.reg_param)
    reference = {r["user_id"]: np.array(r["features"]) for r in by_index.collect()}
    folded = {r["user_id"]: np.array(r["features"]) for r in factors.collect()}
    assert folded.keys() == reference.keys() and all(np.allclose(folded[u], reference[u], atol=1e-5) for u in folded)

    weights, fallback = read_hybrid_weights(spark, lake)
    categories = product_categories(lake.read_processed(spark, "product_attributes"))
    inputs = HybridInputs(model=als, indexers=indexers, catalogue=lake.read_processed(spark, "als_product_index"),
                          segments=users, popularity=lake.read_processed(spark, "segment_popularity"),
                          content=content_scores(recent, lake.read_processed(spark, "content_similarity")),
                          purchased=purchased, sizes=models.sizes, categories=categories,
                          affinity=category_affinity(strengths, categories), user_factors=factors)
    batch = joined_blend(inputs, candidates(inputs, users), weights_frame(spark, weights), fallback)
    # The replay's form: the workers expand the recent products through the shipped similarity table.
    live = recommend_per_user(users, factors, None, purchased, models.shipped_blend, recent=recent,
                              affinity=category_affinity(strengths, categories))

    def lists(frame) -> dict[int, list[tuple[int, float]]]:
        rows = frame.select("user_id", "rank", "product_id", "hybrid_score").orderBy("user_id", "rank").collect()
        result: dict[int, list[tuple[int, float]]] = {}
        for r in rows:
            result.setdefault(r["user_id"], []).append((r["product_id"], r["hybrid_score"]))
        return result

    expected, got = lists(batch), lists(live)
    assert len(expected) >= 10 and set(got) == set(expected)
    assert len(got[-7]) == 10 and live.where(F.col("user_id") == -7).first()["segment"] == "Unknown"
    for user, ranked in expected.items():
        assert [p for p, _ in got[user]] == [p for p, _ in ranked], user
        assert np.allclose([s for _, s in got[user]], [s for _, s in ranked], atol=1e-6), user
    expected_lists = {user: [p for p, _ in ranked] for user, ranked in got.items()}
    # The hour's one pass from the pairs (fold-in, recent products, purchases and blend on the workers)
    # serves the same lists and says whose factors were folded in.
    from_pairs = serve_from_pairs(users, pairs, models.params, models.shipped_blend).collect()
    assert {r["user_id"]: list(r["products"]) for r in from_pairs} == expected_lists
    assert {r["user_id"] for r in from_pairs if r["folded"]} == folded.keys()
    assert next(r for r in from_pairs if r["user_id"] == -7)["segment"] == "Unknown"


def test_batch_models_are_loaded_once_until_their_folder_changes(spark: SparkSession, tmp_path: Path) -> None:
    from ecom_assets.replay.models.batch_models import cached

    folder = tmp_path / "model"
    folder.mkdir()
    loads: list[int] = []
    load = lambda: loads.append(1) or len(loads)
    assert cached("probe", spark, [str(folder)], load) == 1
    assert cached("probe", spark, [str(folder)], load) == 1
    (folder / "_SUCCESS").write_text("")
    assert cached("probe", spark, [str(folder)], load) == 2
    assert cached("probe", spark, ["s3a://bucket/model"], load) == 3


def test_segment_constants_scale_and_assign_as_the_saved_pipeline(replayed: TrainedLake, spark: SparkSession) -> None:
    """The hours scale features with the saved pipeline's constants instead of running the pipeline:
    the same scaled values and the same clusters as ``transform`` on every October customer; the pack
    saved for the daemon's processes holds the same constants."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    from ecom_assets.replay.models.batch_models import segmentation
    from ecom_assets.replay.models.segments import SegmentModel
    from ecom_assets.segmentation.assets import MODEL_NAME
    from ecom_assets.segmentation.assignment import load_segmentation

    lake = Lake(str(replayed.root / "lake"))
    pipeline, names = load_segmentation(spark, lake.model(MODEL_NAME), lake.processed("segment_profiles"))
    constants = SegmentModel.of(pipeline, names)
    rfm = spark.read.parquet(lake.processed("rfm_table"))
    expected = pipeline.transform(rfm).select("user_id", vector_to_array("features", "float64").alias("expected"),
                                              F.col("cluster").alias("expected_cluster"))
    ours = nearest_centre(constants.scaled(rfm), constants.centres).select("user_id", "scaled", "cluster")
    rows = ours.join(expected, "user_id").collect()
    assert len(rows) == rfm.count() > 100
    assert all(r["scaled"] == r["expected"] for r in rows)  # bit for bit
    assert all(r["cluster"] == r["expected_cluster"] for r in rows)

    saved = segmentation(spark, lake)
    assert (replayed.root / "lake" / "temp" / "replay" / "segmentation.pkl").is_file()
    assert np.array_equal(saved.centres, constants.centres) and saved.names == names
