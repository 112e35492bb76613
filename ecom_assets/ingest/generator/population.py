"""Synthetic users with stable tastes that carry from October into November."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecom_assets.ingest.generator import calibration as cal
from ecom_assets.ingest.generator.catalog import Catalog

FAVOURITE_CATEGORY_SHARES = np.array([0.6, 0.25, 0.15])


@dataclass(frozen=True)
class Population:
    """Users as parallel arrays; a user's tastes are the same in both months."""

    user_ids: np.ndarray  # int64
    active_october: np.ndarray  # bool
    active_november: np.ndarray  # bool
    activity: np.ndarray  # float64, relative number of sessions
    favourite_categories: np.ndarray  # int32[n, 3]
    price_level: np.ndarray  # float64, log-price offset the user prefers within a category
    favourite_brand: np.ndarray  # int32, -1 for none
    buying_propensity: np.ndarray  # float64, relative chance that a session ends in a purchase
    planted_segment: np.ndarray  # int8, the latent customer type the user was drawn from

    @property
    def size(self) -> int:
        """Number of users."""
        return len(self.user_ids)


# Latent customer types: (share of users, activity scale, buying propensity scale).
# Browsers rarely buy, regulars buy now and then, loyal customers buy often.
CUSTOMER_TYPES = (
    (0.70, 0.6, 0.03),
    (0.22, 1.6, 1.0),
    (0.08, 4.0, 4.0),
)
TYPE_NOISE_SIGMA = 0.4  # spread of activity and propensity within a type (lognormal)


def build_population(rng: np.random.Generator, catalog: Catalog, n_october: int, n_november: int) -> Population:
    """Users active in October, November or both; new November users get the highest ids."""
    n_returning = int(round(n_november * cal.NOVEMBER_USERS_SEEN_IN_OCTOBER))
    n_returning = min(n_returning, n_october)
    n_new = n_november - n_returning
    n = n_october + n_new

    lo, hi = cal.USER_ID_RANGE
    split = lo + int((hi - lo) * 0.96)
    old_ids = np.sort(rng.choice(split - lo, size=n_october, replace=False) + lo)
    new_ids = np.sort(rng.choice(hi - split, size=n_new, replace=False) + split)
    user_ids = np.concatenate([old_ids, new_ids]).astype(np.int64)

    active_october = np.zeros(n, dtype=bool)
    active_october[:n_october] = True
    active_november = np.zeros(n, dtype=bool)
    active_november[rng.choice(n_october, size=n_returning, replace=False)] = True
    active_november[n_october:] = True

    shares = np.array([t[0] for t in CUSTOMER_TYPES])
    planted = rng.choice(len(CUSTOMER_TYPES), size=n, p=shares / shares.sum()).astype(np.int8)
    activity_scale = np.array([t[1] for t in CUSTOMER_TYPES])[planted]
    buying_scale = np.array([t[2] for t in CUSTOMER_TYPES])[planted]
    activity = activity_scale * rng.lognormal(0.0, TYPE_NOISE_SIGMA, size=n)
    buying = buying_scale * rng.lognormal(0.0, TYPE_NOISE_SIGMA, size=n)

    favourites = rng.choice(catalog.n_categories, size=(n, 3), p=catalog.category_weights).astype(np.int32)
    price_level = rng.normal(0.0, 0.9, size=n)
    # A favourite brand: the brand of a popular product of the user's first category.
    cdf = catalog.popularity_cdf(november=True)
    anchor = catalog.sample_products(favourites[:, 0], 1.0 - rng.random(n), cdf)
    favourite_brand = catalog.product_brand[anchor]
    favourite_brand[rng.random(n) < 0.5] = -1
    return Population(
        user_ids=user_ids,
        active_october=active_october,
        active_november=active_november,
        activity=activity,
        favourite_categories=favourites,
        price_level=price_level,
        favourite_brand=favourite_brand,
        buying_propensity=buying,
        planted_segment=planted,
    )
