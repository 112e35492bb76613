"""The package's shape: thin assets, and imports that follow the data's flow (no stage imports a later one)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "ecom_assets"
MAX_ASSET_BODY_LINES = 40
# Each unit may import only from units listed before it (the data flows one way; helpers sit below).
ORDER = ("lake", "settings", "schema", "table_metadata", "processes", "speedups", "publishing", "resources",
         "ingest", "behaviour", "segmentation", "recommendation", "replay", "dashboards", "report", "alerting", "shop_api", "runs", "definitions",
         "commands", "cli")


def _imports(unit_of: callable, root: Path, prefix: str) -> dict[str, set[str]]:
    """Which units the modules under ``root`` import (first name after ``prefix``), by importing unit."""
    edges: dict[str, set[str]] = defaultdict(set)
    for path in root.rglob("*.py"):
        source = unit_of(path.relative_to(root))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(prefix):
                target = node.module[len(prefix):].split(".")[0]
                if target and target != source:
                    edges[source].add(target)
    return edges


def test_asset_bodies_read_call_write_and_report_in_a_screen() -> None:
    long = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and any("asset" in ast.unparse(d) for d in node.decorator_list):
                first = node.body[0]
                start = first.end_lineno if isinstance(first, ast.Expr) else node.lineno  # after the docstring
                if node.end_lineno - start > MAX_ASSET_BODY_LINES:
                    long.append(f"{path.relative_to(PACKAGE)}:{node.name} ({node.end_lineno - start} lines)")
    assert long == [], "asset bodies over a screen: move their logic into plain functions"


def test_no_stage_imports_a_later_one() -> None:
    edges = _imports(lambda rel: rel.parts[0].removesuffix(".py"), PACKAGE, "ecom_assets.")
    backwards = [f"{source} -> {target}" for source, targets in edges.items() for target in targets
                 if source in ORDER and target in ORDER and ORDER.index(target) > ORDER.index(source)]
    unknown = sorted({unit for unit in edges} - set(ORDER) - {"__init__"})
    assert backwards == [] and unknown == []


def test_no_import_cycle_between_the_folders_of_a_stage() -> None:
    for stage in ("replay", "recommendation"):
        edges = _imports(lambda rel: rel.parts[0].removesuffix(".py"), PACKAGE / stage, f"ecom_assets.{stage}.")
        cycles = [f"{a} <-> {b}" for a, targets in edges.items() for b in targets if a in edges.get(b, set())]
        assert cycles == [], stage
