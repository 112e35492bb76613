"""One Spark Connect session shared by every run process, so each run starts warm.

Each Dagster run is a new process, and a new Spark Connect client opens a new server-side session
by default. The server then starts a new Python worker daemon for that session's first pandas UDF
(the fold-in and the blend of the replay's models): about 1.5 s on every hourly run. Clients that
pass the same ``session_id`` in the connection URL share one server-side session, its Python
workers included.

The id lives in a small file (the run folder of ``ecom spark start``). A shared session is never
released by a client (``release_session_on_close`` off), so one process ending cannot close it for
the others. When the server closed it anyway (idle timeout, a client that released it), a new id is
written and every later process uses that one.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from pyspark.errors import PySparkException
from pyspark.sql import SparkSession

from ecom_assets.resources.connect_outage import bound_retries

SESSION_CLOSED = "INVALID_HANDLE.SESSION_CLOSED"


def with_session_id(url: str, session_id: str) -> str:
    """``url`` (``sc://host:port`` with optional ``/;key=value`` parameters) with ``session_id`` added."""
    base, _, params = url.partition("/;")
    parts = [p for p in params.split(";") if p]
    return f"{base}/;{';'.join([*parts, f'session_id={session_id}'])}"


def names_session(url: str) -> bool:
    """True when the URL already chooses its session (the user's choice is kept)."""
    _, _, params = url.partition("/;")
    return any(p.split("=", 1)[0].strip() == "session_id" for p in params.split(";"))


def read_session_id(path: Path) -> str | None:
    """The id saved at ``path``, or None when there is none or it is not a UUID."""
    try:
        text = path.read_text(encoding="utf-8").strip()
        return str(uuid.UUID(text))
    except (FileNotFoundError, ValueError):
        return None


def new_session_id(path: Path, stale: str | None = None) -> str:
    """A fresh id saved at ``path`` (atomically); when another process already replaced ``stale``,
    its id is returned instead, so concurrent processes converge on one session."""
    current = read_session_id(path)
    if current is not None and current != stale:
        return current
    fresh = str(uuid.uuid4())
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    partial.write_text(fresh + "\n", encoding="utf-8")
    os.replace(partial, path)
    return fresh


def _is_closed(error: PySparkException) -> bool:
    """True for the server's answer to a session id it has closed."""
    return SESSION_CLOSED in str(error)


def open_session(url: str, wait_s: float) -> SparkSession:
    """A client session on ``url`` that gives up on an unreachable server after about ``wait_s`` seconds."""
    session = SparkSession.builder.remote(url).getOrCreate()
    bound_retries(session, wait_s)
    return session


def _open_kept(url: str, wait_s: float) -> SparkSession:
    """A client session on ``url`` that never releases the server-side session when stopped."""
    session = open_session(url, wait_s)
    session.release_session_on_close = False
    return session


def shared_session(url: str, id_file: Path, wait_s: float) -> SparkSession:
    """A Spark Connect session on ``url`` in the server-side session named by ``id_file`` (created
    when missing, replaced when the server has closed that session); ``wait_s``: how long an unreachable
    server is retried."""
    session_id = read_session_id(id_file) or new_session_id(id_file)
    session = _open_kept(with_session_id(url, session_id), wait_s)
    try:
        session.version  # noqa: B018 - one cheap round trip: does the server still hold this session?
    except PySparkException as error:
        if not _is_closed(error):
            raise
        session.stop()
        session = _open_kept(with_session_id(url, new_session_id(id_file, stale=session_id)), wait_s)
    return session
