"""Grafana: the committed dashboards match the code, are well formed, and every panel's query returns data
from a real InfluxDB filled by a real replay; the provisioning and docker-compose files hold together."""

from __future__ import annotations

import json
import re
import uuid

import yaml

from ecom_assets.dashboards.builder import DATASOURCE_UID, GRID_WIDTH, REFRESH, SCHEMA_VERSION
from ecom_assets.dashboards.export import DASHBOARD_DIR, rendered, stale
from ecom_assets.publishing.sinks import V1Sink
from ecom_assets_tests.conftest import REPO_ROOT, TrainedLake

GRAFANA = REPO_ROOT / "grafana"


def _dashboards() -> dict[str, dict]:
    return {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARD_DIR.glob("*.json"))}


def test_committed_json_is_what_the_code_generates() -> None:
    assert stale() == []
    assert sorted(name for name in rendered() if name.startswith("dashboards/")) == [
        f"dashboards/{name}" for name in sorted(_dashboards())]


def test_dashboards_are_well_formed() -> None:
    boards = _dashboards()
    assert len(boards) == 4
    assert len({b["uid"] for b in boards.values()}) == 4
    for name, board in boards.items():
        assert board["refresh"] == REFRESH == "5s" and board["schemaVersion"] == SCHEMA_VERSION, name
        panels = board["panels"]
        assert len({p["id"] for p in panels}) == len(panels), name
        cells = set()
        for panel in panels:
            grid = panel["gridPos"]
            assert grid["x"] >= 0 and grid["x"] + grid["w"] <= GRID_WIDTH and grid["h"] > 0, (name, panel["title"])
            covered = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                       for y in range(grid["y"], grid["y"] + grid["h"])}
            assert not covered & cells, f"{name}: {panel['title']} overlaps another panel"
            cells |= covered
            assert panel["datasource"]["uid"] == DATASOURCE_UID
            assert panel["targets"] and all(t["datasource"]["uid"] == DATASOURCE_UID and t["rawQuery"]
                                            for t in panel["targets"])
        for variable in board["templating"]["list"]:
            if variable["type"] == "query":
                assert variable["datasource"]["uid"] == DATASOURCE_UID


def test_provisioning_points_at_the_dashboards_and_keeps_secrets_out() -> None:
    source = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "influxdb.yaml").read_text())
    [datasource] = source["datasources"]
    assert datasource["uid"] == DATASOURCE_UID and datasource["type"] == "influxdb"
    assert datasource["jsonData"]["version"] == "InfluxQL"
    assert datasource["url"] == "${INFLUX_URL}" and datasource["jsonData"]["dbName"] == "${INFLUX_DATABASE}"
    assert datasource["secureJsonData"]["httpHeaderValue1"] == "Token ${INFLUX_TOKEN}"
    [provider] = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "ecommerce.yaml").read_text())["providers"]
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    grafana = compose["services"]["grafana"]
    mounts = dict(v.rsplit(":", 1)[0].split(":", 1) for v in grafana["volumes"] if v.startswith("./"))
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    for service in compose["services"].values():
        assert all(port.startswith("127.0.0.1:") for port in service.get("ports", []))
    influx = compose["services"]["influxdb"]["environment"]
    assert influx["DOCKER_INFLUXDB_INIT_RETENTION"] == "30d" and influx["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    text = (REPO_ROOT / "docker-compose.yml").read_text()
    needed = set(re.findall(r"\$\{([A-Z_]+)", text))
    example = dict(line.split("=", 1) for line in (REPO_ROOT / ".env.example").read_text().splitlines()
                   if line and not line.startswith("#"))
    assert needed <= set(example), needed - set(example)
    assert ".env" in (REPO_ROOT / ".gitignore").read_text().split()


def _regex_alternation(values: list[str]) -> str:
    """How Grafana writes a multi-value variable inside an InfluxQL regex."""
    return "(" + "|".join(re.sub(r"([\\/^$.|?*+()\[\]{}])", r"\\\1", v) for v in values) + ")"


def _tag_values(sink: V1Sink, statement: str) -> list[str]:
    series = sink.query(statement)["results"][0].get("series", [])
    return [row[1] for s in series for row in s["values"]]


def _substitute(query: str, board: dict, sink: V1Sink) -> str:
    """Grafana's macros and the board's variables, as Grafana sends them (all values selected)."""
    for variable in board["templating"]["list"]:
        if variable["type"] == "custom":
            value = variable["current"]["value"]
        else:
            values = _tag_values(sink, variable["query"])
            assert values, f"variable {variable['name']} has no values"
            value = _regex_alternation(values)
        query = query.replace(f"${variable['name']}", value)
    return query.replace("$timeFilter", "time >= now() - 40d and time <= now() + 10d").replace("$__interval", "1h")


def test_every_panel_query_returns_data_from_a_replay(replayed: TrainedLake, influx_url: str) -> None:
    sink = V1Sink(influx_url, f"panels_{uuid.uuid4().hex[:8]}")
    sink.ensure_database()
    folder = replayed.root / "lake" / "temp" / "influx" / "ecommerce_analytics"
    files = sorted(folder.glob("*.lp"))
    assert {f.name.split("-")[0] for f in files} >= {"user_behavior", "product_popularity", "replay",
                                                      "segment_evolution", "recommendation_metrics"}
    for path in files:
        sink.write(path.name, path.read_text().splitlines())
    for name, board in _dashboards().items():
        for panel in board["panels"]:
            for target in panel["targets"]:
                query = _substitute(target["query"], board, sink)
                series = sink.query(query)["results"][0].get("series", [])
                where = f"{name} / {panel['title']}: {query}"
                assert series, f"no rows for {where}"
                grouped = [value for s in series for value in s.get("tags", {}).values()]
                assert all(grouped), f"a series without its tag value: {where}"
                columns = series[0]["columns"]
                for i, column in enumerate(columns):
                    assert any(row[i] is not None for s in series for row in s["values"]), f"{column} empty: {where}"
