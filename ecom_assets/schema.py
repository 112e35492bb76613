"""The REES46 event columns and vocabularies, shared by every stage."""

from __future__ import annotations

CSV_HEADER: tuple[str, ...] = (
    "event_time",
    "event_type",
    "product_id",
    "category_id",
    "category_code",
    "brand",
    "price",
    "user_id",
    "user_session",
)
EVENT_TYPES: tuple[str, ...] = ("view", "cart", "purchase", "remove_from_cart")
