"""The synthetic product catalogue: categories, brands, products, prices and popularity.

Categories, their real ids, brands and typical prices start from the real rows
(``reference_catalog.json``); the rest is filled with synthetic names and ids in the real ranges.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from ecom_assets.ingest.generator import calibration as cal

REFERENCE_CATALOG = Path(__file__).with_name("reference_catalog.json")
SYLLABLES = np.array(
    "ka ro vi ne to la mi sa de pa ri zo lu be ta no ki fe ga mo ru si do le va na ti ko re".split()
)


@cache
def load_reference_catalog() -> dict:
    """The reference catalogue derived from the real rows (see scripts/derive_reference_catalog.py)."""
    return json.loads(REFERENCE_CATALOG.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Catalog:
    """Products and categories as parallel numpy arrays (index = internal id)."""

    category_ids: np.ndarray  # int64, the REES46 category_id
    category_codes: np.ndarray  # object, str or None
    category_weights: np.ndarray  # float64, share of events, sums to 1
    category_product_start: np.ndarray  # int64[n_categories + 1], products are grouped by category
    product_ids: np.ndarray  # int64
    product_category: np.ndarray  # int32
    product_brand: np.ndarray  # int32, -1 when the product has no brand
    product_price: np.ndarray  # float64, two decimals
    product_new_in_november: np.ndarray  # bool
    product_popularity: np.ndarray  # float64, within-category weight
    brand_names: np.ndarray  # object

    @property
    def n_categories(self) -> int:
        """Number of category ids."""
        return len(self.category_ids)

    @property
    def n_products(self) -> int:
        """Number of products."""
        return len(self.product_ids)

    def popularity_cdf(self, november: bool) -> np.ndarray:
        """Cumulative within-category popularity, offset by the category index.

        Category ``c``'s products occupy the values ``(c, c + 1]``, so a product of category ``c``
        is drawn with ``searchsorted(cdf, c + u)`` for a uniform ``u``: one vectorised call for
        any mix of categories.
        """
        weights = self.product_popularity.copy()
        if not november:
            weights[self.product_new_in_november] = 0.0
        cdf = np.empty(self.n_products, dtype=np.float64)
        for c in range(self.n_categories):
            lo, hi = self.category_product_start[c], self.category_product_start[c + 1]
            w = weights[lo:hi]
            total = w.sum()
            if total == 0:  # every product is new in November: fall back to all of them
                w = self.product_popularity[lo:hi]
                total = w.sum()
            cdf[lo:hi] = c + np.cumsum(w) / total
            cdf[hi - 1] = c + 1.0
        return cdf

    def sample_products(self, categories: np.ndarray, uniforms: np.ndarray, cdf: np.ndarray) -> np.ndarray:
        """Draw one product per entry of ``categories`` by popularity (see ``popularity_cdf``)."""
        idx = np.searchsorted(cdf, categories + uniforms, side="left")
        return np.minimum(idx, self.category_product_start[categories + 1] - 1)


def _synthetic_brand_names(rng: np.random.Generator, count: int, taken: set[str]) -> list[str]:
    """``count`` pronounceable brand names not in ``taken``."""
    names: list[str] = []
    seen = set(taken)
    while len(names) < count:
        parts = rng.integers(0, len(SYLLABLES), size=(count * 2, 3))
        lengths = rng.integers(2, 4, size=count * 2)
        for row, length in zip(parts, lengths, strict=True):
            name = "".join(SYLLABLES[row[:length]])
            if name not in seen:
                seen.add(name)
                names.append(name)
                if len(names) == count:
                    break
    return names


def _category_table(rng: np.random.Generator, n_categories: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    """Category ids, codes, weights and real brand counts, keeping the heaviest categories."""
    ref = load_reference_catalog()
    ids: list[int] = []
    codes: list[str | None] = []
    weights: list[float] = []
    brand_counts: list[dict[str, int]] = []
    prices: list[list[float] | None] = []
    coded_total = sum(max(entry["nov_views"], 1_000) for entry in ref["codes"])
    for entry in ref["codes"]:
        code_weight = max(entry["nov_views"], 1_000) / coded_total * (1 - cal.SHARE_OF_VIEWS_IN_UNCODED_CATEGORIES)
        real_ids = entry["category_ids"] or [int(rng.integers(*cal.CATEGORY_ID_RANGE))]
        splits = np.array([0.7] + [0.3 / max(len(real_ids) - 1, 1)] * (len(real_ids) - 1))
        for cid, share in zip(real_ids, splits / splits.sum(), strict=True):
            ids.append(cid)
            codes.append(entry["code"])
            weights.append(code_weight * share)
            brand_counts.append(entry["brands"])
            prices.append(entry["price_deciles"])
    uncoded = ref["uncoded"]
    n_uncoded = max(cal.FULL_CATALOGUE_CATEGORY_IDS - len(ids), len(uncoded["category_ids"]))
    uncoded_ids = list(uncoded["category_ids"])
    taken = set(ids) | set(uncoded_ids)
    while len(uncoded_ids) < n_uncoded:
        cid = int(rng.integers(*cal.CATEGORY_ID_RANGE))
        if cid not in taken:
            taken.add(cid)
            uncoded_ids.append(cid)
    rng.shuffle(uncoded_ids)
    zipf = 1.0 / np.arange(1, n_uncoded + 1) ** 0.9
    zipf = zipf / zipf.sum() * cal.SHARE_OF_VIEWS_IN_UNCODED_CATEGORIES
    uncoded_brands = uncoded["brands"]
    brand_names = list(uncoded_brands)
    for cid, weight in zip(uncoded_ids, zipf, strict=True):
        ids.append(cid)
        codes.append(None)
        weights.append(float(weight))
        # Uncoded categories each carry a slice of the real uncoded brands.
        pick = rng.choice(len(brand_names), size=min(6, len(brand_names)), replace=False)
        brand_counts.append({brand_names[i]: uncoded_brands[brand_names[i]] for i in pick})
        prices.append(None)
    order = np.argsort(-np.asarray(weights), kind="stable")[:n_categories]
    w = np.asarray(weights)[order]
    coded = np.array([codes[i] is not None for i in order])
    # Keep the coded/uncoded balance when the catalogue is cut down.
    if coded.any() and (~coded).any():
        w[coded] *= (1 - cal.SHARE_OF_VIEWS_IN_UNCODED_CATEGORIES) / w[coded].sum()
        w[~coded] *= cal.SHARE_OF_VIEWS_IN_UNCODED_CATEGORIES / w[~coded].sum()
    table = [(codes[i], brand_counts[i], prices[i]) for i in order]
    return np.asarray(ids, dtype=np.int64)[order], np.array([t[0] for t in table], dtype=object), w / w.sum(), table


DECILE_POSITIONS = np.linspace(0.0, 1.0, 11)


def _from_deciles(rng: np.random.Generator, deciles: list[float], size: int) -> np.ndarray:
    """Draws from the piecewise-linear distribution through the real row-weighted deciles."""
    knots = np.asarray(deciles, dtype=np.float64)
    knots[0] = max(knots[0], knots[1] * 0.3)
    # The heads' maximum is a single row: a tail 2x the 90th percentile reproduces the full files' p99.
    knots[-1] = min(knots[-1], knots[-2] * 2.0)
    return np.interp(rng.random(size), DECILE_POSITIONS, knots)


def _draw_prices(rng: np.random.Generator, table: list, start: np.ndarray) -> np.ndarray:
    """Product prices: the real within-category spread where the heads show it, else a lognormal around a level."""
    uncoded_deciles = load_reference_catalog()["uncoded"]["price_deciles"]
    price = np.empty(int(start[-1]))
    for c, (code, _, deciles) in enumerate(table):
        lo, hi = start[c], start[c + 1]
        if deciles:
            price[lo:hi] = _from_deciles(rng, deciles, hi - lo)
        else:
            # An uncoded category (or a code too rare in the heads): its own level, drawn like the real uncoded rows.
            level = _from_deciles(rng, uncoded_deciles, 1)[0] if code is None else float(np.exp(rng.normal(5.0, 0.8)))
            price[lo:hi] = level * np.exp(rng.normal(0.0, 0.5, size=hi - lo))
    return np.round(np.clip(price, 0.77, cal.MAX_PRICE), 2)


def build_catalog(rng: np.random.Generator, n_products: int) -> Catalog:
    """A catalogue of about ``n_products`` products over the heaviest real categories."""
    n_categories = int(np.clip(n_products // 8, 20, cal.FULL_CATALOGUE_CATEGORY_IDS))
    category_ids, category_codes, category_weights, table = _category_table(rng, n_categories)
    n_categories = len(category_ids)

    per_category = np.maximum(np.round(category_weights**0.6 / (category_weights**0.6).sum() * n_products), 2)
    per_category = per_category.astype(np.int64)
    start = np.concatenate([[0], np.cumsum(per_category)])
    total = int(start[-1])

    # Product ids are sorted and handed out in blocks, so a category's ids sit close together (as in the real data).
    product_ids = np.sort(
        rng.choice(cal.PRODUCT_ID_RANGE[1] - cal.PRODUCT_ID_RANGE[0], size=total, replace=False)
        + cal.PRODUCT_ID_RANGE[0]
    ).astype(np.int64)
    block_order = rng.permutation(n_categories)
    ids_by_category = np.empty(total, dtype=np.int64)
    cursor = 0
    for c in block_order:
        n = per_category[c]
        ids_by_category[start[c] : start[c] + n] = product_ids[cursor : cursor + n]
        cursor += n
    product_category = np.repeat(np.arange(n_categories, dtype=np.int32), per_category)

    # Popularity: Zipf over a random rank inside each category.
    ranks = np.concatenate([rng.permutation(n) + 1 for n in per_category])
    popularity = 1.0 / ranks.astype(np.float64) ** 1.05

    price = _draw_prices(rng, table, start)
    price[rng.random(total) < cal.SHARE_OF_PRODUCTS_FREE] = 0.0

    # Brands: the category's real brands first (by real frequency), then synthetic ones.
    real_brand_names = sorted({b for _, brands, _ in table for b in brands})
    n_brands_target = int(np.clip(cal.FULL_CATALOGUE_BRANDS * np.sqrt(total / cal.FULL_CATALOGUE_PRODUCTS), 50,
                                  cal.FULL_CATALOGUE_BRANDS))
    synthetic = _synthetic_brand_names(rng, max(n_brands_target - len(real_brand_names), 20), set(real_brand_names))
    brand_names = np.array(real_brand_names + synthetic, dtype=object)
    brand_index = {b: i for i, b in enumerate(brand_names)}
    product_brand = np.empty(total, dtype=np.int32)
    for c, (_, brands, _) in enumerate(table):
        lo, hi = start[c], start[c + 1]
        real = [brand_index[b] for b in brands]
        counts = np.array([brands[b] for b in brands], dtype=np.float64)
        n_extra = min(int(rng.integers(2, 4 + (hi - lo) // 8)), len(synthetic))
        extra = len(real_brand_names) + rng.choice(len(synthetic), size=n_extra, replace=False)
        pool = np.concatenate([np.asarray(real, dtype=np.int64), extra])
        pool_w = np.concatenate([counts / counts.sum() * 0.8 if len(real) else [], np.full(n_extra, 0.2 / n_extra)])
        if not len(real):
            pool_w = 1.0 / np.arange(1, n_extra + 1)
        product_brand[lo:hi] = rng.choice(pool, size=hi - lo, p=pool_w / pool_w.sum())
    product_brand[rng.random(total) < cal.SHARE_OF_PRODUCTS_WITHOUT_BRAND] = -1

    new_in_november = rng.random(total) < cal.SHARE_OF_PRODUCTS_NEW_IN_NOVEMBER
    return Catalog(
        category_ids=category_ids,
        category_codes=category_codes,
        category_weights=category_weights,
        category_product_start=start.astype(np.int64),
        product_ids=ids_by_category,
        product_category=product_category,
        product_brand=product_brand,
        product_price=price,
        product_new_in_november=new_in_november,
        product_popularity=popularity,
        brand_names=brand_names,
    )
