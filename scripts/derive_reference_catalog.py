"""Derive the generator's reference catalogue from the real REES46 rows kept in ``shared/data``.

Writes ``ecom_assets/ingest/generator/reference_catalog.json``: for every category code, its share of
November views (published aggregate), the real category ids, brands (with counts) and median price
seen in the real heads; the same for the category ids that have no code. Run once by a developer:
``python scripts/derive_reference_catalog.py ../shared/data``.
"""

from __future__ import annotations

import csv
import json
import statistics
import sys
from collections import Counter, defaultdict
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "ecom_assets/ingest/generator/reference_catalog.json"


def read_real_rows(data_dir: Path) -> list[list[str]]:
    """Complete 9-field rows of both real heads."""
    rows: list[list[str]] = []
    for name in ("rees46-real/2019-Oct-head-raw.csv", "rees46-real/2019-Nov-head-raw-noheader.csv"):
        with open(data_dir / name, newline="", encoding="utf-8") as handle:
            rows.extend(r for r in csv.reader(handle) if len(r) == 9 and r[0] != "event_time")
    return rows


def price_deciles(values: list[float], min_rows: int = 20) -> list[float] | None:
    """Row-weighted price at 0%, 10%, ..., 100% (None when too few rows to say)."""
    if len(values) < min_rows:
        return None
    ordered = sorted(values)
    return [round(ordered[min(int(q / 10 * (len(ordered) - 1)), len(ordered) - 1)], 2) for q in range(11)]


def main(data_dir: Path) -> None:
    """Build and write the reference catalogue JSON."""
    rows = read_real_rows(data_dir)
    views: dict[str, int] = {}
    with open(data_dir / "rees46-reference/nov2019_views_by_category_code_akashbu.csv", encoding="utf-8") as handle:
        for rec in csv.DictReader(handle):
            views[rec["category_code"]] = int(rec["view_events"])
    category_ids: dict[str, set[int]] = defaultdict(set)
    brands: dict[str, Counter[str]] = defaultdict(Counter)
    prices: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        code = row[4]
        category_ids[code].add(int(row[3]))
        if row[5]:
            brands[code][row[5]] += 1
        prices[code].append(float(row[6]))
    codes = sorted(set(views) | {c for c in category_ids if c})
    catalogue = {
        "source": "REES46 heads (shared/data/rees46-real) and published November views per category_code",
        "codes": [
            {
                "code": code,
                "nov_views": views.get(code, 0),
                "category_ids": sorted(category_ids.get(code, ())),
                "brands": dict(brands[code].most_common(40)),
                "median_price": round(statistics.median(prices[code]), 2) if prices.get(code) else None,
                "price_deciles": price_deciles(prices.get(code, [])),
            }
            for code in codes
        ],
        "uncoded": {
            "category_ids": sorted(category_ids.get("", ())),
            "brands": dict(brands[""].most_common(300)),
            "median_price": round(statistics.median(prices[""]), 2),
            "price_deciles": price_deciles(prices[""]),
        },
    }
    OUT.write_text(json.dumps(catalogue, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({len(codes)} codes)")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data"))
