"""The live blend's exact ALS top-N: the same items as scoring every item, for a fraction of the scores."""

from __future__ import annotations

import numpy as np

from ecom_assets.speedups.exact_top import NormOrder, best_items, best_per_row, searchable


def _factors(n_items: int, rank: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Item factors shaped like implicit ALS's: norms that fall with a power law of popularity."""
    rng = np.random.default_rng(seed)
    directions = rng.normal(size=(n_items, rank))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    norms = (1.0 + rng.permutation(n_items)) ** -0.6
    users = rng.normal(size=(300, rank)) * 0.5 + directions[rng.integers(0, 50, 300)] * 2.0
    return directions * norms[:, None], users


def test_best_items_equal_scoring_every_item_and_score_far_fewer() -> None:
    matrix, users = _factors(20_000, 12, seed=3)
    ids = np.arange(20_000, dtype=np.int64) * 7 + 5
    expected = best_per_row(users @ matrix.T, ids, 30)
    got, computed = best_items(users, NormOrder.of(matrix, ids), 30)
    assert np.array_equal(got, expected)
    assert computed < 0.5 * users.shape[0] * matrix.shape[0]  # most users settled by the head


def test_ties_and_small_catalogues_follow_the_plain_order() -> None:
    """Equal scores are ordered by the smaller id even across the head's edge; a head longer than the
    catalogue, n above the catalogue and users without scores all work."""
    rng = np.random.default_rng(0)
    # Small integers: every dot product is exact, so tied scores are equal whatever the matrix shapes.
    matrix = np.repeat(rng.integers(-3, 4, size=(50, 4)), 40, axis=0).astype(np.float64)  # ties everywhere
    ids = rng.permutation(2000).astype(np.int64)
    users = rng.integers(-3, 4, size=(64, 4)).astype(np.float64)
    order = NormOrder.of(matrix, ids)
    for head in (1, 7, 64, 5000):
        got, _ = best_items(users, order, 25, first_head=head)
        assert np.array_equal(got, best_per_row(users @ matrix.T, ids, 25)), head
    small = matrix[:5]
    got, computed = best_items(users, NormOrder.of(small, ids[:5]), 30)
    assert got.shape == (64, 5) and computed == 64 * 5
    assert np.array_equal(got, best_per_row(users @ small.T, ids[:5], 30))
    none, computed = best_items(np.zeros((0, 4)), order, 10)
    assert none.shape == (0, 10) and computed == 0


def test_searchable_is_computed_once_per_matrix_object() -> None:
    rng = np.random.default_rng(11)
    matrix = rng.normal(size=(50, 4)).astype(np.float32)
    ids = np.arange(50, dtype=np.int64) * 3
    wide, order = searchable(matrix, ids)
    assert wide.dtype == np.float64 and np.array_equal(wide, matrix)
    assert np.array_equal(order.rows, NormOrder.of(wide, ids).rows)
    again = searchable(matrix, ids)
    assert again[0] is wide and again[1] is order
    other = matrix.copy()
    assert searchable(other, ids)[0] is not wide
