"""Write the dashboards' JSON under ``grafana/dashboards/`` (what Grafana's file provider loads), or check it."""

from __future__ import annotations

import json
from pathlib import Path

from ecom_assets.dashboards.boards import DASHBOARDS

DASHBOARD_DIR = Path(__file__).resolve().parents[2] / "grafana" / "dashboards"


def rendered() -> dict[str, str]:
    """File name -> JSON text of every dashboard, exactly as committed."""
    return {f"{name}.json": json.dumps(build(), indent=2, sort_keys=True) + "\n" for name, build in DASHBOARDS.items()}


def export(folder: Path = DASHBOARD_DIR) -> list[Path]:
    """Write every dashboard's JSON into ``folder``; returns the files."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in rendered().items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale(folder: Path = DASHBOARD_DIR) -> list[str]:
    """The dashboard files in ``folder`` that differ from what the code generates (or are missing)."""
    return [name for name, text in rendered().items()
            if not (folder / name).is_file() or (folder / name).read_text(encoding="utf-8") != text]
