"""Column helpers shared by the behaviour functions."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

UNKNOWN_CATEGORY = "unknown"


def top_category(code: Column | str = "category_code") -> Column:
    """The first level of ``category_code`` (``electronics`` of ``electronics.audio.headphone``), or ``unknown``."""
    code = F.col(code) if isinstance(code, str) else code
    return F.coalesce(F.split(code, r"\.").getItem(0), F.lit(UNKNOWN_CATEGORY))


def is_type(event_type: str) -> Column:
    """True where the row's event is ``event_type``."""
    return F.col("event_type") == event_type


def count_type(event_type: str) -> Column:
    """Number of rows of one event type (inside an aggregation)."""
    return F.count_if(is_type(event_type))


def safe_ratio(numerator: Column, denominator: Column) -> Column:
    """``numerator / denominator``, null when the denominator is 0."""
    return F.when(denominator > 0, numerator / denominator)
