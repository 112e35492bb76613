"""A sensor that reports every failed run: its job, partition (a replayed hour), failed steps and checks.

A blocking asset check that fails stops its run, so the failed checks are reported with the run that
they stopped (``quarantine_rate_below_threshold``, ``events_conserved``, ...). Runs when the daemon
runs (``dagster dev``, ``make live``); on by default.
"""

from __future__ import annotations

import dagster as dg

from ecom_assets.alerting.webhook import Alert, send

SENSOR_NAME = "alert_on_run_failure"
MESSAGE_CHARS = 1500


def failed_checks(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """``asset:check (severity)`` of every check of the run that did not pass."""
    failed = []
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = entry.dagster_event.event_specific_data if entry.dagster_event else None
        if evaluation is not None and not evaluation.passed:
            failed.append(f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name} "
                          f"({evaluation.severity.value})")
    return failed


def failure_alert(context: dg.RunFailureSensorContext) -> Alert:
    """The alert for one failed run."""
    run = context.dagster_run
    partition = run.tags.get("dagster/partition", "")
    steps = sorted({event.step_key for event in context.get_step_failure_events() if event.step_key})
    checks = failed_checks(context.instance, run.run_id)
    where = f" for {partition}" if partition else ""
    reason = (context.failure_event.message or "no message")[:MESSAGE_CHARS]
    details = [f"steps: {', '.join(steps)}"] if steps else []
    details += [f"failed checks: {', '.join(checks)}"] if checks else []
    text = f"Run {run.run_id} of {run.job_name}{where} failed: {reason}" + "".join(f"\n{d}" for d in details)
    return Alert(f"{run.job_name} failed{where}", text, run.run_id, run.job_name, partition, steps, checks)


@dg.run_failure_sensor(name=SENSOR_NAME, default_status=dg.DefaultSensorStatus.RUNNING,
                       description="Reports every failed run (job, replayed hour, failed steps and checks) to the "
                                   "log and to ECOM_ALERT_WEBHOOK_URL when set.")
def alert_on_run_failure(context: dg.RunFailureSensorContext) -> None:
    """Log the failure and post it to the operator's webhook."""
    alert = failure_alert(context)
    context.log.error(alert.text)
    context.log.info(send(alert))
