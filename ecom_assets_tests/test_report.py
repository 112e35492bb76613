"""``ecom report``: every section, figure and table from a lake; valid images; the page opens cleanly in Chromium.

The quick tests build the report from small tables written here with pyarrow (the shapes the assets
write); the Spark test builds it from the test lake the whole graph and a replay produced.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import matplotlib.image as mpimg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ecom_assets.lake import Lake
from ecom_assets.report.build import SECTIONS, build_report
from ecom_assets.report.recommendations import fold_summary
from ecom_assets.report.render import markdown_table
from ecom_assets.report.sources import Sources

BATCH_FIGURES = {"data_daily_events.png", "behaviour_funnel.png", "behaviour_top_categories.png",
                 "behaviour_top_brands.png", "behaviour_hour_of_day.png", "behaviour_weekday.png",
                 "behaviour_purchases_per_day.png", "segments_shares.png", "recommendations_ndcg.png",
                 "recommendations_by_segment.png"}
REPLAY_FIGURES = {"replay_step_time.png", "replay_latency.png", "replay_churn.png", "replay_segment_sizes.png",
                  "replay_hit_rate.png"}


def _write(root: Path, name: str, frame: pd.DataFrame) -> None:
    """One Parquet file in a Spark-like table folder (with the _SUCCESS marker Spark leaves)."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), folder / "part-00000.parquet")
    (folder / "_SUCCESS").write_text("")


def small_lake(root: Path) -> Lake:
    """The tables the report reads, small and made up, in the columns the assets write."""
    days = pd.date_range("2019-10-01", "2019-11-30", freq="D").strftime("%Y-%m-%d")
    purchases = [900 if d == "2019-11-17" else 100 for d in days]
    patterns = pd.concat([
        pd.DataFrame({"grain": "date", "key": days, "events": [p * 30 for p in purchases], "views": 2800,
                      "carts": 100, "purchases": purchases}),
        pd.DataFrame({"grain": "hour_of_day", "key": [f"{h:02d}" for h in range(24)], "events": range(100, 124),
                      "views": 90, "carts": 5, "purchases": 5}),
        pd.DataFrame({"grain": "day_of_week", "key": ["1-Mon", "2-Tue", "3-Wed", "4-Thu", "5-Fri", "6-Sat", "7-Sun"],
                      "events": [5, 6, 7, 8, 9, 12, 10], "views": 4, "carts": 1, "purchases": 1})])
    processed = root / "processed"
    _write(processed, "activity_patterns", patterns)
    _write(processed, "conversion_funnel", pd.DataFrame({
        "level": ["overall", "category", "category", "brand", "brand", "brand"],
        "key": ["all", "electronics.smartphone", "unknown", "samsung", "apple", "xiaomi"],
        "views": [1000, 600, 400, 300, 200, 100], "carts": [50, 30, 20, 15, 10, 5], "purchases": [20, 12, 8, 6, 4, 2],
        "view_to_cart_rate": 0.05, "view_to_purchase_rate": 0.02, "cart_to_purchase_rate": 0.4,
        "cart_abandonment_rate": 0.6}))
    _write(processed, "navigation_paths", pd.DataFrame({
        "kind": "category_2_steps", "path": ["a > b", "b > c"], "sessions": [40, 30], "converted_sessions": [4, 1],
        "conversion_rate": [0.1, 0.033], "share_of_converting_sessions": [0.4, 0.1],
        "share_of_other_sessions": [0.1, 0.2], "lift_converting_vs_other": [4.0, 0.5]}))
    _write(processed, "affinities", pd.DataFrame({
        "item_kind": "category", "item_a": ["a", "b"], "item_b": ["c", "d"], "sessions_together": [10, 5],
        "support": [0.01, 0.005], "confidence_a_to_b": [0.3, 0.2], "confidence_b_to_a": [0.2, 0.1], "lift": [6.0, 2.0]}))
    _write(processed, "segment_profiles", pd.DataFrame({
        "segment": ["Top customers", "Casual browsers"], "users": [100, 900], "user_share": [0.1, 0.9],
        "revenue_share": [0.95, 0.05], "buyer_share": [0.9, 0.01], "mean_recency_days": [3.0, 12.0],
        "mean_frequency": [2.0, 0.01], "mean_monetary": [500.0, 1.0], "mean_sessions": [6.0, 1.5]}))
    rows = [(fold, f"week {fold}", name, truth, 500, 0.2, 0.05, 0.1, ndcg * (1 + fold / 10), 0.05, 0.03, 0.8)
            for fold in range(3) for name, ndcg in (("hybrid", 0.11), ("global_popularity", 0.05), ("als", 0.08))
            for truth in ("cart_or_purchase", "view")]
    _write(processed, "recs_evaluation", pd.DataFrame(rows, columns=[
        "fold", "test_window", "recommender", "ground_truth", "users", "hit_rate_at_10", "precision_at_10",
        "recall_at_10", "ndcg_at_10", "map_at_10", "catalogue_coverage", "sampled_hit_rate_at_10"]))
    _write(processed, "recs_evaluation_by_segment", pd.DataFrame(
        [(fold, f"week {fold}", name, segment, users, 0.2, 0.05, 0.1, ndcg, 0.05)
         for fold in range(3) for segment, users, lift in (("Top customers", 50, 2.0), ("Casual browsers", 450, 1.1))
         for name, ndcg in (("hybrid", 0.1 * lift), ("global_popularity", 0.1), ("als", 0.08 * lift))],
        columns=["fold", "test_window", "recommender", "segment", "users", "hit_rate_at_10", "precision_at_10",
                 "recall_at_10", "ndcg_at_10", "map_at_10"]))
    _write(processed, "next_item_evaluation", pd.DataFrame({
        "recommender": ["most_popular", "covisitation"], "predictions": [1000, 1000], "recall_at_20": [0.1, 0.45],
        "mrr_at_20": [0.04, 0.2]}))
    _write(root / "raw", "events", pd.DataFrame({"event_type": ["view"]}))
    _write(root / "temp" / "quarantine", "events", pd.DataFrame({
        "source_file": "2019-Oct.csv", "line_number": [1, 2, 3], "raw_line": ["x", "y", "z"],
        "reason": ["wrong_column_count", "wrong_column_count", "negative_price"]}))
    return Lake(str(root))


def assert_valid_image(path: Path) -> None:
    """A PNG that decodes, with pixels that are not all the same colour (something was drawn)."""
    pixels = mpimg.imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100, path.name
    assert float(pixels[..., :3].std()) > 0.01, f"{path.name} is blank"


def test_every_batch_section_figure_and_table_from_the_lake(tmp_path: Path) -> None:
    built = build_report(Sources(small_lake(tmp_path / "lake")), tmp_path / "report", progress=lambda _: None)
    assert [s.key for s in built.sections] == [name for name, _ in SECTIONS]
    figures = {f.path.name for s in built.sections for f in s.figures}
    assert figures == BATCH_FIGURES
    for section in built.sections:
        for figure in section.figures:
            assert_valid_image(figure.path)
            assert figure.caption.endswith(".") and len(figure.caption.split()) >= 6
        if section.key != "replay":
            assert section.reading, f"{section.key} has no business reading"
    page = built.html.read_text()
    markdown = built.markdown.read_text()
    for name in figures:
        assert f'src="{name}"' in page and f"({name})" in markdown
    assert "wrong_column_count" in page and "Not shown:" in page  # the sweep and the replay need an instance
    assert "2019-11-17" in page  # the planted sale day is read as one
    assert "gain most over best-sellers for &#x27;Top customers&#x27;" in page


def test_lifts_below_one_are_read_as_no_finding(tmp_path: Path) -> None:
    """Generated data has no real affinities: a best lift under 1 must not be sold as a bundle or a cross-link."""
    lake = small_lake(tmp_path / "lake")
    processed = tmp_path / "lake" / "processed"
    _write(processed, "affinities", pd.DataFrame({
        "item_kind": "category", "item_a": ["a"], "item_b": ["c"], "sessions_together": [10], "support": [0.01],
        "confidence_a_to_b": [0.3], "confidence_b_to_a": [0.2], "lift": [0.3]}))
    _write(processed, "navigation_paths", pd.DataFrame({
        "kind": "category_2_steps", "path": ["a > b"], "sessions": [40], "converted_sessions": [4],
        "conversion_rate": [0.1], "share_of_converting_sessions": [0.04], "share_of_other_sessions": [0.05],
        "lift_converting_vs_other": [0.8]}))
    built = build_report(Sources(lake), tmp_path / "report", progress=lambda _: None)
    reading = " ".join(next(s for s in built.sections if s.key == "behaviour").reading)
    assert "No two categories share visits more often than chance" in reading and "bundle them" not in reading
    assert "do not point at a cross-link" in reading


def test_an_empty_lake_gives_a_report_that_says_what_to_materialize(tmp_path: Path) -> None:
    built = build_report(Sources(Lake(str(tmp_path / "nothing"))), tmp_path / "report", progress=lambda _: None)
    assert built.figure_count == 0
    missing = " ".join(line for s in built.sections for line in s.missing)
    for asset in ("activity_patterns", "raw_events", "segment_profiles", "recs_evaluation", "recs_evaluation_by_segment"):
        assert asset in missing


def test_folds_are_summarised_as_mean_and_spread() -> None:
    frame = pd.DataFrame({"ground_truth": "cart_or_purchase", "recommender": ["a", "a", "b"],
                          **{m: [0.1, 0.3, 0.2] for m in ("ndcg_at_10", "recall_at_10", "hit_rate_at_10",
                                                           "precision_at_10", "map_at_10", "catalogue_coverage",
                                                           "sampled_hit_rate_at_10")}})
    summary = fold_summary(frame)
    assert summary.loc["a", "ndcg_at_10"] == pytest.approx(0.2)
    assert summary.loc["a", "ndcg_at_10_spread"] == pytest.approx(0.1)
    assert summary.loc["b", "ndcg_at_10_spread"] == 0.0
    assert markdown_table(pd.DataFrame({"x": [1234567], "y": ["a|b"]})).splitlines()[-1] == "| 1,234,567 | a/b |"


def screenshot(page: Path, target: Path) -> str:
    """Headless Chromium's screenshot of ``page``; returns its log (console messages included)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.fail("chromium is missing: `make test` installs Debian's chromium package")
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                               "--disable-background-networking", "--disable-component-update",
                               f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
                               "--window-size=1280,4000", f"--screenshot={target}", page.as_uri()],
                              capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stderr


def replayed_instance(hours: int = 30):
    """An ephemeral Dagster instance holding what a replay records per hour, and a kmeans_model fit."""
    import dagster as dg

    instance = dg.DagsterInstance.ephemeral()
    instance.report_runless_asset_event(dg.AssetMaterialization("kmeans_model", metadata={
        "k": 3, "silhouette": 0.41, "bootstrap_changed_share": 0.004,
        "silhouette_by_k": dg.MetadataValue.json({"3": 0.41, "4": 0.43, "5": 0.39})}))
    for i in range(hours):
        hour = f"2019-11-{1 + i // 24:02d}-{i % 24:02d}:00"
        instance.report_runless_asset_event(dg.AssetMaterialization("replay_progress", partition=hour, metadata={
            "step_s": 1.0 + (i % 7) * 0.6, "end_to_end_s": 2.0 + (i % 5) * 1.5, "lag_s": 0.1}))
        instance.report_runless_asset_event(dg.AssetMaterialization("customer_segments", partition=hour, metadata={
            "changed_share": 0.001 * (1 + i % 4), "active_users": 100 + i,
            "segment_sizes": dg.MetadataValue.json({"all": 1000 + i, "Top customers": 100, "Casual browsers": 900 + i})}))
        instance.report_runless_asset_event(dg.AssetMaterialization("recommendation_monitoring", partition=hour,
                                                                    metadata={"any_hit_rate_at_10": 0.05 + i / 1000,
                                                                              "purchase_hit_rate_at_10": 0.01}))
    return instance


def test_the_replay_and_the_sweep_come_from_the_instances_metadata(tmp_path: Path) -> None:
    with replayed_instance() as instance:
        built = build_report(Sources(small_lake(tmp_path / "lake"), instance), tmp_path / "report",
                             progress=lambda _: None)
    figures = {f.path.name for s in built.sections for f in s.figures}
    assert figures == BATCH_FIGURES | REPLAY_FIGURES | {"segments_silhouette.png"}
    for section in built.sections:
        assert section.reading and not section.missing, section.key
        for figure in section.figures:
            assert_valid_image(figure.path)
    replay = next(s for s in built.sections if s.key == "replay")
    assert "30 hours replayed" in replay.reading[0]


def test_the_html_opens_in_chromium_without_a_console_error(tmp_path: Path) -> None:
    with replayed_instance(6) as instance:
        built = build_report(Sources(small_lake(tmp_path / "lake"), instance), tmp_path / "report",
                             progress=lambda _: None)
    sources = re.findall(r'<img src="([^"]+)"', built.html.read_text())
    assert sources and all((built.html.parent / name).is_file() for name in sources)  # Chromium logs no missing file
    log = screenshot(built.html, tmp_path / "screenshot.png")
    assert_valid_image(tmp_path / "screenshot.png")
    assert [line for line in log.splitlines() if "CONSOLE" in line or "Failed to load" in line] == []


BEHAVIOUR_ASSETS = ["sessions", "activity_patterns", "conversion_funnel", "navigation_paths", "affinities"]


def test_the_report_of_the_lake_the_whole_graph_and_a_replay_produced(replayed, tmp_path: Path) -> None:
    """``ecom report`` on the test lake (the batch graph, the behaviour assets and five replayed hours, all
    on one persistent instance): every section, figure and reading present, and the page clean in Chromium."""
    import dagster as dg

    from ecom_assets.commands.materialize import whole_steps
    from ecom_assets.commands.report import run_report
    from ecom_assets.definitions import BATCH_ASSETS, build_resources
    from ecom_assets.settings import load_settings
    from ecom_assets_tests.conftest import replay_env

    with pytest.MonkeyPatch.context() as env:
        replay_env(env, replayed)
        with dg.DagsterInstance.from_config(str(replayed.root / "dagster_home")) as instance:
            result = dg.materialize(BATCH_ASSETS, selection=whole_steps(BATCH_ASSETS, BEHAVIOUR_ASSETS),
                                    resources=build_resources(load_settings()), instance=instance)
        assert result.success
        built = run_report(load_settings(), tmp_path / "report")
    assert [s.key for s in built.sections] == [name for name, _ in SECTIONS]
    figures = {f.path.name for s in built.sections for f in s.figures}
    assert figures == BATCH_FIGURES | REPLAY_FIGURES | {"segments_silhouette.png"}
    for section in built.sections:
        assert section.reading and not section.missing, (section.key, section.missing)
        for figure in section.figures:
            assert_valid_image(figure.path)
    assert "5 hours replayed" in next(s for s in built.sections if s.key == "replay").reading[0]
    log = screenshot(built.html, tmp_path / "screenshot.png")
    assert [line for line in log.splitlines() if "CONSOLE" in line or "Failed to load" in line] == []
