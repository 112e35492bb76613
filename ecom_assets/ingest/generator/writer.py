"""Writes generated events as CSV lines byte-compatible with the REES46 month files."""

from __future__ import annotations

from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ecom_assets.ingest.generator.calibration import SHARE_OF_SESSIONS_WITHOUT_ID
from ecom_assets.ingest.generator.catalog import Catalog
from ecom_assets.ingest.generator.population import Population
from ecom_assets.ingest.generator.sessions import EVENT_TYPE_NAMES, EventBatch
from ecom_assets.schema import CSV_HEADER

HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
UUID_DASH_POSITIONS = (8, 13, 18, 23)
_MIX1, _MIX2, _GOLDEN = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB), np.uint64(0x9E3779B97F4A7C15)


def _splitmix64(values: np.ndarray) -> np.ndarray:
    """The SplitMix64 mixer, vectorised: a fast, well-spread 64-bit hash."""
    z = values + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def session_uuids(session_index: np.ndarray, seed: int) -> pa.LargeStringArray:
    """Version-4 UUID strings derived from (seed, session index): the same session always gets the same id."""
    key = np.uint64(seed & 0xFFFFFFFFFFFFFFFF)
    with np.errstate(over="ignore"):
        high = _splitmix64(session_index.astype(np.uint64) ^ key)
        low = _splitmix64(high ^ np.uint64(0x5851F42D4C957F2D))
    raw = np.stack([high, low], axis=1).astype(">u8").view(np.uint8).reshape(-1, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hex_chars = np.empty((len(raw), 32), dtype=np.uint8)
    hex_chars[:, 0::2] = HEX_DIGITS[raw >> 4]
    hex_chars[:, 1::2] = HEX_DIGITS[raw & 0x0F]
    text = np.full((len(raw), 36), ord("-"), dtype=np.uint8)
    for (lo, hi), start in zip(((0, 8), (8, 12), (12, 16), (16, 20), (20, 32)), (0, 9, 14, 19, 24), strict=True):
        text[:, start : start + hi - lo] = hex_chars[:, lo:hi]
    return _fixed_width_strings(text)


def _fixed_width_strings(chars: np.ndarray) -> pa.StringArray:
    """An Arrow string array over the rows of a 2-D uint8 array (no copy of the characters)."""
    n, width = chars.shape
    offsets = np.arange(0, width * (n + 1), width, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(chars)))


def format_event_times(epoch_s: np.ndarray) -> pa.LargeStringArray:
    """``YYYY-MM-DD HH:MM:SS UTC`` for epoch seconds, built digit by digit with numpy."""
    days, seconds = np.divmod(epoch_s, 86_400)
    first_day = int(days.min()) if len(days) else 0
    calendar = np.arange(first_day, int(days.max()) + 1 if len(days) else 1).astype("datetime64[D]")
    day_text = np.frombuffer("".join(str(d) for d in calendar).encode(), dtype=np.uint8).reshape(-1, 10)
    chars = np.empty((len(epoch_s), 23), dtype=np.uint8)
    chars[:, :10] = day_text[days - first_day]
    hours, rest = np.divmod(seconds, 3600)
    minutes, secs = np.divmod(rest, 60)
    for start, value in ((11, hours), (14, minutes), (17, secs)):
        chars[:, start] = 48 + value // 10
        chars[:, start + 1] = 48 + value % 10
    chars[:, [10, 19]] = ord(" ")
    chars[:, [13, 16]] = ord(":")
    chars[:, 20:23] = np.frombuffer(b"UTC", dtype=np.uint8)
    return _fixed_width_strings(chars)


def sessions_without_id(session_index: np.ndarray, seed: int) -> np.ndarray:
    """The few sessions whose ``user_session`` is written empty, as in the real files."""
    with np.errstate(over="ignore"):
        draw = _splitmix64(session_index.astype(np.uint64) ^ np.uint64((seed * 7919 + 1) & 0xFFFFFFFFFFFFFFFF))
    return (draw >> np.uint64(11)).astype(np.float64) / float(1 << 53) < SHARE_OF_SESSIONS_WITHOUT_ID


class MonthCsvWriter:
    """Formats event batches into the month file, with the catalogue's strings prepared once."""

    def __init__(self, sink: BinaryIO, catalog: Catalog, population: Population, seed: int) -> None:
        self.sink = sink
        self.population = population
        self.seed = seed
        self.event_types = pa.array(EVENT_TYPE_NAMES)
        self.product_ids = pa.array(catalog.product_ids)
        self.category_ids = pa.array(catalog.category_ids[catalog.product_category])
        self.category_codes = pa.array(list(catalog.category_codes[catalog.product_category]), type=pa.string())
        brands = np.where(catalog.product_brand >= 0, catalog.brand_names[catalog.product_brand], None)
        self.brands = pa.array(list(brands), type=pa.string())
        self.prices = pa.array([f"{p:.2f}" for p in catalog.product_price])
        self.user_ids = pa.array(population.user_ids)
        self.options = pacsv.WriteOptions(include_header=False, quoting_style="none", batch_size=65_536)
        sink.write((",".join(CSV_HEADER) + "\n").encode())

    def write(self, batch: EventBatch) -> None:
        """Append ``batch`` (already in time order) to the file."""
        sessions = session_uuids(batch.session, self.seed)
        empty = sessions_without_id(batch.session, self.seed)
        if empty.any():
            sessions = pc.if_else(pa.array(empty), pa.scalar(None, pa.string()), sessions)
        product = pa.array(batch.product)
        table = pa.table(
            {
                "event_time": format_event_times(batch.time_s),
                "event_type": self.event_types.take(pa.array(batch.event_type)),
                "product_id": self.product_ids.take(product),
                "category_id": self.category_ids.take(product),
                "category_code": self.category_codes.take(product),
                "brand": self.brands.take(product),
                "price": self.prices.take(product),
                "user_id": self.user_ids.take(pa.array(batch.user)),
                "user_session": sessions,
            }
        )
        pacsv.write_csv(table, self.sink, write_options=self.options)
