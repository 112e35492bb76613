"""Sessions and their events for one month, drawn with numpy in time-ordered chunks.

A session belongs to one user, browses mostly one category (one of the user's favourites),
prefers products near the user's price level and brand, and may end with a cart and a purchase
of a product it viewed just before. Sale days raise both traffic and conversion.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ecom_assets.ingest.generator import calibration as cal
from ecom_assets.ingest.generator.catalog import Catalog
from ecom_assets.ingest.generator.population import FAVOURITE_CATEGORY_SHARES, Population

VIEW, CART, PURCHASE = 0, 1, 2
EVENT_TYPE_NAMES = ("view", "cart", "purchase")
SHARE_OF_SESSIONS_OUTSIDE_FAVOURITES = 0.15
SHARE_OF_EVENTS_REVIEWING_PREVIOUS_PRODUCT = 0.3
SHARE_OF_EVENTS_IN_ANOTHER_FAVOURITE = 0.08
# Gaps between a session's events: mostly seconds, sometimes a long pause (real sessions have a
# median of ~1 minute but a mean of ~17 minutes).
SHORT_GAP_MEDIAN_S = 22.0
SHORT_GAP_SIGMA = 1.1
LONG_GAP_SHARE = 0.08
LONG_GAP_MEAN_S = 3_000.0


@dataclass(frozen=True)
class SessionPlan:
    """One month's sessions, sorted by start time."""

    user: np.ndarray  # int32, index into Population
    start_s: np.ndarray  # int64, epoch seconds
    length: np.ndarray  # int32, events in the session
    category: np.ndarray  # int32, the category the session browses
    converts: np.ndarray  # bool, ends with a purchase
    cart_before_purchase: np.ndarray  # bool
    abandons_cart: np.ndarray  # bool, ends with a cart and no purchase
    duplicate_cart: np.ndarray  # bool, the cart row is written twice in the same second
    first_session_index: int  # global index of the month's first session (keeps ids unique across months)

    @property
    def size(self) -> int:
        """Number of sessions."""
        return len(self.user)


@dataclass(frozen=True)
class EventBatch:
    """Events as parallel arrays (indices into the catalogue and the population)."""

    time_s: np.ndarray
    event_type: np.ndarray
    product: np.ndarray
    user: np.ndarray
    session: np.ndarray

    def __len__(self) -> int:
        return len(self.time_s)

    def take(self, index: np.ndarray) -> EventBatch:
        """The events at ``index`` (an integer or boolean array)."""
        return EventBatch(*(a[index] for a in self.arrays()))

    def arrays(self) -> tuple[np.ndarray, ...]:
        """The columns in declaration order."""
        return (self.time_s, self.event_type, self.product, self.user, self.session)

    @staticmethod
    def concat(batches: list[EventBatch]) -> EventBatch:
        """One batch holding every event of ``batches``."""
        return EventBatch(*(np.concatenate(cols) for cols in zip(*(b.arrays() for b in batches), strict=True)))


def _epoch(day: dt.date) -> int:
    """Epoch seconds of midnight UTC of ``day``."""
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())


def hourly_weights(month: cal.MonthProfile) -> tuple[np.ndarray, np.ndarray]:
    """Traffic weight and conversion multiplier of every hour of the month."""
    volume = np.empty(month.days * 24)
    conversion = np.empty(month.days * 24)
    hours = np.asarray(cal.HOUR_WEIGHTS)
    for d in range(month.days):
        day = month.first_day + dt.timedelta(days=d)
        vol_mult, conv_mult = month.special_days.get(day.day, (1.0, 1.0))
        volume[d * 24 : (d + 1) * 24] = hours * month.weekday_weights[day.weekday()] * vol_mult
        conversion[d * 24 : (d + 1) * 24] = conv_mult
    return volume / volume.sum(), conversion


def _session_lengths(rng: np.random.Generator, n: int, mean: float) -> np.ndarray:
    """Events per session: 1 + a negative binomial (many short sessions, a long tail)."""
    dispersion = 0.55
    extra_mean = max(mean - 1.0, 0.01)
    return (1 + rng.negative_binomial(dispersion, dispersion / (dispersion + extra_mean), size=n)).astype(np.int32)


def _fit_total(rng: np.random.Generator, length: np.ndarray, minimum: np.ndarray, total: int) -> None:
    """Add or remove events at random (respecting ``minimum``) until the lengths sum to ``total``."""
    diff = total - int(length.sum())
    while diff != 0:
        if diff > 0:
            np.add.at(length, rng.integers(0, len(length), size=diff), 1)
        else:
            room = np.flatnonzero(length > minimum)
            if len(room) == 0:
                raise ValueError(f"cannot fit {total} events into {len(length)} sessions")
            pick = rng.choice(room, size=min(-diff, len(room)), replace=False)
            length[pick] -= 1
        diff = total - int(length.sum())


def plan_month(
    rng: np.random.Generator,
    month: cal.MonthProfile,
    population: Population,
    catalog: Catalog,
    n_rows: int,
    first_session_index: int,
) -> SessionPlan:
    """Draw the month's sessions so that their events add up to exactly ``n_rows``."""
    active = population.active_october if month.first_day.month == 10 else population.active_november
    users = np.flatnonzero(active).astype(np.int32)
    events_per_session = month.real_rows / month.real_sessions
    n_sessions = max(int(round(n_rows / events_per_session)), 1)
    n_sessions = min(n_sessions, n_rows)
    if len(users) > n_sessions:
        users = np.sort(rng.choice(users, size=n_sessions, replace=False))
    activity = population.activity[users]
    extra = rng.poisson(activity / activity.mean() * max(n_sessions / len(users) - 1, 0))
    user = np.repeat(users, 1 + extra)
    n_sessions = len(user)

    volume, conversion = hourly_weights(month)
    hour = rng.choice(len(volume), size=n_sessions, p=volume)
    start = _epoch(month.first_day) + hour.astype(np.int64) * 3600 + rng.integers(0, 3600, size=n_sessions)

    propensity = population.buying_propensity[user] * conversion[hour]
    n_purchases = month.purchase_share * n_rows
    p_convert = np.clip(propensity * n_purchases / max(propensity.sum(), 1e-9), 0, 0.9)
    converts = rng.random(n_sessions) < p_convert
    cart_before = converts & (rng.random(n_sessions) >= cal.SHARE_OF_PURCHASES_WITHOUT_CART)
    carts_left = month.cart_share * n_rows / (1 + cal.SHARE_OF_CARTS_DUPLICATED) - cart_before.sum()
    cart_propensity = np.sqrt(population.buying_propensity[user]) * (~converts)
    p_abandon = np.clip(cart_propensity * max(carts_left, 0) / max(cart_propensity.sum(), 1e-9), 0, 0.9)
    abandons = rng.random(n_sessions) < p_abandon
    duplicate = (cart_before | abandons) & (rng.random(n_sessions) < cal.SHARE_OF_CARTS_DUPLICATED)

    minimum = (1 + converts + cart_before + abandons + duplicate).astype(np.int32)
    length = np.maximum(_session_lengths(rng, n_sessions, n_rows / n_sessions), minimum)
    _fit_total(rng, length, minimum, n_rows)

    choice = rng.choice(3, size=n_sessions, p=FAVOURITE_CATEGORY_SHARES)
    category = population.favourite_categories[user, choice]
    explore = rng.random(n_sessions) < SHARE_OF_SESSIONS_OUTSIDE_FAVOURITES
    category[explore] = rng.choice(catalog.n_categories, size=int(explore.sum()), p=catalog.category_weights)

    order = np.argsort(start, kind="stable")
    return SessionPlan(
        user=user[order],
        start_s=start[order],
        length=length[order],
        category=category[order].astype(np.int32),
        converts=converts[order],
        cart_before_purchase=cart_before[order],
        abandons_cart=abandons[order],
        duplicate_cart=duplicate[order],
        first_session_index=first_session_index,
    )


class EventDrawer:
    """Turns slices of a session plan into events, with the per-catalogue tables computed once."""

    def __init__(self, catalog: Catalog, population: Population, november: bool) -> None:
        self.catalog = catalog
        self.population = population
        self.cdf = catalog.popularity_cdf(november=november)
        log_price = np.log1p(catalog.product_price)
        per_category_mean = np.bincount(catalog.product_category, weights=log_price) / np.maximum(
            np.bincount(catalog.product_category), 1
        )
        self.relative_log_price = log_price - per_category_mean[catalog.product_category]
        # Free products (price 0) are neither cheap nor dear for the price-level match.
        self.relative_log_price[catalog.product_price == 0] = 0.0

    def draw(self, rng: np.random.Generator, plan: SessionPlan, lo: int, hi: int) -> EventBatch:
        """Events of sessions ``lo..hi-1`` of ``plan`` (not yet sorted by time)."""
        length = plan.length[lo:hi]
        n = int(length.sum())
        local = np.repeat(np.arange(hi - lo), length)
        first = np.concatenate([[0], np.cumsum(length)[:-1]])
        position = np.arange(n) - first[local]
        last = first + length - 1
        session_user = plan.user[lo:hi]
        user = session_user[local]

        # Event times: cumulative gaps from the session start.
        gaps = np.where(
            rng.random(n) < LONG_GAP_SHARE,
            rng.exponential(LONG_GAP_MEAN_S, size=n),
            rng.lognormal(np.log(SHORT_GAP_MEDIAN_S), SHORT_GAP_SIGMA, size=n),
        ).astype(np.int64)
        gaps[first] = 0
        elapsed = np.cumsum(gaps)
        elapsed -= elapsed[first][local]
        time_s = plan.start_s[lo:hi][local] + elapsed

        # Products: the session's category (sometimes another favourite), three candidates drawn
        # by popularity, the one closest to the user's price level and brand wins.
        category = plan.category[lo:hi][local].copy()
        wander = rng.random(n) < SHARE_OF_EVENTS_IN_ANOTHER_FAVOURITE
        category[wander] = self.population.favourite_categories[user[wander], rng.integers(0, 3, int(wander.sum()))]
        candidates = np.stack(
            [self.catalog.sample_products(category, 1.0 - rng.random(n), self.cdf) for _ in range(3)], axis=1
        )
        price_fit = np.abs(self.relative_log_price[candidates] - self.population.price_level[user][:, None])
        favourite = self.population.favourite_brand[user][:, None]
        brand_miss = (self.catalog.product_brand[candidates] != favourite) | (favourite < 0)
        score = price_fit + 0.6 * brand_miss + rng.gumbel(0.0, 0.35, size=candidates.shape)
        product = candidates[np.arange(n), np.argmin(score, axis=1)]
        review = (position > 0) & (rng.random(n) < SHARE_OF_EVENTS_REVIEWING_PREVIOUS_PRODUCT)
        # A re-view copies the product of the last event that was not itself a re-view.
        product = product[np.maximum.accumulate(np.where(review, 0, np.arange(n)))]

        # Session endings: [view X, (cart X), (cart X), purchase X] or [view X, cart X, (cart X)].
        event_type = np.zeros(n, dtype=np.int8)
        sl = slice(lo, hi)
        converts, cart_before = plan.converts[sl], plan.cart_before_purchase[sl]
        abandons, duplicate = plan.abandons_cart[sl], plan.duplicate_cart[sl]
        tail = (converts.astype(np.int64) + cart_before + abandons + duplicate)
        anchor = last - tail  # the view whose product the ending uses
        ends = np.flatnonzero(tail > 0)
        for step in range(1, 4):
            rows = ends[tail[ends] >= step]
            index = anchor[rows] + step
            product[index] = product[anchor[rows]]
            is_purchase = converts[rows] & (step == tail[rows])
            event_type[index] = np.where(is_purchase, PURCHASE, CART)
            repeat_cart = duplicate[rows] & (step == 2) & (event_type[index - 1] == CART)
            time_s[index[repeat_cart]] = time_s[index[repeat_cart] - 1]

        session = plan.first_session_index + lo + local
        return EventBatch(time_s, event_type, product.astype(np.int32), user.astype(np.int32), session.astype(np.int64))


def month_events(
    rng: np.random.Generator,
    month: cal.MonthProfile,
    plan: SessionPlan,
    drawer: EventDrawer,
    sessions_per_chunk: int,
) -> Iterator[EventBatch]:
    """The month's events in global time order, chunk by chunk (sessions crossing a chunk boundary carry over)."""
    month_end = _epoch(month.first_day + dt.timedelta(days=month.days)) - 1
    carry: EventBatch | None = None
    for lo in range(0, plan.size, sessions_per_chunk):
        hi = min(lo + sessions_per_chunk, plan.size)
        batch = drawer.draw(rng, plan, lo, hi)
        np.minimum(batch.time_s, month_end, out=batch.time_s)
        if carry is not None:
            batch = EventBatch.concat([carry, batch])
        batch = batch.take(np.argsort(batch.time_s, kind="stable"))
        horizon = plan.start_s[hi] if hi < plan.size else month_end + 1
        cut = int(np.searchsorted(batch.time_s, horizon, side="left"))
        carry = batch.take(slice(cut, None))
        if cut:
            yield batch.take(slice(0, cut))
    if carry is not None and len(carry):
        yield carry
