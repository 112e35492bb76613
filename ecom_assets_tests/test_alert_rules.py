"""Grafana alert rules: the provisioning files are generated, well formed and keep secrets out; each rule
fires on points that must fire it and stays quiet on points that must not, against a real InfluxDB."""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid

import pytest
import yaml

from ecom_assets.dashboards.alert_rules import EXPRESSION_UID, FOLDER, RULES, WEBHOOK_URL
from ecom_assets.dashboards.builder import DATASOURCE_UID
from ecom_assets.dashboards.export import ALERTING_DIR, stale
from ecom_assets.publishing.measurements import (
    RECOMMENDATION_METRICS,
    REPLAY_HEARTBEAT,
    SEGMENT_EVOLUTION,
    point,
)
from ecom_assets.publishing.sinks import V1Sink
from ecom_assets_tests.conftest import REPO_ROOT, TrainedLake
from ecom_assets_tests.grafana_alerts import NO_LABELS, evaluate_rule, math, run_query, time_filter

DURATION = re.compile(r"^\d+[smhd]$")
NOW = int(time.time())


def _files() -> tuple[dict, dict]:
    rules = yaml.safe_load((ALERTING_DIR / "rules.yaml").read_text())
    notifications = yaml.safe_load((ALERTING_DIR / "notifications.yaml").read_text())
    return rules, notifications


def _rule(uid: str) -> dict:
    rules, _ = _files()
    return next(r for group in rules["groups"] for r in group["rules"] if r["uid"] == uid)


def test_the_provisioning_files_are_current_and_well_formed() -> None:
    assert [name for name in stale() if "alerting" in name] == []
    rules, notifications = _files()
    assert rules["apiVersion"] == 1 and notifications["apiVersion"] == 1
    [group] = rules["groups"]
    assert group["folder"] == FOLDER and group["orgId"] == 1 and DURATION.match(group["interval"])
    uids = [r["uid"] for r in group["rules"]]
    assert len(uids) == len(set(uids)) == len(RULES) and all(len(uid) <= 40 for uid in uids)
    for rule in group["rules"]:
        refs = [step["refId"] for step in rule["data"]]
        assert len(refs) == len(set(refs)) and rule["condition"] == refs[-1], rule["uid"]
        assert DURATION.match(rule["for"]) and rule["noDataState"] in {"OK", "NoData", "Alerting", "KeepLast"}
        assert rule["execErrState"] in {"Error", "Alerting", "OK", "KeepLast"} and rule["annotations"]["summary"]
        for step in rule["data"]:
            assert step["datasourceUid"] in {DATASOURCE_UID, EXPRESSION_UID}, rule["uid"]
            assert step["model"]["refId"] == step["refId"]
            if step["datasourceUid"] == DATASOURCE_UID:
                assert step["relativeTimeRange"]["from"] > step["relativeTimeRange"]["to"] >= 0
                assert step["model"]["rawQuery"] is True
            else:  # an expression only names earlier steps
                used = set(re.findall(r"\$(\w+)", step["model"]["expression"])) or {step["model"]["expression"]}
                assert used <= set(refs[:refs.index(step["refId"])]), (rule["uid"], used)
    [contact] = notifications["contactPoints"]
    [receiver] = contact["receivers"]
    assert receiver["type"] == "webhook" and receiver["settings"]["url"] == WEBHOOK_URL == "${ECOM_ALERT_WEBHOOK_URL}"
    [policy] = notifications["policies"]
    assert policy["receiver"] == contact["name"]
    assert all(DURATION.match(policy[k]) for k in ("group_wait", "group_interval", "repeat_interval"))


def test_grafana_gets_the_webhook_url_from_the_environment_and_the_compose_file_mounts_the_rules() -> None:
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    environment = compose["services"]["grafana"]["environment"]
    assert environment["ECOM_ALERT_WEBHOOK_URL"].startswith("${ECOM_ALERT_WEBHOOK_URL:-")
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in compose["services"]["grafana"]["volumes"]
    example = (REPO_ROOT / ".env.example").read_text()
    assert re.search(r"^ECOM_ALERT_WEBHOOK_URL=$", example, re.MULTILINE)  # a placeholder, never a value


def test_math_joins_a_scalar_with_every_labelled_series() -> None:
    top, casual = frozenset({("segment", "Top")}), frozenset({("segment", "Casual")})
    results = {"A": {top: 0.2, casual: 0.01}, "B": {NO_LABELS: 0.1}}
    assert math("$A > $B && $B > 0", results) == {top: 1.0, casual: 0.0}
    assert math("$A < 0.5 || $A > 2", {"A": {top: 3.0}}) == {top: 1.0}


@pytest.fixture()
def sink(influx_url: str) -> V1Sink:
    """A fresh database on the test InfluxDB."""
    database = V1Sink(influx_url, f"alerts_{uuid.uuid4().hex[:8]}")
    database.ensure_database()
    return database


def _ago(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(NOW - seconds, dt.UTC)


def _beats(sink: V1Sink, ages: list[int], hours_left: int = 100, end_to_end: float = 3.0,
           lag: list[float] | None = None) -> None:
    """Heartbeats written ``ages`` seconds before now (oldest first)."""
    lags = lag or [2.0] * len(ages)
    sink.write("heartbeats", [point(REPLAY_HEARTBEAT, _ago(age), {
        "step_s": 1.0, "end_to_end_s": end_to_end, "lag_s": lags[i], "hours_left": max(0, hours_left - i),
        "simulated_hour": "2019-11-01 00:00"}) for i, age in enumerate(ages)])


def _replayed_hour(i: int) -> dt.datetime:
    """The i-th replayed hour as the replay stamps it: November shifted to the weeks before now."""
    return _ago(20 * 86400) + dt.timedelta(hours=i)


def _evolution(sink: V1Sink, segment: str, users: list[int], changed: list[float]) -> None:
    sink.write(f"evolution-{segment}", [
        point(SEGMENT_EVOLUTION, _replayed_hour(i), {"users": u, "changed_share": c}, {"segment": segment})
        for i, (u, c) in enumerate(zip(users, changed, strict=True))])


def _state(uid: str, sink: V1Sink) -> dict:
    return {dict(labels).get("segment", ""): state for labels, state in evaluate_rule(_rule(uid), sink, NOW).items()}


def test_replay_silent_fires_after_two_quiet_minutes_only_while_hours_are_left(sink: V1Sink) -> None:
    assert _state("ecom-replay-silent", sink) == {"": "Normal"}  # no replay at all: nothing to watch
    _beats(sink, list(range(900, 170, -10)), hours_left=500)  # beat every 10 s, then silent for 3 minutes
    assert _state("ecom-replay-silent", sink) == {"": "Alerting"}


def test_replay_silent_stays_quiet_while_beating_or_when_done(sink: V1Sink, influx_url: str) -> None:
    _beats(sink, list(range(900, -1, -10)), hours_left=500)
    assert _state("ecom-replay-silent", sink) == {"": "Normal"}
    done = V1Sink(influx_url, f"alerts_{uuid.uuid4().hex[:8]}")
    done.ensure_database()
    _beats(done, list(range(900, 170, -10)), hours_left=72)  # the last of 73 beats said 0 hours left: finished
    assert _state("ecom-replay-silent", done) == {"": "Normal"}


@pytest.mark.parametrize(("end_to_end", "expected"), [(12.5, "Alerting"), (4.0, "Normal")])
def test_latency_above_ten_seconds(sink: V1Sink, end_to_end: float, expected: str) -> None:
    _beats(sink, list(range(280, 0, -10)), end_to_end=end_to_end)
    assert _state("ecom-latency-high", sink) == {"": expected}


@pytest.mark.parametrize(("growth", "expected"), [(8.0, "Alerting"), (0.0, "Normal")])
def test_lag_growing(sink: V1Sink, growth: float, expected: str) -> None:
    ages = list(range(590, 0, -10))
    _beats(sink, ages, lag=[3.0 + growth * i / 4 for i in range(len(ages))])  # up to ~120 s more in 10 min
    assert _state("ecom-lag-growing", sink) == {"": expected}


def test_churn_fires_per_segment_on_the_latest_hour(sink: V1Sink) -> None:
    _evolution(sink, "Top customers", [100] * 5, [0.01, 0.01, 0.30, 0.01, 0.20])  # latest hour: 20%
    _evolution(sink, "Casual browsers", [900] * 5, [0.01, 0.40, 0.01, 0.01, 0.02])  # spiked earlier only
    _evolution(sink, "all", [1000] * 5, [0.01, 0.01, 0.05, 0.01, 0.04])
    assert _state("ecom-churn-high", sink) == {"Top customers": "Alerting", "Casual browsers": "Normal",
                                               "all": "Normal"}


def _hit_rates(sink: V1Sink, online: list[float], offline: float) -> None:
    lines = [point(RECOMMENDATION_METRICS, _replayed_hour(i), {"users": 100, "hit_rate_at_10": v},
                   {"kind": "online", "segment": "all", "recommender": "hybrid", "target": "cart_purchase"})
             for i, v in enumerate(online)]
    lines.append(point(RECOMMENDATION_METRICS, _replayed_hour(0), {"users": 500, "hit_rate_at_10": offline},
                       {"kind": "offline", "segment": "all", "recommender": "hybrid", "target": "cart_or_purchase"}))
    sink.write("hit-rates", lines)


@pytest.mark.parametrize(("online", "expected"), [
    ([0.10] * 4 + [0.02] * 6, "Alerting"),  # six hours under a quarter of 0.40
    ([0.02] * 4 + [0.12] * 5 + [0.02], "Normal"),  # one bad hour is not several
])
def test_online_hit_rate_far_below_offline_for_hours(sink: V1Sink, online: list[float], expected: str) -> None:
    _hit_rates(sink, online, offline=0.40)
    assert _state("ecom-hit-rate-low", sink) == {"": expected}


def test_a_segment_emptying_or_doubling(sink: V1Sink) -> None:
    hours = 40
    _evolution(sink, "Growing", [100 + 10 * i for i in range(hours)], [0.0] * hours)  # 250 -> 490 in 24 h
    _evolution(sink, "Shrinking", [1000 - 20 * i for i in range(hours)], [0.0] * hours)  # 700 -> 220 in 24 h
    _evolution(sink, "Steady", [500 + (i % 3) for i in range(hours)], [0.0] * hours)
    _evolution(sink, "all", [1600] * hours, [0.0] * hours)  # the total is not a segment
    assert _state("ecom-segment-size", sink) == {"Growing": "Normal", "Shrinking": "Alerting", "Steady": "Normal"}
    _evolution(sink, "Doubling", [100] * 20 + [150, 180, 210, 240], [0.0] * 24)
    assert _state("ecom-segment-size", sink)["Doubling"] == "Alerting"


def test_every_rule_runs_on_a_real_replays_points(replayed: TrainedLake, sink: V1Sink) -> None:
    """The replay writes what the rules read, heartbeats included, and every rule's queries run on it: each
    returns series, evaluated just after the last heartbeat (only the 6-hour mean needs more than 5 hours)."""
    folder = replayed.root / "lake" / "temp" / "influx" / "ecommerce_analytics"
    beats = [path.read_text().strip() for path in sorted(folder.glob("replay_heartbeat-*.lp"))]
    assert [int(re.search(r"hours_left=(\d+)i", line).group(1)) for line in beats] == [4, 3, 2, 1, 0]
    for path in sorted(folder.glob("*.lp")):
        sink.write(path.name, path.read_text().splitlines())
    evaluated_at = int(beats[-1].rsplit(" ", 1)[1]) + 5
    empty = set()
    for rule in RULES:
        provisioned = _rule(rule.uid)
        for step in provisioned["data"]:
            if step["datasourceUid"] == DATASOURCE_UID:
                query = step["model"]["query"].replace("$timeFilter", time_filter(evaluated_at, step["relativeTimeRange"]))
                if not run_query(sink, query):
                    empty.add((rule.uid, step["refId"]))
        assert evaluate_rule(provisioned, sink, evaluated_at)
    assert empty == {("ecom-hit-rate-low", "A")}
