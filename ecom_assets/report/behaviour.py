"""The behaviour section: the funnel, when people shop, the sale days, what sells, how visits flow."""

from __future__ import annotations

from pathlib import Path

from ecom_assets.report import figures
from ecom_assets.report.content import Section, count, share
from ecom_assets.report.data import daily_events
from ecom_assets.report.sources import Sources

TOP = 10
SALE_FACTOR = 2.0  # a day with this many times the median day's purchases counts as a sale day

def _funnel(out: Section, sources: Sources, folder: Path) -> None:
    """Views -> carts -> purchases, overall."""
    funnel = sources.required("conversion_funnel", out.missing)
    if funnel is None:
        return
    overall = funnel[funnel["level"] == "overall"].iloc[0]
    out.figure(figures.bars(folder / "behaviour_funnel.png", ["views", "carts", "purchases"],
                            [overall["views"], overall["carts"], overall["purchases"]], "Events of the funnel",
                            "events"),
               "How many views, cart additions and purchases the shop recorded: each step loses most of the one "
               "before.")
    out.reading.append(
        f"Of the (user, product) pairs viewed, {share(overall['view_to_cart_rate'], 2)} were carted and "
        f"{share(overall['view_to_purchase_rate'], 2)} bought; {share(overall['cart_abandonment_rate'])} of carted "
        "pairs were never bought. The cart is where the money leaks: an abandoned-cart reminder reaches people "
        "who already chose a product.")
    brands = funnel[(funnel["level"] == "brand") & (funnel["key"] != "unknown")].nlargest(TOP, "purchases")
    categories = funnel[(funnel["level"] == "category") & (funnel["key"] != "unknown")].nlargest(TOP, "purchases")
    if not categories.empty:
        out.figure(figures.bars(folder / "behaviour_top_categories.png", categories["key"].tolist(),
                                categories["purchases"].tolist(), "Top categories by purchases", "purchases",
                                horizontal=True),
                   f"The {len(categories)} categories with the most purchases, where assortment and stock matter most.")
    if not brands.empty:
        out.figure(figures.bars(folder / "behaviour_top_brands.png", brands["key"].tolist(),
                                brands["purchases"].tolist(), "Top brands by purchases", "purchases", horizontal=True),
                   f"The {len(brands)} brands with the most purchases: the partners worth negotiating with first.")
        top_share = brands["purchases"].iloc[:3].sum() / max(overall["purchases"], 1)
        out.reading.append(f"The three leading brands ({', '.join(brands['key'].iloc[:3])}) take "
                           f"{share(top_share)} of all purchases.")

def _timing(out: Section, sources: Sources, folder: Path) -> None:
    """Hour of day, weekday and sale days."""
    patterns = sources.required("activity_patterns", out.missing)
    if patterns is None:
        return
    hours = patterns[patterns["grain"] == "hour_of_day"].sort_values("key")
    weekdays = patterns[patterns["grain"] == "day_of_week"].sort_values("key")
    out.figure(figures.bars(folder / "behaviour_hour_of_day.png", hours["key"].tolist(),
                            hours["events"].tolist(), "Events by hour of day (UTC)", "events"),
               "When the shop is busy, hour by hour (UTC): campaigns and maintenance windows should follow it.")
    out.figure(figures.bars(folder / "behaviour_weekday.png", [k.split("-")[1] for k in weekdays["key"]],
                            weekdays["events"].tolist(), "Events by weekday", "events"),
               "Activity per weekday: which days carry the week.")
    busiest, quietest = hours.loc[hours["events"].idxmax(), "key"], hours.loc[hours["events"].idxmin(), "key"]
    top_day = weekdays.loc[weekdays["events"].idxmax(), "key"].split("-")[1]
    out.reading.append(f"Traffic peaks at {busiest}:00 UTC and is lowest at {quietest}:00 UTC; {top_day} is the "
                       "busiest weekday. Send campaigns ahead of the peak and schedule heavy jobs in the trough.")
    days = daily_events(sources)
    if days is None or days.empty:
        return
    median = max(float(days["purchases"].median()), 1.0)
    sale = days[days["purchases"] >= SALE_FACTOR * median]
    labels = days["day"].dt.strftime("%m-%d").tolist()
    out.figure(figures.bars(folder / "behaviour_purchases_per_day.png", labels, days["purchases"].tolist(),
                            "Purchases per day", "purchases",
                            highlight=sale["day"].dt.strftime("%m-%d").tolist()),
               f"Purchases per day; in orange the days with at least {SALE_FACTOR:g} times the median day's.")
    if sale.empty:
        out.reading.append("No day stands out: purchases stay within twice the median day's.")
    else:
        peak = sale.loc[sale["purchases"].idxmax()]
        out.reading.append(f"{len(sale)} sale day(s) ({', '.join(sale['day'].dt.strftime('%Y-%m-%d'))}): the "
                           f"strongest, {peak['day']:%Y-%m-%d}, had {count(peak['purchases'])} purchases, "
                           f"{peak['purchases'] / median:.1f} times a median day. Stock, servers and "
                           "recommendations must be ready for that multiple, not for the average.")


def _paths(out: Section, sources: Sources) -> None:
    """Frequent category paths and strongest affinities."""
    paths = sources.required("navigation_paths", out.missing)
    if paths is not None:
        two = paths[paths["kind"] == "category_2_steps"].nlargest(TOP, "sessions")
        if not two.empty:
            out.table("The most frequent moves between categories, with the conversion of the visits that make "
                      "them and how much more often converting visits make them (lift)",
                      two[["path", "sessions", "conversion_rate", "lift_converting_vs_other"]])
            best = two.loc[two["lift_converting_vs_other"].fillna(0).idxmax()]
            if best["lift_converting_vs_other"] > 1:
                out.reading.append(f"Visits that go {best['path']} convert at {share(best['conversion_rate'])}: "
                                   f"converting visits make this move {best['lift_converting_vs_other']:.1f} times "
                                   "as often as the others, a cross-link worth placing on the first page.")
            else:
                out.reading.append("No frequent move between categories is made more often by the visits that "
                                   "convert than by the others: the paths do not point at a cross-link to add.")
    affinities = sources.required("affinities", out.missing)
    if affinities is None:
        return
    pairs = affinities[affinities["item_kind"] == "category"].nlargest(TOP, "lift")
    if not pairs.empty:
        out.table("Categories visited together, by lift (above 1: more often than chance), with support and "
                  "confidence", pairs[["item_a", "item_b", "sessions_together", "support", "confidence_a_to_b", "lift"]])
        top = pairs.iloc[0]
        if top["lift"] > 1:
            out.reading.append(f"{top['item_a']} and {top['item_b']} share visits {top['lift']:.1f} times as often "
                               "as chance would: bundle them, or show one on the other's page.")
        else:
            out.reading.append("No two categories share visits more often than chance would (best lift "
                               f"{top['lift']:.2f}): a bundle between categories would be a guess, not a finding.")

def section(sources: Sources, folder: Path) -> Section:
    """Funnel, timing, sale days, top sellers, paths and affinities."""
    out = Section("behaviour", "Customer behaviour")
    _funnel(out, sources, folder)
    _timing(out, sources, folder)
    _paths(out, sources)
    return out

