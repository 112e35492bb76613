"""Fingerprint of a lake's outputs: one digest per table, model file and point file, to prove a change kept them.

A reorganisation or a speed-up must leave every output unchanged. Spark writes the same rows under
new file names (and in another order when tasks finish in another order), so files are not compared
byte for byte; instead each Parquet table is read whole, its rows sorted on every column and hashed,
and each point file (``temp/influx/...``) is hashed after sorting its lines (the ``replay``
measurement's timings left out: they time the run itself). Model folders are hashed
through their Parquet data and JSON metadata, with the fields that name a time or a uid removed.
Run the same commands on the same input with two versions of the code, then compare:

    python bench/lake_fingerprint.py LAKE > before.json
    python bench/lake_fingerprint.py LAKE --diff before.json

It imports nothing of the project, so it runs unchanged against any version of it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

# Folders that hold no output: the Dagster instance, caches of the replay, Spark's scratch space.
SKIPPED = ("dagster_home", "temp/replay", "temp/spark", "temp/checkpoints", "temp/keyed", "temp/handoff")
VOLATILE_METADATA = ("timestamp", "uid", "sparkVersion")
# The replay measurement's timings are measurements of the run itself, different on every run.
VOLATILE_FIELDS = ("step_s", "end_to_end_s", "lag_s")


def _stable_point(line: str) -> str:
    """A line-protocol point without the fields that time the run (string fields may hold spaces and commas)."""
    head, _, rest = line.partition(" ")
    while head.endswith("\\"):  # an escaped space in the measurement or a tag
        more, _, rest = rest.partition(" ")
        head = f"{head} {more}"
    fields, _, timestamp = rest.rpartition(" ")
    pairs = re.findall(r'([^=,]+)=("(?:[^"\\]|\\.)*"|[^,]*)', fields)
    kept = ",".join(f"{k}={v}" for k, v in pairs if k not in VOLATILE_FIELDS)
    return f"{head} {kept} {timestamp}"


def _table_digest(folder: Path) -> tuple[str, int]:
    """The digest of a Parquet folder's rows (sorted on every column) and its row count."""
    files = sorted(p for p in folder.rglob("*.parquet") if not any(part.startswith((".", "_")) for part in
                                                                     p.relative_to(folder).parts))
    tables = []
    for file in files:
        table = pq.read_table(file, partitioning=None)
        # Hive partition columns live in the path: keep them as a column so they are compared too.
        partition = "/".join(part for part in file.relative_to(folder).parts[:-1] if "=" in part)
        tables.append(table.append_column("_partition", pa.array([partition] * table.num_rows, pa.string())))
    if not tables:
        return "empty", 0
    table = pa.concat_tables(tables, promote_options="permissive")
    frame = table.to_pandas()
    for column in frame.columns:  # lists and maps are not sortable: compare their text
        if frame[column].dtype == object:
            frame[column] = frame[column].map(repr)
    frame = frame.sort_values(list(frame.columns), kind="mergesort").reset_index(drop=True)
    digest = hashlib.sha256(frame.to_csv(index=False, float_format="%.17g").encode()).hexdigest()
    return digest, len(frame)


def _metadata_digest(file: Path) -> str:
    """The digest of a Spark ML metadata file without its time, uid and version fields."""
    lines = []
    for line in file.read_text().splitlines():
        record = json.loads(line)
        for key in VOLATILE_METADATA:
            record.pop(key, None)
        # PySpark's default seed is Python's hash() of the class name, salted per process; the seed
        # actually used is the explicit one in paramMap, which is kept.
        record.get("defaultParamMap", {}).pop("seed", None)
        # Stage uids (``StringIndexer_b067dcfa8ca4``) are random and appear inside the params too.
        lines.append(re.sub(r"([A-Za-z]+)_[0-9a-f]{12}", r"\1", json.dumps(record, sort_keys=True)))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _stable_name(name: str) -> str:
    """A path without what Spark and Spark ML make up on every write: file uuids and stage uids."""
    name = re.sub(r"part-(\d+)-[0-9a-f-]{36}(-c\d+)?", r"part-\1", name)
    return re.sub(r"/(\d+_[A-Za-z]+)_[0-9a-f]{12}/", r"/\1/", name)


def fingerprint(lake: Path) -> dict[str, str]:
    """``{relative path: digest}`` for every table, model part and point file under ``lake``."""
    result: dict[str, str] = {}
    tables = {p.parent for p in lake.rglob("*.parquet")}
    roots = sorted({t for t in tables if not any(parent in tables for parent in t.parents)})
    for folder in roots:
        name = folder.relative_to(lake).as_posix()
        if name.startswith(SKIPPED) or "/temp/" in f"/{name}/" and "influx" not in name and "quarantine" not in name:
            continue
        digest, rows = _table_digest(folder)
        result[_stable_name(name)] = f"{rows} rows {digest}"
    for meta in sorted(lake.rglob("metadata/part-*")):
        name = meta.relative_to(lake).as_posix()
        if not name.startswith(SKIPPED):
            result[_stable_name(name)] = _metadata_digest(meta)
    for points in sorted(lake.glob("temp/influx/**/*.lp")):
        lines = sorted(_stable_point(line) for line in points.read_text().splitlines())
        result[points.relative_to(lake).as_posix()] = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    return result


def main() -> int:
    """Print the fingerprint, or compare it with an earlier one and list what differs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lake", type=Path)
    parser.add_argument("--diff", type=Path, help="an earlier fingerprint (JSON) to compare with")
    args = parser.parse_args()
    now = fingerprint(args.lake)
    if not args.diff:
        json.dump(now, sys.stdout, indent=1, sort_keys=True)
        print()
        return 0
    before = json.loads(args.diff.read_text())
    differences = [f"{k}: {before.get(k, 'missing')} -> {now.get(k, 'missing')}"
                   for k in sorted(set(before) | set(now)) if before.get(k) != now.get(k)]
    print("\n".join(differences) or f"identical: {len(now)} tables, model parts and point files")
    return 1 if differences else 0


if __name__ == "__main__":
    raise SystemExit(main())
