"""Build the report: each section in turn (progress shown), then ``index.html`` and ``report.md``."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ecom_assets.report import behaviour, data, recommendations, replay, segments
from ecom_assets.report.content import Section
from ecom_assets.report.render import to_html, to_markdown
from ecom_assets.report.sources import Sources

SECTIONS: tuple[tuple[str, Callable[[Sources, Path], Section]], ...] = (
    ("data", data.section), ("behaviour", behaviour.section), ("segments", segments.section),
    ("recommendations", recommendations.section), ("replay", replay.section))
TITLE = "E-commerce analytics: technical report"


@dataclass(frozen=True)
class BuiltReport:
    """Where the report went and what it holds."""

    html: Path
    markdown: Path
    sections: list[Section]
    seconds: float

    @property
    def figure_count(self) -> int:
        """How many figures the report holds."""
        return sum(len(s.figures) for s in self.sections)

    def describe(self) -> str:
        """One line for the command line."""
        missing = sum(len(s.missing) for s in self.sections)
        gaps = f"; {missing} part(s) not shown (said why in the report)" if missing else ""
        return (f"report: {self.html} (and {self.markdown.name}), {len(self.sections)} sections, "
                f"{self.figure_count} figures, {self.seconds:.1f} s{gaps}")


def build_report(sources: Sources, out: Path, progress: Callable[[str], None] = print) -> BuiltReport:
    """Every section from ``sources`` into ``out`` (created; earlier figures replaced)."""
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    sections = []
    for number, (name, build) in enumerate(SECTIONS, start=1):
        lap = time.perf_counter()
        progress(f"report: {name} ({number}/{len(SECTIONS)})...")
        section = build(sources, out)
        sections.append(section)
        progress(f"report: {name} done in {time.perf_counter() - lap:.1f} s, {len(section.figures)} figure(s)")
    subtitle = f"From the lake at {sources.lake.root}."
    html_path, markdown_path = out / "index.html", out / "report.md"
    html_path.write_text(to_html(sections, TITLE, subtitle), encoding="utf-8")
    markdown_path.write_text(to_markdown(sections, TITLE, subtitle), encoding="utf-8")
    return BuiltReport(html_path, markdown_path, sections, time.perf_counter() - started)
