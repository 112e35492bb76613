"""The segments section: how k was chosen, who is in each segment, what they are worth, how stable it is."""

from __future__ import annotations

from pathlib import Path

from ecom_assets.report import figures
from ecom_assets.report.content import Section, count, share
from ecom_assets.report.sources import Sources

PROFILE_COLUMNS = ("segment", "users", "user_share", "revenue_share", "buyer_share", "mean_recency_days",
                   "mean_frequency", "mean_monetary", "mean_sessions")


def _sweep(out: Section, sources: Sources, folder: Path) -> None:
    """The silhouette of each k and the stability of the chosen one (the kmeans_model's metadata)."""
    meta = sources.metadata("kmeans_model")
    scores = meta.get("silhouette_by_k")
    if not scores:
        out.missing.append("the silhouette sweep is in `kmeans_model`'s Dagster metadata: run the report with the "
                           "DAGSTER_HOME that materialized the lake")
        return
    ks = sorted(scores, key=int)
    out.figure(figures.lines(folder / "segments_silhouette.png", [int(k) for k in ks],
                             {"silhouette": [scores[k] for k in ks]}, "Silhouette by number of segments (k)",
                             "silhouette"),
               f"How well separated the segments are for each k; the model keeps k = {meta.get('k')}, the smallest "
               "within 0.01 of the best, because near-ties hide unstable splits.")
    moved = meta.get("bootstrap_changed_share")
    stable = f"; a bootstrap re-fit moved {share(moved)} of users to another segment" if moved is not None else ""
    out.reading.append(f"{meta.get('k')} segments, silhouette {meta.get('silhouette')}{stable}. Segments that "
                       "survive a re-fit can carry campaigns from month to month.")


def _profiles(out: Section, sources: Sources, folder: Path) -> None:
    """Sizes and values per segment."""
    profiles = sources.required("segment_profiles", out.missing)
    if profiles is None:
        return
    profiles = profiles.sort_values("revenue_share", ascending=False)
    out.table("Segment profiles (means per user over the training window)",
              profiles[[c for c in PROFILE_COLUMNS if c in profiles.columns]])
    names = profiles["segment"].tolist()
    out.figure(figures.grouped_bars(folder / "segments_shares.png", names,
                                    {"share of users": profiles["user_share"].tolist(),
                                     "share of revenue": profiles["revenue_share"].tolist()},
                                    "Users and revenue per segment", "share"),
               "Each segment's share of the users beside its share of the revenue: where value concentrates.")
    top = profiles.iloc[0]
    out.reading.append(f"'{top['segment']}' holds {share(top['user_share'])} of users ({count(top['users'])}) "
                       f"and brings {share(top['revenue_share'])} of revenue: retention spend belongs there first. "
                       "The large browsing segments bring little revenue each but are where new buyers come from.")


def section(sources: Sources, folder: Path) -> Section:
    """The sweep, the profiles and the stability."""
    out = Section("segments", "Customer segments")
    _sweep(out, sources, folder)
    _profiles(out, sources, folder)
    return out
