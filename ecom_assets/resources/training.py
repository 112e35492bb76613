"""The training resource: the days the models learn from, as the environment sets them."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from ecom_assets.settings import DEFAULT_REFIT_LAG_DAYS, DEFAULT_TRAIN_END, DEFAULT_TRAIN_START, TrainingWindow


class TrainingResource(dg.ConfigurableResource):
    """The training window: ``start`` included, ``end`` excluded, ``YYYY-MM-DD`` (``ECOM_TRAIN_START``,
    ``ECOM_TRAIN_END``). Every model learns from it; the week after it is the offline test week.
    ``replay_learning`` (``ECOM_REPLAY_LEARNING``): whether the models also learn from the replayed hours
    beyond the users' fold-in (the new products' factors, the daily re-fits); off, the batch graph's models
    serve every hour. ``replay_refits`` (``ECOM_REPLAY_REFITS``): the daily re-fits alone can be turned off
    (their ALS fit takes minutes at the real size, longer than a replayed day at the 10 s cadence);
    ``refit_lag_days`` (``ECOM_REPLAY_REFIT_LAG_DAYS``): the hours of day d use the re-fit of day d - lag."""

    start: str = DEFAULT_TRAIN_START
    end: str = DEFAULT_TRAIN_END
    replay_learning: bool = True
    replay_refits: bool = True
    refit_lag_days: int = DEFAULT_REFIT_LAG_DAYS

    @property
    def refits(self) -> bool:
        """Whether the replay's hours use the daily re-fits."""
        return self.replay_learning and self.replay_refits

    @property
    def window(self) -> TrainingWindow:
        """The window as dates (a clear error for a bad date or an empty window)."""
        try:
            return TrainingWindow(dt.date.fromisoformat(self.start), dt.date.fromisoformat(self.end))
        except ValueError as exc:
            raise ValueError(f"the training window must be two dates YYYY-MM-DD, got {self.start!r} .. "
                             f"{self.end!r}: {exc}") from exc
