"""``generate_dataset``: both month files, sized by rows or by a fraction of the real data."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ecom_assets.ingest.generator import calibration as cal
from ecom_assets.ingest.generator.catalog import build_catalog
from ecom_assets.ingest.generator.population import build_population
from ecom_assets.ingest.generator.sessions import EventDrawer, month_events, plan_month
from ecom_assets.ingest.generator.writer import MonthCsvWriter

SESSIONS_PER_CHUNK = 400_000
MIN_ROWS = 1_000


@dataclass
class GenerationReport:
    """What was written: files, row counts, and the wall time."""

    files: dict[str, int] = field(default_factory=dict)
    products: int = 0
    users: int = 0
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        """Total rows over both files."""
        return sum(self.files.values())

    @property
    def rows_per_second(self) -> float:
        """Generation speed."""
        return self.rows / self.seconds if self.seconds else 0.0


def rows_for_scale(scale: float) -> int:
    """Total rows of both months for ``scale`` (1.0 = the real 42.4 M + 67.5 M rows)."""
    if not 0 < scale <= 1.0:
        raise ValueError(f"--scale must be in (0, 1], got {scale}")
    return max(int(round(cal.REAL_ROWS_TOTAL * scale)), MIN_ROWS)


def split_rows(total_rows: int) -> tuple[int, int]:
    """October and November rows, in the real proportion."""
    october = int(round(total_rows * cal.REAL_ROWS_OCT / cal.REAL_ROWS_TOTAL))
    return october, total_rows - october


GROUND_TRUTH_FILE = "ground_truth_users.csv"


def write_ground_truth(path: Path, population) -> None:
    """The latent customer type of every user (``user_id,planted_segment``), to score segmentations against."""
    with open(path, "w", encoding="ascii") as sink:
        sink.write("user_id,planted_segment\n")
        sink.writelines(f"{u},{s}\n" for u, s in zip(population.user_ids, population.planted_segment, strict=True))


def generate_dataset(
    out_dir: str | Path, total_rows: int, seed: int = 42, progress: bool = True, ground_truth: bool = False
) -> GenerationReport:
    """Write ``2019-Oct.csv`` and ``2019-Nov.csv`` with ``total_rows`` rows in all, deterministic for ``seed``.

    With ``ground_truth``, also ``ground_truth_users.csv``: each user's planted customer type.
    """
    if total_rows < MIN_ROWS:
        raise ValueError(f"--rows must be at least {MIN_ROWS}, got {total_rows}")
    if total_rows > cal.REAL_ROWS_TOTAL:
        raise ValueError(f"--rows must be at most the real size {cal.REAL_ROWS_TOTAL:,}, got {total_rows:,}")
    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    scale = total_rows / cal.REAL_ROWS_TOTAL
    n_products = int(np.clip(cal.FULL_CATALOGUE_PRODUCTS * np.sqrt(scale), 300, cal.FULL_CATALOGUE_PRODUCTS))
    catalog = build_catalog(rng, n_products)
    rows = dict(zip((m.name for m in cal.MONTHS), split_rows(total_rows), strict=True))
    users = {m.name: max(int(round(rows[m.name] / m.events_per_user)), 1) for m in cal.MONTHS}
    population = build_population(rng, catalog, users[cal.OCTOBER.name], users[cal.NOVEMBER.name])
    report = GenerationReport(products=catalog.n_products, users=population.size)
    if ground_truth:
        write_ground_truth(out / GROUND_TRUTH_FILE, population)
    first_session = 0
    with tqdm(total=total_rows, unit="rows", unit_scale=True, disable=not progress, desc="generate") as bar:
        for month in cal.MONTHS:
            plan = plan_month(rng, month, population, catalog, rows[month.name], first_session)
            first_session += plan.size
            drawer = EventDrawer(catalog, population, november=month is cal.NOVEMBER)
            target = out / month.file_name
            partial = target.with_name(target.name + ".partial")
            with open(partial, "wb") as sink:
                writer = MonthCsvWriter(sink, catalog, population, seed)
                for batch in month_events(rng, month, plan, drawer, SESSIONS_PER_CHUNK):
                    writer.write(batch)
                    bar.update(len(batch))
            os.replace(partial, target)
            report.files[str(target)] = rows[month.name]
    report.seconds = time.perf_counter() - started
    return report
