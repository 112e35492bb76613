"""What a report section holds: a business reading, figures with a sentence each, tables, and what is missing."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class Figure:
    """A PNG in the report's folder and the sentence that says what it shows."""

    path: Path
    caption: str


@dataclass(frozen=True)
class Table:
    """A small table and its caption."""

    caption: str
    frame: pd.DataFrame


@dataclass
class Section:
    """One part of the report (data, behaviour, segments, recommendations, replay)."""

    key: str
    title: str
    reading: list[str] = field(default_factory=list)  # what the numbers mean for the shop
    blocks: list[Figure | Table] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # what could not be shown, and how to get it

    def figure(self, path: Path, caption: str) -> None:
        """Add a figure."""
        self.blocks.append(Figure(path, caption))

    def table(self, caption: str, frame: pd.DataFrame) -> None:
        """Add a table."""
        self.blocks.append(Table(caption, frame))

    @property
    def figures(self) -> list[Figure]:
        """The section's figures."""
        return [b for b in self.blocks if isinstance(b, Figure)]


def count(value: float) -> str:
    """12,345 (large numbers read better with separators)."""
    return f"{int(round(value)):,}"


def share(value: float, digits: int = 1) -> str:
    """0.1234 -> 12.3%."""
    return f"{100 * value:.{digits}f}%"
