"""Segment centres that follow the replay without losing their identity.

The decayed mini-batch rule of streaming K-means (Spark MLlib's ``StreamingKMeans``): with ``n`` the
points a centre has absorbed, ``a`` the decay and a batch of ``m`` points of mean ``x`` assigned to it,
``c' = (a n c + m x) / (a n + m)`` and ``n' = a n + m``. A centre is only ever moved by its own points,
so it keeps its id and name from batch to batch; after a full re-fit (which may renumber clusters)
:func:`match_centres` maps the new centres onto the old ones by the Hungarian method on distance.
"""

from __future__ import annotations

import numpy as np

# Half of a centre's memory fades in a day of hourly batches.
HOURLY_DECAY = 0.5 ** (1 / 24)


def update_centres(centres: np.ndarray, counts: np.ndarray, batch_sums: np.ndarray, batch_counts: np.ndarray,
                   decay: float = HOURLY_DECAY) -> tuple[np.ndarray, np.ndarray]:
    """New (centres, counts) after one batch: ``batch_sums[k]`` is the sum of the points assigned to k."""
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"decay must be in [0, 1], got {decay}")
    kept = decay * counts
    total = kept + batch_counts
    moved = np.where(total[:, None] > 0, (kept[:, None] * centres + batch_sums) / np.maximum(total, 1e-12)[:, None],
                     centres)
    return moved, total


def match_centres(previous: np.ndarray, new: np.ndarray) -> np.ndarray:
    """``order`` such that ``new[order[i]]`` is the centre that takes over ``previous[i]`` (min total distance)."""
    from scipy.optimize import linear_sum_assignment

    if previous.shape != new.shape:
        raise ValueError(f"cannot match {previous.shape[0]} centres with {new.shape[0]}: the number of segments changed")
    distance = np.linalg.norm(previous[:, None, :] - new[None, :, :], axis=2)
    rows, cols = linear_sum_assignment(distance)
    order = np.empty(len(rows), dtype=int)
    order[rows] = cols
    return order
