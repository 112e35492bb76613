"""Progress lines for a long command-line run: which step, n of N, its latest phase, time so far.

A user who waits an hour for the batch graph at the real size must see where it is. Dagster's console
logger prints only what assets log, in long lines, and nothing while a step computes for minutes. This
module turns the run's own events (a Dagster logger receives every step start, success and failure, and
each message an asset logs) into short lines, and a heartbeat thread repeats the current step and its
latest phase when nothing was printed for a while.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

import dagster as dg

HEARTBEAT_S = 30.0


def clock_text(seconds: float) -> str:
    """``m:ss`` (or ``h:mm:ss`` past an hour) for elapsed times."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class RunProgress:
    """The state of one run as the user sees it, and the lines that report it (thread-safe)."""

    def __init__(self, total_steps: int, write: Callable[[str], None] | None = None,
                 heartbeat_s: float = HEARTBEAT_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.total_steps = total_steps
        self._write = write or _stderr_writer(sys.stderr)
        self.heartbeat_s = heartbeat_s
        self._clock = clock
        self._lock = threading.Lock()
        self.started_at = clock()
        self.last_output_at = self.started_at
        self.started_steps: list[str] = []
        self.running: dict[str, float] = {}
        self.phase: dict[str, str] = {}
        self.failed: list[str] = []

    def _emit(self, text: str) -> None:
        self.last_output_at = self._clock()
        self._write(f"[{clock_text(self.last_output_at - self.started_at):>7}] {text}")

    def _label(self, step: str) -> str:
        number = self.started_steps.index(step) + 1 if step in self.started_steps else 0
        return f"{step} ({number}/{self.total_steps})" if number else step

    def step_started(self, step: str) -> None:
        """A step began: say which, and how many there are."""
        with self._lock:
            if step not in self.started_steps:
                self.started_steps.append(step)
            self.running[step] = self._clock()
            self._emit(f"{self._label(step)}: started")

    def step_finished(self, step: str, succeeded: bool) -> None:
        """A step ended: its time, or that it failed."""
        with self._lock:
            began = self.running.pop(step, self._clock())
            took = clock_text(self._clock() - began)
            if not succeeded:
                self.failed.append(step)
            self._emit(f"{self._label(step)}: {'done' if succeeded else 'FAILED'} in {took}")

    def message(self, step: str | None, text: str, level: int = logging.INFO) -> None:
        """A message an asset logged: printed under its step, and remembered as the step's phase."""
        first_line = text.strip().splitlines()[0] if text.strip() else ""
        with self._lock:
            if step:
                self.phase[step] = first_line
            prefix = "" if level < logging.WARNING else f"{logging.getLevelName(level)}: "
            self._emit(f"{step or 'run'}: {prefix}{first_line}")

    def heartbeat(self) -> str | None:
        """The line to print when nothing was printed for ``heartbeat_s`` (None otherwise)."""
        with self._lock:
            now = self._clock()
            if not self.running or now - self.last_output_at < self.heartbeat_s:
                return None
            parts = []
            for step, began in self.running.items():
                phase = self.phase.get(step)
                parts.append(f"{self._label(step)} running for {clock_text(now - began)}"
                             + (f", last: {phase}" if phase else ""))
            line = "; ".join(parts)
            self._emit(line)
            return line


def _stderr_writer(stream: TextIO) -> Callable[[str], None]:
    def write(line: str) -> None:
        print(line, file=stream, flush=True)
    return write


class ProgressHandler(logging.Handler):
    """Feeds a :class:`RunProgress` from the records Dagster sends its loggers."""

    def __init__(self, progress: RunProgress) -> None:
        super().__init__(level=logging.DEBUG)
        self.progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        """Step events become start/finish lines; an asset's INFO-or-higher message becomes a phase line."""
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        step = meta.get("step_key")
        if event is not None:
            kind = event.event_type_value
            if kind == "STEP_START" and step:
                self.progress.step_started(step)
            elif kind in ("STEP_SUCCESS", "STEP_FAILURE") and step:
                self.progress.step_finished(step, kind == "STEP_SUCCESS")
            return  # other events (checks among them) are listed once by the command's summary
        if record.levelno >= logging.INFO:
            self.progress.message(step, str(meta.get("orig_message") or record.getMessage()), record.levelno)


def progress_logger(progress: RunProgress) -> dg.LoggerDefinition:
    """A Dagster logger that reports to ``progress`` (one per run; the run's only console output)."""

    def build(_init_context: dg.InitLoggerContext) -> logging.Logger:
        logger = logging.getLogger(f"ecom.progress.{id(progress)}")
        logger.handlers = [ProgressHandler(progress)]
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        return logger

    return dg.LoggerDefinition(build, description="Short progress lines for the command line.")


class Heartbeat:
    """A daemon thread calling ``progress.heartbeat()`` every few seconds until stopped (a context manager)."""

    def __init__(self, progress: RunProgress, poll_s: float = 5.0) -> None:
        self.progress = progress
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ecom-progress", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            self.progress.heartbeat()

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
