"""Replay time: November 2019 moved by whole weeks into the InfluxDB retention, fixed once per replay.

InfluxDB drops points older than the retention (30 days), and November 2019 is years old. In
``shifted`` mode (the default) every timestamp moves forward by a whole number of weeks (weekday and
hour of day kept) chosen when the replay first starts: the smallest shift that puts November 1st at
least ``MARGIN`` inside the 30 days before that moment. November is 30 days long, so its last days
land up to a week plus the margin after the start; points expire a margin's length after the start
at the earliest, longer than a full replay (720 hours x 10 s = 2 hours). ``original`` mode keeps the
2019 times and writes them into a retention policy (1.x) or bucket (2.x) that never expires.

The state (mode, shift, start) is a small JSON file in the lake (``temp/replay/state.json``), shared
by the sensor and ``ecom replay``; re-running an hour later reuses the same shift, so it overwrites
its points instead of writing a second copy elsewhere in time. ``ecom replay --reset`` starts afresh.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from ecom_assets.lake import Lake
from ecom_assets.replay.orchestration.partitions import REPLAY_START

RETENTION = dt.timedelta(days=30)
MARGIN = dt.timedelta(days=2)
WEEK = dt.timedelta(weeks=1)


@dataclass(frozen=True)
class ReplayClock:
    """How replayed timestamps map to written ones."""

    mode: str
    offset_weeks: int
    started_at: str

    @property
    def offset(self) -> dt.timedelta:
        """The shift added to every 2019 timestamp."""
        return self.offset_weeks * WEEK

    def shift(self, moment: dt.datetime) -> dt.datetime:
        """The written time of an original 2019 time."""
        return moment + self.offset


def offset_weeks_for(now: dt.datetime, mode: str) -> int:
    """Whole weeks that put November 1st at least ``MARGIN`` inside the retention ending ``now`` (0 if original)."""
    if mode == "original":
        return 0
    earliest = now - RETENTION + MARGIN
    return max(0, math.ceil((earliest - REPLAY_START) / WEEK))


def load_or_start(path: Path, mode: str, now: dt.datetime | None = None) -> ReplayClock:
    """The persisted clock, or a new one fixed now; a clock in another mode is an error (reset it first)."""
    if path.is_file():
        try:
            clock = ReplayClock(**json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"unreadable replay state {path}: {exc}; remove it (ecom replay --reset)") from exc
        if clock.mode != mode:
            raise ValueError(f"the replay in {path} runs in {clock.mode!r} time, not {mode!r}: "
                             "finish it or reset it (ecom replay --reset) before switching ECOM_REPLAY_TIME")
        return clock
    now = now or dt.datetime.now(dt.UTC)
    clock = ReplayClock(mode, offset_weeks_for(now, mode), now.isoformat(timespec="seconds"))
    path.parent.mkdir(parents=True, exist_ok=True)
    # The first hour's two parts (and any other process) may start the clock at once: each writes its
    # own file and links it into place, which fails when the clock exists; the first one wins for all.
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(asdict(clock)), encoding="utf-8")
    try:
        os.link(tmp, path)
    except FileExistsError:
        return load_or_start(path, mode)
    finally:
        tmp.unlink(missing_ok=True)
    return clock


def replay_state_path(lake: Lake) -> Path:
    """The replay state file (``temp/replay/state.json`` of a local lake; see :meth:`Lake.local_state`)."""
    return lake.local_state("replay/state.json")


def replay_clock(lake: Lake, mode: str) -> ReplayClock:
    """The replay's time mapping, fixed at its first hour (see this module's docstring)."""
    return load_or_start(replay_state_path(lake), mode)
