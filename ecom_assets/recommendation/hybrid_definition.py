"""The hybrid recommender's definition, in one place: its components, weights, formula and sizes.

Score of a (user, product) pair, each component at most 1::

    hybrid = w_als * als + w_content * content + w_popularity * popularity

- ``als``: the implicit ALS score, capped at 1 (0 for a user or product the model does not know);
- ``content``: the better of the best cosine to one of the user's ``recent`` products (1 for a recent
  product itself) and the user's affinity to the product's category (their interaction strength in it
  over their strongest category's): the cosine finds the nearest products, the affinity scores
  every product of the categories the user shops in, new products included;
- ``popularity``: log-popularity within the user's segment over the segment's best.

The weights sum to 1 and are chosen per segment on a grid of step :data:`WEIGHT_STEP` by NDCG@10 on
validation weeks; a segment with fewer than :data:`MIN_SEGMENT_USERS` evaluated users takes the
overall choice, which is also the weights of users without a segment (:data:`UNKNOWN_SEGMENT`).
Candidates per user before blending: :class:`CandidateSizes`. Every form of the blend calls
:func:`hybrid_score`: the Spark join form (:mod:`~ecom_assets.recommendation.hybrid`), the Spark grid
of the weight tuning and the numpy form that serves the lists
(:mod:`~ecom_assets.recommendation.serving.user_blend`). ``hybrid_recs`` records the sizes and step it
ran with (:class:`HybridSettings`, ``processed/hybrid_settings``); what comes after it reads them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TypeVar

COMPONENTS = ("als", "content", "popularity")
UNKNOWN_SEGMENT = "Unknown"
# 0.25 gives 15 triples: fine enough to separate the components, few enough to evaluate every triple
# on every fold in one Spark job.
WEIGHT_STEP = 0.25
# Below 30 evaluated users a segment's NDCG@10 is too noisy to choose its own weights.
MIN_SEGMENT_USERS = 30

Value = TypeVar("Value")


def hybrid_score(w_als: Value, w_content: Value, w_popularity: Value, als: Value, content: Value,
                 popularity: Value) -> Value:
    """The blend of the three components: the same expression for Spark columns and numpy arrays."""
    return w_als * als + w_content * content + w_popularity * popularity


@dataclass(frozen=True)
class CandidateSizes:
    """How many candidates each source brings per user before blending: the ALS best, the recent
    products whose content neighbours are candidates, and the segment's most popular."""

    als: int = 30
    recent: int = 10
    popular: int = 30


@dataclass(frozen=True)
class Weights:
    """Blend weights of the three components (they sum to 1)."""

    als: float
    content: float
    popularity: float

    def as_dict(self) -> dict[str, float]:
        """The weights as a dict, for metadata."""
        return {"als": self.als, "content": self.content, "popularity": self.popularity}


def weight_grid(step: float = WEIGHT_STEP) -> list[Weights]:
    """Every weight triple on the simplex with the given step (15 triples for 0.25)."""
    n = round(1 / step)
    return [Weights(a * step, c * step, (n - a - c) * step)
            for a, c in itertools.product(range(n + 1), repeat=2) if a + c <= n]


@dataclass(frozen=True)
class HybridSettings:
    """What ``hybrid_recs`` ran with, recorded beside its lists so that the evaluation and the replay
    blend with the same sizes."""

    sizes: CandidateSizes = field(default_factory=CandidateSizes)
    weight_step: float = WEIGHT_STEP
    min_segment_users: int = MIN_SEGMENT_USERS

    def as_row(self) -> dict[str, float | int]:
        """One flat row, as ``processed/hybrid_settings`` holds it."""
        return {"als_candidates": self.sizes.als, "recent_products": self.sizes.recent,
                "popular_candidates": self.sizes.popular, "weight_step": self.weight_step,
                "min_segment_users": self.min_segment_users}

    @staticmethod
    def of_row(row: dict) -> HybridSettings:
        """Back from :meth:`as_row`."""
        return HybridSettings(CandidateSizes(int(row["als_candidates"]), int(row["recent_products"]),
                                             int(row["popular_candidates"])),
                              float(row["weight_step"]), int(row["min_segment_users"]))


SETTINGS_SCHEMA = ("als_candidates int, recent_products int, popular_candidates int, weight_step double, "
                   "min_segment_users int")
