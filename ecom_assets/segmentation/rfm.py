"""RFM features, quintile scores and readable RFM classes for the users of a time window.

Recency counts days from the last purchase to the end of the window (for users who never bought,
from their last activity); Frequency is the number of purchases (with sessions and active days);
Monetary the purchase revenue. Scores are quintiles among buyers (5 = best); non-buyers get
F = M = 0 and an R score from their activity, and classes of their own.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ecom_assets.behaviour.indicators import user_indicators
from ecom_assets.behaviour.sessions import sessionize

QUANTILES = (0.2, 0.4, 0.6, 0.8)
QUANTILE_ERROR = 0.001

# The RFM class of a buyer: the first row whose rule holds (R and F are quintile scores 1-5).
BUYER_CLASSES: tuple[tuple[str, str], ...] = (
    ("Champions", "R >= 4 and F >= 4"),
    ("Loyal", "R >= 2 and F >= 4"),
    ("New customers", "R >= 4 and F <= 2"),
    ("Potential loyalists", "R >= 3 and F = 3"),
    ("Promising", "R = 3 and F <= 2"),
    ("At risk", "R <= 2 and F >= 3"),
    ("Hibernating", "R <= 2 and F <= 2"),
)
# Non-buyers: by what they did.
NON_BUYER_CLASSES: tuple[tuple[str, str], ...] = (
    ("Cart abandoners", "carted a product, bought nothing"),
    ("Active browsers", "viewed in the last 7 days of the window"),
    ("Lapsed browsers", "no activity in the last 7 days"),
)
ACTIVE_BROWSER_DAYS = 7


def window_events(events: DataFrame, start: dt.date, end: dt.date) -> DataFrame:
    """Events with ``start <= event date < end``."""
    return events.where((F.col("event_time") >= F.lit(start).cast("timestamp"))
                        & (F.col("event_time") < F.lit(end).cast("timestamp")))


def rfm_features(events: DataFrame, end: dt.date) -> DataFrame:
    """Per user of ``events``: recency, frequency, monetary and the behaviour indicators that help."""
    indicators = user_indicators(events, sessionize(events))
    last_purchase = events.where(F.col("event_type") == "purchase").groupBy("user_id").agg(
        F.max("event_time").alias("last_purchase")
    )
    window_end = F.lit(end).cast("timestamp")
    reference = F.coalesce(F.col("last_purchase"), F.col("last_seen"))
    return indicators.join(last_purchase, "user_id", "left").select(
        "user_id",
        ((window_end.cast("long") - reference.cast("long")) / 86_400.0).alias("recency_days"),
        F.col("purchases").alias("frequency"),
        F.col("revenue").alias("monetary"),
        (F.col("purchases") > 0).alias("is_buyer"),
        "sessions",
        "active_days",
        "events",
        "views",
        "carts",
        "mean_session_duration_s",
        F.coalesce("view_to_purchase_rate", F.lit(0.0)).alias("view_to_purchase_rate"),
        F.coalesce("cart_abandonment_rate", F.lit(0.0)).alias("cart_abandonment_rate"),
        "last_seen",
    )


def _score(value: Column, cutoffs: list[float], higher_is_better: bool) -> Column:
    """1-5 from the quintile cutoffs (5 = best)."""
    above = sum((F.when(value > F.lit(c), 1).otherwise(0) for c in cutoffs), F.lit(0))
    return (F.lit(1) + above) if higher_is_better else (F.lit(5) - above)


def score_rfm(features: DataFrame) -> DataFrame:
    """``features`` with ``r_score``, ``f_score``, ``m_score`` (quintiles among buyers), ``rfm_class``."""
    buyers = features.where("is_buyer")
    cutoffs = {
        column: buyers.approxQuantile(column, list(QUANTILES), QUANTILE_ERROR) or [0.0] * len(QUANTILES)
        for column in ("recency_days", "frequency", "monetary")
    }
    r = _score(F.col("recency_days"), cutoffs["recency_days"], higher_is_better=False)
    f = _score(F.col("frequency"), cutoffs["frequency"], higher_is_better=True)
    m = _score(F.col("monetary"), cutoffs["monetary"], higher_is_better=True)
    scored = features.select(
        "*",
        r.alias("r_score"),
        F.when(F.col("is_buyer"), f).otherwise(0).alias("f_score"),
        F.when(F.col("is_buyer"), m).otherwise(0).alias("m_score"),
    )
    rfm_class = F.lit("Need attention")
    for name, rule in reversed(BUYER_CLASSES):
        rfm_class = F.when(F.expr(rule.replace("R", "r_score").replace("F", "f_score")), F.lit(name)).otherwise(rfm_class)
    non_buyer = (
        F.when(F.col("carts") > 0, F.lit(NON_BUYER_CLASSES[0][0]))
        .when(F.col("recency_days") <= ACTIVE_BROWSER_DAYS, F.lit(NON_BUYER_CLASSES[1][0]))
        .otherwise(F.lit(NON_BUYER_CLASSES[2][0]))
    )
    return scored.withColumn("rfm_class", F.when(F.col("is_buyer"), rfm_class).otherwise(non_buyer))


def rfm_table(events: DataFrame, start: dt.date, end: dt.date) -> DataFrame:
    """RFM features, scores and classes for every user active in ``[start, end)``."""
    return score_rfm(rfm_features(window_events(events, start, end), end))
