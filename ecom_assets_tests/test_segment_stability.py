"""The two segment-stability shares of `segment_evolution` on a hand-made hour (no Spark)."""

from __future__ import annotations

import numpy as np
import pytest

from ecom_assets.replay.models.segments import Centres, SegmentChange, evolution_rows


def _group(cluster: int, previous: int | None, is_new: bool, n: int) -> dict:
    """One row of ``cluster_groups``: n users now in ``cluster``, before in ``previous``."""
    moved = previous is not None and previous != cluster
    return {"cluster": cluster, "previous_cluster": previous, "is_new": is_new, "n": n, "moved": int(moved)}


def test_changed_share_counts_all_assigned_users_and_the_active_share_the_returning_ones() -> None:
    # 1,000 users assigned before the hour; 50 active: 10 new, 40 returning of whom 6 moved (4 from 0 to 1,
    # 2 from 1 to 0).
    groups = [_group(0, 0, False, 20), _group(1, 1, False, 14), _group(1, 0, False, 4), _group(0, 1, False, 2),
              _group(0, None, True, 7), _group(1, None, True, 3)]
    change = SegmentChange.from_groups(groups)
    before = Centres(np.zeros((2, 1)), np.ones(2), np.array([600, 400]))
    after = Centres(np.zeros((2, 1)), np.ones(2), before.users + np.array([change.net().get(k, 0) for k in (0, 1)]))
    rows = {row["segment"]: row for row in evolution_rows(before, after, change, {0: "A", 1: "B"})}
    overall = rows["all"]
    assert overall["changed_users"] == 6 and overall["new_users"] == 10 and overall["active_users"] == 50
    assert overall["changed_share"] == pytest.approx(6 / 1000)  # what the specification bounds
    assert overall["active_changed_share"] == pytest.approx(6 / 40)  # what an analyst of returning users sees
    assert rows["A"]["changed_share"] == pytest.approx(4 / 600) and rows["B"]["changed_share"] == pytest.approx(2 / 400)
    assert overall["users"] == 1010


def test_an_hour_of_new_users_only_has_no_returning_share() -> None:
    change = SegmentChange.from_groups([_group(0, None, True, 5)])
    before = Centres(np.zeros((1, 1)), np.ones(1), np.array([100]))
    after = Centres(np.zeros((1, 1)), np.ones(1), np.array([105]))
    overall = evolution_rows(before, after, change, {0: "A"})[-1]
    assert overall["active_changed_share"] == 0.0 and overall["changed_share"] == 0.0
