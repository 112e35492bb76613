"""Facts about the real REES46 files that the synthetic generator reproduces.

Figures come from ``shared/data/README.md`` (full-file statistics) and the published November
aggregates; where the facts are silent (October weekdays, overlap of users between months) the
choice is stated next to the number.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

REAL_ROWS_OCT = 42_448_764
REAL_ROWS_NOV = 67_501_979
REAL_ROWS_TOTAL = REAL_ROWS_OCT + REAL_ROWS_NOV

PRODUCT_ID_RANGE = (1_002_098, 58_900_003)
CATEGORY_ID_RANGE = (2_053_013_552_226_107_603, 2_175_419_595_093_967_522)
USER_ID_RANGE = (306_441_847, 566_281_339)
MAX_PRICE = 2574.07

# Full-catalogue sizes (union of both months is a little above November's 190,662 products).
FULL_CATALOGUE_PRODUCTS = 206_000
FULL_CATALOGUE_CATEGORY_IDS = 690
FULL_CATALOGUE_BRANDS = 4_300
SHARE_OF_PRODUCTS_NEW_IN_NOVEMBER = 0.12
SHARE_OF_PRODUCTS_FREE = 0.0016  # 68,673 zero-price rows out of 42.4 M in October
SHARE_OF_PRODUCTS_WITHOUT_BRAND = 0.165  # gives ~14% of rows: popular products more often have a brand
SHARE_OF_VIEWS_IN_UNCODED_CATEGORIES = 0.32

# Hour-of-day activity, UTC: high 04:00-14:00 (the store's customers live around UTC+3), lowest near 23:00.
HOUR_WEIGHTS = (
    0.28, 0.40, 0.62, 0.90, 1.20, 1.40, 1.50, 1.52, 1.52, 1.50, 1.48, 1.45,
    1.40, 1.34, 1.26, 1.16, 1.05, 0.93, 0.80, 0.64, 0.48, 0.34, 0.24, 0.20,
)
# Monday..Sunday. November views peak on Friday and Saturday (published weekday aggregate);
# October's weekly shape is not published, so it gets the same shape, damped by half.
NOVEMBER_WEEKDAY_WEIGHTS = (0.80, 0.78, 0.79, 1.00, 1.15, 1.00, 0.95)


@dataclass(frozen=True)
class MonthProfile:
    """Everything the generator needs to know about one month file."""

    name: str
    first_day: dt.date
    days: int
    real_rows: int
    cart_share: float
    purchase_share: float
    real_users: int
    real_sessions: int
    weekday_weights: tuple[float, ...]
    # Day of month -> (volume multiplier, conversion multiplier).
    special_days: dict[int, tuple[float, float]] = field(default_factory=dict)

    @property
    def file_name(self) -> str:
        """The file name the real dataset uses for this month."""
        return f"{self.first_day:%Y-%b}.csv"

    @property
    def events_per_user(self) -> float:
        """Mean events per distinct user in the real file."""
        return self.real_rows / self.real_users

    @property
    def sessions_per_user(self) -> float:
        """Mean sessions per distinct user in the real file."""
        return self.real_sessions / self.real_users


def _damped(weights: tuple[float, ...], factor: float) -> tuple[float, ...]:
    """Weights pulled towards 1 by ``factor`` (0 = flat, 1 = unchanged)."""
    return tuple(1.0 + (w - 1.0) * factor for w in weights)


OCTOBER = MonthProfile(
    name="October",
    first_day=dt.date(2019, 10, 1),
    days=31,
    real_rows=REAL_ROWS_OCT,
    cart_share=0.0218,
    purchase_share=0.0175,
    real_users=3_022_290,
    real_sessions=9_244_422,
    weekday_weights=_damped(NOVEMBER_WEEKDAY_WEIGHTS, 0.5),
)

NOVEMBER = MonthProfile(
    name="November",
    first_day=dt.date(2019, 11, 1),
    days=30,
    real_rows=REAL_ROWS_NOV,
    cart_share=0.045,
    purchase_share=0.014,
    real_users=3_696_117,
    real_sessions=13_776_050,
    weekday_weights=NOVEMBER_WEEKDAY_WEIGHTS,
    # 16-17: the sale (purchases 68 k and 185 k against ~24 k on a normal day);
    # 15: the real file has no purchase at all that day, a gap the generator keeps.
    special_days={15: (1.0, 0.0), 16: (2.0, 1.4), 17: (2.6, 3.0)},
)

MONTHS = (OCTOBER, NOVEMBER)

# Share of November's users who were already active in October (not published; a typical
# month-over-month retention for this store size). The rest are new users.
NOVEMBER_USERS_SEEN_IN_OCTOBER = 0.45
# Purchasing sessions: 53.6% have no cart event (October fact).
SHARE_OF_PURCHASES_WITHOUT_CART = 0.536
# Share of cart events written twice in the same second (the real data repeats cart rows).
SHARE_OF_CARTS_DUPLICATED = 0.05
# Share of sessions whose user_session field is empty in the real files ("a few").
SHARE_OF_SESSIONS_WITHOUT_ID = 2e-6
