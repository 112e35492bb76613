"""November as 720 hourly partitions (UTC), the replay's micro-batches."""

from __future__ import annotations

import datetime as dt

import dagster as dg

REPLAY_START = dt.datetime(2019, 11, 1, tzinfo=dt.UTC)
REPLAY_END = dt.datetime(2019, 12, 1, tzinfo=dt.UTC)
PARTITION_FORMAT = "%Y-%m-%d-%H:%M"

november_hours = dg.HourlyPartitionsDefinition(
    start_date=REPLAY_START.strftime(PARTITION_FORMAT),
    end_date=REPLAY_END.strftime(PARTITION_FORMAT),
    timezone="UTC",
    fmt=PARTITION_FORMAT,
)

# A partitioned asset that carries state reads its own previous hour.
PREVIOUS_HOUR = dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=-1)


def part_name(start: dt.datetime) -> str:
    """The folder of one hour in a replay table (no ``:``, which Hadoop paths refuse)."""
    return start.strftime("hour=%Y-%m-%dT%H")


def hour_start(partition_key: str) -> dt.datetime:
    """The UTC start of an hourly partition key (``2019-11-01-00:00``)."""
    try:
        return dt.datetime.strptime(partition_key, PARTITION_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError as exc:
        raise ValueError(f"not an hourly partition key (YYYY-MM-DD-HH:MM): {partition_key!r}") from exc


def partition_key(start: dt.datetime) -> str:
    """The partition key of the hour starting at ``start``."""
    return start.astimezone(dt.UTC).strftime(PARTITION_FORMAT)


def all_hours() -> list[str]:
    """The 720 keys in order."""
    return november_hours.get_partition_keys()


def parse_hour(text: str) -> str:
    """A partition key from user input: ``2019-11-16-13:00``, ``2019-11-16T13``, ``2019-11-16 13:00``."""
    cleaned = text.strip().replace("T", " ")
    for fmt in (PARTITION_FORMAT, "%Y-%m-%d %H:%M", "%Y-%m-%d %H", "%Y-%m-%d"):
        try:
            start = dt.datetime.strptime(cleaned, fmt).replace(tzinfo=dt.UTC)
        except ValueError:
            continue
        if not REPLAY_START <= start < REPLAY_END:
            raise ValueError(f"{text!r} is outside November 2019 (UTC)")
        return partition_key(start)
    raise ValueError(f"cannot read {text!r} as an hour; use YYYY-MM-DD-HH:MM, e.g. 2019-11-16-13:00")


DAY_FORMAT = "%Y-%m-%d"
november_days = dg.DailyPartitionsDefinition(start_date=REPLAY_START.strftime(DAY_FORMAT),
                                             end_date=REPLAY_END.strftime(DAY_FORMAT), timezone="UTC")


def day_start(partition_key: str) -> dt.datetime:
    """The UTC start of a daily partition key (``2019-11-16``)."""
    try:
        return dt.datetime.strptime(partition_key, DAY_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError as exc:
        raise ValueError(f"not a daily partition key (YYYY-MM-DD): {partition_key!r}") from exc


def day_completed_by(hour_key: str) -> str | None:
    """The daily partition key that ``hour_key`` completes (the day's last hour, 23:00), else None."""
    start = hour_start(hour_key)
    return start.strftime(DAY_FORMAT) if start.hour == 23 else None


def hours_left(start: dt.datetime, last_hour: str | None) -> int:
    """Hours the replay still plans after the one starting at ``start`` (0 for an hour run on its own)."""
    if not last_hour:
        return 0
    return max(0, int((hour_start(last_hour) - start) / dt.timedelta(hours=1)))
