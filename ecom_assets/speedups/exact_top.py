"""Each user's best items by ALS score, exactly, without scoring every item for most users.

The score of user ``x`` for item ``y`` is ``x . y <= |x| |y|`` (Cauchy-Schwarz). With the items
ordered by decreasing factor norm, once a user's ``n``-th best score among the first ``m`` items is
above ``|x|`` times the norm of item ``m + 1``, no later item can enter the user's top ``n``: the
first ``m`` items' top ``n`` is the exact answer. Implicit ALS gives the often-interacted products the
largest norms, and those are the products users score highest, so most users are settled by a short
head of the catalogue. The others are scored against a head twice as long, and so on, up to the
whole catalogue, so the result never depends on how well the bound works, only the cost does.

This keeps the cost of the batch lists (every training user) and of the live blend (the hour's active
users) from growing with the catalogue (the real files' ~166 k products), while serving exactly what
scoring every item serves.

Speed machinery, justified by ``bench/live_blend_topn.py`` and ``bench/batch_als_lists.py``
(docs/benchmarks.md, ``live-blend-topn``, ``batch-als-lists``) and tested equal to scoring every item
(``test_exact_top.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Items scored for every user before the bound is checked, and how much longer the head gets for the
# users it did not settle. On the generated full-size lake's factors (folded-in November users and
# October's), 4096 then x2 computes ~40% fewer scores than 2048 then x4 and settles 95% of the users
# at the first head (docs/benchmarks.md, live-blend-cpu).
FIRST_HEAD = 4096
HEAD_GROWTH = 2
USERS_PER_BLOCK = 128  # users searched together (their scores: at most 128 x items doubles in memory)
# The bound is compared with a margin so a rounding error in a dot product never settles a user whose
# n-th best score ties an unscored item's bound (a tie is broken by item id, so it could still enter).
BOUND_MARGIN = 1e-9


@dataclass(frozen=True)
class NormOrder:
    """The item rows by decreasing factor norm (ties by row), with what the search reads in that order:
    the norms (and a trailing 0, the bound past the last item), the factors (so every head is a
    contiguous slice, not a copy) and the item ids (for ties)."""

    rows: np.ndarray
    norms: np.ndarray
    factors: np.ndarray
    ids: np.ndarray

    @staticmethod
    def of(matrix: np.ndarray, ids: np.ndarray) -> NormOrder:
        """The order of ``matrix``'s rows (items x rank, in double precision) whose item ids are ``ids``."""
        norms = np.linalg.norm(matrix, axis=1)
        rows = np.lexsort((np.arange(len(norms)), -norms))
        return NormOrder(rows, np.append(norms[rows], 0.0), np.ascontiguousarray(matrix[rows]), ids[rows])


# Per Python worker process: the last item factors searched, as (the float32 matrix, it in double
# precision, its NormOrder). Workers are reused across tasks and hours, the factors rarely change.
_SEARCHED: list[tuple[np.ndarray, np.ndarray, NormOrder]] = []


def searchable(matrix: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, NormOrder]:
    """``matrix`` (items x rank) in double precision and its :class:`NormOrder`, computed once per
    process for the same ``matrix`` object (every task of an hour reads the same loaded pack)."""
    if not _SEARCHED or _SEARCHED[0][0] is not matrix:
        wide = matrix.astype(np.float64)
        _SEARCHED[:] = [(matrix, wide, NormOrder.of(wide, ids))]
    return _SEARCHED[0][1], _SEARCHED[0][2]


def _ranked(scores: np.ndarray, part: np.ndarray, ids: np.ndarray, n: int) -> np.ndarray:
    """Column positions of each row's ``n`` best scores, best first, ties by smaller id, given ``part``:
    the columns of ``n`` scores no lower than any other of the row's (an ``argpartition``'s tail)."""
    part_scores = np.take_along_axis(scores, part, axis=1)
    nth = part_scores.min(axis=1)
    # argpartition keeps an arbitrary subset of the scores equal to the n-th: such rows are redone whole.
    for row in np.flatnonzero((scores >= nth[:, None]).sum(axis=1) > n):
        tied = np.flatnonzero(scores[row] >= nth[row])
        part[row] = tied[np.lexsort((ids[tied], -scores[row, tied]))[:n]]
        part_scores[row] = scores[row, part[row]]
    order = np.lexsort((ids[part], -part_scores), axis=1)
    return np.take_along_axis(part, order, axis=1)


def best_per_row(scores: np.ndarray, ids: np.ndarray, n: int) -> np.ndarray:
    """Column positions of each row's ``n`` best scores, best first, ties by smaller id (as
    ``recommend_from_factors``), also where a tie straddles the ``n``-th place; ``ids`` are the columns'
    item ids."""
    n = min(n, scores.shape[1])
    if n == 0:
        return np.empty((scores.shape[0], 0), dtype=np.int64)
    part = np.argpartition(scores, scores.shape[1] - n, axis=1)[:, -n:]  # no negated copy: half the time
    return _ranked(scores, part, ids, n)


def best_items(vectors: np.ndarray, order: NormOrder, n: int, first_head: int = FIRST_HEAD,
               growth: int = HEAD_GROWTH) -> tuple[np.ndarray, int]:
    """The matrix rows of each user's ``n`` best items (users x min(n, items)), best first, ties by smaller
    id: the same as :func:`best_per_row` over every item's score. Also returns how many scores were
    computed (users x items for the plain way), for the record.

    ``vectors``: the users' factors (users x rank); ``order``: the items' :class:`NormOrder`;
    ``first_head`` and ``growth``: the first head's length and how much each next one grows. One
    ``argpartition`` per head gives both the ``n``-th score (for the bound) and the settled users' best.
    """
    n_items = len(order.rows)
    n = min(n, n_items)
    result = np.empty((len(vectors), n), dtype=np.int64)
    if n == 0:
        return result, 0
    pending = np.arange(len(vectors))
    lengths = np.linalg.norm(vectors, axis=1)
    head = max(first_head, n)
    computed = 0
    while len(pending):
        head = min(head, n_items)
        scores = (vectors if len(pending) == len(vectors) else vectors[pending]) @ order.factors[:head].T
        computed += scores.size
        part = np.argpartition(scores, head - n, axis=1)
        if head == n_items:
            settled = np.ones(len(pending), dtype=bool)
        else:
            nth = np.take_along_axis(scores, part[:, head - n:head - n + 1], axis=1)[:, 0]
            bound = lengths[pending] * order.norms[head]
            settled = nth > bound + BOUND_MARGIN * (1.0 + np.abs(bound))
        if settled.any():
            best = _ranked(scores[settled], part[settled, head - n:], order.ids[:head], n)
            result[pending[settled]] = order.rows[best]
        pending = pending[~settled]
        head *= growth
    return result, computed
