"""The report's charts: a few plain matplotlib shapes, written as PNG files (no display needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display, no GUI toolkit

import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend

COLOURS = ("#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#c53030", "#718096", "#d69e2e", "#319795")
DPI = 110


MAX_TICKS = 16


def _thin_ticks(axes: plt.Axes, labels: Sequence[str]) -> None:
    """At most ``MAX_TICKS`` labels on the x axis (a month of days stays readable)."""
    step = max(1, -(-len(labels) // MAX_TICKS))
    positions = list(range(0, len(labels), step))
    axes.set_xticks(positions, [str(labels[i]) for i in positions], fontsize=8,
                    rotation=45 if len(positions) > 8 else 0)


def _save(figure: plt.Figure, path: Path) -> Path:
    """Write ``figure`` to ``path`` and free it."""
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
    return path


def bars(path: Path, labels: Sequence[str], values: Sequence[float], title: str, xlabel: str = "",
         horizontal: bool = False, highlight: Sequence[str] = ()) -> Path:
    """One series of bars (horizontal for long labels); bars named in ``highlight`` stand out."""
    figure, axes = plt.subplots(figsize=(8, max(3.0, 0.32 * len(labels) + 1) if horizontal else 3.6))
    colours = [COLOURS[1] if label in highlight else COLOURS[0] for label in labels]
    if horizontal:
        axes.barh(list(labels)[::-1], list(values)[::-1], color=colours[::-1])
        axes.set_xlabel(xlabel)
    else:
        axes.bar(range(len(labels)), list(values), color=colours)
        axes.set_ylabel(xlabel)
        _thin_ticks(axes, list(labels))
    axes.set_title(title)
    axes.grid(axis="x" if horizontal else "y", alpha=0.3)
    return _save(figure, path)


def lines(path: Path, x: Sequence, series: Mapping[str, Sequence[float]], title: str, ylabel: str = "",
          marks: Mapping[str, float] | None = None, log: bool = False) -> Path:
    """Several series over the same x; ``marks`` draws labelled horizontal lines (targets, bars to meet)."""
    figure, axes = plt.subplots(figsize=(8, 3.6))
    for colour, (name, values) in zip(COLOURS, series.items(), strict=False):
        axes.plot(range(len(x)), list(values), label=name, color=colour, marker="o" if len(x) <= 12 else None, lw=1.6)
    for (name, value), colour in zip((marks or {}).items(), ("#c53030", "#718096"), strict=False):
        axes.axhline(value, color=colour, ls="--", lw=1, label=name)
    if log:
        axes.set_yscale("log")
    axes.set_title(title)
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    _thin_ticks(axes, list(x))
    return _save(figure, path)


def grouped_bars(path: Path, groups: Sequence[str], series: Mapping[str, Sequence[float]], title: str,
                 ylabel: str = "", errors: Mapping[str, Sequence[float]] | None = None) -> Path:
    """Bars of several series side by side for each group, with optional error bars (spread over folds)."""
    figure, axes = plt.subplots(figsize=(8, 3.8))
    width = 0.8 / max(len(series), 1)
    for i, (colour, (name, values)) in enumerate(zip(COLOURS, series.items(), strict=False)):
        positions = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
        axes.bar(positions, list(values), width, label=name, color=colour,
                 yerr=list(errors[name]) if errors and name in errors else None, capsize=3)
    axes.set_xticks(range(len(groups)), list(groups), fontsize=8, rotation=20 if len(groups) > 4 else 0)
    axes.set_title(title)
    axes.set_ylabel(ylabel)
    axes.grid(axis="y", alpha=0.3)
    axes.legend(fontsize=8)
    return _save(figure, path)


def histogram(path: Path, values: Sequence[float], title: str, xlabel: str, marks: Mapping[str, float]) -> Path:
    """The distribution of ``values`` with vertical lines at ``marks`` (the specification's bars)."""
    figure, axes = plt.subplots(figsize=(8, 3.4))
    axes.hist(list(values), bins=min(40, max(5, len(values) // 3)), color=COLOURS[0], alpha=0.85)
    for (name, value), colour in zip(marks.items(), ("#c53030", "#dd6b20", "#718096"), strict=False):
        axes.axvline(value, color=colour, ls="--", lw=1.2, label=name)
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel("hours")
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)
    return _save(figure, path)
