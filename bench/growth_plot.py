"""Growth with size: time and peak memory of the main command against rows, from `bench/full_scale.py`'s tables.

Reads every ``full-<rows>`` section of ``docs/benchmarks.md`` (one per size measured), draws per-asset
wall time and the run's peak resident memory against rows (log-log, one PNG), and prints each asset's
growth exponent between the smallest and the largest size (1 = linear; above ~1.15, faster than
linear, which the docs must name and explain).

    python bench/growth_plot.py                     # -> docs/growth.png
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SECTION = re.compile(r"<!-- full-(?P<rows>\d+):start -->(?P<body>.*?)<!-- full-(?P=rows):end -->", re.S)
ROW = re.compile(r"^\| `(?P<asset>[a-z_]+)` \| (?P<seconds>[\d,]+) \| [\d,]+ \| (?P<peak>[\d.]+) \|"
                 r"(?:[^|\n]*\|)? (?P<outcome>[a-zA-Z ]+) \|$", re.M)
TOTAL = re.compile(r"([\d.]+) min in all")
PEAK = re.compile(r"peak resident memory of the group ([\d.]+) GiB")
FASTER_THAN_LINEAR = 1.15


@dataclass(frozen=True)
class Run:
    """One size's measurement: total minutes, peak GiB and seconds per asset."""

    rows: int
    minutes: float
    peak_gib: float
    seconds: dict[str, float]


def read_runs(text: str) -> list[Run]:
    """Every ``full-<rows>`` section of a benchmarks page, smallest first (a clear error when a section
    lacks its totals)."""
    runs = []
    for match in SECTION.finditer(text):
        body, rows = match.group("body"), int(match.group("rows"))
        total, peak = TOTAL.search(body), PEAK.search(body)
        if not total or not peak:
            raise ValueError(f"section full-{rows} has no total time or peak memory line")
        # a failed or cut-short step's time is not the asset's time: left out of the growth
        seconds = {m.group("asset"): float(m.group("seconds").replace(",", "")) for m in ROW.finditer(body)
                   if m.group("outcome") == "ok"}
        runs.append(Run(rows, float(total.group(1)), float(peak.group(1)), seconds))
    return sorted(runs, key=lambda r: r.rows)


def exponents(runs: list[Run]) -> dict[str, float]:
    """Each asset's growth exponent between the smallest and the largest run (time ~ rows^exponent)."""
    first, last = runs[0], runs[-1]
    ratio = math.log(last.rows / first.rows)
    return {asset: math.log(max(last.seconds[asset], 1.0) / max(first.seconds[asset], 1.0)) / ratio
            for asset in first.seconds if asset in last.seconds}


def plot(runs: list[Run], out: Path, top: int = 8) -> None:
    """Two panels: the slowest assets' seconds and the whole run's minutes, and the peak memory, against rows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r.rows / 1e6 for r in runs]
    slowest = sorted(runs[-1].seconds, key=runs[-1].seconds.get, reverse=True)[:top]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5))
    for asset in slowest:
        left.plot(rows, [r.seconds.get(asset, float("nan")) / 60 for r in runs], marker="o", label=asset)
    left.plot(rows, [r.minutes for r in runs], marker="s", color="black", linewidth=2, label="whole run")
    left.set(xscale="log", yscale="log", xlabel="rows (millions, generated)", ylabel="minutes",
             title="Wall time per asset (2 cores, 16 GiB group)")
    left.legend(fontsize=8)
    right.plot(rows, [r.peak_gib for r in runs], marker="o", color="tab:red")
    right.axhline(16, color="grey", linestyle="--", label="the group's limit (16 GiB)")
    right.set(xscale="log", xlabel="rows (millions, generated)", ylabel="GiB", ylim=(0, 17),
              title="Peak resident memory of the group")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def main(argv: list[str] | None = None) -> int:
    """Read, print the exponents, draw."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--page", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "growth.png")
    args = parser.parse_args(argv)
    runs = read_runs(args.page.read_text(encoding="utf-8"))
    if len(runs) < 2:
        print(f"{args.page} holds {len(runs)} full-<rows> section(s): growth needs two sizes at least")
        return 1
    print("sizes:", ", ".join(f"{r.rows:,} rows: {r.minutes} min, peak {r.peak_gib} GiB" for r in runs))
    for asset, exponent in sorted(exponents(runs).items(), key=lambda kv: -kv[1]):
        flag = "  <- faster than linear" if exponent > FASTER_THAN_LINEAR else ""
        print(f"  {asset:24s} time ~ rows^{exponent:.2f}{flag}")
    plot(runs, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
