"""User-product interaction strengths from events, the evaluation windows and the ground truth."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

# Implicit-feedback strength of one event for popularity and the hybrid's recency: a cart says much
# more than a view and a purchase more than a cart. ALS tunes its own cart and purchase strengths
# on the validation weeks (AlsConfig.event_weights).
EVENT_WEIGHTS = {"view": 1.0, "cart": 4.0, "purchase": 8.0}
POSITIVE_TYPES = ("cart", "purchase")
VALIDATION_DAYS = 7


@dataclass(frozen=True)
class Window:
    """A half-open interval of days ``[start, end)`` in UTC."""

    start: dt.date
    end: dt.date

    def __str__(self) -> str:
        return f"{self.start} .. {self.end} (end excluded)"


@dataclass(frozen=True)
class Fold:
    """One temporal split: learn on ``train``, measure on the ``evaluate`` days right after."""

    train: Window
    evaluate: Window


def rolling_folds(training: Window, folds: int, days: int = VALIDATION_DAYS) -> list[Fold]:
    """``folds`` validation weeks ending at the training window's end, each trained on every day before it.

    The last fold (trained on all but the final week) comes first; the others roll back a week each.
    """
    result = []
    for i in range(folds):
        end = training.end - dt.timedelta(days=days * i)
        start = end - dt.timedelta(days=days)
        if start <= training.start:
            break
        result.append(Fold(Window(training.start, start), Window(start, end)))
    return result


def holdout_window(training: Window, days: int = VALIDATION_DAYS) -> Window:
    """The week right after the training window (November's first week when training on October)."""
    return Window(training.end, training.end + dt.timedelta(days=days))


def events_in(events: DataFrame, window: Window) -> DataFrame:
    """Events whose ``event_date`` falls in ``window`` (partition pruning on the raw lake)."""
    return events.where((F.col("event_date") >= F.lit(window.start)) & (F.col("event_date") < F.lit(window.end)))


def event_weight(weights: dict[str, float] | None = None) -> Column:
    """The implicit strength of each row's ``event_type`` (``EVENT_WEIGHTS`` by default; 0 for other types)."""
    table = F.create_map(*[F.lit(x) for pair in (weights or EVENT_WEIGHTS).items() for x in pair])
    return F.coalesce(F.try_element_at(table, F.col("event_type")), F.lit(0.0))


def interaction_strengths(events: DataFrame, weights: dict[str, float] | None = None) -> DataFrame:
    """(user_id, product_id, strength, last_seen, purchased): summed event weights per pair."""
    weight = event_weight(weights)
    return events.groupBy("user_id", "product_id").agg(
        F.sum(weight).alias("strength"),
        F.max("event_time").alias("last_seen"),
        F.max((F.col("event_type") == "purchase").cast("int")).cast("boolean").alias("purchased"),
    )


def ground_truth(events: DataFrame, event_types: tuple[str, ...] = POSITIVE_TYPES) -> DataFrame:
    """Distinct (user_id, product_id) pairs with an event of ``event_types`` (carts and purchases by default)."""
    return events.where(F.col("event_type").isin(*event_types)).select("user_id", "product_id").distinct()


def product_popularity(interactions: DataFrame) -> DataFrame:
    """(product_id, popularity): total interaction strength per product."""
    return interactions.groupBy("product_id").agg(F.sum("strength").alias("popularity"))
