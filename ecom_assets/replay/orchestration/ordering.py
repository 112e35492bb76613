"""The replay's run tags, and the guard that keeps a queued-ahead hour from running after a failed previous hour.

The sensor may request hour h+1 while hour h still runs (it then waits in the run queue's one-run
lane, see ``dagster.yaml``). If h fails, h+1 leaves the queue next; it must not process its hour on
top of a missing previous state, so it stops at once and the sensor requests it again once h succeeds.
"""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg

# Run tags the replay puts on its runs (read by the sensor, by ``replay_progress`` and by the run queue).
REPLAY_TAG = "ecom/replay"
# The replay id of an `ecom replay` starts with this (the sensor's is its start time in epoch seconds).
CLI_REPLAY_PREFIX = "cli-"
ATTEMPT_TAG = "ecom/attempt"
REQUESTED_AT_TAG = "ecom/requested_at"
DUE_AT_TAG = "ecom/due_at"  # when the hour was due on the replay's cadence (epoch seconds)
LAST_HOUR_TAG = "ecom/last_hour"  # the last hour this replay plans (its heartbeat says how many are left)
# Every replayed hour runs in this lane; dagster.yaml limits the lane to one run at a time, so an hour
# requested while the previous one still runs waits in the queue behind it.
LANE_TAG = "ecom/lane"
HOURS_LANE = "november-replay-hours"
# A run of these statuses is in flight: queued or running (the sensor waits for it; `ecom replay` refuses beside it).
IN_PROGRESS = frozenset({
    dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING,
})
# Set on an hour requested while the previous hour (the tag's value) was still in flight: the hour only
# proceeds if that previous hour's latest run in the replay succeeded.
AFTER_TAG = "ecom/after_hour"


def latest_hour_run(instance: dg.DagsterInstance, replay: str, hour: str) -> dg.DagsterRun | None:
    """The most recent run of ``hour`` in the replay ``replay`` (runs carry the ``ecom/replay`` tag)."""
    runs = instance.get_runs(filters=dg.RunsFilter(tags={REPLAY_TAG: replay, "dagster/partition": hour}), limit=1)
    return runs[0] if runs else None


def previous_hour_problem(instance: dg.DagsterInstance, tags: Mapping[str, str]) -> str | None:
    """Why a run tagged with ``ecom/after_hour`` must not proceed (``None`` when it may): the previous
    hour's latest run in the same replay has not succeeded."""
    previous = tags.get(AFTER_TAG)
    if not previous:
        return None
    run = latest_hour_run(instance, tags.get(REPLAY_TAG, ""), previous)
    if run is not None and run.status == dg.DagsterRunStatus.SUCCESS:
        return None
    status = run.status.value if run is not None else "never requested"
    return (f"this hour was queued behind hour {previous}, whose latest run is {status}: it stops without "
            f"processing; the replay sensor requests it again once {previous} has succeeded")


def require_previous_hour(context: dg.AssetExecutionContext) -> None:
    """Raise ``dg.Failure`` when this run was queued behind an hour that did not succeed."""
    problem = previous_hour_problem(context.instance, context.run.tags)
    if problem:
        raise dg.Failure(description=problem)
