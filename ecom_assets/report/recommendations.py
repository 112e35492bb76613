"""The recommendations section: every recommender against the baselines, over the folds, and next-item."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ecom_assets.report import figures
from ecom_assets.report.content import Section, share
from ecom_assets.report.sources import Sources

METRICS = ("ndcg_at_10", "recall_at_10", "hit_rate_at_10", "precision_at_10", "map_at_10", "catalogue_coverage",
           "sampled_hit_rate_at_10")
TRUTH = "cart_or_purchase"


def fold_summary(evaluation: pd.DataFrame) -> pd.DataFrame:
    """Mean and spread (standard deviation over folds) of every metric per recommender, carts and purchases."""
    rows = evaluation[evaluation["ground_truth"] == TRUTH]
    grouped = rows.groupby("recommender")[list(METRICS)]
    summary = grouped.mean().join(grouped.std(ddof=0).fillna(0.0), rsuffix="_spread")
    return summary.sort_values("ndcg_at_10", ascending=False)


def _offline(out: Section, sources: Sources, folder: Path) -> None:
    """The cross-validated comparison."""
    evaluation = sources.required("recs_evaluation", out.missing)
    if evaluation is None:
        return
    summary = fold_summary(evaluation)
    folds = evaluation[["fold", "test_window"]].drop_duplicates().sort_values("fold")
    users = evaluation[(evaluation["recommender"] == "hybrid") & (evaluation["ground_truth"] == TRUTH)]
    out.table("Test weeks (fold 0 is the holdout week after training; the others are earlier weeks, each model "
              "trained on the days before) and the users scored in each",
              folds.merge(users[["fold", "users"]], on="fold"))
    names = summary.index.tolist()
    out.figure(figures.grouped_bars(folder / "recommendations_ndcg.png", names,
                                    {"NDCG@10": summary["ndcg_at_10"].tolist(),
                                     "Recall@10": summary["recall_at_10"].tolist()},
                                    "Next-week carts and purchases found in the top 10 (mean over folds)", "score",
                                    errors={"NDCG@10": summary["ndcg_at_10_spread"].tolist(),
                                            "Recall@10": summary["recall_at_10_spread"].tolist()}),
               "How well each recommender's top 10 predicts what users cart or buy the following week, mean over "
               "the folds with its spread as error bars.")
    out.table("Every metric per recommender, mean over folds (carts and purchases of the test week)",
              summary[list(METRICS)].reset_index())
    if "hybrid" in summary.index and "global_popularity" in summary.index:
        hybrid, popular = summary.loc["hybrid"], summary.loc["global_popularity"]
        ratio = hybrid["ndcg_at_10"] / popular["ndcg_at_10"] if popular["ndcg_at_10"] else float("nan")
        out.reading.append(
            f"The hybrid's top 10 reaches NDCG@10 {hybrid['ndcg_at_10']:.4f} ± {hybrid['ndcg_at_10_spread']:.4f}, "
            f"{ratio:.2f} times the best-sellers list everyone gets; {share(hybrid['hit_rate_at_10'])} of users "
            f"find at least one of next week's carts or purchases in it, and it shows "
            f"{share(hybrid['catalogue_coverage'], 2)} of the catalogue. Personal lists beat a shared best-seller "
            "list, and they spread demand over more of the catalogue.")


def segment_summary(by_segment: pd.DataFrame) -> pd.DataFrame:
    """Per segment: the users scored (summed over folds) and each recommender's NDCG@10 averaged over the folds
    (columns named by recommender), the segments with the most scored users first."""
    ndcg = by_segment.pivot_table(index="segment", columns="recommender", values="ndcg_at_10", aggfunc="mean")
    users = by_segment[by_segment["recommender"] == by_segment["recommender"].iloc[0]].groupby("segment")["users"].sum()
    return ndcg.join(users.rename("users_scored")).sort_values("users_scored", ascending=False)


def _by_segment(out: Section, sources: Sources, folder: Path) -> None:
    """Whom the lists serve well: the hybrid against the best-sellers in each segment."""
    by_segment = sources.required("recs_evaluation_by_segment", out.missing)
    if by_segment is None or by_segment.empty:
        return
    summary = segment_summary(by_segment)
    shown = [name for name in ("hybrid", "als", "global_popularity") if name in summary.columns]
    out.table("NDCG@10 per segment of the scored users, mean over folds (carts and purchases)",
              summary[["users_scored", *shown]].reset_index())
    out.figure(figures.grouped_bars(folder / "recommendations_by_segment.png", summary.index.tolist(),
                                    {name: summary[name].tolist() for name in shown},
                                    "NDCG@10 per customer segment (mean over folds)", "NDCG@10"),
               "How well each recommender's top 10 serves the users of each segment, so a campaign knows where "
               "personal lists pay and where best-sellers do as well.")
    if {"hybrid", "global_popularity"} <= set(summary.columns):
        gain = (summary["hybrid"] - summary["global_popularity"]).sort_values()
        out.reading.append(
            f"Personal lists gain most over best-sellers for '{gain.index[-1]}' (NDCG@10 +{gain.iloc[-1]:.4f}) and "
            f"least for '{gain.index[0]}' ({gain.iloc[0]:+.4f}): where the gain is small, a segment's best-sellers "
            "are a cheaper widget that serves as well.")


def _next_item(out: Section, sources: Sources) -> None:
    """The session-based protocol of the published results."""
    table = sources.required("next_item_evaluation", out.missing)
    if table is None:
        return
    out.table("Next view within a session (the published protocol: Recall@20 and MRR@20; GRU4Rec reports "
              "0.529 and 0.201 on the real files)", table)
    best = table.loc[table["recall_at_20"].idxmax()]
    out.reading.append(f"Within a visit, '{best['recommender']}' puts the next product viewed in its top 20 "
                       f"{share(best['recall_at_20'])} of the time: 'customers who viewed this also viewed' is "
                       "the cheapest useful widget on a product page.")


def section(sources: Sources, folder: Path) -> Section:
    """Offline cross-validation, per segment, and next-item."""
    out = Section("recommendations", "Recommendations")
    _offline(out, sources, folder)
    _by_segment(out, sources, folder)
    _next_item(out, sources)
    return out
