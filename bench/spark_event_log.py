"""Reading Spark's event logs, plain or zstd-compressed (Spark 4 compresses them by default).

``bench/full_scale.py`` reads the bytes each task spilled to disk from them. Before this reader it opened
the files as text, so on Spark 4's compressed logs it found no task and reported 0 spilled everywhere.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path


def event_files(folder: Path) -> list[Path]:
    """The event log files under ``folder`` (Spark 4 rolls them in ``eventlog_v2_*`` folders), in order."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(("appstatus", ".")))


def event_lines(path: Path) -> Iterator[str]:
    """The complete lines of one event log file; a last line or frame still being written is left out."""
    with path.open("rb") as raw:
        stream, cut_short = raw, ()
        if path.suffix == ".zstd":
            try:
                import zstandard  # the bench extra's, for compressed logs only
            except ImportError as exc:
                raise SystemExit(f"{path} is zstd-compressed: install the bench extra "
                                 "(scripts/setup_env.sh dev,bench) or run Spark with "
                                 "spark.eventLog.compress=false") from exc
            stream = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
            cut_short = (zstandard.ZstdError,)
        try:
            for line in io.TextIOWrapper(stream, encoding="utf-8", errors="replace"):
                if line.endswith("\n"):
                    yield line
        except cut_short:
            return
