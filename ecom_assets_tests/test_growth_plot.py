"""bench/growth_plot.py reads the tables bench/full_scale.py writes (a change to one must not break the other)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _growth_plot():
    spec = importlib.util.spec_from_file_location("growth_plot", REPO / "bench" / "growth_plot.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _section(rows: int, minutes: float, peak: float, seconds: dict[str, int]) -> str:
    lines = "\n".join(f"| `{a}` | {s:,} | 1,000 | 3.10 | 0 | ok |" for a, s in seconds.items())
    return (f"<!-- full-{rows}:start -->\n## The main command\n\nExit code 0; {minutes} min in all;\n"
            f"peak resident memory of the group {peak} GiB (kernel's peak usage with page cache\n12.00 GiB);\n\n"
            f"| asset | seconds | rows written | peak | spilled | outcome |\n|---|---:|---:|---:|---:|---|\n{lines}\n"
            f"<!-- full-{rows}:end -->\n")


def test_growth_reads_every_size_and_finds_what_grows_faster_than_linear() -> None:
    growth = _growth_plot()
    page = (_section(40_000_000, 50.0, 9.5, {"raw_events": 200, "hybrid_recs": 1_600})
            + "text between\n" + _section(10_000_000, 20.6, 7.87, {"raw_events": 50, "hybrid_recs": 300}))
    runs = growth.read_runs(page)
    assert [r.rows for r in runs] == [10_000_000, 40_000_000]
    assert runs[0].minutes == 20.6 and runs[0].peak_gib == 7.87 and runs[1].seconds["hybrid_recs"] == 1_600
    exponents = growth.exponents(runs)
    assert abs(exponents["raw_events"] - 1.0) < 1e-9 and exponents["hybrid_recs"] > growth.FASTER_THAN_LINEAR


def test_the_benchmarks_page_parses() -> None:
    growth = _growth_plot()
    runs = growth.read_runs((REPO / "docs" / "benchmarks.md").read_text(encoding="utf-8"))
    assert runs and all(r.seconds and r.peak_gib > 0 and r.minutes > 0 for r in runs)
