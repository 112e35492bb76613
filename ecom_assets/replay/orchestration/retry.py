"""The replay's one retry rule, shared by the sensor, ``ecom replay`` and the day's roll-up.

A failed attempt is retried after ``backoff_s``, doubled for each further attempt (15 s, then 30 s),
up to ``max_attempts`` in all: a short outage (InfluxDB restarting, say) does not use them up.

An hour is retried as a new run, not inside its run: the hours queued behind it in the one-run lane
must see it fail (the queued-hour guard, :mod:`.ordering`) and be requested again after it, in order,
which a retry inside the run would hide. The day's roll-up has no such order to keep, so it takes the
same rule as Dagster's own ``RetryPolicy`` (:meth:`RetryRule.policy`).
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg


@dataclass(frozen=True)
class RetryRule:
    """How many attempts a replay run gets and how long to wait before each retry."""

    max_attempts: int = 3
    backoff_s: float = 15.0

    def delay_after(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based) before the next one."""
        return self.backoff_s * 2 ** (attempt - 1)

    def policy(self) -> dg.RetryPolicy:
        """The same rule as a Dagster ``RetryPolicy`` (retries inside a run)."""
        return dg.RetryPolicy(max_retries=self.max_attempts - 1, delay=self.backoff_s, backoff=dg.Backoff.EXPONENTIAL)


REPLAY_RETRY = RetryRule()
MAX_ATTEMPTS = REPLAY_RETRY.max_attempts
RETRY_BACKOFF_S = REPLAY_RETRY.backoff_s
