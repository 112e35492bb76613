"""One consistent version of what the API serves, loaded from the lake and never modified afterwards.

A snapshot is built only from finished tables (Spark's ``_SUCCESS`` marker) and only if none of them
changed while it was being built; the store then swaps it in with one assignment, so a request sees
either the old version or the new one, never a mix or a half-written table.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecom_assets.lake import Lake, is_local, local_path
from ecom_assets.recommendation.hybrid_definition import UNKNOWN_SEGMENT, CandidateSizes, Weights
from ecom_assets.replay.models.state import Ledgers
from ecom_assets.shop_api.replay_state import ReplayState, newest_hour
from ecom_assets.shop_api.tables import SortedTable, read_small, stamp

REQUIRED = ("hybrid_recs", "hybrid_weights", "segment_top_products")
OPTIONAL = ("hybrid_settings", "user_segments", "segment_profiles", "content_similarity", "product_attributes",
            "replay_base_pairs", "replay_base_served")
REPLAY_VERSION = "replay_served_through"  # the newest replayed hour whose lists are written
SERVING_FOLDER = "serving"  # under temp/: the sorted copies
MEMO_LIMIT = 400_000


class NotReady(RuntimeError):
    """The lake lacks a table the API needs; the message says what to materialize."""


@dataclass(frozen=True)
class Snapshot:
    """Everything the endpoints read, from one version of the lake's tables."""

    versions: dict[str, str | None]
    recs: SortedTable
    weights: dict[str, Weights]
    fallback: Weights
    cold_start: dict[str, list[tuple[int, float]]]
    segments: SortedTable | None = None
    profiles: dict[str, dict] = field(default_factory=dict)
    similar: SortedTable | None = None
    products: SortedTable | None = None
    pairs: SortedTable | None = None
    replay: ReplayState | None = None
    recent_products: int = CandidateSizes().recent
    loaded_at: float = field(default_factory=time.time)
    memo: dict = field(default_factory=dict, repr=False, compare=False)  # per-product answers, see remember()

    def remember(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per key for this snapshot's lifetime (product labels and neighbours are asked
        for again and again); the memo is emptied when it reaches :data:`MEMO_LIMIT` entries."""
        if key not in self.memo:
            if len(self.memo) >= MEMO_LIMIT:
                self.memo.clear()
            self.memo[key] = compute()
        return self.memo[key]

    def weights_of(self, segment: str) -> Weights:
        """The blend weights of ``segment`` (the overall choice for a segment without its own)."""
        return self.weights.get(segment, self.fallback)


def versions(lake: Lake) -> dict[str, str | None]:
    """The version of every table the API reads (None: absent or being written), and the replay's newest hour."""
    found = {name: stamp(local_path(lake.processed(name))) for name in (*REQUIRED, *OPTIONAL)}
    hour = newest_hour(lake)
    found[REPLAY_VERSION] = hour.strftime("%Y-%m-%d %H:00") if hour else None
    return found


def _weights(source: Path) -> tuple[dict[str, Weights], Weights]:
    rows = read_small(source).to_pylist()
    weights = {r["segment"]: Weights(r["w_als"], r["w_content"], r["w_popularity"]) for r in rows}
    if UNKNOWN_SEGMENT not in weights:
        raise NotReady(f"{source} has no '{UNKNOWN_SEGMENT}' row (the overall weights): materialize hybrid_recs again")
    return weights, weights[UNKNOWN_SEGMENT]


def _cold_start(source: Path) -> dict[str, list[tuple[int, float]]]:
    lists: dict[str, list[tuple[int, float, int]]] = {}
    for r in read_small(source).to_pylist():
        lists.setdefault(r["segment"], []).append((int(r["product_id"]), float(r["popularity_score"]), int(r["rank"])))
    return {segment: [(p, s) for p, s, _ in sorted(rows, key=lambda row: row[2])] for segment, rows in lists.items()}


def load_snapshot(lake: Lake, previous: Snapshot | None = None) -> Snapshot:
    """A snapshot of the lake's current finished tables (the ``previous`` snapshot's tables reused where their
    version did not change); :class:`NotReady` when a required one is missing, ``RuntimeError`` when a table
    changed while loading (tried again later: a materialization is writing). A replayed hour landing
    meanwhile is fine: the snapshot holds the hour it started from."""
    if not is_local(lake.root):
        raise NotReady(f"ecom serve reads a lake on this machine's disk, not {lake.root}: copy the tables it "
                       f"needs ({', '.join(REQUIRED + OPTIONAL)}) into a local ECOM_LAKE_DIR")
    before = versions(lake)
    missing = [name for name in REQUIRED if before[name] is None]
    if missing:
        raise NotReady("not in the lake (or still being written): "
                       + ", ".join(f"`{name}`" for name in missing)
                       + f"; materialize them: `ecom materialize --select \"{' or '.join('key:' + n for n in missing)}\"`")
    path = {name: local_path(lake.processed(name)) for name in (*REQUIRED, *OPTIONAL)}
    copies = local_path(lake.temp(SERVING_FOLDER))

    def unchanged(*names: str) -> bool:
        return previous is not None and all(previous.versions.get(n) == before[n] for n in names)

    def sorted_table(name: str, key: str, current: SortedTable | None) -> SortedTable | None:
        if unchanged(name):
            return current
        return SortedTable.open(path[name], key, copies, name) if before[name] else None

    weights, fallback = _weights(path["hybrid_weights"])
    settings = read_small(path["hybrid_settings"]).to_pylist() if before["hybrid_settings"] else []
    profiles = ({r["segment"]: r for r in read_small(path["segment_profiles"]).to_pylist()}
                if before["segment_profiles"] else {})
    hour = dt.datetime.strptime(before[REPLAY_VERSION], "%Y-%m-%d %H:00").replace(tzinfo=dt.UTC) \
        if before[REPLAY_VERSION] else None
    replay_tables = (REPLAY_VERSION, "replay_base_served", "replay_base_pairs")
    snapshot = Snapshot(
        versions=before, recs=sorted_table("hybrid_recs", "user_id", previous.recs if previous else None),  # type: ignore[arg-type]
        weights=weights, fallback=fallback, cold_start=_cold_start(path["segment_top_products"]),
        segments=sorted_table("user_segments", "user_id", previous.segments if previous else None), profiles=profiles,
        similar=sorted_table("content_similarity", "product_id", previous.similar if previous else None),
        products=sorted_table("product_attributes", "product_id", previous.products if previous else None),
        pairs=(previous.pairs if previous and unchanged("replay_base_pairs") else  # the replay's own copy, shared
               SortedTable.of_copy(Ledgers.of(lake).pairs.sorted_copy(str(path["replay_base_pairs"]), "base"), "user_id")
               if before["replay_base_pairs"] else None),
        replay=(previous.replay if previous and unchanged(*replay_tables)
                else ReplayState.open(lake, hour, previous.replay if previous else None) if hour else None),
        recent_products=int(settings[0]["recent_products"]) if settings else CandidateSizes().recent)
    after = versions(lake)
    if any(after[name] != before[name] for name in (*REQUIRED, *OPTIONAL)):
        raise RuntimeError("the lake changed while the API loaded it (a materialization is writing): retrying")
    return snapshot
