"""Line-protocol points of the incremental models: ``segment_evolution`` and ``recommendation_metrics``."""

from __future__ import annotations

import datetime as dt

from ecom_assets.publishing.measurements import RECOMMENDATION_METRICS, SEGMENT_EVOLUTION, point
from ecom_assets.replay.models.online import ALL_SEGMENTS
from ecom_assets.replay.orchestration.clock import ReplayClock

EVOLUTION_FIELDS = tuple(SEGMENT_EVOLUTION.fields)
OFFLINE_FIELDS = ("users", "hit_rate_at_10", "precision_at_10", "recall_at_10", "ndcg_at_10", "map_at_10",
                  "catalogue_coverage", "sampled_hit_rate_at_10")


def segment_points(clock: ReplayClock, start: dt.datetime, rows: list[dict]) -> list[str]:
    """One ``segment_evolution`` point per segment (and ``all``) for the hour."""
    return [point(SEGMENT_EVOLUTION, clock.shift(start), {k: r.get(k) for k in EVOLUTION_FIELDS},
                  {"segment": r["segment"]}) for r in rows]


def online_points(clock: ReplayClock, start: dt.datetime, rows: list[dict], coverage: dict[str, float]) -> list[str]:
    """``recommendation_metrics`` points of kind ``online`` for the hybrid: hit rate and precision per target
    and segment, and the coverage of the hour's lists per segment (target ``any``)."""
    lines = []
    for r in rows:
        fields = {"users": r["users"], "hit_rate_at_10": r["hit_rate_at_10"], "precision_at_10": r["precision_at_10"]}
        if r["target"] == "any" and r["segment"] in coverage:
            fields["catalogue_coverage"] = coverage[r["segment"]]
        lines.append(point(RECOMMENDATION_METRICS, clock.shift(start), fields,
                           {"kind": "online", "segment": r["segment"], "recommender": "hybrid", "target": r["target"]}))
    evaluated = {r["segment"] for r in rows if r["target"] == "any"}
    for segment, share in sorted(coverage.items()):
        if segment not in evaluated:
            lines.append(point(RECOMMENDATION_METRICS, clock.shift(start), {"catalogue_coverage": share},
                               {"kind": "online", "segment": segment, "recommender": "hybrid", "target": "any"}))
    return lines


def offline_points(clock: ReplayClock, start: dt.datetime, rows: list[dict]) -> list[str]:
    """``recommendation_metrics`` points of kind ``offline``: the evaluation of the models in use, per
    recommender and ground truth (``recs_evaluation``), stamped with the hour they served."""
    return [point(RECOMMENDATION_METRICS, clock.shift(start), {k: r.get(k) for k in OFFLINE_FIELDS},
                  {"kind": "offline", "segment": ALL_SEGMENTS, "recommender": r["recommender"],
                   "target": r["ground_truth"]}) for r in rows]
