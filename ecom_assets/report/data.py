"""The data section: volumes per month and day, the date span, what the ingest rejected and why."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ecom_assets.report import figures
from ecom_assets.report.content import Section, count, share
from ecom_assets.report.sources import Sources


def daily_events(sources: Sources) -> pd.DataFrame | None:
    """Events, views, carts and purchases per day (from ``activity_patterns``), oldest first."""
    patterns = sources.table("activity_patterns")
    if patterns is None:
        return None
    days = patterns[patterns["grain"] == "date"].copy()
    days["day"] = pd.to_datetime(days["key"])
    return days.sort_values("day").reset_index(drop=True)


def section(sources: Sources, folder: Path) -> Section:
    """Volumes, span and quarantine."""
    out = Section("data", "The data")
    known = sources.required("activity_patterns", out.missing) is not None
    days = daily_events(sources) if known else None
    if days is not None and not days.empty:
        months = days.groupby(days["day"].dt.strftime("%Y-%m"))[["events", "views", "carts", "purchases"]].sum()
        out.table("Events per month and type", months.reset_index(names="month"))
        first, last = days["day"].min().date(), days["day"].max().date()
        out.figure(figures.lines(folder / "data_daily_events.png", days["day"].dt.strftime("%m-%d"),
                                 {"events": days["events"]}, "Events per day (UTC)", "events"),
                   f"Events per day from {first} to {last}: the level the shop runs at and the days that break it.")
        growth = ""
        if len(months) >= 2:
            change = months["events"].iloc[-1] / max(months["events"].iloc[0], 1) - 1
            growth = (f" {months.index[-1]} saw {share(abs(change))} {'more' if change >= 0 else 'fewer'} events "
                      f"than {months.index[0]}.")
        out.reading.append(f"{count(days['events'].sum())} events from {first} to {last} over {len(days)} days.{growth}"
                           " Capacity planning and campaign baselines start from these daily volumes, not the "
                           "monthly totals: peaks decide what the platform must absorb.")
    reasons = sources.quarantine_reasons()
    if reasons is None:
        out.missing.append("no `raw_events` in the lake: `ecom materialize --select raw_events`")
    elif reasons.empty:
        out.reading.append("The ingest rejected no line: every row of the input had a valid time, type, product, "
                           "price and user.")
    else:
        total = int(reasons.sum())
        accepted = int(days["events"].sum()) if days is not None else 0
        out.table("Rejected input lines per reason", reasons.reset_index().rename(columns={"reason_count": "lines"}))
        out.reading.append(f"{count(total)} lines were set aside ({share(total / max(total + accepted, 1), 3)} of "
                           f"the input), most for `{reasons.index[0]}`; they are kept with their reason under "
                           "`temp/quarantine/`, so nothing is silently lost and a bad export can be traced.")
    return out
