"""The pair blend's worker-side pieces on hand-made arrays: recent products, strengths, Arrow blocks."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from ecom_assets.recommendation.serving.pair_blend import _PairBlock, latest_products, strengths

NO_TIME = np.iinfo(np.int64).min


def test_latest_products_orders_by_time_then_strength_then_product() -> None:
    user = np.array([0, 0, 0, 0, 1, 1, 1])
    product = np.array([10, 11, 12, 13, 20, 21, 22])
    last_seen = np.array([5, 9, 9, 9, NO_TIME, 3, 3])
    strength = np.array([1.0, 1.0, 4.0, 1.0, 8.0, 1.0, 1.0])
    got_user, got_product = latest_products(user, product, last_seen, strength, 2)
    # User 0: the three seen at 9, the stronger first, then the smaller id; user 1: no time comes last.
    assert list(zip(got_user, got_product)) == [(0, 12), (0, 11), (1, 21), (1, 22)]
    assert latest_products(user, product, last_seen, strength, 0)[0].size == 0


def test_strengths_weigh_each_event_type() -> None:
    got = strengths(np.array([2.0, 0.0]), np.array([1.0, 0.0]), np.array([0.0, 1.0]),
                    {"view": 1.0, "cart": 4.0, "purchase": 8.0})
    assert got.tolist() == [6.0, 8.0]


def test_pair_block_reads_a_sliced_batch_in_user_then_product_order() -> None:
    seen = dt.datetime(2019, 11, 1, 10, tzinfo=dt.timezone.utc)
    pair = lambda product, views, when: {"product_id": product, "views": views, "carts": 0, "purchases": 0,
                                         "last_seen": when}
    batch = pa.RecordBatch.from_pylist([
        {"user_id": 1, "segment": "A", "pairs": [pair(5, 1, seen)]},
        {"user_id": 2, "segment": None, "pairs": [pair(9, 2, seen), pair(3, 1, None)]},
        {"user_id": 3, "segment": "B", "pairs": []},
    ])
    block = _PairBlock(batch.slice(1, 2))
    assert block.users == 2 and block.user_ids.tolist() == [2, 3]
    assert block.segments.tolist() == ["Unknown", "B"]
    assert block.owner.tolist() == [0, 0] and block.product.tolist() == [3, 9]
    assert block.views.tolist() == [1.0, 2.0]
    assert block.last_seen.tolist() == [NO_TIME, int(seen.timestamp() * 1_000_000)]
