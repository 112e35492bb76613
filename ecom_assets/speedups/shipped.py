"""Driver-side constants for pandas UDFs, carried in the closure or read by the Python workers from a file.

The fold-in and the live blend score users against model-sized constants (the item factors, each
segment's popularity): tens of megabytes at full scale. Carried in a UDF's closure, they are
pickled into every query plan that uses it, sent to the server, hashed again and again while Spark
plans the query (about 15% of the Spark Connect server's CPU per replayed hour at 10 M rows), and
unpickled by every task. When the same constants already sit in a local pickle (the replay's
pack, see :mod:`ecom_assets.replay.models.batch_models`), the closure carries only the file's path
and stamp instead, and each Python worker process loads the file once and keeps it for later tasks
(workers are reused across tasks, and across hours on a shared Spark Connect session).

Speed machinery, justified by ``bench/replay_cadence.py --models on`` (docs/benchmarks.md,
``replay-models-scale-1``): the constants no longer travel in every UDF closure.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")
# Per Python worker process: pack path -> (stamp, unpickled pack), the most recently loaded last.
_LOADED: dict[str, tuple[Any, Any]] = {}
# A worker keeps this many packs at most: the replay's models change with each daily re-fit (one pack
# per model, tens of megabytes at full size), and an hour reads one of them.
MAX_LOADED_PACKS = 2


class StalePackError(RuntimeError):
    """The pack file changed between the driver's read and a worker's (the batch models were rebuilt)."""


def load_pack(path: str, stamp: Any) -> Any:
    """The pack saved at ``path`` as ``(stamp, pack)``, loaded once per process while its stamp matches."""
    hit = _LOADED.get(path)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    with open(path, "rb") as handle:
        saved_stamp, pack = pickle.load(handle)
    if saved_stamp != stamp:
        raise StalePackError(f"{path} was rebuilt from other batch models while this query ran; run it again")
    _LOADED.pop(path, None)
    while len(_LOADED) >= MAX_LOADED_PACKS:
        _LOADED.pop(next(iter(_LOADED)))  # the least recently loaded
    _LOADED[path] = (stamp, pack)
    return pack


@dataclass(frozen=True)
class Shipped(Generic[T]):
    """A constant a UDF needs: ``value`` itself, or the item at ``keys`` (dict keys or attributes, in
    order) of the pack at ``path`` with ``stamp``. Pickles small in the second form."""

    value: T | None = None
    path: str | None = None
    stamp: Any = None
    keys: tuple[str, ...] = ()

    @staticmethod
    def inline(value: T) -> Shipped[T]:
        """The constant itself, carried in the closure."""
        return Shipped(value=value)

    @staticmethod
    def from_pack(path: str, stamp: Any, *keys: str) -> Shipped[Any]:
        """The item at ``keys`` of the pack saved at ``path`` (a local file every worker can read)."""
        return Shipped(path=path, stamp=stamp, keys=keys)

    def part(self, name: str) -> Shipped[Any]:
        """The attribute (or dict item) ``name`` of this constant, shipped the same way."""
        if self.path is None:
            return Shipped.inline(_item(self.value, name))
        return Shipped(path=self.path, stamp=self.stamp, keys=(*self.keys, name))

    def get(self) -> T:
        """The constant (loaded from the pack on first use in this process)."""
        if self.path is None:
            return self.value  # type: ignore[return-value]
        value = load_pack(self.path, self.stamp)
        for key in self.keys:
            value = _item(value, key)
        return value


def _item(value: Any, key: str) -> Any:
    """``value[key]`` for a dict, else ``getattr(value, key)``."""
    return value[key] if isinstance(value, dict) else getattr(value, key)
