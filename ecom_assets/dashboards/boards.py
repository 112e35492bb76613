"""The four dashboards of the specification, over the ``ecommerce_analytics`` measurements.

Behaviour overview, customer segmentation and its evolution, recommendation performance and the
replay's real-time activity. Grafana substitutes ``$timeFilter``, ``$__interval`` and the template
variables before sending each InfluxQL query.
"""

from __future__ import annotations

from ecom_assets.dashboards.builder import Panel, custom_variable, dashboard, query_variable

HOURS = """FROM "user_behavior" WHERE "granularity" = 'hour' AND $timeFilter"""
BY_TIME = "GROUP BY time($__interval) fill(none)"
SEGMENTS = """"segment" =~ /^$segment$/ AND "segment" != 'all'"""
ONLINE = """FROM "recommendation_metrics" WHERE "kind" = 'online' AND $timeFilter"""
CHURN_BAR = 0.15


def behaviour() -> dict:
    """Behaviour overview: events, funnel, conversion, users, sessions, top lists, hour-of-day profile."""
    panels = [
        Panel("timeseries", "Events by type per hour", [
            f'SELECT sum("views") AS "views", sum("carts") AS "carts", sum("purchases") AS "purchases" {HOURS} {BY_TIME}'],
            width=16, unit="short"),
        Panel("bargauge", "Funnel: views, carts, purchases", [
            f'SELECT sum("views") AS "1 views", sum("carts") AS "2 carts", sum("purchases") AS "3 purchases" {HOURS}'],
            width=8, extra={"options": {"orientation": "horizontal", "displayMode": "gradient",
                                        "reduceOptions": {"calcs": ["sum"], "fields": "", "values": False}}}),
        Panel("timeseries", "Conversion and cart rate", [
            (f'SELECT sum("purchases") / sum("views") AS "conversion (purchases / views)", '
            f'sum("carts") / sum("views") AS "cart rate (carts / views)" {HOURS} {BY_TIME}')], unit="percentunit"),
        Panel("timeseries", "Active users and sessions", [
            f'SELECT sum("active_users") AS "active users", sum("sessions") AS "sessions" {HOURS} {BY_TIME}'],
            unit="short"),
        Panel("timeseries", "Mean session duration", [
            f'SELECT mean("session_duration_mean_s") AS "mean session duration" {HOURS} {BY_TIME}'], unit="s"),
        Panel("timeseries", "Selected event type per minute ($event_type)", [
            ("""SELECT sum("$event_type") AS "$event_type" FROM "user_behavior" WHERE "granularity" = 'minute' """
            f"AND $timeFilter {BY_TIME}")], unit="short"),
        Panel("table", "Top categories (latest hour)", [
            ("""SELECT last("label") AS "category", last("score") AS "score", last("views") AS "views", """
            """last("carts") AS "carts", last("purchases") AS "purchases" FROM "product_popularity" """
            """WHERE "kind" = 'category' AND $timeFilter GROUP BY "rank\"""")], width=8, table=True),
        Panel("table", "Top products (latest hour, $category)", [
            ("""SELECT last("product_id") AS "product", last("label") AS "label", last("score") AS "score", """
            """last("purchases") AS "purchases" FROM "product_popularity" WHERE "kind" = 'product' """
            """AND "category" =~ /^$category$/ AND $timeFilter GROUP BY "rank\"""")], width=8, table=True),
        Panel("table", "Trending products (latest hour)", [
            ("""SELECT last("product_id") AS "product", last("label") AS "label", last("trending_score") AS "trend", """
            """last("views") AS "views" FROM "product_popularity" WHERE "kind" = 'trending' AND $timeFilter """
            """GROUP BY "rank\"""")], width=8, table=True),
        Panel("barchart", "Hour-of-day profile: mean events per hour (UTC)", [
            f'SELECT mean("events") AS "events", mean("purchases") AS "purchases" {HOURS} GROUP BY "hour_of_day"'],
            width=12, table=True, extra={"options": {"xField": "hour_of_day"}}),
        Panel("table", "Daily totals", [
            ("""SELECT "events", "active_users", "purchases", "revenue", "conversion_rate" FROM "user_behavior" """
            """WHERE "granularity" = 'day' AND $timeFilter""")], width=12, table=True),
    ]
    variables = [
        custom_variable("event_type", "Event type", ["views", "carts", "purchases"]),
        query_variable("category", "Category", 'SHOW TAG VALUES FROM "product_popularity" WITH KEY = "category"'),
    ]
    return dashboard("ecom-behaviour", "E-commerce: behaviour overview",
                     "What shoppers do, hour by hour, as November is replayed.", panels, variables)


def segmentation() -> dict:
    """Customer segmentation: sizes over time, churn against the 15% bar, new users, profiles."""
    evolution = f'FROM "segment_evolution" WHERE {SEGMENTS} AND $timeFilter'
    panels = [
        Panel("timeseries", "Segment sizes", [(f'SELECT last("users") {evolution} GROUP BY time($__interval), '
                                              '"segment" fill(none)')], width=12, unit="short",
              extra={"fieldConfig": {"defaults": {"displayName": "${__field.labels.segment}"}, "overrides": []}}),
        Panel("timeseries", "Churn between batches (bar: 15%)", [
            ("""SELECT last("changed_share") AS "users who changed segment", last("active_changed_share") AS """
            """"of the hour's returning users" FROM "segment_evolution" WHERE "segment" = 'all' AND $timeFilter """
            f"{BY_TIME}")], width=12, unit="percentunit", thresholds=[(CHURN_BAR, "red")]),
        Panel("timeseries", "New users per segment", [(f'SELECT sum("new_users") {evolution} GROUP BY '
                                                     'time($__interval), "segment" fill(none)')], width=12,
              unit="short", extra={"fieldConfig": {"defaults": {"displayName": "${__field.labels.segment}",
                                                                "custom": {"drawStyle": "bars"}}, "overrides": []}}),
        Panel("timeseries", "Relative size change per segment", [
            f'SELECT last("size_change") {evolution} GROUP BY time($__interval), "segment" fill(none)'],
            width=12, unit="percentunit",
            extra={"fieldConfig": {"defaults": {"displayName": "${__field.labels.segment}"}, "overrides": []}}),
        Panel("table", "Segment profiles over the range", [
            (f'SELECT last("users") AS "users", sum("new_users") AS "new users", sum("changed_users") AS "left", '
            f'mean("active_users") AS "active per hour" {evolution} GROUP BY "segment"')], width=16, table=True),
        Panel("stat", "Users in segments", [
            """SELECT last("users") FROM "segment_evolution" WHERE "segment" = 'all' AND $timeFilter"""],
            width=8, unit="short"),
    ]
    variables = [query_variable("segment", "Segment",
                                """SHOW TAG VALUES FROM "segment_evolution" WITH KEY = "segment" """
                                """WHERE "segment" != 'all'""")]
    return dashboard("ecom-segments", "E-commerce: customer segments and their evolution",
                     "K-means segments updated every replayed hour: sizes, churn and new users.", panels, variables)


def recommendations() -> dict:
    """Recommendation performance: online HitRate/Precision@10 per batch and segment, coverage, offline metrics."""
    overall = f"""{ONLINE} AND "segment" = 'all'"""
    panels = [
        Panel("timeseries", "Online HitRate@10 per batch", [
            f"""SELECT mean("hit_rate_at_10") AS "any event" {overall} AND "target" = 'any' {BY_TIME}""",
            (f"""SELECT mean("hit_rate_at_10") AS "carts and purchases" {overall} AND "target" = 'cart_purchase' """
            f"{BY_TIME}")], unit="percentunit"),
        Panel("timeseries", "Online Precision@10 per batch", [
            f"""SELECT mean("precision_at_10") AS "any event" {overall} AND "target" = 'any' {BY_TIME}""",
            (f"""SELECT mean("precision_at_10") AS "carts and purchases" {overall} AND "target" = 'cart_purchase' """
            f"{BY_TIME}")], unit="percentunit"),
        Panel("timeseries", "Online HitRate@10 per segment (any event)", [
            (f"""SELECT mean("hit_rate_at_10") {ONLINE} AND "target" = 'any' AND {SEGMENTS} """
            """GROUP BY time($__interval), "segment" fill(none)""")], unit="percentunit",
            extra={"fieldConfig": {"defaults": {"displayName": "${__field.labels.segment}"}, "overrides": []}}),
        Panel("timeseries", "Catalogue coverage of the lists served each hour", [
            f"""SELECT mean("catalogue_coverage") AS "coverage" {overall} AND "target" = 'any' {BY_TIME}"""],
            unit="percentunit"),
        Panel("table", "Offline metrics of the models in use (test week after training)", [
            ("""SELECT last("ndcg_at_10") AS "NDCG@10", last("hit_rate_at_10") AS "HitRate@10", """
            """last("precision_at_10") AS "Precision@10", last("recall_at_10") AS "Recall@10", """
            """last("map_at_10") AS "MAP@10", last("catalogue_coverage") AS "coverage", """
            """last("sampled_hit_rate_at_10") AS "sampled HitRate@10" FROM "recommendation_metrics" """
            """WHERE "kind" = 'offline' AND $timeFilter GROUP BY "recommender", "target\"""")],
            width=16, table=True),
        Panel("stat", "Users evaluated per hour", [
            f"""SELECT mean("users") AS "users" {overall} AND "target" = 'any'"""], width=8, unit="short"),
    ]
    variables = [query_variable("segment", "Segment",
                                """SHOW TAG VALUES FROM "recommendation_metrics" WITH KEY = "segment" """
                                """WHERE "segment" != 'all'""")]
    return dashboard("ecom-recommendations", "E-commerce: recommendation performance",
                     "Lists served before each hour against what users did in it; offline metrics of the models.",
                     panels, variables)


def realtime() -> dict:
    """Real-time activity: events per batch, step time and latency against the bars, lag, simulated hour."""
    replay = 'FROM "replay" WHERE $timeFilter'
    panels = [
        Panel("stat", "Current simulated hour", [f'SELECT last("simulated_hour") AS "hour" {replay}'], width=8,
              extra={"options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "/.*/", "values": False},
                                 "textMode": "value"}}),
        Panel("stat", "Events in the last batch", [f'SELECT last("batch_events") AS "events" {replay}'], width=8,
              unit="short"),
        Panel("stat", "Week shift applied to timestamps", [f'SELECT last("offset_weeks") AS "weeks" {replay}'],
              width=8),
        Panel("timeseries", "Events per batch", [f'SELECT last("batch_events") AS "events" {replay} {BY_TIME}'],
              unit="short", extra={"fieldConfig": {"defaults": {"custom": {"drawStyle": "bars"}}, "overrides": []}}),
        Panel("timeseries", "Batch step time and request-to-points latency (bars: 5 s, 10 s)", [
            f'SELECT last("step_s") AS "step", last("end_to_end_s") AS "request to points" {replay} {BY_TIME}'],
            unit="s", thresholds=[(5.0, "orange"), (10.0, "red")]),
        Panel("timeseries", "Replay lag behind its cadence", [f'SELECT last("lag_s") AS "lag" {replay} {BY_TIME}'],
              unit="s"),
        Panel("timeseries", "Events and active users per minute", [
            ("""SELECT sum("events") AS "events", sum("active_users") AS "active users" FROM "user_behavior" """
            f"""WHERE "granularity" = 'minute' AND $timeFilter {BY_TIME}""")], unit="short"),
    ]
    return dashboard("ecom-realtime", "E-commerce: real-time replay",
                     "The November replay as it runs: one batch per hour of November every 10 seconds.", panels)


DASHBOARDS = {"behaviour": behaviour, "segments": segmentation, "recommendations": recommendations,
              "realtime": realtime}
