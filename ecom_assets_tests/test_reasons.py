"""The reason given for a recommended product is the blend's largest weighted component, in words."""

from __future__ import annotations

import pytest

from ecom_assets.recommendation.hybrid_definition import UNKNOWN_SEGMENT, Weights
from ecom_assets.shop_api.reasons import closest_recent, explain, main_component, weighted_parts

WEIGHTS = Weights(als=0.5, content=0.3, popularity=0.2)
SIMILAR = {10: {11: 0.8, 12: 0.3}, 20: {11: 0.6}}


def _explain(components: dict[str, float], product: int, recent: list[int], segment: str = "Top customers"):
    return explain(components, WEIGHTS, segment, product, recent, lambda p: SIMILAR.get(p, {}),
                   lambda p: f"product {p}")


@pytest.mark.parametrize(("components", "expected"), [
    ({"als": 0.9, "content": 0.1, "popularity": 0.1}, "als"),  # 0.45 against 0.03 and 0.02
    ({"als": 0.1, "content": 0.8, "popularity": 0.1}, "content"),  # 0.05, 0.24, 0.02
    ({"als": 0.3, "content": 0.4, "popularity": 0.9}, "popularity"),  # 0.15, 0.12, 0.18: the weight decides
    ({"als": 0.0, "content": 0.0, "popularity": 0.0}, "als"),  # all zero: the first component
])
def test_the_main_component_is_the_largest_weighted_part(components: dict[str, float], expected: str) -> None:
    assert main_component(components, WEIGHTS) == expected
    parts = weighted_parts(components, WEIGHTS)
    assert max(parts.values()) == parts[expected]


def test_a_content_reason_names_the_recent_product_the_cosine_came_from() -> None:
    reason = _explain({"als": 0.1, "content": 0.8, "popularity": 0.1}, 11, recent=[20, 10])
    assert (reason.kind, reason.because_product_id) == ("content", 10)  # 0.8 through 10 beats 0.6 through 20
    assert reason.text == "similar to product 10, which you looked at"
    assert closest_recent(11, [20, 10], lambda p: SIMILAR.get(p, {})) == (10, 0.8)


def test_a_product_seen_recently_says_so_and_an_affinity_names_the_category() -> None:
    seen = _explain({"als": 0.0, "content": 1.0, "popularity": 0.0}, 10, recent=[10])
    assert (seen.kind, seen.because_product_id, seen.text) == ("content", 10, "you looked at it recently")
    # A content score of 0.7 that no recent product explains (12 is only 0.3 from 10): the category affinity won.
    category = _explain({"als": 0.0, "content": 0.7, "popularity": 0.1}, 12, recent=[10])
    assert (category.kind, category.because_product_id) == ("category", None)
    assert "category you browse (product 12)" in category.text


def test_popularity_names_the_segment_or_everyone() -> None:
    assert _explain({"als": 0, "content": 0, "popularity": 1}, 5, []).text == (
        "popular with shoppers like you (Top customers)")
    assert _explain({"als": 0, "content": 0, "popularity": 1}, 5, [], UNKNOWN_SEGMENT).text == (
        "popular with every shopper")
