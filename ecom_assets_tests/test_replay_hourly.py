"""The replayed hour's small Spark functions on hand-made rows: the trend state and the top-level categories."""

from __future__ import annotations

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import types as T

from ecom_assets.replay.behaviour.metrics import TREND_DECAY, TREND_STATE_FLOOR, next_trend_state, top_categories

STATE = T.StructType([T.StructField("product_id", T.LongType()), T.StructField("baseline", T.DoubleType())])
SCORES = T.StructType([T.StructField("product_id", T.LongType()), T.StructField("score", T.DoubleType())])
EVENTS = T.StructType([T.StructField("event_type", T.StringType()), T.StructField("category_code", T.StringType())])


def test_next_trend_state_decays_adds_and_drops_tiny_baselines(spark: SparkSession) -> None:
    """baseline' = decay * baseline + (1 - decay) * score for products in either table; below the floor
    a product leaves the state."""
    previous = spark.createDataFrame([(1, 10.0), (2, 3.0), (3, TREND_STATE_FLOOR)], STATE)
    scores = spark.createDataFrame([(2, 5.0), (4, 8.0)], SCORES)
    state = {r["product_id"]: r["baseline"] for r in next_trend_state(previous, scores).collect()}
    assert state == {
        1: TREND_DECAY * 10.0,
        2: TREND_DECAY * 3.0 + (1 - TREND_DECAY) * 5.0,
        4: (1 - TREND_DECAY) * 8.0,
    }  # product 3 decayed below the floor
    assert next_trend_state(previous.limit(0), scores.limit(0)).count() == 0


def test_top_categories_use_the_first_level_of_the_code(spark: SparkSession) -> None:
    """``electronics.audio.headphone`` counts for ``electronics``; a missing code is ``unknown``."""
    events = spark.createDataFrame([
        ("view", "electronics.audio.headphone"), ("cart", "electronics.smartphone"), ("view", "apparel"),
        ("purchase", None), ("view", None)], EVENTS)
    rows = {r["category"]: (r["views"], r["carts"], r["purchases"], r["score"])
            for r in top_categories(events).collect()}
    assert rows == {"electronics": (1, 1, 0, pytest.approx(5.0)), "apparel": (1, 0, 0, pytest.approx(1.0)),
                    "unknown": (1, 0, 1, pytest.approx(9.0))}
