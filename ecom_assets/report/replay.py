"""The replay section: step time and latency against the specification's bars, churn and online hit rate.

Read from the replayed hours' Dagster metadata (``replay_progress``, ``customer_segments``,
``recommendation_monitoring``), which every replay writes whatever its InfluxDB.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ecom_assets.report import figures
from ecom_assets.report.content import Section, share
from ecom_assets.report.sources import Sources

STEP_BAR_S = 5.0  # the specification: a batch processed in under 5 s
FRESH_BAR_S = 10.0  # the specification: data on the dashboards in under 10 s


def _labels(partitions: pd.Series) -> list[str]:
    """``2019-11-16-14:00`` -> ``16 14h`` (short enough for an axis)."""
    return [f"{p[8:10]} {p[11:13]}h" for p in partitions]


def _timings(out: Section, progress: pd.DataFrame, folder: Path) -> None:
    """Step time and request-to-written latency."""
    step, fresh = progress["step_s"].astype(float), progress["end_to_end_s"].astype(float)
    out.figure(figures.histogram(folder / "replay_step_time.png", step, "Time to process one replayed hour",
                                 "seconds", {f"{STEP_BAR_S:g} s bar": STEP_BAR_S}),
               "How long each hour's processing took, against the specification's 5 s.")
    out.figure(figures.histogram(folder / "replay_latency.png", fresh, "From the hour's request to its points "
                                 "written", "seconds", {f"{FRESH_BAR_S:g} s bar": FRESH_BAR_S}),
               "How long after an hour was due its points were written, against the specification's 10 s to the "
               "dashboards.")
    out.reading.append(
        f"{len(progress)} hours replayed: processing took {step.median():.2f} s at the median and "
        f"{step.quantile(0.95):.2f} s at the 95th percentile ({share((step <= STEP_BAR_S).mean())} of hours "
        f"within {STEP_BAR_S:g} s); points were written {fresh.median():.2f} s after the request at the median, "
        f"{fresh.quantile(0.95):.2f} s at p95 ({share((fresh <= FRESH_BAR_S).mean())} within {FRESH_BAR_S:g} s). "
        "That is how fresh the dashboards a shop watches during a sale are.")


def _segments(out: Section, segments: pd.DataFrame, folder: Path) -> None:
    """Churn per hour and the segments' sizes over time."""
    labels = _labels(segments["partition"])
    churn = segments["changed_share"].astype(float)
    out.figure(figures.lines(folder / "replay_churn.png", labels, {"users changing segment": churn},
                             "Share of known users changing segment, per hour", "share",
                             marks={"15% alert": 0.15}),
               "Segment churn hour by hour: a steady line means segments a campaign can rely on.")
    sizes = pd.DataFrame([json.loads(s) if isinstance(s, str) else s for s in segments["segment_sizes"]])
    sizes = sizes.drop(columns=[c for c in ("all",) if c in sizes.columns]).fillna(0)
    if not sizes.empty:
        out.figure(figures.lines(folder / "replay_segment_sizes.png", labels,
                                 {c: sizes[c].tolist() for c in sizes.columns}, "Users per segment", "users"),
                   "How many users each segment holds as November unfolds (new users join the nearest segment).")
    out.reading.append(f"At most {share(churn.max(), 2)} of known users changed segment in an hour (median "
                       f"{share(churn.median(), 3)}): segments drift slowly, so hour-old segment lists are safe to "
                       "target.")


def _monitoring(out: Section, monitoring: pd.DataFrame, folder: Path) -> None:
    """Online HitRate@10 of the served lists, hour by hour."""
    columns = [c for c in monitoring.columns if c.endswith("_hit_rate_at_10")]
    if not columns:
        return
    out.figure(figures.lines(folder / "replay_hit_rate.png", _labels(monitoring["partition"]),
                             {c.removesuffix("_hit_rate_at_10"): monitoring[c].astype(float).tolist()
                              for c in columns}, "Online HitRate@10 of the served lists", "hit rate"),
               "Share of the hour's active users who interacted with a product of their served top 10.")
    main = monitoring[columns[0]].astype(float)
    out.reading.append(f"Online, {share(main.mean(), 2)} of an hour's active users touched one of their ten "
                       f"recommended products ({columns[0].removesuffix('_hit_rate_at_10')}, mean over hours): the "
                       "figure to watch for a model going stale.")


def section(sources: Sources, folder: Path) -> Section:
    """Timings, churn and hit rate of the replayed hours, when a replay ran."""
    out = Section("replay", "The November replay")
    progress = sources.hourly_metadata("replay_progress")
    if progress.empty:
        out.missing.append("no replayed hour in this Dagster instance: `ecom replay --hours 24` (with the same "
                           "DAGSTER_HOME), then build the report again")
        return out
    _timings(out, progress, folder)
    segments = sources.hourly_metadata("customer_segments")
    if not segments.empty:
        _segments(out, segments, folder)
    monitoring = sources.hourly_metadata("recommendation_monitoring")
    if not monitoring.empty:
        _monitoring(out, monitoring, folder)
    return out
