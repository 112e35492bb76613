"""The session-based next-item protocol: each step on hand-made views, the whole protocol against a
plain-Python reading of it on a few thousand generated views."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter, defaultdict

import pytest
from pyspark.sql import SparkSession

from ecom_assets.recommendation.next_item import (
    COVISIT_STEPS,
    CUTOFF,
    SESSION_GAP_S,
    evaluate_next_item,
    filter_supported,
    view_sessions,
)

T0 = dt.datetime(2019, 11, 1)
SCHEMA = "event_time timestamp, event_type string, product_id long, user_id long"


def _events(spark: SparkSession, rows: list[tuple[int, str, int, int]]):
    """(seconds after T0, event type, product, user) rows as raw events."""
    return spark.createDataFrame([(T0 + dt.timedelta(seconds=s), t, p, u) for s, t, p, u in rows], SCHEMA)


def test_sessions_cut_after_an_hour_of_silence_without_consecutive_repeats(spark: SparkSession) -> None:
    rows = [(0, "view", 1, 7), (10, "view", 1, 7), (20, "cart", 2, 7), (30, "view", 2, 7), (40, "view", 1, 7),
            (40 + SESSION_GAP_S, "view", 1, 7),  # exactly an hour: same session, but a repeat of 1
            (41 + 2 * SESSION_GAP_S, "view", 1, 7),  # more than an hour later: a new session starting with 1
            (0, "view", 5, 8)]
    got = sorted((r["user_id"], r["session"], r["position"], r["product_id"])
                 for r in view_sessions(_events(spark, rows)).collect())
    assert got == [(7, 1, 1, 1), (7, 1, 2, 2), (7, 1, 3, 1), (7, 2, 1, 1), (8, 1, 1, 5)]


def test_the_filter_repeats_until_nothing_is_removed(spark: SparkSession) -> None:
    # Minimum support 2. Round 1 removes product 3 (seen once), which leaves session (1, 2) one view
    # long; round 2 then removes product 4 (seen once now) and session (2, 1); round 3 product 5 and
    # session (3, 1); round 4 removes nothing.
    rows = [(1, 1, 1, 1), (1, 1, 2, 2), (1, 2, 1, 3), (1, 2, 2, 4), (2, 1, 1, 4), (2, 1, 2, 5), (2, 2, 1, 1),
            (2, 2, 2, 2), (3, 1, 1, 5), (3, 1, 2, 1)]
    frame = spark.createDataFrame([(u, s, p, prod, T0) for u, s, p, prod in rows],
                                  "user_id long, session int, position int, product_id long, event_time timestamp")
    kept, rounds = filter_supported(frame, min_length=2, min_support=2)
    assert sorted((r["user_id"], r["session"], r["product_id"]) for r in kept.collect()) == [
        (1, 1, 1), (1, 1, 2), (2, 2, 1), (2, 2, 2)]
    assert rounds == 4


def _reference(rows: list[tuple[int, str, int, int]]) -> dict[str, tuple[int, float, float]]:
    """The protocol read literally in plain Python: recommender -> (predictions, Recall@20, MRR@20)."""
    by_user: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for s, t, p, u in rows:
        if t == "view":
            by_user[u].append((s, p))
    sessions: list[list[tuple[int, int]]] = []
    for views in by_user.values():
        views.sort()
        for i, (s, p) in enumerate(views):
            if i == 0 or s - views[i - 1][0] > SESSION_GAP_S:
                sessions.append([(s, p)])
            elif p != views[i - 1][1]:  # a consecutive repeat is dropped (it still counts for the gap)
                sessions[-1].append((s, p))
    while True:
        support = Counter(p for sess in sessions for _, p in sess)
        kept = [[(s, p) for s, p in sess if support[p] >= 5] for sess in sessions]
        kept = [sess for sess in kept if len(sess) >= 2]
        if sum(map(len, kept)) == sum(map(len, sessions)):
            break
        sessions = kept
    last_day = max((T0 + dt.timedelta(seconds=sess[0][0])).date() for sess in sessions)
    train = [sess for sess in sessions if (T0 + dt.timedelta(seconds=sess[0][0])).date() < last_day]
    test = [sess for sess in sessions if (T0 + dt.timedelta(seconds=sess[0][0])).date() == last_day]
    known = {p for sess in train for _, p in sess}
    test = [[p for _, p in sess if p in known] for sess in test]
    test = [sess for sess in test if len(sess) >= 2]
    views = Counter(p for sess in train for _, p in sess)
    popular = sorted(views, key=lambda p: (-views[p], p))[:CUTOFF]
    covisits: dict[int, Counter] = defaultdict(Counter)
    for sess in train:
        items = [p for _, p in sess]
        for i, a in enumerate(items):
            for d in range(1, COVISIT_STEPS + 1):
                if i + d < len(items) and items[i + d] != a:
                    covisits[a][items[i + d]] += 1.0 / d
    def covisit_list(a: int) -> list[int]:
        ranked = sorted(covisits[a], key=lambda p: (-covisits[a][p], p))[:CUTOFF]
        return ranked + [p for p in popular if p != a and p not in ranked][:CUTOFF - len(ranked)]
    results = {}
    for name, list_of in (("most_popular", lambda a: popular), ("covisitation", covisit_list)):
        n, hits, rr = 0, 0, 0.0
        for sess in test:
            for a, b in zip(sess, sess[1:]):
                n += 1
                ranked = list_of(a)
                if b in ranked:
                    hits += 1
                    rr += 1 / (ranked.index(b) + 1)
        results[name] = (n, hits / n, rr / n)
    return results


def test_the_whole_protocol_matches_a_plain_reading_of_it(spark: SparkSession) -> None:
    rng = random.Random(3)
    rows = []
    for user in range(400):  # two days and a bit: the last day holds ~180 predictions
        t = rng.randrange(0, 2 * 86400)
        for _ in range(rng.randrange(1, 25)):
            t += rng.choice((5, 60, 600, 3000, 3600, 3601, 7200))
            product = rng.choice((rng.randrange(80), rng.randrange(10), user % 7))  # some structure
            rows.append((t, rng.choice(("view", "view", "view", "cart")), product, user))
    expected = _reference(rows)
    scores, figures = evaluate_next_item(spark, _events(spark, rows))
    got = {s.recommender: (s.predictions, s.recall_at_20, s.mrr_at_20) for s in scores}
    assert got.keys() == expected.keys()
    for name, (n, recall, mrr) in expected.items():
        assert got[name][0] == n and n > 100
        assert got[name][1] == pytest.approx(recall) and got[name][2] == pytest.approx(mrr)
    assert figures.filter_rounds >= 1 and figures.test_sessions > 0
