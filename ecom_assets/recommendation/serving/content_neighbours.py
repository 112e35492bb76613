"""The content similarity table on the driver, so the blend's Python workers expand each user's recent
products into content candidates themselves.

:func:`ecom_assets.recommendation.hybrid.content_scores` is the Spark form: every similarity row of
each recent product, plus the product itself at 1.0, then the best score per (user, product). The
replay's hours used to run it as a Spark job and shuffle its rows (about a hundred per active user)
into the blend; the workers now receive the recent products (at most ten per user) and read the
neighbours from this table, which gives the same candidates and scores.

Speed machinery, justified by ``bench/replay_cadence.py --models on`` (docs/benchmarks.md,
``replay-models-scale-1``): no ~100 candidate rows per user shuffled into the blend.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pyspark.sql import DataFrame

from ecom_assets.speedups.sorted_lookup import positions_in, run_indices, run_starts


@dataclass(frozen=True)
class ContentNeighbours:
    """The similarity table grouped by product: ``products`` (sorted, unique); the neighbours of
    ``products[i]`` are ``neighbours[starts[i]:starts[i + 1]]`` with their ``similarities``."""

    products: np.ndarray
    starts: np.ndarray
    neighbours: np.ndarray
    similarities: np.ndarray

    @staticmethod
    def collect(similarity: DataFrame) -> ContentNeighbours:
        """Collect ``similarity`` (product_id, similar_product_id, similarity): a catalogue-sized table."""
        table = similarity.select("product_id", "similar_product_id", "similarity").toArrow()
        product = np.asarray(table.column("product_id").to_numpy(), dtype=np.int64)
        neighbour = np.asarray(table.column("similar_product_id").to_numpy(), dtype=np.int64)
        score = np.asarray(table.column("similarity").to_numpy(), dtype=np.float64)
        order = np.argsort(product, kind="stable")
        starts = run_starts(product[order])
        products = product[order][starts]
        return ContentNeighbours(products, np.append(starts, len(order)).astype(np.int64), neighbour[order],
                                 score[order])

    def expand(self, user: np.ndarray, recent: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(user, product, score) for each (``user``, ``recent`` product): the product itself at 1.0 and
        each of its neighbours at its similarity (a product may come more than once per user)."""
        user, recent = user.astype(np.int64), recent.astype(np.int64)
        position, found = positions_in(self.products, recent)
        first = self.starts[position[found]]
        counts = self.starts[position[found] + 1] - first
        offsets = run_indices(first, counts)
        return (np.concatenate([user, np.repeat(user[found], counts)]),
                np.concatenate([recent, self.neighbours[offsets]]),
                np.concatenate([np.ones(len(recent)), self.similarities[offsets]]))
