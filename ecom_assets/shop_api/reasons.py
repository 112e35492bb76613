"""Why a product was recommended, from the blend's own components.

The hybrid's score is the weighted sum of its three components, with the user's segment weights
(``hybrid_score`` in :mod:`ecom_assets.recommendation.hybrid_definition`); the main reason is the
component with the largest weighted part. The content component is the better of the best cosine to
one of the user's recent products and the user's affinity to the product's category, so a content
reason names the recent product it came from, or the category when the affinity won.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ecom_assets.recommendation.hybrid_definition import COMPONENTS, UNKNOWN_SEGMENT, Weights

TOLERANCE = 1e-6  # the replay stores components as float32


@dataclass(frozen=True)
class Reason:
    """The main reason for one recommended product, for a person to read and a program to use."""

    kind: str  # als | content | category | popularity
    text: str
    because_product_id: int | None = None


def weighted_parts(components: Mapping[str, float], weights: Weights) -> dict[str, float]:
    """Each component's share of the score: its weight times its value."""
    return {name: getattr(weights, name) * float(components[name]) for name in COMPONENTS}


def main_component(components: Mapping[str, float], weights: Weights) -> str:
    """The component with the largest weighted part (a tie goes to the first of als, content, popularity)."""
    parts = weighted_parts(components, weights)
    return max(COMPONENTS, key=lambda name: parts[name])


def closest_recent(product: int, recent: Sequence[int], similarity_of: Callable[[int], Mapping[int, float]]
                   ) -> tuple[int | None, float]:
    """The recent product ``product`` is most similar to, and the cosine (1.0 when it is itself recent);
    (None, 0.0) when no recent product lists it among its neighbours."""
    if product in recent:
        return product, 1.0
    best, cosine = None, 0.0
    for seen in recent:
        value = similarity_of(seen).get(product)
        if value is not None and value > cosine:
            best, cosine = seen, value
    return best, cosine


def popularity_reason(segment: str) -> Reason:
    """Popular in the user's segment, or with everyone for a user without one."""
    if segment == UNKNOWN_SEGMENT:
        return Reason("popularity", "popular with every shopper")
    return Reason("popularity", f"popular with shoppers like you ({segment})")


def explain(components: Mapping[str, float], weights: Weights, segment: str, product: int, recent: Sequence[int],
            similarity_of: Callable[[int], Mapping[int, float]], label_of: Callable[[int], str]) -> Reason:
    """The main reason for recommending ``product`` to a user of ``segment`` whose recent products are
    ``recent`` (most recent first)."""
    kind = main_component(components, weights)
    if kind == "als":
        return Reason("als", "people with your taste chose it")
    if kind == "popularity":
        return popularity_reason(segment)
    seen, cosine = closest_recent(product, recent, similarity_of)
    if seen is not None and cosine + TOLERANCE >= float(components["content"]):
        if seen == product:
            return Reason("content", "you looked at it recently", seen)
        return Reason("content", f"similar to {label_of(seen)}, which you looked at", seen)
    return Reason("category", f"from a category you browse ({label_of(product)})")
