"""The measurements of the ``ecommerce_analytics`` database: their tags and field types, declared once.

Every point goes through :func:`point`, which refuses unknown fields and coerces each value to its
declared type (ints for counts, floats for rates and durations), so a field can never change type
between writes (InfluxDB rejects a write whose field type conflicts with the shard's). Tags have
bounded cardinality: never a user or session id.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from influxdb_client import Point, WritePrecision


@dataclass(frozen=True)
class Measurement:
    """A measurement's name, its allowed tags and its fields with their types."""

    name: str
    tags: tuple[str, ...]
    fields: dict[str, type]


COUNT, RATE, TEXT = int, float, str

USER_BEHAVIOR = Measurement(
    "user_behavior",
    tags=("granularity", "hour_of_day"),  # granularity: hour | minute | day; hour_of_day 00-23 on hour points
    fields={
        "events": COUNT, "views": COUNT, "carts": COUNT, "purchases": COUNT, "active_users": COUNT,
        "sessions": COUNT, "buyers": COUNT, "revenue": RATE, "conversion_rate": RATE, "cart_rate": RATE,
        "session_duration_mean_s": RATE,
    },
)
PRODUCT_POPULARITY = Measurement(
    "product_popularity",
    tags=("granularity", "kind", "rank", "category"),  # kind: product | category; rank 1..10
    fields={"product_id": COUNT, "views": COUNT, "carts": COUNT, "purchases": COUNT, "trending_score": RATE,
            "score": RATE, "label": TEXT},
)
SEGMENT_EVOLUTION = Measurement(
    "segment_evolution",
    tags=("segment",),  # a segment name, or "all"
    fields={"users": COUNT, "new_users": COUNT, "changed_users": COUNT, "changed_share": RATE,
            "size_change": RATE, "active_users": COUNT, "active_changed_share": RATE},
)
RECOMMENDATION_METRICS = Measurement(
    "recommendation_metrics",
    # kind: online | offline; target: any | cart_purchase (online), cart_or_purchase | view (offline)
    tags=("kind", "segment", "recommender", "target"),
    fields={"users": COUNT, "hit_rate_at_10": RATE, "precision_at_10": RATE, "recall_at_10": RATE,
            "ndcg_at_10": RATE, "map_at_10": RATE, "catalogue_coverage": RATE, "sampled_hit_rate_at_10": RATE},
)
REPLAY = Measurement(
    "replay",
    tags=(),
    fields={"batch_events": COUNT, "step_s": RATE, "end_to_end_s": RATE, "lag_s": RATE, "offset_weeks": COUNT,
            "simulated_hour": TEXT, "attempt": COUNT},
)
# The replay's points carry November's times shifted by whole weeks, so "nothing written for 2 minutes"
# cannot be read from them: each hour also writes this point at the wall-clock time it was written.
REPLAY_HEARTBEAT = Measurement(
    "replay_heartbeat",
    tags=(),
    fields={"step_s": RATE, "end_to_end_s": RATE, "lag_s": RATE, "hours_left": COUNT, "simulated_hour": TEXT},
)
MEASUREMENTS = {m.name: m for m in (USER_BEHAVIOR, PRODUCT_POPULARITY, SEGMENT_EVOLUTION, RECOMMENDATION_METRICS,
                                    REPLAY, REPLAY_HEARTBEAT)}


def point(measurement: Measurement, time: dt.datetime, fields: dict[str, object],
          tags: dict[str, str] | None = None) -> str:
    """One line of line protocol, second precision; null fields are left out, types coerced as declared."""
    tags = tags or {}
    unknown = set(tags) - set(measurement.tags)
    if unknown:
        raise ValueError(f"{measurement.name}: undeclared tags {sorted(unknown)}")
    unknown = set(fields) - set(measurement.fields)
    if unknown:
        raise ValueError(f"{measurement.name}: undeclared fields {sorted(unknown)}")
    p = Point(measurement.name).time(time.astimezone(dt.UTC), WritePrecision.S)
    for key, value in sorted(tags.items()):
        if value is None or value == "":
            raise ValueError(f"{measurement.name}: tag {key} is empty")
        p = p.tag(key, str(value))
    present = 0
    for key, value in fields.items():
        if value is None:
            continue
        kind = measurement.fields[key]
        p = p.field(key, kind(value))
        present += 1
    if not present:
        raise ValueError(f"{measurement.name}: a point needs at least one field")
    return p.to_line_protocol()
