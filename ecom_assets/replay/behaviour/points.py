"""Line-protocol points of a replayed hour, built from the small collected results of :mod:`~ecom_assets.replay.behaviour.metrics`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from ecom_assets.publishing.measurements import PRODUCT_POPULARITY, REPLAY, REPLAY_HEARTBEAT, USER_BEHAVIOR, point
from ecom_assets.replay.orchestration.clock import ReplayClock

BEHAVIOUR_FIELDS = ("events", "views", "carts", "purchases", "active_users", "sessions", "buyers", "revenue",
                    "conversion_rate", "cart_rate", "session_duration_mean_s")
MINUTE_FIELDS = ("events", "views", "carts", "purchases", "active_users")


def behaviour_points(clock: ReplayClock, granularity: str, start: dt.datetime, row: dict) -> list[str]:
    """One ``user_behavior`` point for an hour or a day (``granularity``) starting at ``start``."""
    fields = {k: row[k] for k in BEHAVIOUR_FIELDS if k in row}
    tags = {"granularity": granularity}
    if granularity == "hour":
        tags["hour_of_day"] = f"{start.hour:02d}"  # the original hour (UTC), for the hour-of-day profile
    return [point(USER_BEHAVIOR, clock.shift(start), fields, tags)]


def minute_points(clock: ReplayClock, rows: Iterable[dict]) -> list[str]:
    """``user_behavior`` points at minute granularity."""
    return [point(USER_BEHAVIOR, clock.shift(r["minute"].replace(tzinfo=dt.UTC) if r["minute"].tzinfo is None
                                             else r["minute"]),
                  {k: r[k] for k in MINUTE_FIELDS}, {"granularity": "minute"}) for r in rows]


def popularity_points(clock: ReplayClock, start: dt.datetime, kind: str, rows: Iterable[dict]) -> list[str]:
    """``product_popularity`` points of one ranking (``kind``: product, trending or category) for the hour."""
    lines = []
    for r in rows:
        fields = {"views": r["views"], "carts": r["carts"], "purchases": r["purchases"], "score": r["score"]}
        if kind == "category":
            fields["label"] = r["category"]
        else:
            fields.update(product_id=r["product_id"], trending_score=r["trending_score"],
                          label=f"{r['product_id']} {r['category'] or 'unknown'}")
        tags = {"granularity": "hour", "kind": kind, "rank": f"{int(r['rank']):02d}",
                "category": (r["category"] or "unknown").split(".")[0]}
        lines.append(point(PRODUCT_POPULARITY, clock.shift(start), fields, tags))
    return lines


def replay_point(clock: ReplayClock, start: dt.datetime, fields: dict) -> list[str]:
    """The ``replay`` measurement's point for an hour (its time is the replayed hour, shifted)."""
    return [point(REPLAY, clock.shift(start), {**fields, "offset_weeks": clock.offset_weeks,
                                                "simulated_hour": start.strftime("%Y-%m-%d %H:00")})]


def heartbeat_point(written: dt.datetime, start: dt.datetime, fields: dict, hours_left: int) -> list[str]:
    """The ``replay_heartbeat`` point of an hour, at the wall-clock time ``written``: what the "replay has gone
    silent" alert reads; ``hours_left``: hours the replay still plans after this one (0: it is done)."""
    kept = {k: fields[k] for k in ("step_s", "end_to_end_s", "lag_s")}
    return [point(REPLAY_HEARTBEAT, written, {**kept, "hours_left": hours_left,
                                              "simulated_hour": start.strftime("%Y-%m-%d %H:00")})]
