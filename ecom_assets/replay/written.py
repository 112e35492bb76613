"""Whether a Spark write completed: the replay's parts of earlier hours, on a local lake or one at a URI.

A replay that starts mid-month, or resumes after a failure, finds some earlier hours' parts missing and
falls back to the batch state for them. Spark marks a completed write with a ``_SUCCESS`` file: on a
local lake it is looked up on disk. On a lake at a Hadoop URI (HDFS, S3, or a Spark Connect server's
file system) the project cannot open files itself, and Spark's file listing hides names that start
with ``_``: the parts' Parquet files are listed through Spark instead, one query per table folder (a
part's files appear when its write commits).
"""

from __future__ import annotations

from pyspark.errors import AnalysisException
from pyspark.sql import SparkSession

from ecom_assets.lake import is_local, local_path

MARKER = "_SUCCESS"
DATA_FILES = "*.parquet"


def completed_parts(session: SparkSession | None, folder: str) -> set[str]:
    """The names of ``folder``'s sub-folders that hold a completed write (none when ``folder`` is missing)."""
    if is_local(folder):
        root = local_path(folder)
        return {marker.parent.name for marker in root.glob(f"*/{MARKER}")} if root.is_dir() else set()
    if session is None:
        raise ValueError(f"listing {folder} needs a Spark session (the lake is not a local folder)")
    try:
        rows = (session.read.format("binaryFile").option("pathGlobFilter", DATA_FILES)
                .option("recursiveFileLookup", "true").load(folder).select("path").collect())
    except AnalysisException as exc:
        if "PATH_NOT_FOUND" in str(exc):
            return set()
        raise
    return {str(row["path"]).rstrip("/").rsplit("/", 2)[-2] for row in rows}


def written(path: str, session: SparkSession | None = None) -> bool:
    """True when a Spark write to ``path`` completed (``session`` lists the markers of a lake at a URI)."""
    if is_local(path):
        return (local_path(path) / MARKER).is_file()
    parent, _, name = path.rstrip("/").rpartition("/")
    return name in completed_parts(session, parent)
