"""The answers of the API, from one snapshot: a user's list with reasons, a product's neighbours, a
user's segment. Plain dicts (the app declares their shapes for OpenAPI); an unknown id raises
:class:`NotFound` with a sentence saying what was not found."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ecom_assets.recommendation.hybrid_definition import COMPONENTS, UNKNOWN_SEGMENT, hybrid_score
from ecom_assets.recommendation.interactions import EVENT_WEIGHTS
from ecom_assets.recommendation.serving.pair_blend import latest_products, strengths
from ecom_assets.shop_api.reasons import Reason, explain, popularity_reason, weighted_parts
from ecom_assets.shop_api.snapshot import Snapshot


class NotFound(LookupError):
    """An id the lake does not know."""


def product_label(snapshot: Snapshot, product_id: int) -> str:
    """``product 123 (electronics.smartphone, samsung)``: what a person recognises a product by."""
    return snapshot.remember(("label", product_id), lambda: _label(snapshot, product_id))


def _label(snapshot: Snapshot, product_id: int) -> str:
    if snapshot.products is None:
        return f"product {product_id}"
    rows = snapshot.products.rows(product_id).to_pylist()
    if not rows:
        return f"product {product_id}"
    details = [v for v in (rows[0].get("category_code"), rows[0].get("brand")) if v]
    return f"product {product_id} ({', '.join(details)})" if details else f"product {product_id}"


def segment_of(snapshot: Snapshot, user_id: int) -> str | None:
    """The user's segment, None for a user the segmentation has not seen."""
    if snapshot.segments is None:
        return None
    rows = snapshot.segments.rows(user_id).column("segment").to_pylist()
    return rows[0] if rows else None


def recent_products(snapshot: Snapshot, user_id: int) -> list[int]:
    """The user's most recent products (the ones the content component looks at), as of the replay's newest
    hour when it ran, else over the training window, chosen as the replay's blend chooses them
    (:func:`~ecom_assets.recommendation.serving.pair_blend.latest_products`)."""
    found = snapshot.replay.pairs.rows(user_id) if snapshot.replay is not None else None
    if found is None and snapshot.pairs is not None:
        found = snapshot.pairs.rows(user_id)
    if found is None or found.num_rows == 0:
        return []
    ints = {name: found.column(name).to_numpy().astype(np.int64) for name in ("user_id", "product_id", "views",
                                                                                "carts", "purchases")}
    seen = pc.fill_null(pc.cast(found.column("last_seen"), pa.int64()), np.iinfo(np.int64).min).to_numpy()
    strength = strengths(ints["views"], ints["carts"], ints["purchases"], EVENT_WEIGHTS)
    _, products = latest_products(ints["user_id"], ints["product_id"], seen, strength, snapshot.recent_products)
    return [int(p) for p in products]


@dataclass(frozen=True)
class OwnList:
    """A user's own list: where it comes from, when it was served, and its ranked products' components."""

    segment: str
    source: str  # replay | batch
    served_at: str | None
    rows: list[dict]  # product_id, rank, als, content, popularity (components None when not recorded)


def own_list(snapshot: Snapshot, user_id: int) -> OwnList | None:
    """The list the replay served the user last (when it changed it), else their batch list; None for neither."""
    served = snapshot.replay.served.newest(user_id) if snapshot.replay is not None else None
    if served is not None and not served[1]:
        row = served[0]
        parts = {name: row.get(name) or [None] * len(row["products"]) for name in COMPONENTS}
        rows = [{"product_id": int(p), "rank": i, **{name: parts[name][i - 1] for name in COMPONENTS}}
                for i, p in enumerate(row["products"], start=1)]
        return OwnList(row["segment"] or UNKNOWN_SEGMENT, "replay", row["served_at"].isoformat(), rows)
    batch = snapshot.recs.rows(user_id).to_pylist()
    if not batch:
        return None
    batch.sort(key=lambda r: r["rank"])
    return OwnList(batch[0]["segment"] or UNKNOWN_SEGMENT, "batch", None, batch)


def neighbours(snapshot: Snapshot, product_id: int) -> dict[int, float]:
    """The content neighbours of a product with their cosine ({} when none)."""
    return snapshot.remember(("neighbours", product_id), lambda: _neighbours(snapshot, product_id))


def _neighbours(snapshot: Snapshot, product_id: int) -> dict[int, float]:
    if snapshot.similar is None:
        return {}
    rows = snapshot.similar.rows(product_id)
    return dict(zip(rows.column("similar_product_id").to_pylist(), rows.column("similarity").to_pylist(), strict=True))


def _reason(reason: Reason) -> dict[str, Any]:
    return {"kind": reason.kind, "text": reason.text, "because_product_id": reason.because_product_id}


def _item(snapshot: Snapshot, row: dict, segment: str, recent: list[int]) -> dict[str, Any]:
    """One recommended product with its reason, components and weighted parts."""
    product = int(row["product_id"])
    if any(row.get(name) is None for name in COMPONENTS):  # a list written before the replay kept components
        reason = Reason("unrecorded", "served by the live replay (this lake's replay predates the reasons: "
                                      "materialize replay_baseline and replay again)")
        return {"product_id": product, "rank": int(row["rank"]), "score": None,
                "label": product_label(snapshot, product), "reason": _reason(reason), "components": None,
                "weighted": None}
    weights = snapshot.weights_of(segment)
    components = {name: float(row[name]) for name in COMPONENTS}
    reason = explain(components, weights, segment, product, recent, lambda p: neighbours(snapshot, p),
                     lambda p: product_label(snapshot, p))
    score = hybrid_score(weights.als, weights.content, weights.popularity, *(components[c] for c in COMPONENTS))
    return {"product_id": product, "rank": int(row["rank"]), "score": score,
            "label": product_label(snapshot, product), "reason": _reason(reason), "components": components,
            "weighted": weighted_parts(components, weights)}


def recommendations(snapshot: Snapshot, user_id: int, n: int) -> dict[str, Any]:
    """The user's top ``n`` with reasons: the list the replay served them last, else their batch list; a user
    with neither gets their segment's most popular products, or everyone's (``source`` says which)."""
    own = own_list(snapshot, user_id)
    if own is not None:
        recent = recent_products(snapshot, user_id)
        return {"user_id": user_id, "segment": own.segment, "source": own.source, "served_at": own.served_at,
                "items": [_item(snapshot, row, own.segment, recent) for row in own.rows[:n]]}
    known = segment_of(snapshot, user_id)
    segment = known if known in snapshot.cold_start else UNKNOWN_SEGMENT
    popular = snapshot.cold_start.get(segment, [])
    reason = _reason(popularity_reason(segment))
    items = [{"product_id": p, "rank": i, "score": score, "label": product_label(snapshot, p), "reason": reason,
              "components": {"als": 0.0, "content": 0.0, "popularity": score},
              "weighted": {"als": 0.0, "content": 0.0, "popularity": score}}
             for i, (p, score) in enumerate(popular[:n], start=1)]
    source = "cold_start_global" if segment == UNKNOWN_SEGMENT else "cold_start_segment"
    return {"user_id": user_id, "segment": known or UNKNOWN_SEGMENT, "source": source, "served_at": None,
            "items": items}


def similar_products(snapshot: Snapshot, product_id: int, n: int) -> dict[str, Any]:
    """The product's ``n`` most similar products by content (category, brand, price band)."""
    if snapshot.similar is None:
        raise NotFound("no content_similarity in the lake: `ecom materialize --select content_similarity`")
    rows = snapshot.similar.rows(product_id).to_pylist()
    if not rows:
        raise NotFound(f"product {product_id} is not in the catalogue the recommendations know")
    rows.sort(key=lambda r: r["rank"])
    return {"product_id": product_id, "label": product_label(snapshot, product_id),
            "items": [{"product_id": int(r["similar_product_id"]), "rank": int(r["rank"]),
                       "similarity": float(r["similarity"]),
                       "label": product_label(snapshot, int(r["similar_product_id"]))} for r in rows[:n]]}


def user_segment(snapshot: Snapshot, user_id: int) -> dict[str, Any]:
    """The user's segment and that segment's profile (means over the training window)."""
    segment = segment_of(snapshot, user_id)
    if segment is None:
        raise NotFound(f"user {user_id} was not segmented: no event of theirs in the training window")
    profile = {k: v for k, v in snapshot.profiles.get(segment, {}).items() if k not in ("segment", "cluster")}
    return {"user_id": user_id, "segment": segment, "profile": profile}


def status(snapshot: Snapshot) -> dict[str, Any]:
    """What the API serves: when it was loaded, the version of each table, the sizes."""
    return {"loaded_at": dt.datetime.fromtimestamp(snapshot.loaded_at, dt.UTC).isoformat(),
            "tables": {name: version for name, version in snapshot.versions.items()},
            "recommendation_rows": len(snapshot.recs)}
