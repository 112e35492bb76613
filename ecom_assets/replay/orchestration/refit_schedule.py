"""The schedule of the replay's daily re-fits: which day's re-fit serves an hour, and where it is written.

The rule depends on the hour alone, never on timing, so re-running an hour gives the same result; the
sensor (which holds an hour until its re-fit is written) and the hours (which load it) share it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import SparkSession

from ecom_assets.lake import Lake
from ecom_assets.replay.orchestration.partitions import REPLAY_START
from ecom_assets.replay.written import written
from ecom_assets.settings import DEFAULT_REFIT_LAG_DAYS


def refit_day_for(hour: dt.datetime, lag_days: int = DEFAULT_REFIT_LAG_DAYS) -> dt.date | None:
    """The day whose re-fit serves ``hour``: the day ``lag_days`` before the hour's, or None (the batch
    graph's models) while that day is before the replay's first."""
    day = hour.date() - dt.timedelta(days=lag_days)
    return day if day >= REPLAY_START.date() else None


def switches_at(hour: dt.datetime, lag_days: int = DEFAULT_REFIT_LAG_DAYS) -> bool:
    """Whether ``hour`` is the first to use its re-fit (the hour before used another model)."""
    day = refit_day_for(hour, lag_days)
    return day is not None and day != refit_day_for(hour - dt.timedelta(hours=1), lag_days)


@dataclass(frozen=True)
class RefitPaths:
    """Where one day's re-fit lives (``models/replay_refit/day=YYYY-MM-DD/``): the ALS model, its indexers
    and product index, and the matched centres, written last, so a re-fit is ready once they are."""

    root: str

    @classmethod
    def of(cls, lake: Lake, day: dt.date) -> RefitPaths:
        """The paths of ``day``'s re-fit in ``lake``."""
        return cls(lake.model(f"replay_refit/day={day:%Y-%m-%d}"))

    @property
    def als(self) -> str:
        """The ALS model (Spark ML format)."""
        return f"{self.root}/als"

    @property
    def indexers(self) -> str:
        """The ALS model's id indexers."""
        return f"{self.root}/als_indexers"

    @property
    def product_index(self) -> str:
        """(product_id, product_idx) of the ALS model, as ``als_product_index`` is for the batch model."""
        return f"{self.root}/als_product_index"

    @property
    def centres(self) -> str:
        """The re-fitted centres (``CENTRE_SCHEMA``), matched to the centres in force."""
        return f"{self.root}/centres"

    def ready(self, session: SparkSession | None = None) -> bool:
        """Whether the whole re-fit was written (its centres are written last)."""
        return written(self.centres, session)
