"""Synthetic orders and clickstream events in the raw layouts, at any size, from a seed.

Two files, in the same layouts as the bundled real data (see data/README.md):

- order lines in the UCI Online Retail layout, with its real-world flaws: guest lines
  without a customer, zero prices, cancellation invoices ("C", negative quantities), exact
  duplicate lines, postage and manual lines, the odd bad-debt adjustment ("A");
- clickstream events in the Taobao UserBehavior layout (no header), with a
  view -> cart -> buy funnel.

Shapes are measured once on the bundled files and hard-coded below, each with where it came
from. The same seed gives byte-identical files. Memory stays bounded: the order-level plan
(about one row per 20 lines) is held in memory, lines and events are made and written in
chunks.

Order lines are a pure function of (seed, invoice, line number) through a counter-based
hash, so a cancellation can return the very products its parent order bought without the
parent being in memory. Events are made one hour at a time, each hour from its own seeded
stream.
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from cartcast.warehouse.raw_layouts import ONLINE_RETAIL_COLUMNS, TAOBAO_COLUMNS

FILE_FORMATS = ("csv", "parquet")

# Every raw column is text, as staging reads it.
ORDER_SCHEMA = pa.schema([(c, pa.string()) for c in ONLINE_RETAIL_COLUMNS])
EVENT_SCHEMA = pa.schema([(c, pa.string()) for c in TAOBAO_COLUMNS])

# Rows per written chunk (a Parquet row group, a CSV block).
CHUNK_ROWS = 1_000_000
# Order lines written per customer, guest lines included (measured on this generator at
# 4,372 and 78,000 customers; the real file has 124).
LINES_PER_CUSTOMER = 126

# ---------------------------------------------------------------------------------------------
# Shapes of the order data, measured on data/raw/online_retail/online_retail.csv.gz
# (541,909 lines, 25,900 invoices, 4,372 customers, 2010-12-01 to 2011-12-09).
# ---------------------------------------------------------------------------------------------

ORDER_FIRST_DAY = np.datetime64("2010-12-01", "D")
ORDER_LAST_DAY = np.datetime64("2011-12-09", "D")
FIRST_INVOICE_NUMBER = 536_365
FIRST_CUSTOMER_NUMBER = 12_346

# Completed invoices per customer: median 2, mean 4.27, p90 9, p99 30, 65.6% buy again.
# Fitted as ceil(lognormal(0.55, 1.2)).
ORDERS_PER_CUSTOMER_MU = 0.55
ORDERS_PER_CUSTOMER_SIGMA = 1.2
MAX_ORDERS_PER_CUSTOMER = 400
# Customers first seen per month, Dec 2010 .. Dec 2011 (the data starts with a backlog of
# existing customers in Dec 2010, and ends on 9 Dec 2011).
FIRST_ORDER_MONTH_WEIGHTS = [948, 421, 380, 440, 299, 279, 235, 191, 167, 298, 352, 321, 41]
# Heavy buyers are the early ones (a customer with 30 orders is rarely first seen in
# November): a Gaussian copula between order count and first-order date.
ORDERS_VS_FIRST_ORDER_CORRELATION = -0.5
# Invoices per trading day, by month, Dec 2010 .. Dec 2011: the autumn peak.
INVOICES_PER_TRADING_DAY = [
    101.3, 61.5, 58.0, 73.4, 83.0, 86.5, 77.4, 74.1, 66.8, 89.5, 101.4, 133.2, 126.9,
]  # fmt: skip
# Invoices by ISO weekday Mon..Sun: the shop never trades on Saturdays.
WEEKDAY_WEIGHTS = [4138, 4722, 4815, 5660, 4184, 0, 2381]
# Weekdays without a single invoice (Christmas, bank holidays).
CLOSED_DAYS = [
    "2010-12-24", "2010-12-26", "2010-12-27", "2010-12-28", "2010-12-29", "2010-12-30",
    "2010-12-31", "2011-01-02", "2011-01-03", "2011-04-22", "2011-04-24", "2011-04-25",
    "2011-04-29", "2011-05-02", "2011-05-30", "2011-08-29",
]  # fmt: skip
# Invoices by hour of the (UK local) day, 06:00 .. 20:00.
FIRST_HOUR = 6
HOUR_WEIGHTS = [22, 31, 624, 1824, 2961, 3165, 3962, 3369, 3137, 3069, 1952, 1205, 333, 219, 28]

# Lines per completed customer invoice: median 15, mean 21.5, p90 48, p99 111.
LINES_PER_ORDER_MU = 2.6
LINES_PER_ORDER_SIGMA = 1.0
MAX_LINES_PER_ORDER = 600
# Cancellation invoices: 3,654 against 18,536 completed customer invoices; 36% of
# customers cancel at least once; lines per cancellation median 1, mean 2.4, p90 4; the
# cancellation follows the order it returns by a median 6 days (p25 1.9, p90 28).
CANCELLATION_PER_ORDER = 0.197
CANCEL_LINES_MU = 0.0
CANCEL_LINES_SIGMA = 1.0
CANCEL_DELAY_DAYS_MU = math.log(6.0)
CANCEL_DELAY_DAYS_SIGMA = 1.2
# Guest invoices (no CustomerID): 3,710 against 18,536 completed customer invoices, very
# uneven in size (median 1 line, mean 36, p90 139): half are single lines, the rest
# ceil(lognormal(3.7, 1.1)). 25% of all lines are guest lines, 98.9% of them UK.
GUEST_INVOICES_PER_CUSTOMER_INVOICE = 0.2
GUEST_SINGLE_LINE_SHARE = 0.5
GUEST_LINES_MU = 3.7
GUEST_LINES_SIGMA = 1.1
MAX_GUEST_LINES = 1100
# Exact duplicate lines: 5,268 of 541,909.
DUPLICATE_LINE_RATE = 0.0097
# Zero prices: 0.46% of lines, 98% of them on guest lines.
ZERO_PRICE_RATE_GUEST = 0.018
ZERO_PRICE_RATE_CUSTOMER = 0.0001
# Bad-debt adjustments ("A" invoices): 3 in 25,900 invoices.
ADJUSTMENT_PER_INVOICE = 3 / 25_900
# Quantities over 100,000 (quarantined as absurd): 2 lines.
ABSURD_QUANTITY_RATE = 4e-6
ABSURD_QUANTITY = 80_995

# Non-merchandise lines (seeds/non_merchandise_stock_codes.csv). POST: 1,256 lines, mostly
# one per invoice of a customer abroad, price 18 (57%), 15, 40, 28. DOT (dotcom postage):
# 710 lines, 98% on guest invoices, price median 185 (p10 76, p90 646). M (manual):
# 571 lines on any invoice, price median 7.95 with a long tail.
POST_RATE_ABROAD = 0.6
POST_RATE_UK = 0.005
POST_PRICES_CENTS = [1800, 1500, 4000, 2800]
POST_PRICE_WEIGHTS = [720, 140, 134, 99]
DOT_RATE_GUEST = 0.19
DOT_PRICE_MU = math.log(185.0)
DOT_PRICE_SIGMA = 0.98
MANUAL_RATE = 0.022
MANUAL_PRICE_MU = math.log(7.95)
MANUAL_PRICE_SIGMA = 1.8

# Products: 4,070 stock codes for 4,372 customers; the catalogue grows with the square root
# of the customer base. Popularity is skewed (top product 0.43% of lines): rank =
# floor(n * u ** 1.5). Unit prices: log-normal, mean log 0.77, sd 0.96 (median 2.08).
PRODUCTS_PER_SQRT_CUSTOMER = 4070 / math.sqrt(4372)
MIN_PRODUCTS = 200
PRODUCT_POPULARITY_EXPONENT = 1.5
PRICE_LOG_MEAN = 0.77
PRICE_LOG_SD = 0.96
# A wholesale price break on large quantities, as the real price lists have.
BULK_QUANTITY = 24
BULK_DISCOUNT_RATE = 0.5
BULK_DISCOUNT = 0.85

# Quantities on completed lines: the 30 most common values and their shares (97.9% of
# lines); the rest are log-uniform between 13 and 500 (p99 100, p99.9 450).
QUANTITY_VALUES = [
    1, 2, 12, 6, 4, 3, 24, 10, 8, 5, 48, 25, 20, 16, 36,
    7, 9, 72, 96, 100, 18, 30, 40, 32, 144, 11, 50, 15, 60, 120,
]  # fmt: skip
QUANTITY_SHARES = [
    0.27886, 0.15412, 0.11515, 0.07704, 0.07252, 0.06987, 0.04528, 0.042, 0.02473, 0.0221,
    0.01143, 0.00966, 0.00943, 0.00804, 0.00719, 0.00547, 0.00382, 0.00367, 0.00341,
    0.00341, 0.00336, 0.00221, 0.00203, 0.00197, 0.00191, 0.00178, 0.00172, 0.00149,
    0.00126, 0.00114,
]  # fmt: skip
QUANTITY_TAIL_RANGE = (13, 500)

# Countries of customers (shares of 4,372 customers); guests are almost all UK.
COUNTRIES = [
    ("United Kingdom", 3950), ("Germany", 95), ("France", 87), ("Spain", 29),
    ("Belgium", 24), ("Portugal", 19), ("Switzerland", 19), ("Italy", 15), ("Finland", 12),
    ("Austria", 11), ("Norway", 10), ("Australia", 9), ("Netherlands", 9), ("EIRE", 3),
    ("Denmark", 9), ("Sweden", 8), ("Japan", 8), ("Channel Islands", 9), ("Poland", 6),
    ("USA", 4), ("Cyprus", 8), ("Israel", 4), ("Greece", 4), ("Unspecified", 4),
]  # fmt: skip
GUEST_COUNTRIES = [
    ("United Kingdom", 133600),
    ("EIRE", 711),
    ("Hong Kong", 288),
    ("Unspecified", 202),
]

# Words for product descriptions, in the shop's style.
_COLOURS = [
    "WHITE", "RED", "PINK", "BLUE", "GREEN", "IVORY", "CREAM", "BLACK", "SILVER", "GOLD",
    "VINTAGE", "RETRO", "PAISLEY", "POLKADOT", "REGENCY", "JUMBO", "SMALL", "LARGE",
    "HANGING", "SET OF 3",
]  # fmt: skip
_MATERIALS = [
    "METAL", "GLASS", "WOODEN", "CERAMIC", "ENAMEL", "FELT", "PAPER", "TIN", "ZINC",
    "CHRISTMAS", "HEART", "STAR", "SPOTTY", "FLORAL", "BIRD", "LACE",
]  # fmt: skip
_THINGS = [
    "LANTERN", "T-LIGHT HOLDER", "MUG", "CAKE STAND", "BUNTING", "LUNCH BAG", "DOORSTOP",
    "PHOTO FRAME", "CLOCK", "BOWL", "JAR", "TEA TOWEL", "CUSHION COVER", "BAUBLE", "SIGN",
    "COAT HANGER", "CANDLE", "NAPKINS", "PURSE", "BACKPACK", "GIFT WRAP", "PARASOL",
    "HOT WATER BOTTLE", "DOILY", "PLATE",
]  # fmt: skip

# Special stock codes, indexed after the merchandise in the product catalogue.
_POST, _DOT, _MANUAL, _BAD_DEBT = 0, 1, 2, 3
_SPECIAL_CODES = ["POST", "DOT", "M", "B"]
_SPECIAL_DESCRIPTIONS = ["POSTAGE", "DOTCOM POSTAGE", "Manual", "Adjust bad debt"]

# Invoice kinds.
_COMPLETED, _CANCELLATION, _GUEST, _ADJUSTMENT = 0, 1, 2, 3

# ---------------------------------------------------------------------------------------------
# Shapes of the clickstream, measured on data/raw/taobao/user_behavior_sample.csv.gz
# (110,300 events, 66,454 users, 2 hours) and from the published size of the full Taobao
# UserBehavior set (100,150,807 events, 987,994 users, 4,162,024 items, 9,439 categories,
# 9 days from 2017-11-25 China time).
# ---------------------------------------------------------------------------------------------

EVENT_START_TS = 1_511_539_200  # 2017-11-25 00:00 in China (UTC+8)
DEFAULT_EVENT_DAYS = 9.0
EVENTS_PER_USER = 100
EVENTS_PER_ITEM = 24
EVENTS_PER_SQRT_CATEGORY = math.sqrt(100_150_807) / 9_439
# Activity by hour of the China day (not measurable from a 2-hour sample; a typical
# e-commerce day: quiet at night, peak in the evening).
CHINA_HOUR_WEIGHTS = [
    3.0, 1.8, 1.1, 0.7, 0.5, 0.5, 0.8, 1.5, 2.6, 3.4, 3.9, 4.1,
    4.0, 4.0, 4.0, 4.0, 4.0, 4.2, 4.5, 5.3, 6.0, 6.2, 5.6, 4.3,
]  # fmt: skip
CHINA_UTC_OFFSET_HOURS = 8
# Sessions: the sample's median gap between a user's events is 292 s (p25 100 s); events
# per session are geometric with this mean; gaps log-normal, capped below the 30-minute
# session split.
EVENTS_PER_SESSION = 6.0
EVENT_GAP_MU = math.log(120.0)
EVENT_GAP_SIGMA = 1.0
MAX_EVENT_GAP_S = 1500
USER_ACTIVITY_EXPONENT = 1.5
ITEM_POPULARITY_EXPONENT = 2.0
CATEGORY_SIZE_EXPONENT = 2.0
# Funnel: pv 89.2%, cart 5.5%, fav 3.1%, buy 2.3% of events. A cart or favorite is of the
# item just viewed; a buy follows a cart of the same item (or, rarely, a view).
BASE_CART_SHARE = 0.0563
BASE_FAVORITE_SHARE = 0.0317
BUY_AFTER_CART = 0.42
BUY_AFTER_VIEW = 0.005
SAME_ITEM_AS_PREVIOUS = 0.8
# The sample has no duplicates; a trickle keeps the deduplication path exercised.
DUPLICATE_EVENT_RATE = 0.0005

_BEHAVIOURS = ["pv", "cart", "fav", "buy"]
_PV, _CART, _FAV, _BUY = 0, 1, 2, 3


# ---------------------------------------------------------------------------------------------
# Public entry point
# ---------------------------------------------------------------------------------------------


def generate(
    out_dir: Path,
    *,
    customers: int,
    seed: int,
    file_format: str = "csv",
    events: int | None = None,
    events_per_customer: float = EVENTS_PER_USER,
    event_users: int | None = None,
    event_days: float = DEFAULT_EVENT_DAYS,
) -> dict[str, Path]:
    """Write synthetic raw order lines and events below `out_dir`; return their paths.

    About `LINES_PER_CUSTOMER` order lines per customer (guest lines included). Events:
    `events` in all (default `customers * events_per_customer`), by `event_users` users
    (default: `customers`, or one user per 100 events when `events` is given), spread over
    `event_days` days.
    """
    if file_format not in FILE_FORMATS:
        raise ValueError(f"file_format must be one of {FILE_FORMATS}, not {file_format!r}")
    if customers < 1:
        raise ValueError("customers must be at least 1")
    if events is None:
        events = round(customers * events_per_customer)
        users = event_users or customers
    else:
        users = event_users or max(1, round(events / EVENTS_PER_USER))
    if events < 0 or users < 1 or event_days <= 0:
        raise ValueError("events must be >= 0, event_users >= 1 and event_days > 0")

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = ".csv.gz" if file_format == "csv" else ".parquet"
    retail_path = out_dir / f"online_retail{suffix}"
    taobao_path = out_dir / f"user_behavior{suffix}"

    _write(
        retail_path,
        ORDER_SCHEMA,
        _order_line_batches(customers, seed),
        file_format,
        header=True,
    )
    _write(
        taobao_path,
        EVENT_SCHEMA,
        _event_batches(events, users, event_days, seed),
        file_format,
        header=False,
    )
    return {"online_retail": retail_path, "taobao": taobao_path}


def relation_expression(path: Path) -> str:
    """The DuckDB relation that reads a generated file, for the dbt source vars."""
    path = Path(path)
    if path.name.endswith(".parquet"):
        return f"read_parquet('{path}')"
    if path.name.startswith("online_retail"):
        return f"read_csv('{path}', header=true, all_varchar=true)"
    names = ", ".join(f"'{c}'" for c in TAOBAO_COLUMNS)
    return f"read_csv('{path}', header=false, all_varchar=true, names=[{names}])"


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def _write(
    path: Path,
    schema: pa.Schema,
    batches: Iterator[pa.RecordBatch],
    file_format: str,
    *,
    header: bool,
) -> None:
    tmp = path.with_name(path.name + ".tmp")
    if file_format == "parquet":
        with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            for batch in batches:
                writer.write_batch(batch, row_group_size=CHUNK_ROWS)
    else:
        options = pa_csv.WriteOptions(include_header=False, quoting_style="none")
        # mtime=0 and no file name in the gzip header: the same rows give the same bytes.
        with (
            open(tmp, "wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) as out,
        ):
            if header:
                out.write((",".join(schema.names) + "\n").encode())
            for batch in batches:
                sink = pa.BufferOutputStream()
                pa_csv.write_csv(batch, sink, write_options=options)
                out.write(sink.getvalue())
    tmp.replace(path)


# ---------------------------------------------------------------------------------------------
# Counter-based randomness: a value is a pure function of (key, counters)
# ---------------------------------------------------------------------------------------------

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a bijection on uint64 with full avalanche."""
    x = x + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def _hash(key: int, *parts: np.ndarray) -> np.ndarray:
    h = np.full(np.shape(parts[0]), np.uint64(key & 0xFFFFFFFFFFFFFFFF), dtype=np.uint64)
    for part in parts:
        h = _mix(h ^ _mix(np.asarray(part).astype(np.uint64)))
    return h


def _uniform(key: int, *parts: np.ndarray) -> np.ndarray:
    """Uniform floats in [0, 1)."""
    return (_hash(key, *parts) >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def _normal(key: int, *parts: np.ndarray) -> np.ndarray:
    """Standard normals (Box-Muller on two hashed uniforms)."""
    u1 = _uniform(key, *parts)
    u2 = _uniform(key ^ 0x5DEECE66D, *parts)
    return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)


def _stream_key(seed: int, name: str) -> int:
    """A 64-bit key per (seed, purpose), so that every attribute has its own stream."""
    h = _hash(seed, np.array([int.from_bytes(name.encode()[:8].ljust(8, b"\0"), "little")]))
    return int(_mix(h ^ np.uint64(len(name)))[0])


def _keys(seed: int, *names: str) -> list[int]:
    return [_stream_key(seed, name) for name in names]


def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, *stream])))


def _erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz and Stegun 7.1.26 (error below 1.5e-7): enough for a copula."""
    sign = np.sign(x)
    x = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    return sign * (1.0 - poly * np.exp(-x * x))


def _phi(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + _erf(z / math.sqrt(2.0)))


# ---------------------------------------------------------------------------------------------
# Order lines
# ---------------------------------------------------------------------------------------------


class _Calendar:
    """Trading days of the year and where an invoice falls, by cumulative weight."""

    def __init__(self) -> None:
        self.days = np.arange(ORDER_FIRST_DAY, ORDER_LAST_DAY + 1)
        day_numbers = self.days.astype(np.int64)
        weekday = (day_numbers + 3) % 7  # 0 = Monday (1970-01-01 was a Thursday)
        months = self.days.astype("datetime64[M]")
        month_index = (months - months[0]).astype(np.int64)
        open_day = np.array(WEEKDAY_WEIGHTS, dtype=np.float64)[weekday] > 0
        open_day &= ~np.isin(self.days, np.array(CLOSED_DAYS, dtype="datetime64[D]"))
        weekday_factor = np.array(WEEKDAY_WEIGHTS, dtype=np.float64)[weekday]
        weekday_factor /= np.mean(np.array(WEEKDAY_WEIGHTS, dtype=np.float64)[:5])
        rate = np.array(INVOICES_PER_TRADING_DAY)[month_index]
        invoice_weight = np.where(open_day, rate * weekday_factor, 0.0)
        self.invoice_cdf = np.cumsum(invoice_weight) / invoice_weight.sum()
        # The first trading day on or after each day (-1 past the last one).
        open_index = np.where(open_day, np.arange(len(self.days)), len(self.days))
        next_open = np.minimum.accumulate(open_index[::-1])[::-1]
        self.next_open = np.where(next_open < len(self.days), next_open, -1)
        # Customers' first invoices: the monthly shares, spread over the month's trading days.
        open_weight = np.where(open_day, weekday_factor, 0.0)
        per_month = np.bincount(month_index, weights=open_weight)
        first = np.array(FIRST_ORDER_MONTH_WEIGHTS, dtype=np.float64)[month_index]
        first_weight = first * open_weight / per_month[month_index]
        self.first_cdf = np.cumsum(first_weight) / first_weight.sum()
        hours = np.array(HOUR_WEIGHTS, dtype=np.float64)
        self.hour_cdf = np.cumsum(hours) / hours.sum()
        self.first_second = int(self.days[0].astype("datetime64[s]").astype(np.int64))
        self.end_second = int((self.days[-1] + 1).astype("datetime64[s]").astype(np.int64))

    def day_at(self, cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
        return np.minimum(np.searchsorted(cdf, u, side="right"), len(cdf) - 1)

    def seconds(
        self, day_index: np.ndarray, u_hour: np.ndarray, u_minute: np.ndarray
    ) -> np.ndarray:
        """Naive local time (epoch seconds) on that day, at a shop hour, whole minutes."""
        hour = FIRST_HOUR + np.searchsorted(self.hour_cdf, u_hour, side="right")
        minute = np.floor(u_minute * 60).astype(np.int64)
        return self.first_second + day_index * 86_400 + hour * 3600 + minute * 60


class _Plan:
    """Every invoice of the file, in invoice-number order, one entry per invoice."""

    kind: np.ndarray  # _COMPLETED, _CANCELLATION, _GUEST, _ADJUSTMENT
    seconds: np.ndarray  # naive local time
    customer: np.ndarray  # customer index, -1 for none
    country: np.ndarray  # index into the country table
    lines: np.ndarray  # line count
    special: np.ndarray  # special line (index into _SPECIAL_CODES) at line 0, or -1
    parent: np.ndarray  # for a cancellation: the invoice it returns, else -1


def _plan_invoices(customers: int, seed: int) -> _Plan:
    rng = _rng(seed, 1)
    cal = _Calendar()

    # Customers: how many orders, when first seen, where from.
    z_orders = rng.standard_normal(customers)
    z_first = rng.standard_normal(customers)
    orders = np.ceil(np.exp(ORDERS_PER_CUSTOMER_MU + ORDERS_PER_CUSTOMER_SIGMA * z_orders))
    orders = np.clip(orders, 1, MAX_ORDERS_PER_CUSTOMER).astype(np.int64)
    rho = ORDERS_VS_FIRST_ORDER_CORRELATION
    u_first = _phi(rho * z_orders + math.sqrt(1 - rho * rho) * z_first)
    first_day = cal.day_at(cal.first_cdf, u_first)
    country_weights = np.array([w for _, w in COUNTRIES], dtype=np.float64)
    country = np.searchsorted(
        np.cumsum(country_weights) / country_weights.sum(), rng.random(customers), side="right"
    )

    # Completed orders: the first on the first day, the others spread over the rest of the
    # year by the seasonal invoice weight.
    n_completed = int(orders.sum())
    cust = np.repeat(np.arange(customers), orders)
    is_first = np.ones(n_completed, dtype=bool)
    is_first[1:] = cust[1:] != cust[:-1]
    start_day = first_day[cust]
    low = np.where(start_day > 0, cal.invoice_cdf[np.maximum(start_day - 1, 0)], 0.0)
    u = low + rng.random(n_completed) * (1.0 - low)
    day = np.where(is_first, start_day, np.maximum(cal.day_at(cal.invoice_cdf, u), start_day))
    completed_seconds = cal.seconds(day, rng.random(n_completed), rng.random(n_completed))
    completed_lines = np.exp(
        LINES_PER_ORDER_MU + LINES_PER_ORDER_SIGMA * rng.standard_normal(n_completed)
    )
    completed_lines = np.clip(np.ceil(completed_lines), 1, MAX_LINES_PER_ORDER).astype(np.int64)
    abroad = COUNTRIES[0][0] != np.array([c for c, _ in COUNTRIES])[country[cust]]
    post = rng.random(n_completed) < np.where(abroad, POST_RATE_ABROAD, POST_RATE_UK)
    manual = rng.random(n_completed) < MANUAL_RATE
    completed_special = np.where(post, _POST, np.where(manual, _MANUAL, -1))
    completed_lines += completed_special >= 0

    # Cancellations: some orders are returned, in part, days later.
    cancelled = np.flatnonzero(rng.random(n_completed) < CANCELLATION_PER_ORDER)
    n_cancelled = len(cancelled)
    delay_days = np.exp(
        CANCEL_DELAY_DAYS_MU + CANCEL_DELAY_DAYS_SIGMA * rng.standard_normal(n_cancelled)
    )
    # Within the day of the order: minutes later. Otherwise: the next trading day from then.
    later_same_day = (
        completed_seconds[cancelled] + np.round(delay_days * 1440).astype(np.int64) * 60
    )
    cancel_day = day[cancelled] + np.round(delay_days).astype(np.int64)
    keep = cancel_day < len(cal.days)
    cancel_day = cal.next_open[np.minimum(cancel_day, len(cal.days) - 1)]
    keep &= cancel_day >= 0
    on_later_day = cal.seconds(
        np.maximum(cancel_day, 0), rng.random(n_cancelled), rng.random(n_cancelled)
    )
    cancel_seconds = np.where(cancel_day == day[cancelled], later_same_day, on_later_day)
    cancelled, cancel_seconds = cancelled[keep], cancel_seconds[keep]
    cancel_lines = np.exp(
        CANCEL_LINES_MU + CANCEL_LINES_SIGMA * rng.standard_normal(len(cancelled))
    )
    cancel_lines = np.minimum(np.ceil(cancel_lines).astype(np.int64), completed_lines[cancelled])
    cancel_special = np.where(rng.random(len(cancelled)) < MANUAL_RATE / 4, _MANUAL, -1)
    cancel_lines += cancel_special >= 0

    # Guest invoices: no customer, almost all UK, very uneven in size.
    n_guest = int(rng.binomial(n_completed, GUEST_INVOICES_PER_CUSTOMER_INVOICE))
    guest_seconds = cal.seconds(
        cal.day_at(cal.invoice_cdf, rng.random(n_guest)), rng.random(n_guest), rng.random(n_guest)
    )
    guest_lines = np.exp(GUEST_LINES_MU + GUEST_LINES_SIGMA * rng.standard_normal(n_guest))
    guest_lines = np.clip(np.ceil(guest_lines), 1, MAX_GUEST_LINES).astype(np.int64)
    guest_lines[rng.random(n_guest) < GUEST_SINGLE_LINE_SHARE] = 1
    guest_weights = np.array([w for _, w in GUEST_COUNTRIES], dtype=np.float64)
    guest_country = len(COUNTRIES) + np.searchsorted(
        np.cumsum(guest_weights) / guest_weights.sum(), rng.random(n_guest), side="right"
    )
    dot = rng.random(n_guest) < DOT_RATE_GUEST
    guest_manual = rng.random(n_guest) < MANUAL_RATE
    guest_special = np.where(dot, _DOT, np.where(guest_manual, _MANUAL, -1))
    guest_lines += guest_special >= 0

    # Bad-debt adjustments: one line each, no customer.
    n_total = n_completed + len(cancelled) + n_guest
    n_adjust = int(rng.binomial(n_total, ADJUSTMENT_PER_INVOICE))
    adjust_seconds = cal.seconds(
        cal.day_at(cal.invoice_cdf, rng.random(n_adjust)),
        rng.random(n_adjust),
        rng.random(n_adjust),
    )

    uk = 0
    kind = np.concatenate([
        np.full(n_completed, _COMPLETED),
        np.full(len(cancelled), _CANCELLATION),
        np.full(n_guest, _GUEST),
        np.full(n_adjust, _ADJUSTMENT),
    ]).astype(np.int8)  # fmt: skip
    seconds = np.concatenate([completed_seconds, cancel_seconds, guest_seconds, adjust_seconds])
    customer = np.concatenate([cust, cust[cancelled], np.full(n_guest + n_adjust, -1)])
    countries = np.concatenate(
        [country[cust], country[cust[cancelled]], guest_country, np.full(n_adjust, uk)]
    )
    lines = np.concatenate(
        [completed_lines, cancel_lines, guest_lines, np.ones(n_adjust, np.int64)]
    )
    special = np.concatenate(
        [completed_special, cancel_special, guest_special, np.full(n_adjust, _BAD_DEBT)]
    )
    parent = np.concatenate([np.full(n_completed, -1), cancelled, np.full(n_guest + n_adjust, -1)])

    # Invoice numbers run in time order, as the shop's do.
    order = np.lexsort((np.arange(len(seconds)), seconds))
    position = np.empty_like(order)
    position[order] = np.arange(len(order))
    plan = _Plan()
    plan.kind = kind[order]
    plan.seconds = seconds[order]
    plan.customer = customer[order]
    plan.country = countries[order]
    plan.lines = lines[order]
    plan.special = special[order]
    parent = parent[order]
    plan.parent = np.where(parent >= 0, position[np.maximum(parent, 0)], -1)
    return plan


class _Catalogue:
    """Stock codes, descriptions and list prices of the merchandise, then the special codes."""

    def __init__(self, customers: int, seed: int) -> None:
        self.size = max(MIN_PRODUCTS, round(PRODUCTS_PER_SQRT_CUSTOMER * math.sqrt(customers)))
        index = np.arange(self.size)
        # Codes look like the shop's: five digits, some with a letter (85123A, 71053).
        number = 10_000 + index // 4
        letter = index % 4
        codes = [
            f"{n}{'' if k == 0 else 'ABC'[k - 1]}"
            for n, k in zip(number.tolist(), letter.tolist(), strict=True)
        ]
        perm = _hash(_stream_key(seed, "descr"), index) % np.uint64(
            len(_COLOURS) * len(_MATERIALS) * len(_THINGS)
        )
        perm = perm.astype(np.int64)
        descriptions = [
            f"{_COLOURS[p % len(_COLOURS)]} {_MATERIALS[(p // len(_COLOURS)) % len(_MATERIALS)]} "
            f"{_THINGS[p // (len(_COLOURS) * len(_MATERIALS))]}"
            for p in perm.tolist()
        ]
        self.codes = pa.array(codes + _SPECIAL_CODES, pa.string())
        self.descriptions = pa.array(descriptions + _SPECIAL_DESCRIPTIONS, pa.string())
        z = _normal(_stream_key(seed, "price"), index)
        cents = np.round(np.exp(PRICE_LOG_MEAN + PRICE_LOG_SD * z) * 20) * 5
        self.cents = np.maximum(cents, 5).astype(np.int64)
        # Popular products are spread over the code range, not the first codes.
        self.multiplier = _coprime_multiplier(self.size, seed)


def _coprime_multiplier(n: int, seed: int) -> int:
    m = int(_hash(_stream_key(seed, "perm"), np.array([n]))[0] % np.uint64(max(n, 2))) | 1
    while math.gcd(m, n) != 1:
        m += 2
    return m


class _LineKeys:
    def __init__(self, seed: int) -> None:
        (
            self.product,
            self.quantity,
            self.tail,
            self.bulk,
            self.zero,
            self.special_price,
            self.absurd,
            self.cancel_pick,
            self.cancel_amount,
            self.duplicate,
            self.no_description,
        ) = _keys(
            seed, "product", "quantity", "tail", "bulk", "zero", "sprice", "absurd",
            "cpick", "camount", "dup", "nodesc",
        )  # fmt: skip


def _sold_lines(
    keys: _LineKeys,
    catalogue: _Catalogue,
    invoice: np.ndarray,
    line: np.ndarray,
    special: np.ndarray,
    is_guest: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Product (catalogue index), quantity and price in pence of sold lines."""
    rank = np.floor(
        catalogue.size * _uniform(keys.product, invoice, line) ** PRODUCT_POPULARITY_EXPONENT
    )
    product = (rank.astype(np.int64) * catalogue.multiplier) % catalogue.size

    shares = np.array(QUANTITY_SHARES)
    cdf = np.cumsum(shares)
    pick = np.searchsorted(cdf, _uniform(keys.quantity, invoice, line), side="right")
    low, high = QUANTITY_TAIL_RANGE
    tail = np.floor(
        np.exp(math.log(low) + _uniform(keys.tail, invoice, line) * math.log(high / low))
    )
    values = np.array(QUANTITY_VALUES, dtype=np.int64)
    quantity = np.where(pick < len(values), values[np.minimum(pick, len(values) - 1)], tail).astype(
        np.int64
    )
    absurd = _uniform(keys.absurd, invoice, line) < ABSURD_QUANTITY_RATE
    quantity = np.where(absurd & ~is_guest, ABSURD_QUANTITY, quantity)

    cents = catalogue.cents[product]
    bulk = (quantity >= BULK_QUANTITY) & (_uniform(keys.bulk, invoice, line) < BULK_DISCOUNT_RATE)
    cents = np.where(bulk, np.maximum(np.round(cents * BULK_DISCOUNT), 1), cents).astype(np.int64)

    # Line 0 of an invoice with a special line is that special line.
    is_special = (line == 0) & (special >= 0)
    if is_special.any():
        u = _uniform(keys.special_price, invoice, line)
        z = _normal(keys.special_price ^ 1, invoice, line)
        post_weights = np.array(POST_PRICE_WEIGHTS, dtype=np.float64)
        post_pick = np.searchsorted(np.cumsum(post_weights) / post_weights.sum(), u, side="right")
        post_cents = np.array(POST_PRICES_CENTS)[np.minimum(post_pick, len(POST_PRICES_CENTS) - 1)]
        dot_cents = np.round(np.exp(DOT_PRICE_MU + DOT_PRICE_SIGMA * z) * 100)
        manual_cents = np.round(np.exp(MANUAL_PRICE_MU + MANUAL_PRICE_SIGMA * z) * 100)
        bad_debt_cents = -np.round(np.exp(math.log(11_062.06) + 0.5 * z) * 100)
        special_cents = np.select(
            [special == _POST, special == _DOT, special == _MANUAL],
            [post_cents, dot_cents, manual_cents],
            bad_debt_cents,
        ).astype(np.int64)
        special_quantity = np.where(
            special == _POST, 1 + np.floor(u * 1000).astype(np.int64) % 3, 1
        )
        product = np.where(is_special, catalogue.size + np.maximum(special, 0), product)
        quantity = np.where(is_special, special_quantity, quantity)
        special_cents = np.where(special_cents < 0, special_cents, np.maximum(special_cents, 1))
        cents = np.where(is_special, special_cents, cents)
    return product, quantity, cents


def _order_line_batches(customers: int, seed: int) -> Iterator[pa.RecordBatch]:
    plan = _plan_invoices(customers, seed)
    catalogue = _Catalogue(customers, seed)
    keys = _LineKeys(seed)
    country_names = pa.array([c for c, _ in COUNTRIES] + [c for c, _ in GUEST_COUNTRIES])
    ends = np.cumsum(plan.lines)
    start = 0
    while start < len(plan.lines):
        # Whole invoices, about CHUNK_ROWS lines at a time.
        before = ends[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(ends, before + CHUNK_ROWS, side="right")))
        yield _order_line_batch(plan, catalogue, keys, country_names, np.arange(start, stop))
        start = stop


def _order_line_batch(
    plan: _Plan,
    catalogue: _Catalogue,
    keys: _LineKeys,
    country_names: pa.Array,
    invoices: np.ndarray,
) -> pa.RecordBatch:
    counts = plan.lines[invoices]
    invoice = np.repeat(invoices, counts)
    offsets = np.cumsum(counts) - counts
    line = np.arange(len(invoice)) - np.repeat(offsets, counts)
    kind = plan.kind[invoice]
    special = plan.special[invoice]
    is_guest = kind == _GUEST
    is_cancel = kind == _CANCELLATION

    product, quantity, cents = _sold_lines(keys, catalogue, invoice, line, special, is_guest)
    if is_cancel.any():
        # A cancellation returns lines of its parent order: same product and price, part
        # or all of the quantity, negative. Its own special line (if any) is a manual one.
        c = np.flatnonzero(is_cancel & ~((line == 0) & (special >= 0)))
        parent = plan.parent[invoice[c]]
        parent_lines = plan.lines[parent]
        picked = np.floor(_uniform(keys.cancel_pick, invoice[c], line[c]) * parent_lines).astype(
            np.int64
        )
        p_product, p_quantity, p_cents = _sold_lines(
            keys, catalogue, parent, picked, plan.special[parent], np.zeros(len(c), dtype=bool)
        )
        share = _uniform(keys.cancel_amount, invoice[c], line[c]) ** 2
        returned = np.maximum(1, np.ceil(p_quantity * share)).astype(np.int64)
        product[c] = p_product
        quantity[c] = returned
        cents[c] = p_cents
        quantity = np.where(is_cancel, -np.abs(quantity), quantity)

    zero_rate = np.where(is_guest, ZERO_PRICE_RATE_GUEST, ZERO_PRICE_RATE_CUSTOMER)
    zero = (_uniform(keys.zero, invoice, line) < zero_rate) & (product < catalogue.size)
    cents = np.where(zero, 0, cents)
    no_description = zero & (_uniform(keys.no_description, invoice, line) < 0.5)

    # Exact duplicates: a line written twice in a row.
    copies = 1 + (_uniform(keys.duplicate, invoice, line) < DUPLICATE_LINE_RATE)
    if (copies > 1).any():
        take = np.repeat(np.arange(len(invoice)), copies)
        invoice, kind, product, quantity, cents, no_description = (
            a[take] for a in (invoice, kind, product, quantity, cents, no_description)
        )

    prefix = np.select([kind == _CANCELLATION, kind == _ADJUSTMENT], ["C", "A"], "")
    invoice_no = pc.binary_join_element_wise(
        pa.array(prefix), _int_text(FIRST_INVOICE_NUMBER + invoice), ""
    )
    product_arrow = pa.array(product)
    description = pc.take(catalogue.descriptions, product_arrow)
    description = pc.if_else(pa.array(no_description), pa.scalar(None, pa.string()), description)
    customer = plan.customer[invoice]
    customer_id = pc.if_else(
        pa.array(customer < 0),
        pa.scalar(None, pa.string()),
        _int_text(FIRST_CUSTOMER_NUMBER + customer),
    )
    invoice_date = pa.array(plan.seconds[invoice].astype("datetime64[s]")).cast(pa.string())
    return pa.RecordBatch.from_arrays(
        [
            invoice_no,
            pc.take(catalogue.codes, product_arrow),
            description,
            _int_text(quantity),
            invoice_date,
            _price_text(cents),
            customer_id,
            pc.take(country_names, pa.array(plan.country[invoice])),
        ],
        schema=ORDER_SCHEMA,
    )


def _int_text(values: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.int64)).cast(pa.string())


def _price_text(cents: np.ndarray) -> pa.Array:
    """Pence as the export writes prices: 2.55, 2.5, 18.0, -11062.06."""
    magnitude = np.abs(cents)
    whole = _int_text(magnitude // 100)
    frac = magnitude % 100
    frac_text = pc.if_else(
        pa.array(frac % 10 == 0),
        _int_text(frac // 10),
        pc.utf8_lpad(_int_text(frac), 2, "0"),
    )
    sign = pa.array(np.where(cents < 0, "-", ""))
    return pc.binary_join_element_wise(
        sign, whole, pa.array(np.full(len(cents), ".")), frac_text, ""
    )


# ---------------------------------------------------------------------------------------------
# Clickstream events
# ---------------------------------------------------------------------------------------------


def _event_batches(events: int, users: int, days: float, seed: int) -> Iterator[pa.RecordBatch]:
    hours = max(1, round(days * 24))
    # Events per hour by the hour of the China day, largest-remainder rounding to `events`.
    china_hour = (np.arange(hours) + (EVENT_START_TS // 3600 + CHINA_UTC_OFFSET_HOURS)) % 24
    weights = np.array(CHINA_HOUR_WEIGHTS)[china_hour]
    exact = events * weights / weights.sum()
    per_hour = np.floor(exact).astype(np.int64)
    short = events - int(per_hour.sum())
    if short:
        per_hour[np.argsort(-(exact - per_hour), kind="stable")[:short]] += 1

    items = max(100, events // EVENTS_PER_ITEM)
    categories = max(10, round(math.sqrt(max(events, 1)) / EVENTS_PER_SQRT_CATEGORY))
    user_multiplier = _coprime_multiplier(users, seed ^ 0x55)
    item_multiplier = _coprime_multiplier(items, seed ^ 0x1)
    category_key = _stream_key(seed, "category")

    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    for hour, n in enumerate(per_hour.tolist()):
        if n == 0:
            continue
        rng = _rng(seed, 2, hour)
        batch = _event_hour(
            rng, n, EVENT_START_TS + hour * 3600, users, user_multiplier, items, item_multiplier,
            categories, category_key,
        )  # fmt: skip
        pending.append(batch)
        pending_rows += batch.num_rows
        if pending_rows >= CHUNK_ROWS:
            yield from pa.Table.from_batches(pending).combine_chunks().to_batches()
            pending, pending_rows = [], 0
    if pending:
        yield from pa.Table.from_batches(pending).combine_chunks().to_batches()


def _event_hour(
    rng: np.random.Generator,
    n: int,
    hour_start: int,
    users: int,
    user_multiplier: int,
    items: int,
    item_multiplier: int,
    categories: int,
    category_key: int,
) -> pa.RecordBatch:
    # Sessions starting in this hour, until they hold n events (the last one is cut short).
    sizes = rng.geometric(1.0 / EVENTS_PER_SESSION, size=int(n / EVENTS_PER_SESSION * 1.3) + 8)
    while sizes.sum() < n:
        sizes = np.concatenate([sizes, rng.geometric(1.0 / EVENTS_PER_SESSION, size=len(sizes))])
    ends = np.cumsum(sizes)
    last = int(np.searchsorted(ends, n))
    sizes = sizes[: last + 1].copy()
    sizes[-1] -= int(ends[last]) - n
    sessions = len(sizes)

    session_start = hour_start + np.floor(rng.random(sessions) * 3600).astype(np.int64)
    user_rank = np.floor(users * rng.random(sessions) ** USER_ACTIVITY_EXPONENT).astype(np.int64)
    user = (user_rank * user_multiplier) % users

    session = np.repeat(np.arange(sessions), sizes)
    offsets = np.cumsum(sizes) - sizes
    position = np.arange(n) - offsets[session]
    gap = np.exp(EVENT_GAP_MU + EVENT_GAP_SIGMA * rng.standard_normal(n))
    gap = np.minimum(np.round(gap), MAX_EVENT_GAP_S).astype(np.int64)
    gap[position == 0] = 0
    running = np.cumsum(gap)
    ts = session_start[session] + running - running[offsets[session]]

    # Items by popularity; a cart or favorite is usually of the item just viewed.
    item_rank = np.floor(items * rng.random(n) ** ITEM_POPULARITY_EXPONENT).astype(np.int64)
    item = (item_rank * item_multiplier) % items
    u = rng.random(n)
    behaviour = np.select(
        [u < BASE_CART_SHARE, u < BASE_CART_SHARE + BASE_FAVORITE_SHARE], [_CART, _FAV], _PV
    ).astype(np.int8)
    has_previous = position > 0
    follow = has_previous & (behaviour != _PV) & (rng.random(n) < SAME_ITEM_AS_PREVIOUS)
    previous = np.maximum(np.arange(n) - 1, 0)
    item = np.where(follow, item[previous], item)
    # Buys: the event after a cart (or, rarely, a view) becomes a buy of that item.
    buy_chance = np.where(
        behaviour == _CART, BUY_AFTER_CART, np.where(behaviour == _PV, BUY_AFTER_VIEW, 0.0)
    )
    converts = (rng.random(n) < buy_chance) & (np.roll(position, -1) > 0)
    converts[-1] = False
    target = np.flatnonzero(converts) + 1
    behaviour[target] = _BUY
    item[target] = item[target - 1]

    # Category of an item: fixed per item, skewed sizes.
    u_cat = _uniform(category_key, item)
    category = np.floor(categories * u_cat**CATEGORY_SIZE_EXPONENT).astype(np.int64)

    order = np.lexsort((np.arange(n), ts))
    copies = 1 + (rng.random(n) < DUPLICATE_EVENT_RATE)
    order = np.repeat(order, copies[order])[:n]  # exactly n rows, duplicates included
    user_id = 1 + user[session][order]
    item_id = 1 + item[order]
    category_id = 1 + (category[order] * 7919 + 13) % 5_162_000
    behaviour_text = pc.take(pa.array(_BEHAVIOURS), pa.array(behaviour[order]))
    return pa.RecordBatch.from_arrays(
        [
            _int_text(user_id),
            _int_text(item_id),
            _int_text(category_id),
            behaviour_text,
            _int_text(ts[order]),
        ],
        schema=EVENT_SCHEMA,
    )
