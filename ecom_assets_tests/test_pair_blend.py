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


def test_new_products_extend_the_blend_tables_and_leave_the_model_s_alone() -> None:
    """Factors folded in for new products become new rows (matrix, gramian, ids after the model's) and
    catalogue keys with no popularity; every known product keeps its row and popularity; a product the
    model already has factors for keeps the model's."""
    from ecom_assets.recommendation.als import ItemFactors
    from ecom_assets.recommendation.hybrid_definition import CandidateSizes, Weights
    from ecom_assets.recommendation.serving.pair_blend import NewProductFactors, tables_with
    from ecom_assets.recommendation.serving.user_blend import BlendTables
    from ecom_assets.speedups.sorted_lookup import SortedMap

    matrix = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    items = ItemFactors(np.array([3, 7]), matrix, matrix.T.astype(np.float64) @ matrix)
    # Products 10 and 30 have factors (rows 0, 1); 20 is only popular; 40 is unknown.
    tables = BlendTables(items, np.array([10, 30]), SortedMap(np.array([10, 20, 30]), np.array([0, -1, 1])),
                         {"A": np.array([0.5, 0.9, 0.1])}, {"A": np.array([20, 10])}, {}, Weights(1, 0, 0),
                         CandidateSizes())
    new = np.array([[2.0, 2.0], [9.0, 9.0], [0.0, 3.0]], dtype=np.float32)
    extended = tables.with_new_products(np.array([40, 10, 20]), new)
    assert extended.row_of_product.keys.tolist() == [10, 20, 30, 40]
    assert extended.row_of_product.get(np.array([10, 20, 30, 40]), -1).tolist() == [0, 3, 1, 2]
    assert extended.product_of_row.tolist() == [10, 30, 40, 20]
    assert extended.items.ids.tolist() == [3, 7, 8, 9]
    assert np.array_equal(extended.items.matrix, np.vstack([matrix, new[[0, 2]]]))
    wide = extended.items.matrix.astype(np.float64)
    assert np.allclose(extended.items.gramian, wide.T @ wide)
    assert extended.popularity["A"].tolist() == [0.5, 0.9, 0.1, 0.0]
    assert tables.row_of_product.keys.tolist() == [10, 20, 30]  # the model's tables are not modified
    assert tables.with_new_products(np.array([10]), new[:1]) is tables

    # Each worker builds the extended tables once per set of new products.
    shipped = NewProductFactors("hour=2019-11-02T00:x", np.array([40]), new[:1])
    assert tables_with(tables, shipped) is tables_with(tables, shipped)
    assert tables_with(tables, None) is tables
