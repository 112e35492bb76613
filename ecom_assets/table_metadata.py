"""Dagster metadata for tables written to the lake: row counts, a markdown preview, the path."""

from __future__ import annotations

from typing import Any

import dagster as dg
from pyspark.sql import DataFrame

PREVIEW_ROWS = 10


def _cell(value: Any) -> str:
    """A value as a short markdown cell."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.4g}"
    if isinstance(value, list):
        text = " > ".join(str(v) for v in value[:8]) + (" ..." if len(value) > 8 else "")
    else:
        text = str(value)
    return text.replace("|", "/")[:60]


def markdown_preview(frame: DataFrame, rows: int = PREVIEW_ROWS) -> str:
    """The first ``rows`` rows of ``frame`` as a markdown table (only those rows reach the driver)."""
    head = frame.limit(rows).collect()
    columns = frame.columns
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row[c]) for c in columns) + " |" for row in head]
    return "\n".join(lines)


def table_metadata(frame: DataFrame, path: str, row_count: int, **extra: Any) -> dict[str, Any]:
    """Standard metadata for a written table plus ``extra`` key figures."""
    return {
        "path": dg.MetadataValue.path(path),
        "dagster/row_count": row_count,
        "preview": dg.MetadataValue.md(markdown_preview(frame)),
        **extra,
    }
