"""Grafana dashboard JSON from plain Python: panels with InfluxQL targets, laid out on the 24-column grid.

``grafana-foundation-sdk`` has no InfluxDB query builder, so panels are plain dicts. Every panel reads
the provisioned datasource (uid :data:`DATASOURCE_UID`) with raw InfluxQL, which works on InfluxDB
1.8+, on 2.x through its v1 query API (with a DBRP mapping) and on 3.x.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DATASOURCE_UID = "ecom-influxdb"
DATASOURCE = {"type": "influxdb", "uid": DATASOURCE_UID}
SCHEMA_VERSION = 39
GRID_WIDTH = 24
REFRESH = "5s"
# The replay writes November into the 30 days before it started (plus up to 9 days after): all of it.
TIME_RANGE = {"from": "now-30d", "to": "now+10d"}


@dataclass
class Panel:
    """One panel: its type, title, InfluxQL queries and size; ``extra`` is merged into the JSON."""

    kind: str
    title: str
    queries: list[str]
    width: int = 12
    height: int = 8
    unit: str = ""
    table: bool = False
    description: str = ""
    thresholds: list[tuple[float, str]] = field(default_factory=list)
    extra: dict = field(default_factory=dict)


def _thresholds(steps: list[tuple[float, str]]) -> dict:
    """Grafana threshold steps: green below the first value, then each colour from its value."""
    return {"mode": "absolute",
            "steps": [{"color": "green", "value": None}] + [{"color": c, "value": v} for v, c in steps]}


def panel_json(panel: Panel, panel_id: int, x: int, y: int) -> dict:
    """The JSON of one panel at grid position (x, y)."""
    defaults: dict = {}
    if panel.unit:
        defaults["unit"] = panel.unit
    if panel.thresholds:
        defaults["thresholds"] = _thresholds(panel.thresholds)
        if panel.kind == "timeseries":
            defaults["custom"] = {"thresholdsStyle": {"mode": "line"}}
    targets = [{"refId": chr(ord("A") + i), "datasource": DATASOURCE, "query": q, "rawQuery": True,
                "resultFormat": "table" if panel.table else "time_series"} for i, q in enumerate(panel.queries)]
    result = {
        "id": panel_id, "type": panel.kind, "title": panel.title, "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": panel.width, "h": panel.height},
        "targets": targets, "fieldConfig": {"defaults": defaults, "overrides": []}, "options": {},
    }
    if panel.description:
        result["description"] = panel.description
    result.update(panel.extra)
    return result


def layout(panels: list[Panel]) -> list[dict]:
    """Panels placed left to right, wrapping to a new row when the 24 columns are full."""
    placed, x, y, row_height = [], 0, 0, 0
    for i, panel in enumerate(panels, start=1):
        if x + panel.width > GRID_WIDTH:
            x, y, row_height = 0, y + row_height, 0
        placed.append(panel_json(panel, i, x, y))
        x += panel.width
        row_height = max(row_height, panel.height)
    return placed


def query_variable(name: str, label: str, query: str, include_all: bool = True) -> dict:
    """A template variable filled by an InfluxQL ``SHOW TAG VALUES`` query."""
    return {"name": name, "label": label, "type": "query", "datasource": DATASOURCE, "query": query,
            "definition": query, "refresh": 2, "includeAll": include_all, "multi": True, "sort": 1,
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]} if include_all else {}}


def custom_variable(name: str, label: str, values: list[str]) -> dict:
    """A template variable with fixed values."""
    return {"name": name, "label": label, "type": "custom", "query": ",".join(values), "multi": False,
            "includeAll": False, "current": {"selected": True, "text": values[0], "value": values[0]},
            "options": [{"selected": i == 0, "text": v, "value": v} for i, v in enumerate(values)]}


def dashboard(uid: str, title: str, description: str, panels: list[Panel], variables: list[dict] | None = None) -> dict:
    """A whole dashboard: 5 s refresh, UTC, the replay's time range, the given panels and variables."""
    return {
        "uid": uid, "title": title, "description": description, "tags": ["ecommerce", "replay"],
        "timezone": "utc", "schemaVersion": SCHEMA_VERSION, "version": 1, "editable": True,
        "refresh": REFRESH, "time": TIME_RANGE, "timepicker": {"refresh_intervals": ["5s", "10s", "30s", "1m"]},
        "templating": {"list": variables or []}, "annotations": {"list": []}, "links": [],
        "panels": layout(panels),
    }
