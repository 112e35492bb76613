"""Lookups in sorted numpy arrays, shared by the driver-side tables (item factors, keyed copies, the
content neighbours) and the blend's workers.

Speed machinery: where numpy has an equivalent (``np.unique``, ``np.lexsort``), a helper is kept only
while ``bench/sorted_lookup_vs_numpy.py`` measures it faster on a sale hour's keys (numpy 2.4's
hash-based ``np.unique`` is ~40x slower than :func:`sorted_unique` there; ``order_within_runs`` takes
about a third of ``np.lexsort``'s time). A former ``unique_codes`` lost to
``np.unique(return_inverse=True)`` and was removed. The other helpers have no numpy equivalent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def positions_in(sorted_values: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each of ``values`` sits in ``sorted_values`` (unique, ascending) and whether it is there."""
    position = np.searchsorted(sorted_values, values)
    found = position < len(sorted_values)
    found[found] = sorted_values[position[found]] == values[found]
    return position, found


def index_in(sorted_values: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The position of each of ``values`` in ``sorted_values`` (unique, ascending), -1 where it is absent."""
    position, found = positions_in(sorted_values, values)
    return np.where(found, position, -1)


def run_indices(first: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The indices of every run ``first[i] .. first[i] + counts[i] - 1``, run after run, without a
    Python loop."""
    return np.repeat(first - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())


def run_starts(ordered: np.ndarray) -> np.ndarray:
    """Where each run of equal values of the sorted array ``ordered`` begins."""
    if not len(ordered):
        return np.empty(0, dtype=np.int64)
    return np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))


def run_numbers(ordered: np.ndarray) -> np.ndarray:
    """The number of the run of equal values (0, 1, ...) each element of the sorted array ``ordered`` is in."""
    if not len(ordered):
        return np.empty(0, dtype=np.int64)
    return np.cumsum(np.concatenate(([False], ordered[1:] != ordered[:-1])))


def places_in_runs(ordered: np.ndarray) -> np.ndarray:
    """Each element's place (0, 1, ...) within its run of equal values of the sorted array ``ordered``."""
    return np.arange(len(ordered)) - run_starts(ordered)[run_numbers(ordered)]


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """The distinct ``values``, ascending: ``np.unique`` by a sort, which for the blend's integer keys is
    an order of magnitude faster than numpy 2's hash-based ``np.unique``."""
    ordered = np.sort(values)
    return ordered[run_starts(ordered)]


def order_within_runs(runs: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The positions of ``values`` ordered by ``runs`` (non-negative integers, ascending), then by
    ``values`` descending, then by position: ``np.lexsort((-values, runs))`` (a stable sort), from two
    unstable argsorts, several times faster. ``values`` must not be NaN."""
    if not len(values):
        return np.empty(0, dtype=np.int64)
    by_value = np.argsort(-values)
    ordered = -values[by_value]
    dense = np.empty(len(values), dtype=np.int64)  # each value's rank, from the largest; equal values share it
    dense[by_value] = np.cumsum(np.concatenate(([False], ordered[1:] != ordered[:-1])))
    n = len(values)
    return np.argsort((runs.astype(np.int64) * n + dense) * n + np.arange(n))  # unique keys: any sort is stable


@dataclass(frozen=True)
class SortedMap:
    """A map from integer keys (``keys``, unique, ascending) to ``values``, looked up for arrays of keys
    at once (a binary search: no hash table to build in each worker, unlike a pandas index)."""

    keys: np.ndarray
    values: np.ndarray

    @staticmethod
    def of(keys: np.ndarray, values: np.ndarray) -> SortedMap:
        """The map of unique ``keys`` to ``values``, in any order."""
        order = np.argsort(keys, kind="stable")
        return SortedMap(np.asarray(keys, dtype=np.int64)[order], np.asarray(values)[order])

    def entries(self, keys: np.ndarray) -> np.ndarray:
        """The position of each of ``keys`` in the map (-1 for a key it does not have), to read this map's
        values or any array aligned with its keys (:func:`read_at`)."""
        return index_in(self.keys, np.asarray(keys, dtype=np.int64))

    def get(self, keys: np.ndarray, default: float | int) -> np.ndarray:
        """The value of each of ``keys``, ``default`` for a key the map does not have."""
        return read_at(self.values, self.entries(keys), default)


def read_at(values: np.ndarray, entries: np.ndarray, default: float | int) -> np.ndarray:
    """``values[entries]``, with ``default`` where an entry is -1 (not found)."""
    out = np.full(len(entries), default, dtype=values.dtype)
    found = entries >= 0
    out[found] = values[entries[found]]
    return out
