"""The snapshot being served, and its replacement when the lake's tables change (no restart)."""

from __future__ import annotations

import gc
import logging
import threading

import pyarrow as pa

from ecom_assets.lake import Lake
from ecom_assets.shop_api.snapshot import NotReady, Snapshot, load_snapshot, versions

LOG = logging.getLogger("ecom.serve")


def settle_memory() -> None:
    """After a load: give back the buffers the sorted copies were built in, and leave the long-lived objects
    out of the garbage collector's passes, so requests do not pay for either (docs/benchmarks.md,
    ``serve-load``)."""
    gc.collect()
    pa.default_memory_pool().release_unused()
    gc.freeze()


class SnapshotStore:
    """Holds the current :class:`Snapshot`; :meth:`refresh` swaps in a newer one in a single assignment."""

    def __init__(self, lake: Lake, refresh_s: float = 5.0) -> None:
        self.lake = lake
        self.refresh_s = refresh_s
        self.problem: str | None = "not loaded yet"
        self._snapshot: Snapshot | None = None
        self._loading = threading.Lock()

    @property
    def current(self) -> Snapshot:
        """The snapshot to answer from; :class:`NotReady` (saying why) before the first one loaded."""
        snapshot = self._snapshot
        if snapshot is None:
            raise NotReady(self.problem or "not loaded yet")
        return snapshot

    def refresh(self) -> bool:
        """Load the lake again when a table changed; True when a newer snapshot is now served. A failed
        load keeps the previous snapshot and records why in :attr:`problem`."""
        with self._loading:
            served = self._snapshot
            if served is not None and versions(self.lake) == served.versions:
                return False
            try:
                snapshot = load_snapshot(self.lake, served)
            except (NotReady, RuntimeError, OSError, ValueError, KeyError) as exc:
                self.problem = f"{exc.__class__.__name__}: {exc}" if not isinstance(exc, NotReady) else str(exc)
                LOG.warning("lake not loaded: %s", self.problem)
                return False
            self._snapshot, self.problem = snapshot, None
            settle_memory()
            LOG.info("serving the lake's tables as of %s", snapshot.versions)
            return True

    def keep_fresh(self, stop: threading.Event) -> None:
        """Refresh every ``refresh_s`` seconds until ``stop`` is set (the app's background thread)."""
        while not stop.wait(self.refresh_s):
            self.refresh()
