"""The behaviour assets' checks: what each one verifies (specs) and how, from the written tables."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ecom_assets.behaviour.funnel import LEVELS as FUNNEL_LEVELS
from ecom_assets.behaviour.time_patterns import GRAINS

RATE_CHECK = "rates_within_unit_interval"
RAW_COUNTS_CHECK = "counts_match_raw_events"
FLOAT_TOLERANCE = 1e-9


def _spec(asset: str, name: str, description: str, blocking: bool = False) -> dg.AssetCheckSpec:
    """An asset check declared on ``asset``."""
    return dg.AssetCheckSpec(name, asset=asset, description=description, blocking=blocking)


SESSION_CHECKS = [
    _spec("sessions", "events_conserved", "Every accepted event belongs to exactly one session.", blocking=True),
    _spec("sessions", "durations_non_negative", "No session ends before it starts."),
]
USER_STATS_CHECKS = [
    _spec("user_behavior_stats", RATE_CHECK, "Conversion and abandonment rates lie in [0, 1]."),
    _spec("user_behavior_stats", "one_row_per_user", "Exactly one row for every user of raw_events."),
]
FUNNEL_RATES = ["view_to_cart_rate", "view_to_purchase_rate", "cart_to_purchase_rate", "cart_abandonment_rate"]
FUNNEL_CHECKS = [
    _spec("conversion_funnel", RATE_CHECK, "Every funnel rate lies in [0, 1]."),
    _spec("conversion_funnel", RAW_COUNTS_CHECK,
          "Views, carts and purchases summed at each level equal the counts of raw_events."),
]
POPULARITY_CHECKS = [_spec("popularity", RATE_CHECK, "Conversion of every listed item lies in [0, 1].")]
TRANSITION_CHECKS = [_spec("navigation_transitions", "probabilities_sum_to_one",
                           "Leaving probabilities of every state sum to 1.")]
PATH_CHECKS = [_spec("navigation_paths", RATE_CHECK, "Conversion rates and shares lie in [0, 1].")]
AFFINITY_CHECKS = [_spec("affinities", "measures_consistent",
                         "Confidences lie in [0, 1], lift is positive, pair support never exceeds its items'.")]
PATTERN_CHECKS = [_spec("activity_patterns", RAW_COUNTS_CHECK, "Every grain adds up to the events of raw_events.")]


def raw_counts_by_type(frame: DataFrame) -> dict[str, int]:
    """Events per type (view/cart/purchase) counted straight from ``raw_events``."""
    rows = frame.groupBy("event_type").count().collect()
    counts = {row["event_type"]: int(row["count"]) for row in rows}
    return {name: counts.get(name, 0) for name in ("view", "cart", "purchase")}


def rates_check(frame: DataFrame, columns: list[str]) -> dg.AssetCheckResult:
    """Passes when every non-null value of ``columns`` lies in [0, 1]; reports the extremes."""
    row = frame.agg(*[F.min(c).alias(f"min_{c}") for c in columns], *[F.max(c).alias(f"max_{c}") for c in columns]).collect()[0]
    extremes = {key: (None if value is None else float(value)) for key, value in row.asDict().items()}
    passed = all(
        (extremes[f"min_{c}"] is None or extremes[f"min_{c}"] >= -FLOAT_TOLERANCE)
        and (extremes[f"max_{c}"] is None or extremes[f"max_{c}"] <= 1 + FLOAT_TOLERANCE)
        for c in columns
    )
    return dg.AssetCheckResult(check_name=RATE_CHECK, passed=passed, metadata={"extremes": dg.MetadataValue.json(extremes)})


@dataclass(frozen=True)
class SessionFigures:
    """The sessions table against the raw events: counts, duration statistics and conversion."""

    sessions: int
    events: int
    synthetic: int
    min_duration_s: int | None
    mean_duration_s: float
    median_duration_s: int
    conversion_rate: float
    distinct_ids: int
    raw_rows: int

    @staticmethod
    def of(table: DataFrame, events: DataFrame) -> SessionFigures:
        """Counted on the written table and the raw events."""
        stats = table.agg(
            F.count(F.lit(1)).alias("sessions"),
            F.sum("events").alias("events"),
            F.count_if("is_synthetic").alias("synthetic"),
            F.min("duration_s").alias("min_duration_s"),
            F.avg("duration_s").alias("mean_duration_s"),
            F.percentile_approx("duration_s", 0.5).alias("median_duration_s"),
            F.avg(F.col("converted").cast("double")).alias("conversion_rate"),
        ).collect()[0]
        # Counted apart: a distinct aggregate next to percentile_approx would merge one digest per session.
        distinct_ids = table.select("session_id", "user_id").distinct().count()
        return SessionFigures(int(stats["sessions"]), int(stats["events"] or 0), int(stats["synthetic"]),
                              stats["min_duration_s"], float(stats["mean_duration_s"] or 0),
                              int(stats["median_duration_s"] or 0), float(stats["conversion_rate"] or 0),
                              distinct_ids, events.count())

    def metadata(self) -> dict[str, float | int]:
        """What the UI shows beside the table."""
        return {"events_per_session": round(self.raw_rows / max(self.sessions, 1), 3),
                "mean_duration_s": round(self.mean_duration_s, 1), "median_duration_s": self.median_duration_s,
                "session_conversion_rate": round(self.conversion_rate, 4),
                "sessions_without_id_rebuilt": self.synthetic}

    def results(self) -> list[dg.AssetCheckResult]:
        """``SESSION_CHECKS``."""
        return [
            dg.AssetCheckResult(check_name="events_conserved",
                                passed=self.events == self.raw_rows and self.distinct_ids == self.sessions,
                                metadata={"events_in_sessions": self.events, "raw_events": self.raw_rows}),
            dg.AssetCheckResult(check_name="durations_non_negative",
                                passed=self.min_duration_s is None or self.min_duration_s >= 0,
                                metadata={"min_duration_s": int(self.min_duration_s or 0)}),
        ]


@dataclass(frozen=True)
class UserStatsFigures:
    """The per-user table against the raw events' users."""

    rows: int
    users: int
    buyers: int
    repeat_buyers: int
    sessions_per_user: float
    raw_users: int

    @staticmethod
    def of(table: DataFrame, events: DataFrame) -> UserStatsFigures:
        """Counted on the written table and the raw events."""
        stats = table.agg(
            F.count(F.lit(1)).alias("rows"),
            F.count_distinct("user_id").alias("users"),
            F.count_if(F.col("purchases") > 0).alias("buyers"),
            F.count_if(F.col("purchases") > 1).alias("repeat_buyers"),
            F.avg("sessions").alias("sessions_per_user"),
        ).collect()[0]
        return UserStatsFigures(int(stats["rows"]), int(stats["users"]), int(stats["buyers"]),
                                int(stats["repeat_buyers"]), float(stats["sessions_per_user"] or 0),
                                events.select("user_id").distinct().count())

    def metadata(self) -> dict[str, float]:
        """What the UI shows beside the table."""
        return {"buyer_share": round(self.buyers / max(self.users, 1), 4),
                "repeat_buyer_share_of_buyers": round(self.repeat_buyers / max(self.buyers, 1), 4),
                "sessions_per_user": round(self.sessions_per_user, 3)}

    def results(self, table: DataFrame) -> list[dg.AssetCheckResult]:
        """``USER_STATS_CHECKS``."""
        return [rates_check(table, ["view_to_purchase_rate", "cart_abandonment_rate"]),
                dg.AssetCheckResult(check_name="one_row_per_user", passed=self.rows == self.users == self.raw_users,
                                    metadata={"rows": self.rows, "users_in_raw_events": self.raw_users})]


def funnel_results(table: DataFrame, events: DataFrame) -> list[dg.AssetCheckResult]:
    """``FUNNEL_CHECKS``: rates in [0, 1], and every level's sums equal to the raw counts."""
    sums = {
        row["level"]: (int(row["v"]), int(row["c"]), int(row["p"]))
        for row in table.groupBy("level").agg(F.sum("views").alias("v"), F.sum("carts").alias("c"),
                                              F.sum("purchases").alias("p")).collect()
    }
    raw = raw_counts_by_type(events)
    expected = (raw["view"], raw["cart"], raw["purchase"])
    return [rates_check(table, FUNNEL_RATES),
            dg.AssetCheckResult(
                check_name=RAW_COUNTS_CHECK,
                passed=set(sums) == set(FUNNEL_LEVELS) and all(v == expected for v in sums.values()),
                metadata={"raw_view_cart_purchase": list(expected),
                          "per_level": dg.MetadataValue.json({k: list(v) for k, v in sums.items()})})]


def transition_results(table: DataFrame) -> list[dg.AssetCheckResult]:
    """``TRANSITION_CHECKS``: each state's leaving probabilities sum to 1 (within 1e-9)."""
    totals = table.groupBy("kind", "from_state").agg(F.sum("probability").alias("total"))
    worst = totals.agg(F.max(F.abs(F.col("total") - 1)).alias("deviation")).collect()[0]["deviation"]
    return [dg.AssetCheckResult(check_name="probabilities_sum_to_one", passed=worst is None or worst < 1e-9,
                                metadata={"max_deviation": float(worst or 0.0)})]


def affinity_results(table: DataFrame) -> list[dg.AssetCheckResult]:
    """``AFFINITY_CHECKS``: no confidence above 1, no lift at or below 0, no pair above its items' support."""
    bad = table.where(
        (F.col("confidence_a_to_b") > 1) | (F.col("confidence_b_to_a") > 1) | (F.col("lift") <= 0)
        | (F.col("sessions_together") > F.least("sessions_a", "sessions_b"))
    ).count()
    return [dg.AssetCheckResult(check_name="measures_consistent", passed=bad == 0, metadata={"inconsistent_rows": bad})]


def pattern_results(table: DataFrame, events: DataFrame) -> list[dg.AssetCheckResult]:
    """``PATTERN_CHECKS``: every grain's events add up to the raw events."""
    sums = {row["grain"]: int(row["events"]) for row in table.groupBy("grain").agg(F.sum("events").alias("events")).collect()}
    raw_rows = events.count()
    return [dg.AssetCheckResult(check_name=RAW_COUNTS_CHECK, passed=all(sums.get(grain) == raw_rows for grain in GRAINS),
                                metadata={"raw_events": raw_rows, "per_grain": dg.MetadataValue.json(sums)})]
