"""The sorted-array lookups the blend, the fold-in and the keyed ledgers share, against plain Python."""

from __future__ import annotations

import numpy as np

from ecom_assets.speedups.sorted_lookup import (
    SortedMap,
    index_in,
    order_within_runs,
    places_in_runs,
    positions_in,
    read_at,
    run_indices,
    run_numbers,
    run_starts,
    sorted_unique,
)


def test_sorted_unique_equals_numpy_unique_on_keys_with_repeats() -> None:
    rng = np.random.default_rng(5)
    for size in (0, 1, 7, 5_000):
        values = rng.integers(-50, 2_000, size=size)
        assert np.array_equal(sorted_unique(values), np.unique(values))


def test_sorted_map_finds_every_present_key_and_gives_the_default_otherwise() -> None:
    rng = np.random.default_rng(6)
    keys = rng.choice(10**9, size=1_000, replace=False)
    values = rng.random(1_000)
    table = SortedMap.of(keys, values)
    asked = np.concatenate([keys[::3], rng.integers(0, 10**9, size=200), np.array([-1, 10**12])])
    expected = dict(zip(keys.tolist(), values.tolist()))
    assert table.get(asked, 0.0).tolist() == [expected.get(k, 0.0) for k in asked.tolist()]
    rows = SortedMap.of(np.array([30, 10, 20]), np.array([2, 0, 1]))
    assert rows.get(np.array([20, 25, 30, 10]), -1).tolist() == [1, -1, 2, 0]
    assert rows.get(np.array([], dtype=np.int64), -1).dtype == rows.values.dtype


def test_positions_and_runs() -> None:
    assert run_starts(np.array([3, 3, 5, 7, 7, 7])).tolist() == [0, 2, 3]
    assert run_starts(np.array([], dtype=np.int64)).tolist() == []
    assert run_numbers(np.array([3, 3, 5, 7, 7, 7])).tolist() == [0, 0, 1, 2, 2, 2]
    assert run_numbers(np.array([], dtype=np.int64)).tolist() == []
    assert places_in_runs(np.array([3, 3, 5, 7, 7, 7])).tolist() == [0, 1, 0, 0, 1, 2]
    assert places_in_runs(np.array([], dtype=np.int64)).tolist() == []
    position, found = positions_in(np.array([2, 5, 9]), np.array([5, 1, 9, 10]))
    assert found.tolist() == [True, False, True, False]
    assert position[found].tolist() == [1, 2]
    assert index_in(np.array([2, 5, 9]), np.array([5, 1, 9, 10])).tolist() == [1, -1, 2, -1]
    assert run_indices(np.array([4, 0, 9]), np.array([2, 0, 3])).tolist() == [4, 5, 9, 10, 11]


def test_entries_read_any_array_aligned_with_the_keys() -> None:
    table = SortedMap.of(np.array([30, 10, 20]), np.array([2, 0, 1]))
    entries = table.entries(np.array([20, 99, 10]))
    assert entries.tolist() == [1, -1, 0]
    aligned = np.array([1.5, 2.5, 3.5])  # one value per key, in key order (10, 20, 30)
    assert read_at(aligned, entries, 0.0).tolist() == [2.5, 0.0, 1.5]


def test_order_within_runs_equals_a_stable_lexsort_with_many_ties() -> None:
    rng = np.random.default_rng(4)
    runs = np.sort(rng.integers(0, 40, 4_000))
    values = rng.integers(0, 6, 4_000) / 4.0  # many equal values inside and across runs
    values[::7], values[3::11] = 0.0, -0.0  # equal to each other
    assert order_within_runs(runs, values).tolist() == np.lexsort((-values, runs)).tolist()
    assert order_within_runs(np.empty(0, dtype=np.int64), np.empty(0)).tolist() == []
