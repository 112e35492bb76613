"""Where the incremental models keep their state: the batch graph's starting tables and the replay's ledgers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import DataFrame

from ecom_assets.lake import Lake
from ecom_assets.replay.models.customers import CUSTOMER_SCHEMA, PAIR_SCHEMA, base_customers, pair_counts
from ecom_assets.replay.models.ledger import Ledger
from ecom_assets.replay.models.new_products import (
    ITEM_FACTOR_LEDGER_SCHEMA,
    PRODUCT_PAIR_SCHEMA,
    USER_FACTOR_SCHEMA,
)
from ecom_assets.replay.models.recommendations import SERVED_SCHEMA, served_lists

BASE_CUSTOMERS = "replay_base_customers"
BASE_PAIRS = "replay_base_pairs"
BASE_SERVED = "replay_base_served"
CENTRES = "segment_centres"


@dataclass(frozen=True)
class Ledgers:
    """The keyed states of the replay: three starting from a table of the batch graph, and the three of
    the new products' fold-in (:mod:`~ecom_assets.replay.models.new_products`), which start empty."""

    customers: Ledger
    pairs: Ledger
    served: Ledger
    product_pairs: Ledger
    user_factors: Ledger
    item_factors: Ledger

    @classmethod
    def of(cls, lake: Lake) -> Ledgers:
        """The ledgers of one lake."""
        return cls(
            customers=Ledger(lake, "customers", ("user_id",), CUSTOMER_SCHEMA, lake.processed(BASE_CUSTOMERS)),
            pairs=Ledger(lake, "pairs", ("user_id", "product_id"), PAIR_SCHEMA, lake.processed(BASE_PAIRS)),
            served=Ledger(lake, "served_recs", ("user_id",), SERVED_SCHEMA, lake.processed(BASE_SERVED)),
            product_pairs=Ledger(lake, "new_product_pairs", ("product_id", "user_id"), PRODUCT_PAIR_SCHEMA),
            user_factors=Ledger(lake, "user_factors", ("user_id",), USER_FACTOR_SCHEMA),
            item_factors=Ledger(lake, "new_product_factors", ("product_id",), ITEM_FACTOR_LEDGER_SCHEMA),
        )

    def all(self) -> tuple[Ledger, ...]:
        """Every ledger, for the daily compaction."""
        return (self.customers, self.pairs, self.served, self.product_pairs, self.user_factors, self.item_factors)


def starting_state(rfm: DataFrame, segments: DataFrame, events: DataFrame, served: DataFrame,
                   training_end: dt.date) -> dict[str, DataFrame]:
    """The base tables the ledgers start from, by name: every customer's aggregates and segment as of the
    end of training, their per-product counts over the training ``events``, and the batch lists they were
    ``served``, stamped at the end of training."""
    served_at = dt.datetime.combine(training_end, dt.time(), tzinfo=dt.UTC)
    return {BASE_CUSTOMERS: base_customers(rfm, segments, training_end),
            BASE_PAIRS: pair_counts(events),
            BASE_SERVED: served_lists(served, served_at)}
