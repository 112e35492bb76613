"""Grafana alert rules over the replay's measurements, the contact point and the notification policy.

Each rule is Grafana's own pipeline: InfluxQL queries on the provisioned datasource, then server-side
expressions (reduce, math, threshold); the condition's last expression fires the rule. Two clocks:
``replay_heartbeat`` points carry the wall-clock time they were written (silence, latency, lag are
read over the last minutes), the other measurements carry November's times shifted by whole weeks
(:data:`REPLAY_SPAN` covers all of them, and ``last`` reads the latest replayed hour).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ecom_assets.dashboards.boards import CHURN_BAR
from ecom_assets.dashboards.builder import DATASOURCE_UID

EXPRESSION_UID = "__expr__"
FOLDER = "E-commerce analytics"  # the dashboards' folder
GROUP = "ecom-replay"
GROUP_INTERVAL = "10s"  # one evaluation per replayed hour
CONTACT_POINT = "ecom-operator"
WEBHOOK_URL = "${ECOM_ALERT_WEBHOOK_URL}"  # Grafana expands it from its environment: never written here
# Every replayed point, whatever the week shift (the dashboards' range, with a margin).
REPLAY_SPAN = "time > now() - 40d AND time < now() + 10d"
REPLAY_SPAN_S = 40 * 86400
SILENCE_MINUTES = 2
LATENCY_BAR_S = 10.0
LAG_GROWTH_S = 60.0  # over 10 minutes: the replay fell 6 hours behind its 10-second cadence
HIT_RATE_HOURS = 6
HIT_RATE_FRACTION = 0.25
SIZE_RATIO_LOW, SIZE_RATIO_HIGH, SIZE_HOURS = 0.5, 2.0, 24


@dataclass(frozen=True)
class Query:
    """An InfluxQL query; ``$timeFilter`` covers the last ``seconds`` (``relativeTimeRange``)."""

    ref: str
    influxql: str
    seconds: int


@dataclass(frozen=True)
class Reduce:
    """One number per series of ``source`` (``last``, ``mean``, ``max``...), nulls dropped."""

    ref: str
    source: str
    reducer: str = "last"


@dataclass(frozen=True)
class Math:
    """Arithmetic and comparisons over earlier results (``$A > 0 && $B == 0``); non-zero fires."""

    ref: str
    expression: str


@dataclass(frozen=True)
class Threshold:
    """``source`` compared with ``value`` (``gt`` or ``lt``)."""

    ref: str
    source: str
    evaluator: str
    value: float


Step = Query | Reduce | Math | Threshold


@dataclass(frozen=True)
class AlertRule:
    """One rule: its steps (the last one is the condition), how long it must hold, and what it tells."""

    uid: str
    title: str
    summary: str  # what it means for an operator, and what to look at
    steps: tuple[Step, ...]
    pending: str = "0s"
    severity: str = "warning"
    no_data: str = "OK"  # no point at all: nothing to watch (the replay is not running, or the models are off)
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def condition(self) -> str:
        """The refId whose result fires the rule."""
        return self.steps[-1].ref


def _heartbeat(select: str) -> str:
    return f'SELECT {select} FROM "replay_heartbeat" WHERE $timeFilter'


RULES: tuple[AlertRule, ...] = (
    AlertRule(
        "ecom-replay-silent", "Replay silent while it should be running",
        f"No replayed hour has written its points for {SILENCE_MINUTES} to {SILENCE_MINUTES + 1} minutes although "
        "the replay had hours left: the daemon, the sensor or the run queue has stopped. Check `dagster-daemon` "
        "and the sensor's ticks in the Dagster UI.",
        (Query("A", _heartbeat('last("hours_left")'), 6 * 3600),
         Query("B", _heartbeat(f'moving_average(count("hours_left"), {SILENCE_MINUTES + 1})')
               + " GROUP BY time(1m) fill(0)", 6 * 3600),
         Reduce("HOURS_LEFT", "A"), Reduce("RECENT", "B"),
         Math("C", "$RECENT == 0 && $HOURS_LEFT > 0")),
        severity="critical"),
    AlertRule(
        "ecom-latency-high", "Points reach the dashboards more than 10 s after their request",
        "The 95th percentile of request-to-points latency over the last 5 minutes is above the specification's "
        "10 s bar: hours queue behind each other. Look at the step time on the real-time dashboard.",
        (Query("A", _heartbeat('percentile("end_to_end_s", 95)'), 300), Reduce("B", "A"),
         Threshold("C", "B", "gt", LATENCY_BAR_S)),
        pending="1m"),
    AlertRule(
        "ecom-lag-growing", "Replay falling behind its cadence",
        "The replay is over a minute further behind its 10-second cadence than 10 minutes ago: each hour takes "
        "longer than 10 s and a backlog grows. Turn the models off (ECOM_REPLAY_MODELS) or slow the cadence.",
        (Query("A", _heartbeat('last("lag_s") - first("lag_s")'), 600), Reduce("B", "A"),
         Threshold("C", "B", "gt", LAG_GROWTH_S))),
    AlertRule(
        "ecom-churn-high", "Segment churn between batches above 15%",
        "In the latest replayed hour more than 15% of a segment's users (or of all users: segment 'all') moved "
        "to another segment: the segmentation is unstable. Compare with the K-means re-fit's stability.",
        (Query("A", f'SELECT last("changed_share") FROM "segment_evolution" WHERE {REPLAY_SPAN} GROUP BY "segment"',
               REPLAY_SPAN_S),
         Reduce("B", "A"), Threshold("C", "B", "gt", CHURN_BAR))),
    AlertRule(
        "ecom-hit-rate-low", "Online HitRate@10 far below the offline figure",
        f"Over the last {HIT_RATE_HOURS} replayed hours the lists' online HitRate@10 (carts and purchases) "
        f"averaged under {HIT_RATE_FRACTION:.0%} of the hybrid's offline figure: the models no longer fit what "
        "users do. Check the models' replay step and re-train.",
        (Query("A", f'SELECT moving_average("hit_rate_at_10", {HIT_RATE_HOURS}) FROM "recommendation_metrics" '
                    f"""WHERE "kind" = 'online' AND "segment" = 'all' AND "target" = 'cart_purchase' """
                    f"AND {REPLAY_SPAN}", REPLAY_SPAN_S),
         Query("B", 'SELECT last("hit_rate_at_10") FROM "recommendation_metrics" WHERE "kind" = \'offline\' '
                    f"""AND "recommender" = 'hybrid' AND "target" = 'cart_or_purchase' AND {REPLAY_SPAN}""",
               REPLAY_SPAN_S),
         Reduce("ONLINE", "A"), Reduce("OFFLINE", "B"),
         Math("C", f"$ONLINE < {HIT_RATE_FRACTION} * $OFFLINE"))),
    AlertRule(
        "ecom-segment-size", "A segment emptying or doubling",
        f"A segment's size in the latest replayed hour is under half or over twice its size {SIZE_HOURS} replayed "
        "hours before: the segments no longer describe the customers. Look at the segments dashboard.",
        (Query("A", 'SELECT last("users") / first("users") FROM (SELECT "users" FROM "segment_evolution" '
                    f"""WHERE "segment" != 'all' AND {REPLAY_SPAN} GROUP BY "segment" ORDER BY time DESC """
                    f'LIMIT {SIZE_HOURS + 1}) GROUP BY "segment" ORDER BY time DESC', REPLAY_SPAN_S),
         Reduce("RATIO", "A"), Math("C", f"$RATIO < {SIZE_RATIO_LOW} || $RATIO > {SIZE_RATIO_HIGH}"))),
)


def _step_json(step: Step) -> dict:
    """One entry of a rule's ``data``: a datasource query or a server-side expression."""
    if isinstance(step, Query):
        return {"refId": step.ref, "relativeTimeRange": {"from": step.seconds, "to": 0},
                "datasourceUid": DATASOURCE_UID,
                "model": {"refId": step.ref, "query": step.influxql, "rawQuery": True, "resultFormat": "time_series",
                          "intervalMs": 1000, "maxDataPoints": 43200}}
    model: dict = {"refId": step.ref, "datasource": {"type": EXPRESSION_UID, "uid": EXPRESSION_UID}}
    if isinstance(step, Reduce):
        model.update(type="reduce", expression=step.source, reducer=step.reducer, settings={"mode": "dropNN"})
    elif isinstance(step, Math):
        model.update(type="math", expression=step.expression)
    else:
        model.update(type="threshold", expression=step.source,
                     conditions=[{"evaluator": {"type": step.evaluator, "params": [step.value]}}])
    return {"refId": step.ref, "relativeTimeRange": {"from": 0, "to": 0}, "datasourceUid": EXPRESSION_UID,
            "model": model}


def rule_json(rule: AlertRule) -> dict:
    """A rule in Grafana's file-provisioning format."""
    return {"uid": rule.uid, "title": rule.title, "condition": rule.condition,
            "data": [_step_json(step) for step in rule.steps], "noDataState": rule.no_data,
            "execErrState": "Error", "for": rule.pending, "isPaused": False,
            "annotations": {"summary": rule.summary},
            "labels": {"severity": rule.severity, "project": "ecommerce-analytics", **rule.labels}}


def alert_rules_file() -> dict:
    """``grafana/provisioning/alerting/rules.yaml``: one group of every rule, in the dashboards' folder."""
    return {"apiVersion": 1, "groups": [{"orgId": 1, "name": GROUP, "folder": FOLDER, "interval": GROUP_INTERVAL,
                                         "rules": [rule_json(rule) for rule in RULES]}]}


def notifications_file() -> dict:
    """``grafana/provisioning/alerting/notifications.yaml``: a webhook contact point (its URL from Grafana's
    environment) and the policy routing every alert to it (it replaces the organisation's default policy)."""
    return {"apiVersion": 1,
            "contactPoints": [{"orgId": 1, "name": CONTACT_POINT, "receivers": [{
                "uid": "ecom-operator-webhook", "type": "webhook", "disableResolveMessage": False,
                "settings": {"url": WEBHOOK_URL, "httpMethod": "POST"}}]}],
            "policies": [{"orgId": 1, "receiver": CONTACT_POINT, "group_by": ["grafana_folder", "alertname"],
                          "group_wait": "10s", "group_interval": "1m", "repeat_interval": "4h"}]}
