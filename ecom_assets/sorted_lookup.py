"""Lookups in sorted numpy arrays, shared by the driver-side tables (item factors, keyed copies, the
content neighbours) and the blend's workers."""

from __future__ import annotations

import numpy as np


def positions_in(sorted_values: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each of ``values`` sits in ``sorted_values`` (unique, ascending) and whether it is there."""
    position = np.searchsorted(sorted_values, values)
    found = position < len(sorted_values)
    found[found] = sorted_values[position[found]] == values[found]
    return position, found


def run_indices(first: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The indices of every run ``first[i] .. first[i] + counts[i] - 1``, run after run, without a
    Python loop."""
    return np.repeat(first - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
