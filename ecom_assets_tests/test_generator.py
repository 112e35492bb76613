"""The synthetic generator: format, determinism, marginals against the real facts, latent structure."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecom_assets.ingest.generator import generate_dataset, rows_for_scale
from ecom_assets.ingest.generator.calibration import CATEGORY_ID_RANGE, PRODUCT_ID_RANGE, USER_ID_RANGE
from ecom_assets.ingest.generator.dataset import split_rows
from ecom_assets.schema import CSV_HEADER

GENERATED_ROWS = 400_000
LINE_PATTERN = re.compile(
    r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC,(view|cart|purchase),\d+,\d+,[a-z_.]*,[a-z0-9_\-.&' ]*,"
    r"\d+\.\d{2},\d+,([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})?$"
)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both month files, 400 k rows in all."""
    out = tmp_path_factory.mktemp("generated")
    generate_dataset(out, GENERATED_ROWS, seed=11, progress=False)
    return out


@pytest.fixture(scope="module")
def months(generated: Path) -> dict[str, pd.DataFrame]:
    """The generated files read back with pandas (an independent reader)."""
    frames = {}
    for name in ("2019-Oct.csv", "2019-Nov.csv"):
        frame = pd.read_csv(generated / name, dtype={"category_code": str, "brand": str, "user_session": str})
        frame["time"] = pd.to_datetime(frame["event_time"].str[:19])
        frames[name[5:8]] = frame
    return frames


def test_rows_are_split_in_the_real_proportion(months: dict[str, pd.DataFrame]) -> None:
    october, november = split_rows(GENERATED_ROWS)
    assert len(months["Oct"]) == october
    assert len(months["Nov"]) == november
    assert october + november == GENERATED_ROWS
    assert abs(october / GENERATED_ROWS - 42_448_764 / 109_950_743) < 1e-4


def test_scale_one_means_the_real_sizes() -> None:
    assert rows_for_scale(1.0) == 109_950_743
    assert split_rows(rows_for_scale(1.0)) == (42_448_764, 67_501_979)
    with pytest.raises(ValueError, match="scale"):
        rows_for_scale(1.5)


def test_every_line_has_the_real_format(generated: Path) -> None:
    for name in ("2019-Oct.csv", "2019-Nov.csv"):
        lines = (generated / name).read_text(encoding="ascii").split("\n")
        assert lines[0] == ",".join(CSV_HEADER)
        assert lines[-1] == ""  # the file ends with a newline
        bad = [line for line in lines[1:-1] if not LINE_PATTERN.match(line)]
        assert bad == [], bad[:3]


def test_ids_are_in_the_real_ranges(months: dict[str, pd.DataFrame]) -> None:
    both = pd.concat(months.values())
    assert both["product_id"].between(*PRODUCT_ID_RANGE).all()
    assert both["category_id"].between(*CATEGORY_ID_RANGE).all()
    assert both["user_id"].between(*USER_ID_RANGE).all()
    assert (both["category_id"] > 2**31).all()  # does not fit 32 bits, as in the real data
    # A product always has the same category.
    assert both.groupby("product_id")["category_id"].nunique().max() == 1


def test_files_are_sorted_by_time_within_their_month(months: dict[str, pd.DataFrame]) -> None:
    for key, month in (("Oct", 10), ("Nov", 11)):
        times = months[key]["time"]
        assert times.is_monotonic_increasing
        assert (times.dt.month == month).all()


@pytest.mark.parametrize(
    ("key", "view", "cart", "purchase"), [("Oct", 0.9607, 0.0218, 0.0175), ("Nov", 0.942, 0.045, 0.014)]
)
def test_event_mix_matches_the_real_month(months: dict[str, pd.DataFrame], key: str, view: float, cart: float,
                                          purchase: float) -> None:
    mix = months[key]["event_type"].value_counts(normalize=True)
    assert mix["view"] == pytest.approx(view, abs=0.006)
    assert mix["cart"] == pytest.approx(cart, rel=0.12)
    assert mix["purchase"] == pytest.approx(purchase, rel=0.12)


def test_null_rates_match_the_facts(months: dict[str, pd.DataFrame]) -> None:
    for frame in months.values():
        assert frame["category_code"].isna().mean() == pytest.approx(0.32, abs=0.03)
        assert frame["brand"].isna().mean() == pytest.approx(0.144, abs=0.03)


def test_price_distribution_matches_the_facts(months: dict[str, pd.DataFrame]) -> None:
    prices = months["Nov"]["price"]
    assert prices.median() == pytest.approx(164.6, rel=0.15)
    assert prices.quantile(0.9) == pytest.approx(758.2, rel=0.25)
    assert prices.quantile(0.99) == pytest.approx(1681.9, rel=0.2)
    assert prices.min() >= 0 and prices.max() <= 2574.07
    assert (prices == 0).any()  # free items exist, as in the real data


def test_sessions_look_like_the_real_ones(months: dict[str, pd.DataFrame]) -> None:
    october = months["Oct"]
    assert len(october) / october["user_session"].nunique() == pytest.approx(4.59, rel=0.08)
    span = october.groupby("user_session")["time"].agg(["min", "max"])
    minutes = (span["max"] - span["min"]).dt.total_seconds() / 60
    assert minutes.mean() == pytest.approx(17.4, rel=0.25)
    assert minutes.median() == pytest.approx(1.05, rel=0.5)
    # A purchase follows a view of the same product in the same session.
    purchases = october[october["event_type"] == "purchase"]
    viewed = set(zip(october.loc[october["event_type"] == "view", "user_session"],
                     october.loc[october["event_type"] == "view", "product_id"], strict=True))
    assert np.mean([(s, p) in viewed for s, p in zip(purchases["user_session"], purchases["product_id"],
                                                      strict=True)]) > 0.99


def test_buyers_and_repeat_buyers(months: dict[str, pd.DataFrame]) -> None:
    october = months["Oct"]
    buyers = october[october["event_type"] == "purchase"].groupby("user_id").size()
    assert len(buyers) / october["user_id"].nunique() == pytest.approx(0.115, abs=0.04)
    assert (buyers > 1).mean() == pytest.approx(0.38, abs=0.1)


def test_activity_follows_the_hour_and_weekday_profile(months: dict[str, pd.DataFrame]) -> None:
    november = months["Nov"]
    by_hour = november["time"].dt.hour.value_counts()
    assert by_hour.idxmin() in (21, 22, 23, 0)
    assert 4 <= by_hour.idxmax() <= 14
    views = november[november["event_type"] == "view"]
    by_weekday = views["time"].dt.day_name().value_counts()
    assert set(by_weekday.index[:2]) <= {"Friday", "Saturday", "Sunday"}


def test_november_sale_spike_and_the_missing_purchases_of_the_15th(months: dict[str, pd.DataFrame]) -> None:
    november = months["Nov"]
    purchases = november[november["event_type"] == "purchase"]["time"].dt.day.value_counts()
    normal_day = purchases.drop([15, 16, 17], errors="ignore").median()
    assert purchases[17] > 4 * normal_day
    assert purchases[16] > 1.8 * normal_day
    assert purchases.get(15, 0) < 0.05 * normal_day
    hourly = november.groupby(november["time"].dt.floor("h")).size()
    assert hourly.max() > 3 * hourly.mean()


def test_popularity_is_zipf_like(months: dict[str, pd.DataFrame]) -> None:
    counts = months["Nov"]["product_id"].value_counts()
    top_share = counts.iloc[: max(len(counts) // 100, 1)].sum() / counts.sum()
    assert top_share > 0.15  # the top 1% of products take a large share of events
    code_share = months["Nov"]["category_code"].value_counts(normalize=True, dropna=False)
    assert code_share.index[code_share.index.notna()][0] == "electronics.smartphone"


def test_tastes_carry_from_october_to_november(months: dict[str, pd.DataFrame]) -> None:
    october, november = months["Oct"], months["Nov"]
    returning = set(october["user_id"]) & set(november["user_id"])
    assert len(returning) / november["user_id"].nunique() == pytest.approx(0.45, abs=0.05)
    favourite_oct = october[october["user_id"].isin(returning)].groupby("user_id")["category_id"].agg(
        lambda s: s.mode().iloc[0])
    favourite_nov = november[november["user_id"].isin(returning)].groupby("user_id")["category_id"].agg(
        lambda s: s.mode().iloc[0])
    same = (favourite_oct == favourite_nov.reindex(favourite_oct.index)).mean()
    # By chance (users drawn at random with the category mix) the favourite would match far less often.
    category_mix = november["category_id"].value_counts(normalize=True)
    chance = float((category_mix**2).sum())
    assert same > chance + 0.25
    # New November users have ids above every October user's, as ids grow with sign-up time.
    new_users = set(november["user_id"]) - set(october["user_id"])
    assert min(new_users) > october["user_id"].max() * 0.99


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    digests = []
    for run, seed in (("a", 5), ("b", 5), ("c", 6)):
        generate_dataset(tmp_path / run, 20_000, seed=seed, progress=False)
        digests.append(hashlib.sha256((tmp_path / run / "2019-Nov.csv").read_bytes()).hexdigest())
    assert digests[0] == digests[1]
    assert digests[0] != digests[2]


def test_bad_sizes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least"):
        generate_dataset(tmp_path, 10, progress=False)
    with pytest.raises(ValueError, match="at most"):
        generate_dataset(tmp_path, 200_000_000, progress=False)


@pytest.mark.parametrize("rows", [1_000, 7_777, 60_000])
def test_any_small_size_works(tmp_path: Path, rows: int) -> None:
    report = generate_dataset(tmp_path, rows, seed=rows, progress=False)
    assert report.rows == rows
    lines = sum(len((tmp_path / name).read_bytes().splitlines()) - 1 for name in ("2019-Oct.csv", "2019-Nov.csv"))
    assert lines == rows
