"""A provisioned Grafana alert rule evaluated as Grafana's alerting engine does, against a real InfluxDB.

Grafana cannot be installed here, so this reads the committed provisioning file and runs each step
itself: the InfluxQL queries with ``$timeFilter`` written as Grafana writes it for the step's
``relativeTimeRange``, then the server-side expressions (reduce with nulls dropped, math, threshold),
one result per series labels (a result without labels joins every labelled one). A query that returns
no series makes the rule's result NoData, mapped by ``noDataState``. The pending period (``for``) is
Grafana's timer and is not simulated: ``Alerting`` here means the condition holds at this evaluation.
"""

from __future__ import annotations

import ast
import operator
import re
import statistics
from collections.abc import Callable

from ecom_assets.dashboards.builder import DATASOURCE_UID
from ecom_assets.publishing.sinks import V1Sink

Labels = frozenset[tuple[str, str]]
NO_LABELS: Labels = frozenset()
REDUCERS: dict[str, Callable[[list[float]], float]] = {
    "last": lambda v: v[-1], "mean": statistics.fmean, "max": max, "min": min, "sum": sum, "count": len}
NO_DATA_STATE = {"OK": "Normal", "Alerting": "Alerting", "NoData": "NoData", "KeepLast": "NoData"}


def time_filter(now_s: int, relative: dict) -> str:
    """``$timeFilter`` as Grafana's InfluxQL datasource writes it (epoch milliseconds)."""
    return f"time >= {(now_s - relative['from']) * 1000}ms and time <= {(now_s - relative['to']) * 1000}ms"


def run_query(sink: V1Sink, query: str) -> dict[Labels, list[float | None]]:
    """Series labels (the GROUP BY tags) -> the values of the query's single value column."""
    out: dict[Labels, list[float | None]] = {}
    for series in sink.query(query)["results"][0].get("series", []):
        assert len(series["columns"]) == 2, f"an alert query must return one value column: {query}"
        out[frozenset((series.get("tags") or {}).items())] = [row[1] for row in series["values"]]
    return out


def _pick(values: dict[Labels, float], labels: Labels) -> float | None:
    if labels in values:
        return values[labels]
    return values.get(NO_LABELS) if len(values) == 1 else None


_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
              ast.Gt: operator.gt, ast.Lt: operator.lt, ast.GtE: operator.ge, ast.LtE: operator.le,
              ast.Eq: operator.eq, ast.NotEq: operator.ne}


def _evaluate(node: ast.AST, names: dict[str, float]) -> float:
    """Grafana math's arithmetic, comparisons, ``&&`` and ``||`` (rewritten as and/or) on numbers."""
    if isinstance(node, ast.Expression):
        return _evaluate(node.body, names)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.Name):
        return names[node.id]
    if isinstance(node, ast.BinOp):
        return _OPERATORS[type(node.op)](_evaluate(node.left, names), _evaluate(node.right, names))
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        return float(_OPERATORS[type(node.ops[0])](_evaluate(node.left, names), _evaluate(node.comparators[0], names)))
    if isinstance(node, ast.BoolOp):
        values = [_evaluate(v, names) != 0 for v in node.values]
        return float(all(values) if isinstance(node.op, ast.And) else any(values))
    raise ValueError(f"not a Grafana math expression: {ast.dump(node)}")


def math(expression: str, results: dict[str, dict[Labels, float]]) -> dict[Labels, float]:
    """A math expression per label set of its operands."""
    refs = re.findall(r"\$(\w+)", expression)
    tree = ast.parse(re.sub(r"\$(\w+)", r"\1", expression).replace("&&", " and ").replace("||", " or "),
                     mode="eval")
    label_sets = {labels for ref in refs for labels in results[ref] if labels} or {NO_LABELS}
    out = {}
    for labels in label_sets:
        names = {ref: _pick(results[ref], labels) for ref in refs}
        if all(v is not None for v in names.values()):
            out[labels] = _evaluate(tree, names)  # type: ignore[arg-type]
    return out


def evaluate_rule(rule: dict, sink: V1Sink, now_s: int) -> dict[Labels, str]:
    """Series labels -> ``Alerting`` or ``Normal`` (or the noDataState's when a query returned nothing)."""
    results: dict[str, dict[Labels, float]] = {}
    raw: dict[str, dict[Labels, list[float | None]]] = {}
    for step in rule["data"]:
        model, ref = step["model"], step["refId"]
        if step["datasourceUid"] == DATASOURCE_UID:
            raw[ref] = run_query(sink, model["query"].replace("$timeFilter", time_filter(now_s, step["relativeTimeRange"])))
            if not raw[ref]:
                return {NO_LABELS: NO_DATA_STATE[rule["noDataState"]]}
        elif model["type"] == "reduce":
            assert model["settings"]["mode"] == "dropNN"
            reduce = REDUCERS[model["reducer"]]
            results[ref] = {labels: reduce(kept) for labels, values in raw[model["expression"]].items()
                            if (kept := [float(v) for v in values if v is not None])}
        elif model["type"] == "math":
            results[ref] = math(model["expression"], results)
        elif model["type"] == "threshold":
            [condition] = model["conditions"]
            compare = {"gt": operator.gt, "lt": operator.lt}[condition["evaluator"]["type"]]
            [bar] = condition["evaluator"]["params"]
            results[ref] = {labels: float(compare(v, bar)) for labels, v in results[model["expression"]].items()}
        else:
            raise ValueError(f"unknown expression type {model['type']}")
    return {labels: "Alerting" if value else "Normal" for labels, value in results[rule["condition"]].items()}
