"""An independent Polars implementation of the feature and label marts.

Written from `docs/features.md`, not from the dbt SQL, so that the two implementations can
check each other: tests build both on the bundled data and compare every mart cell by cell.
It also serves as a performance peer for the warehouse in the benchmark.
"""

from __future__ import annotations

import csv
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from cartcast.warehouse.paths import PROJECT_DIR
from cartcast.warehouse.privacy import pseudonymize
from cartcast.warehouse.raw_layouts import ONLINE_RETAIL_COLUMNS, TAOBAO_COLUMNS

# What "trimmed" removes, as in the SQL staging models.
WHITESPACE = " \t\r\n"
NON_MERCHANDISE_SEED = PROJECT_DIR / "seeds/non_merchandise_stock_codes.csv"

# The warehouse keys a line by md5 of its raw values joined like this (`order_line_id`).
NULL_TOKEN = "<null>"
RAW_SEPARATOR = "|"

LOCAL_TIMEZONE = "Europe/London"
OLDEST_PLAUSIBLE = datetime(2000, 1, 1)
ABSURD_QUANTITY = 100_000
ABSURD_PRICE = 100_000
WINDOWS_DAYS = (7, 30, 90, 365)
WINDOWS_MINUTES = (5, 15, 60)
FLOAT_DECIMALS = 6
# Money stays exact (like SQL's decimal(18,4)) until it lands in a mart.
MONEY = pl.Decimal(18, 4)
DAY_US = 86_400 * 1_000_000
MINUTE_US = 60 * 1_000_000

EVENT_TYPES = {"pv": "view", "cart": "cart", "fav": "favorite", "buy": "purchase"}
EVENT_COUNT_NAMES = {
    "view": "views",
    "cart": "carts",
    "favorite": "favorites",
    "purchase": "purchases",
}

CUSTOMER_FEATURE_COLUMNS = [
    "customer_id",
    "as_of",
    "recency_days",
    "tenure_days",
    *[f"orders_{n}d" for n in WINDOWS_DAYS],
    "orders_lifetime",
    *[f"spend_{n}d" for n in WINDOWS_DAYS],
    "spend_lifetime",
    "avg_order_value",
    "distinct_products",
    "avg_basket_lines",
    "avg_basket_items",
    "cancellation_rate",
    "return_rate",
    "days_between_orders_mean",
    "days_between_orders_std",
    "order_trend_30v90",
    "share_orders_weekend",
    "share_orders_morning",
    "share_orders_afternoon",
    "share_orders_evening",
    "country",
]
USER_EVENT_FEATURE_COLUMNS = [
    "user_id",
    "as_of",
    *[f"{EVENT_COUNT_NAMES[t]}_{n}m" for n in WINDOWS_MINUTES for t in EVENT_COUNT_NAMES],
    "distinct_items",
    "distinct_categories",
    "events",
    "sessions",
    "avg_session_minutes",
    "minutes_since_last_event",
    "minutes_since_last_cart",
]

Source = str | Path | pl.LazyFrame | pl.DataFrame


# ---------------------------------------------------------------------------------------------
# Reading raw files
# ---------------------------------------------------------------------------------------------


def _scan_raw(source: Source, columns: list[str], *, has_header: bool) -> pl.LazyFrame:
    """Raw rows with every column as text, whatever the container."""
    if isinstance(source, pl.DataFrame):
        frame = source.lazy()
    elif isinstance(source, pl.LazyFrame):
        frame = source
    else:
        path = Path(source)
        if path.suffix == ".parquet":
            frame = pl.scan_parquet(path)
        else:
            frame = pl.scan_csv(
                path,
                has_header=has_header,
                new_columns=None if has_header else columns,
                infer_schema=False,
                quote_char='"',
            )
    names = frame.collect_schema().names()
    if names != columns and len(names) == len(columns) and not set(columns) <= set(names):
        # Header-less Parquet exports name columns positionally (column_1, ...).
        frame = frame.rename(dict(zip(names, columns, strict=True)))
    return frame.select(pl.col(c).cast(pl.String) for c in columns)


def _trimmed(column: str) -> pl.Expr:
    """Trimmed text, with the empty string read as missing."""
    value = pl.col(column).str.strip_chars(WHITESPACE)
    return pl.when(value == "").then(None).otherwise(value).alias(column)


def _dedupe(
    raw: pl.LazyFrame, columns: list[str], normalise: dict[str, pl.Expr] | None = None
) -> tuple[pl.DataFrame, int]:
    """Kept copies of the trimmed (and normalised) rows, and how many duplicates were dropped."""
    trimmed = raw.select(_trimmed(c) for c in columns).with_columns(**(normalise or {}))
    counted = trimmed.group_by(columns).len("copies").collect()
    removed = int(counted["copies"].sum()) - counted.height
    return counted.drop("copies"), removed


def _naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _first_matching(rules: list[tuple[pl.Expr, str]]) -> pl.Expr:
    """The name of the first rule whose condition holds, else null."""
    condition, reason = rules[0]
    chain = pl.when(condition).then(pl.lit(reason))
    for condition, reason in rules[1:]:
        chain = chain.when(condition).then(pl.lit(reason))
    return chain.otherwise(pl.lit(None, dtype=pl.String))


def _round_floats(frame: pl.LazyFrame) -> pl.LazyFrame:
    floats = [name for name, dtype in frame.collect_schema().items() if dtype == pl.Float64]
    return frame.with_columns(pl.col(floats).round(FLOAT_DECIMALS, mode="half_away_from_zero"))


def _days(later: pl.Expr, earlier: pl.Expr) -> pl.Expr:
    return (later - earlier).dt.total_microseconds() / DAY_US


def _minutes(later: pl.Expr, earlier: pl.Expr) -> pl.Expr:
    return (later - earlier).dt.total_microseconds() / MINUTE_US


# ---------------------------------------------------------------------------------------------
# Order lines (spec section 1)
# ---------------------------------------------------------------------------------------------


def _parse_local_time(text: pl.Expr, timezone: str) -> pl.Expr:
    """InvoiceDate in its accepted layouts, read as local wall time and moved to naive UTC."""
    formats = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%m/%d/%Y %H:%M"]
    local = pl.coalesce(
        text.str.strptime(pl.Datetime("us"), fmt, strict=False, exact=True) for fmt in formats
    )

    def to_utc(wall: pl.Expr) -> pl.Expr:
        # A wall time that occurs twice (autumn) is read in standard time, the later instant.
        return (
            wall.dt.replace_time_zone(timezone, ambiguous="latest", non_existent="null")
            .dt.convert_time_zone("UTC")
            .dt.replace_time_zone(None)
        )

    # A wall time skipped in spring is read with the offset in force before the change.
    hour = pl.duration(hours=1)
    return pl.coalesce(to_utc(local), to_utc(local - hour) + hour)


def _parse_money(text: pl.Expr) -> pl.Expr:
    """Text to an exact 4-place amount, rounding half away from zero like a SQL decimal cast."""
    return (
        text.cast(pl.Decimal(38, 12), strict=False).round(4, mode="half_away_from_zero").cast(MONEY)
    )


def _non_merchandise_codes() -> list[str]:
    with NON_MERCHANDISE_SEED.open(newline="") as handle:
        return [row["stock_code"].strip().upper() for row in csv.DictReader(handle)]


def _pseudonymized(ids: pl.Expr, salt: str | None) -> pl.Expr:
    """Ids replaced by their salted hashes (the privacy option), or unchanged without a salt."""
    if salt is None:
        return ids
    return ids.map_elements(lambda v: pseudonymize(v, salt), return_dtype=pl.String)


def _stage_order_lines(
    invoice_lines: Source, *, now: datetime, timezone: str, id_salt: str | None = None
) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """Split the raw invoice lines into used lines, quarantined rows and a duplicate count."""
    raw = _scan_raw(invoice_lines, ONLINE_RETAIL_COLUMNS, has_header=True)
    # Spreadsheets turn customer numbers into "17850.0"; that is the same customer, and the
    # same raw row, as "17850".
    # the warehouse hashes the cleaned id before looking for duplicates; so does this
    customer_id = _pseudonymized(pl.col("CustomerID").str.replace(r"\.0+$", ""), id_salt)
    kept, duplicates_removed = _dedupe(raw, ONLINE_RETAIL_COLUMNS, {"CustomerID": customer_id})

    invoice = pl.col("InvoiceNo")
    quantity = pl.col("quantity")
    is_cancellation = invoice.str.starts_with("C")
    parsed = kept.lazy().with_columns(
        customer_id=pl.col("CustomerID"),
        ordered_at=_parse_local_time(pl.col("InvoiceDate"), timezone),
        quantity=pl.col("Quantity").cast(pl.Int64, strict=False),
        unit_price=_parse_money(pl.col("UnitPrice")),
    )
    reason = _first_matching(
        [
            (invoice.is_null(), "missing_order_id"),
            (invoice.str.starts_with("A"), "accounting_adjustment"),
            (pl.col("StockCode").is_null(), "missing_product_id"),
            (pl.col("InvoiceDate").is_null(), "missing_time"),
            (pl.col("ordered_at").is_null(), "unparseable_time"),
            (pl.col("ordered_at") < OLDEST_PLAUSIBLE, "time_too_old"),
            (pl.col("ordered_at") > _naive_utc(now), "future_time"),
            (quantity.is_null(), "unparseable_quantity"),
            (quantity == 0, "zero_quantity"),
            (quantity.abs() > ABSURD_QUANTITY, "absurd_quantity"),
            (pl.col("unit_price").is_null(), "unparseable_price"),
            (pl.col("unit_price") <= 0, "non_positive_price"),
            (pl.col("unit_price") > ABSURD_PRICE, "absurd_price"),
            (pl.col("customer_id").is_null(), "missing_customer_id"),
            (is_cancellation & (quantity > 0), "positive_quantity_on_cancellation"),
            (~is_cancellation & (quantity < 0), "negative_quantity_not_cancellation"),
        ]
    )
    staged = parsed.with_columns(reason=reason).collect()

    quarantine = staged.filter(pl.col("reason").is_not_null()).select(
        order_id=invoice,
        product_id=pl.col("StockCode").str.to_uppercase(),
        reason=pl.col("reason"),
        **{f"raw_{_snake(c)}": pl.col(c) for c in ONLINE_RETAIL_COLUMNS},
    )
    non_merchandise = _non_merchandise_codes()
    used = staged.filter(pl.col("reason").is_null()).select(
        order_id=invoice,
        customer_id=pl.col("customer_id"),
        ordered_at=pl.col("ordered_at"),
        status=pl.when(is_cancellation).then(pl.lit("cancelled")).otherwise(pl.lit("completed")),
        country=pl.col("Country").fill_null("Unspecified"),
        product_id=pl.col("StockCode").str.to_uppercase(),
        description=pl.col("Description"),
        quantity=quantity,
        unit_price=pl.col("unit_price"),
        line_amount=(quantity * pl.col("unit_price")).cast(MONEY),
        is_merchandise=~pl.col("StockCode").str.to_uppercase().is_in(non_merchandise),
        raw_row=_raw_row_text(ONLINE_RETAIL_COLUMNS),
    )
    return used, quarantine, duplicates_removed


def _raw_row_text(columns: list[str]) -> pl.Expr:
    """The raw values joined into one string: what the warehouse fingerprints as a line key."""
    return pl.concat_str(
        [pl.col(c).fill_null(NULL_TOKEN) for c in columns], separator=RAW_SEPARATOR
    )


def _md5(texts: pl.Series) -> pl.Series:
    return pl.Series(
        texts.name, [hashlib.md5(t.encode()).hexdigest() for t in texts], dtype=pl.String
    )


def _snake(name: str) -> str:
    """InvoiceNo -> invoice_no, CustomerID -> customer_id."""
    out = []
    for i, char in enumerate(name):
        if char.isupper() and i > 0 and not name[i - 1].isupper():
            out.append("_")
        out.append(char.lower())
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# Orders and the weekly grid (spec sections 2 and 3)
# ---------------------------------------------------------------------------------------------


def _orders(lines: pl.LazyFrame) -> pl.LazyFrame:
    orders = (
        lines.group_by("order_id")
        .agg(
            # An invoice's lines share customer, status and country in practice; min() only
            # makes the choice deterministic if a file ever disagrees with itself.
            customer_id=pl.col("customer_id").min(),
            ordered_at=pl.col("ordered_at").min(),
            status=pl.col("status").min(),
            country=pl.col("country").min(),
            line_count=pl.len(),
            item_count=pl.col("quantity").sum(),
            net_amount=pl.col("line_amount").sum(),
        )
        .sort("customer_id", "ordered_at", "order_id")
        .with_columns(customer_order_number=pl.int_range(1, pl.len() + 1).over("customer_id"))
    )
    # The previous *completed* order: look only among completed orders.
    gaps = orders.filter(pl.col("status") == "completed").select(
        "order_id",
        days_since_previous_order=_days(pl.col("ordered_at"), pl.col("ordered_at").shift(1)).over(
            "customer_id"
        ),
    )
    return orders.join(gaps, on="order_id", how="left")


def _empty_grid() -> pl.DataFrame:
    return pl.DataFrame(schema={"as_of": pl.Datetime("us")})


def _weekly_grid(orders: pl.DataFrame, every_days: int) -> tuple[pl.DataFrame, datetime | None]:
    first = orders["ordered_at"].min()
    observed_until = orders["ordered_at"].max()
    if first is None:
        return _empty_grid(), None
    start = first.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
        days=first.weekday()
    )
    start += timedelta(days=every_days)
    grid = pl.DataFrame(
        {
            "as_of": pl.datetime_range(
                start, observed_until, f"{every_days}d", time_unit="us", eager=True
            )
        }
    )
    return grid, observed_until


# ---------------------------------------------------------------------------------------------
# Customer features, labels and sequences (spec sections 4 to 6)
# ---------------------------------------------------------------------------------------------


def _customer_features(
    orders: pl.LazyFrame, merch_lines: pl.LazyFrame, grid: pl.LazyFrame
) -> pl.LazyFrame:
    past = (
        orders.join(grid, how="cross")
        .filter(pl.col("ordered_at") < pl.col("as_of"))
        .with_columns(d=_days(pl.col("as_of"), pl.col("ordered_at")))
    )
    completed = pl.col("status") == "completed"
    cancelled = pl.col("status") == "cancelled"
    d = pl.col("d")
    net = pl.col("net_amount")
    hour = pl.col("ordered_at").dt.hour()
    n_completed = completed.sum()

    def share(condition: pl.Expr) -> pl.Expr:
        return (
            pl.when(n_completed > 0)
            .then((completed & condition).sum() / n_completed)
            .otherwise(0.0)
        )

    def completed_mean(column: str) -> pl.Expr:
        return pl.col(column).filter(completed).mean().cast(pl.Float64).fill_null(0.0)

    gaps = pl.col("days_since_previous_order").filter(completed)
    completed_net = net.filter(completed).sum().cast(pl.Float64)
    aggregated = past.group_by("customer_id", "as_of").agg(
        recency_days=d.filter(completed).min(),
        tenure_days=d.max(),
        **{f"orders_{n}d": (completed & (d <= n)).sum().cast(pl.Int64) for n in WINDOWS_DAYS},
        orders_lifetime=n_completed.cast(pl.Int64),
        **{f"spend_{n}d": net.filter(d <= n).sum().cast(pl.Float64) for n in WINDOWS_DAYS},
        spend_lifetime=net.sum().cast(pl.Float64),
        avg_order_value=pl.when(n_completed > 0).then(completed_net / n_completed).otherwise(0.0),
        avg_basket_lines=completed_mean("line_count"),
        avg_basket_items=completed_mean("item_count"),
        cancellation_rate=cancelled.sum() / pl.len(),
        return_rate=pl.when(completed_net != 0)
        .then(-net.filter(cancelled).sum().cast(pl.Float64) / completed_net)
        .otherwise(0.0),
        days_between_orders_mean=gaps.mean(),
        days_between_orders_std=pl.when(gaps.count() >= 2).then(gaps.std(ddof=1)),
        order_trend_30v90=((completed & (d <= 30)).sum() + 1)
        / ((completed & (d > 30) & (d <= 120)).sum() / 3 + 1),
        share_orders_weekend=share(pl.col("ordered_at").dt.weekday() >= 6),
        share_orders_morning=share(hour < 12),
        share_orders_afternoon=share((hour >= 12) & (hour < 17)),
        share_orders_evening=share(hour >= 17),
        country=pl.col("country").sort_by("customer_order_number").last(),
    )
    distinct_products = _count_before_as_of(
        merch_lines.group_by("customer_id", "product_id").agg(first_at=pl.col("ordered_at").min()),
        aggregated.select("customer_id", "as_of"),
        time_column="first_at",
    ).rename({"n_before": "distinct_products"})
    return (
        aggregated.join(distinct_products, on=["customer_id", "as_of"], how="left")
        .with_columns(pl.col("distinct_products").fill_null(0).cast(pl.Int64))
        .select(CUSTOMER_FEATURE_COLUMNS)
        .sort("customer_id", "as_of")
    )


def _count_before_as_of(
    items: pl.LazyFrame, keys: pl.LazyFrame, *, time_column: str
) -> pl.LazyFrame:
    """Per (customer_id, as_of), how many items have `time_column` strictly before as_of."""
    running = (
        items.group_by("customer_id", time_column)
        .agg(n=pl.len().cast(pl.Int64))
        .sort("customer_id", time_column)
        .with_columns(n_before=pl.col("n").cum_sum().over("customer_id"))
        .sort(time_column)
    )
    return (
        keys.sort("as_of")
        .join_asof(
            running,
            left_on="as_of",
            right_on=time_column,
            by="customer_id",
            strategy="backward",
            allow_exact_matches=False,
            check_sortedness=False,
        )
        .select("customer_id", "as_of", pl.col("n_before").fill_null(0))
    )


def _customer_labels(
    orders: pl.LazyFrame,
    features: pl.LazyFrame,
    grid: pl.LazyFrame,
    observed_until: datetime | None,
) -> pl.LazyFrame:
    long_horizon, short_horizon = timedelta(days=90), timedelta(days=30)
    future = (
        orders.join(grid, how="cross")
        .filter(
            (pl.col("ordered_at") >= pl.col("as_of"))
            & (pl.col("ordered_at") < pl.col("as_of") + long_horizon)
        )
        .group_by("customer_id", "as_of")
        .agg(
            completed_30d=(
                (pl.col("status") == "completed")
                & (pl.col("ordered_at") < pl.col("as_of") + short_horizon)
            ).any(),
            completed_90d=(pl.col("status") == "completed").any(),
            spend_90d=pl.col("net_amount").sum().cast(pl.Float64),
        )
    )
    until = pl.lit(observed_until, dtype=pl.Datetime("us"))
    long_observed = pl.col("as_of") + long_horizon <= until
    return (
        features.filter(pl.col("as_of") + short_horizon <= until)
        .select("customer_id", "as_of", "recency_days")
        .join(future, on=["customer_id", "as_of"], how="left")
        .select(
            "customer_id",
            "as_of",
            purchase_30d=pl.col("completed_30d").fill_null(False).cast(pl.Int32),
            churn_90d=pl.when(long_observed & (pl.col("recency_days") <= 90)).then(
                (~pl.col("completed_90d").fill_null(False)).cast(pl.Int32)
            ),
            spend_90d=pl.when(long_observed).then(pl.col("spend_90d").fill_null(0.0)),
        )
        .pipe(_round_floats)
        .sort("customer_id", "as_of")
    )


def _customer_sequences(
    merch_lines: pl.LazyFrame, features: pl.LazyFrame, sequence_length: int
) -> pl.LazyFrame:
    numbered = merch_lines.sort(
        "customer_id", "ordered_at", "order_id", "product_id", "line_tiebreak"
    ).with_columns(line_number=pl.int_range(1, pl.len() + 1).over("customer_id"))
    seen = _count_before_as_of(
        numbered, features.select("customer_id", "as_of"), time_column="ordered_at"
    ).filter(pl.col("n_before") > 0)
    # Walk back from the newest line before as_of: line numbers n, n-1, ..., newest first.
    wanted = seen.with_columns(
        line_number=pl.int_ranges(
            pl.col("n_before"),
            pl.max_horizontal(pl.col("n_before") - sequence_length, 0),
            -1,
        )
    ).explode("line_number")
    return (
        wanted.with_columns(position=pl.int_range(pl.len()).over("customer_id", "as_of"))
        .join(numbered, on=["customer_id", "line_number"], how="left")
        .sort("customer_id", "as_of", "position")
        .group_by("customer_id", "as_of", maintain_order=True)
        .agg(
            recent_product_ids=pl.col("product_id"),
            recent_quantities=pl.col("quantity"),
            recent_days_before_as_of=_days(pl.col("as_of"), pl.col("ordered_at")).round(
                FLOAT_DECIMALS, mode="half_away_from_zero"
            ),
            sequence_length=pl.len().cast(pl.Int64),
        )
    )


def _with_line_tiebreak(merch_lines: pl.DataFrame) -> pl.DataFrame:
    """The last sequence sort key, order_line_id (md5 of the raw row), where it matters.

    Only lines that tie on (customer, time, order, product) need it, a few thousand of the
    ~400k, so the hash is computed for those alone.
    """
    keys = ["customer_id", "ordered_at", "order_id", "product_id"]
    tied = pl.len().over(keys) > 1
    merch_lines = merch_lines.with_columns(tied=tied)
    hashed = merch_lines.filter("tied").with_columns(
        line_tiebreak=pl.col("raw_row").map_batches(_md5, return_dtype=pl.String)
    )
    untied = merch_lines.filter(~pl.col("tied")).with_columns(
        line_tiebreak=pl.lit(None, dtype=pl.String)
    )
    return pl.concat([hashed, untied]).drop("tied", "raw_row")


def build_customer_marts(
    invoice_lines: str | Path | pl.LazyFrame,
    *,
    now: datetime,
    timezone: str = LOCAL_TIMEZONE,
    snapshot_every_days: int = 7,
    sequence_length: int = 20,
    id_salt: str | None = None,
) -> dict[str, pl.DataFrame]:
    """Order lines, quarantine and the customer feature, label and sequence marts.

    `id_salt` mirrors the privacy option (var cartcast_pseudonymize_ids): customer ids
    become their salted hashes, as in the warehouse.
    """
    used, quarantine, duplicates_removed = _stage_order_lines(
        invoice_lines, now=now, timezone=timezone, id_salt=id_salt
    )
    orders = _orders(used.lazy()).collect()
    grid, observed_until = _weekly_grid(orders, snapshot_every_days)
    merch_lines = used.lazy().filter((pl.col("status") == "completed") & pl.col("is_merchandise"))
    merch_lines = _with_line_tiebreak(merch_lines.collect()).lazy()
    features = _customer_features(orders.lazy(), merch_lines, grid.lazy()).pipe(_round_floats)
    features, labels, sequences = pl.collect_all(
        [
            features,
            _customer_labels(orders.lazy(), features, grid.lazy(), observed_until),
            _customer_sequences(merch_lines, features, sequence_length),
        ]
    )
    return {
        "order_lines": used.drop("raw_row"),
        "quarantine": quarantine,
        "duplicates_removed": pl.DataFrame({"duplicates_removed": [duplicates_removed]}),
        "orders": orders,
        "customer_features": features,
        "customer_labels": labels,
        "customer_sequences": sequences.sort("customer_id", "as_of"),
    }


# ---------------------------------------------------------------------------------------------
# Clickstream (spec section 7)
# ---------------------------------------------------------------------------------------------


def _stage_events(
    user_behavior: Source, *, now: datetime, id_salt: str | None = None
) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    raw = _scan_raw(user_behavior, TAOBAO_COLUMNS, has_header=False)
    kept, duplicates_removed = _dedupe(
        raw, TAOBAO_COLUMNS, {"user_id": _pseudonymized(pl.col("user_id"), id_salt)}
    )
    behavior = pl.col("behavior_type")
    parsed = kept.lazy().with_columns(
        event_type=behavior.str.to_lowercase().replace_strict(EVENT_TYPES, default=None),
        occurred_at=pl.from_epoch(pl.col("ts").cast(pl.Int64, strict=False), time_unit="s").cast(
            pl.Datetime("us")
        ),
    )
    reason = _first_matching(
        [
            (pl.col("user_id").is_null(), "missing_user_id"),
            (behavior.is_null(), "missing_event_type"),
            (pl.col("event_type").is_null(), "unknown_event_type"),
            (pl.col("ts").is_null(), "missing_time"),
            (pl.col("occurred_at").is_null(), "unparseable_time"),
            (pl.col("occurred_at") < OLDEST_PLAUSIBLE, "time_too_old"),
            (pl.col("occurred_at") > _naive_utc(now), "future_time"),
            (pl.col("item_id").is_null(), "missing_product_id"),
        ]
    )
    staged = parsed.with_columns(reason=reason).collect()
    quarantine = staged.filter(pl.col("reason").is_not_null()).select(
        user_id="user_id",
        product_id="item_id",
        reason="reason",
        **{f"raw_{c}": pl.col(c) for c in TAOBAO_COLUMNS},
    )
    events = staged.filter(pl.col("reason").is_null()).select(
        "user_id",
        "event_type",
        product_id="item_id",
        category_id="category_id",
        occurred_at="occurred_at",
    )
    return events, quarantine, duplicates_removed


def _sessionize(events: pl.LazyFrame, gap_minutes: int) -> pl.LazyFrame:
    gap = timedelta(minutes=gap_minutes)
    previous = pl.col("occurred_at").shift(1).over("user_id")
    starts = previous.is_null() | (pl.col("occurred_at") - previous > gap)
    return (
        events.sort("user_id", "occurred_at")
        .with_columns(session_start=starts)
        .with_columns(session_number=pl.col("session_start").cum_sum().over("user_id"))
        .drop("session_start")
    )


def _minute_grid(events: pl.DataFrame, every_minutes: int) -> pl.DataFrame:
    first = events["occurred_at"].min()
    last = events["occurred_at"].max()
    if first is None:
        return _empty_grid()
    start = first.replace(minute=0, second=0, microsecond=0) + timedelta(minutes=every_minutes)
    as_of = pl.datetime_range(start, last, f"{every_minutes}m", time_unit="us", eager=True)
    return pl.DataFrame({"as_of": as_of})


def _user_event_features(
    events: pl.LazyFrame, grid: pl.LazyFrame, window_minutes: int
) -> pl.LazyFrame:
    window = timedelta(minutes=window_minutes)
    in_window = (
        events.join_where(
            grid.with_columns(window_start=pl.col("as_of") - window),
            pl.col("occurred_at") < pl.col("as_of"),
            pl.col("occurred_at") >= pl.col("window_start"),
        )
        .drop("window_start")
        .with_columns(m=_minutes(pl.col("as_of"), pl.col("occurred_at")))
    )
    keys = ["user_id", "as_of"]
    counts = {
        f"{EVENT_COUNT_NAMES[kind]}_{n}m": ((pl.col("event_type") == kind) & (pl.col("m") <= n))
        .sum()
        .cast(pl.Int64)
        for n in WINDOWS_MINUTES
        for kind in EVENT_COUNT_NAMES
    }
    per_user = in_window.group_by(keys).agg(
        **counts,
        distinct_items=pl.col("product_id").drop_nulls().n_unique().cast(pl.Int64),
        distinct_categories=pl.col("category_id").drop_nulls().n_unique().cast(pl.Int64),
        events=pl.len().cast(pl.Int64),
        sessions=pl.col("session_number").n_unique().cast(pl.Int64),
        minutes_since_last_event=pl.col("m").min(),
        minutes_since_last_cart=pl.col("m").filter(pl.col("event_type") == "cart").min(),
    )
    session_spans = (
        in_window.group_by([*keys, "session_number"])
        .agg(span=_minutes(pl.col("occurred_at").max(), pl.col("occurred_at").min()))
        .group_by(keys)
        .agg(avg_session_minutes=pl.col("span").mean())
    )
    return (
        per_user.join(session_spans, on=keys, how="left")
        .select(USER_EVENT_FEATURE_COLUMNS)
        .pipe(_round_floats)
        .sort(keys)
    )


def _user_event_labels(
    events: pl.LazyFrame, features: pl.LazyFrame, last_event: datetime | None, horizon_minutes: int
) -> pl.LazyFrame:
    horizon = timedelta(minutes=horizon_minutes)
    labelled = features.select("user_id", "as_of").filter(
        pl.col("as_of") + horizon <= pl.lit(last_event, dtype=pl.Datetime("us"))
    )
    purchases = events.filter(pl.col("event_type") == "purchase").select(
        "user_id", purchased_at="occurred_at"
    )
    bought = (
        labelled.join(purchases, on="user_id")
        .filter(
            (pl.col("purchased_at") >= pl.col("as_of"))
            & (pl.col("purchased_at") < pl.col("as_of") + horizon)
        )
        .select("user_id", "as_of")
        .unique()
        .with_columns(bought=pl.lit(True))
    )
    return (
        labelled.join(bought, on=["user_id", "as_of"], how="left")
        .select(
            "user_id",
            "as_of",
            purchase_within_horizon=pl.col("bought").fill_null(False).cast(pl.Int32),
            horizon_minutes=pl.lit(horizon_minutes, dtype=pl.Int32),
        )
        .sort("user_id", "as_of")
    )


def build_event_marts(
    user_behavior: str | Path | pl.LazyFrame,
    *,
    now: datetime,
    session_gap_minutes: int = 30,
    snapshot_every_minutes: int = 10,
    active_window_minutes: int = 60,
    horizon_minutes: int = 30,
    id_salt: str | None = None,
) -> dict[str, pl.DataFrame]:
    """Events, quarantine and the user event feature and label marts (`id_salt`: user ids
    become their salted hashes, as with the warehouse's privacy option)."""
    events, quarantine, duplicates_removed = _stage_events(user_behavior, now=now, id_salt=id_salt)
    events = _sessionize(events.lazy(), session_gap_minutes).collect()
    grid = _minute_grid(events, snapshot_every_minutes)
    features = _user_event_features(events.lazy(), grid.lazy(), active_window_minutes)
    features, labels = pl.collect_all(
        [
            features,
            _user_event_labels(
                events.lazy(), features, events["occurred_at"].max(), horizon_minutes
            ),
        ]
    )
    return {
        "events": events,
        "quarantine": quarantine,
        "duplicates_removed": pl.DataFrame({"duplicates_removed": [duplicates_removed]}),
        "user_event_features": features,
        "user_event_labels": labels,
    }
