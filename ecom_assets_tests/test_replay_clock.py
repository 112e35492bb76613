"""The replay's time shift: whole weeks, inside the retention, fixed once and persisted."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ecom_assets.replay.orchestration.clock import MARGIN, RETENTION, load_or_start, offset_weeks_for
from ecom_assets.replay.orchestration.partitions import (
    REPLAY_END,
    REPLAY_START,
    all_hours,
    hours_left,
    parse_hour,
)


@pytest.mark.parametrize("now", [dt.datetime(2026, 11, 25, 14, tzinfo=dt.UTC), dt.datetime(2030, 2, 3, 1, tzinfo=dt.UTC),
                                 dt.datetime(2019, 12, 30, tzinfo=dt.UTC)])
def test_shift_keeps_weekday_and_hour_and_lands_inside_the_retention(now: dt.datetime) -> None:
    weeks = offset_weeks_for(now, "shifted")
    first = REPLAY_START + dt.timedelta(weeks=weeks)
    last = REPLAY_END + dt.timedelta(weeks=weeks)
    assert first.weekday() == REPLAY_START.weekday() and first.hour == REPLAY_START.hour
    assert first >= now - RETENTION + MARGIN
    assert first - dt.timedelta(weeks=1) < now - RETENTION + MARGIN  # the smallest such shift
    assert last <= now + MARGIN + dt.timedelta(weeks=1)
    assert offset_weeks_for(now, "original") == 0


def test_clock_is_fixed_once_and_refuses_a_mode_switch(tmp_path: Path) -> None:
    state = tmp_path / "replay" / "state.json"
    first = load_or_start(state, "shifted", dt.datetime(2026, 11, 25, tzinfo=dt.UTC))
    later = load_or_start(state, "shifted", dt.datetime(2027, 6, 1, tzinfo=dt.UTC))
    assert later == first  # re-running an hour later writes the same timestamps
    with pytest.raises(ValueError, match="reset"):
        load_or_start(state, "original")
    state.write_text("{not json")
    with pytest.raises(ValueError, match="unreadable replay state"):
        load_or_start(state, "shifted")


def test_partitions_cover_november_hour_by_hour() -> None:
    hours = all_hours()
    assert len(hours) == 720 and hours[0] == "2019-11-01-00:00" and hours[-1] == "2019-11-30-23:00"
    assert parse_hour("2019-11-16T13") == parse_hour("2019-11-16 13:00") == "2019-11-16-13:00"
    with pytest.raises(ValueError, match="cannot read"):
        parse_hour("yesterday")


def test_clock_started_by_many_threads_at_once_is_one_clock(tmp_path: Path) -> None:
    """The first hour's two parts start the clock together: every caller gets the first clock written,
    even when they would have chosen different shifts, and no temporary file is left behind."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    moments = [dt.datetime(2026, 11, 1, tzinfo=dt.UTC) + dt.timedelta(weeks=w) for w in range(8)]
    for attempt in range(20):
        path = tmp_path / str(attempt) / "state.json"
        together = threading.Barrier(len(moments))

        def start(now: dt.datetime, path: Path = path, together: threading.Barrier = together):
            together.wait()
            return load_or_start(path, "shifted", now)

        with ThreadPoolExecutor(max_workers=len(moments)) as pool:
            clocks = list(pool.map(start, moments))
        assert len(set(clocks)) == 1 and clocks[0] == load_or_start(path, "shifted")
        assert [p.name for p in path.parent.iterdir()] == ["state.json"]


def test_the_heartbeat_counts_the_hours_a_replay_still_plans() -> None:
    start = dt.datetime(2019, 11, 1, 21, tzinfo=dt.UTC)
    assert hours_left(start, "2019-11-02-01:00") == 4
    assert hours_left(start, "2019-11-01-21:00") == 0
    assert hours_left(start, None) == 0  # an hour materialized on its own: no replay to wait for
