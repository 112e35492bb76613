"""What a replay leaves behind, read whole for comparing two replays: InfluxDB's points and the lake's replay tables."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import requests

COMPARED = ("user_behavior", "product_popularity", "segment_evolution", "recommendation_metrics")


def points(url: str, database: str) -> dict[str, list[tuple]]:
    """Every point of the compared measurements, as sorted rows of (time, tags and fields)."""
    found: dict[str, list[tuple]] = {}
    for measurement in COMPARED:
        answer = requests.get(f"{url}/query", params={"db": database, "epoch": "ns", "q": f'SELECT * FROM "{measurement}"'},
                              timeout=30).json()
        series = answer["results"][0].get("series", [])
        found[measurement] = sorted((tuple(map(repr, row)) for s in series for row in s["values"]))
    return found


def read_table(table: Path) -> pd.DataFrame:
    """A table folder's rows; a part folder's name (``hour=...``) becomes a column unless its files hold one
    of that name (``day`` of the daily roll-up)."""
    parts = sorted(p for p in table.iterdir() if p.is_dir() and "=" in p.name)
    if not parts:
        return pd.read_parquet(table)
    frames = []
    for part in parts:
        frame = pd.read_parquet(part)
        key, value = part.name.split("=", 1)
        if key not in frame.columns:
            frame[key] = value
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def replay_tables(lake: Path) -> dict[str, pd.DataFrame]:
    """The replay's tables in the lake, each with its rows in one order."""
    tables = {}
    for table in sorted(p for p in (lake / "processed" / "replay").iterdir() if p.is_dir()):
        # Every value as its text (arrays included; a float's text is exact), so rows sort and compare whole.
        frame = read_table(table).astype(str)
        tables[table.name] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    return tables


def only_hours(tables: dict[str, pd.DataFrame], hours: set[str] | None) -> dict[str, pd.DataFrame]:
    """The rows of the hourly parts of ``hours`` (``2019-11-03T10``) and every row of the other tables
    (all of them when ``hours`` is None)."""
    if hours is None:
        return tables
    return {name: frame[frame["hour"].isin(hours)].reset_index(drop=True) if "hour" in frame.columns else frame
            for name, frame in tables.items()}


def assert_same_outputs(url: str, expected_db: str, got_db: str, expected_lake: Path, got_lake: Path,
                        hours: set[str] | None = None) -> tuple[int, int]:
    """Every point and every replay table row of the replay into ``got_db``/``got_lake`` equals the reference's
    (``hours``: only those hours' parts and points up to the reference's last, when the replay went on);
    the numbers of points and rows compared."""
    expected, got = points(url, expected_db), points(url, got_db)
    assert all(expected[m] for m in ("user_behavior", "product_popularity", "segment_evolution")), expected
    if hours is not None:
        for measurement, rows in expected.items():
            last = max((int(row[0]) for row in rows), default=0)
            got[measurement] = [row for row in got[measurement] if int(row[0]) <= last]
    assert got == expected  # every point: none missing, none doubled
    tables_expected = only_hours(replay_tables(expected_lake), hours)
    tables_got = only_hours(replay_tables(got_lake), hours)
    assert tables_got.keys() == tables_expected.keys()
    for name, frame in tables_expected.items():
        pd.testing.assert_frame_equal(tables_got[name], frame, obj=name)
    return sum(map(len, got.values())), sum(map(len, tables_got.values()))
