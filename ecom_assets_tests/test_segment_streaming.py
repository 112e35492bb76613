"""Streaming K-means updates and centre matching on hand-made numbers."""

from __future__ import annotations

import numpy as np
import pytest

from ecom_assets.segmentation.streaming import match_centres, update_centres


def test_decayed_update_matches_the_formula() -> None:
    centres = np.array([[0.0, 0.0], [10.0, 10.0]])
    counts = np.array([100.0, 50.0])
    sums = np.array([[20.0, 0.0], [0.0, 0.0]])  # 10 points of mean (2, 0) for centre 0, none for centre 1
    new, total = update_centres(centres, counts, sums, np.array([10.0, 0.0]), decay=0.5)
    assert total.tolist() == [60.0, 25.0]
    assert new[0] == pytest.approx([20.0 / 60.0, 0.0])  # (0.5*100*0 + 20) / (50 + 10)
    assert new[1].tolist() == [10.0, 10.0]  # no points: the centre stays, its weight fades
    no_memory, _ = update_centres(centres, counts, sums, np.array([10.0, 0.0]), decay=0.0)
    assert no_memory[0] == pytest.approx([2.0, 0.0])
    with pytest.raises(ValueError, match="decay"):
        update_centres(centres, counts, sums, np.array([10.0, 0.0]), decay=1.5)


def test_matching_recovers_a_renumbering() -> None:
    rng = np.random.default_rng(0)
    previous = rng.normal(size=(5, 4)) * 10
    permutation = np.array([3, 0, 4, 1, 2])
    refit = previous[permutation] + rng.normal(scale=0.1, size=(5, 4))
    order = match_centres(previous, refit)
    assert np.allclose(refit[order], previous, atol=0.5)
    with pytest.raises(ValueError, match="number of segments changed"):
        match_centres(previous, refit[:4])
