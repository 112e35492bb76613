"""Every path of the lake. Nobody else builds path strings.

Layout (the specification's): ``raw/`` validated events as Parquet partitioned by ``event_date``;
``processed/`` derived tables; ``models/`` Spark ML models; ``temp/`` intermediate results,
including ``temp/quarantine/`` for rejected input lines. The root may be a local folder or any
Hadoop URI (``hdfs://host:8020/ecom``): Spark does the writing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

MONTH_FILE_NAMES = ("2019-Oct.csv", "2019-Nov.csv")
# What Spark's text reader decompresses by itself, in order of preference (a plain file splits
# across cores; gzip is read by one task).
COMPRESSED_SUFFIXES = ("", ".gz", ".bz2")


def is_local(uri: str) -> bool:
    """True for a plain path or a ``file:`` URI."""
    return "://" not in uri or uri.startswith("file:")


def local_path(uri: str) -> Path:
    """The filesystem path of a local URI."""
    if uri.startswith("file://"):
        return Path(uri[len("file://") :])
    if uri.startswith("file:"):
        return Path(uri[len("file:") :])
    return Path(uri)


def _join(root: str, *parts: str) -> str:
    """Join URI parts with ``/`` (works for local paths and Hadoop URIs alike)."""
    return "/".join([root.rstrip("/"), *parts])


@dataclass(frozen=True)
class Lake:
    """Paths under one lake root, and the local folder of the replay's small state.

    ``local_state_root`` (``ECOM_RUN_DIR``) matters only for a lake at a Hadoop URI: the replay's clock
    and the line-protocol files of the file sink are small files written with plain file operations,
    kept in the lake's ``temp/`` when the lake is a local folder and under
    ``<local_state_root>/lake-state/<digest of the root>/`` otherwise.
    """

    root: str
    local_state_root: str = ""

    @property
    def raw_events(self) -> str:
        """Validated events, Parquet partitioned by ``event_date``."""
        return _join(self.root, "raw", "events")

    @property
    def quarantine(self) -> str:
        """Rejected input lines with their reason (Parquet)."""
        return _join(self.root, "temp", "quarantine", "events")

    def processed(self, table: str) -> str:
        """A derived table under ``processed/``."""
        return _join(self.root, "processed", table)

    def model(self, name: str) -> str:
        """A Spark ML model under ``models/``."""
        return _join(self.root, "models", name)

    def replay_table(self, table: str, part: str | None = None) -> str:
        """A replay table under ``processed/replay/``, or one of its parts (``hour=2019-11-01T00``)."""
        parts = ["processed", "replay", table] + ([part] if part else [])
        return _join(self.root, *parts)

    def temp(self, name: str) -> str:
        """An intermediate result under ``temp/``."""
        return _join(self.root, "temp", name)

    def local_state(self, name: str) -> Path:
        """A local file or folder of the replay's small state (see the class docstring)."""
        if is_local(self.root):
            return local_path(self.temp(name))
        if not self.local_state_root or not is_local(self.local_state_root):
            raise ValueError(f"the lake {self.root} is not a local folder: the replay keeps its small state "
                             f"in a local folder, set ECOM_RUN_DIR to one (now {self.local_state_root!r})")
        digest = hashlib.sha256(self.root.rstrip("/").encode()).hexdigest()[:12]
        return local_path(self.local_state_root) / "lake-state" / digest / name


def input_month_files(data_dir: str) -> list[str]:
    """The month CSVs present in ``data_dir``, each plain or compressed (local folders are listed;
    URIs are taken as given, plain).

    A month present only as a ``.zip`` (Kaggle's download) is an error that says to unzip it: no
    Hadoop codec reads zip archives, and skipping the month would lose it.
    """
    if not is_local(data_dir):
        return [_join(data_dir, name) for name in MONTH_FILE_NAMES]
    folder = local_path(data_dir)
    found = []
    for name in MONTH_FILE_NAMES:
        present = [folder / (name + suffix) for suffix in COMPRESSED_SUFFIXES if (folder / (name + suffix)).is_file()]
        if present:
            found.append(str(present[0]))
        elif (folder / (name + ".zip")).is_file():
            raise ValueError(f"{folder / (name + '.zip')} is a zip archive, which Spark cannot read: unzip it "
                             f"(`unzip {name}.zip` in {folder}) or recompress it with gzip")
    return found
