"""The next-product recommender's rows: one per customer snapshot, read from the marts.

A row holds what the customer had done before `as_of` (recent products, the products of their
history with order counts and ages, their order count) and, for training and evaluation, the
merchandise products they bought in the window after it. The best sellers of each snapshot
come from `marts.product_popularity`, one list per `as_of` shared by every row of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cartcast.catalog import RecommenderSpec
from cartcast.errors import TrainingError

LINES = "intermediate.int_merchandise_lines_sequenced"
HISTORY_COLUMNS = (
    "history_product_ids",
    "history_orders",
    "history_days_since_last",
    "history_days_since_first",
)
POPULAR_COLUMNS = ("popular_product_ids", "popular_lines_90d", "popular_lines_30d")


def padded(column: pa.ChunkedArray | pa.Array, width: int, fill, dtype) -> np.ndarray:
    """A list column as a (rows, width) matrix: each list cut to `width`, padded with `fill`."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks else pa.array([], column.type)
    rows = len(column)
    out = np.full((rows, width), fill, dtype=dtype)
    if rows == 0 or pa.types.is_null(column.type) or pa.types.is_null(column.type.value_type):
        return out
    sliced = pc.list_slice(column, 0, width)
    sizes = pc.fill_null(pc.list_value_length(sliced), 0).to_numpy(zero_copy_only=False)
    flat = pc.list_flatten(sliced)
    if dtype is object:
        values = np.asarray(
            pc.fill_null(pc.cast(flat, pa.string()), fill).to_numpy(zero_copy_only=False),
            dtype=object,
        )
    else:
        values = np.asarray(
            pc.fill_null(pc.cast(flat, pa.float64()), fill).to_numpy(zero_copy_only=False),
            dtype=dtype,
        )
    row_index = np.repeat(np.arange(rows), sizes)
    starts = np.repeat(np.cumsum(sizes) - sizes, sizes)
    out[row_index, np.arange(len(values)) - starts] = values
    return out


@dataclass
class Rows:
    """Customer snapshots as the model's arrays (strings padded with "", numbers with 0)."""

    customer_id: np.ndarray
    as_of: np.ndarray
    recent: np.ndarray  # (rows, length) product ids, newest first
    history: np.ndarray  # (rows, width) product ids, most orders first
    orders: np.ndarray  # (rows, width) orders holding each
    days_last: np.ndarray
    days_first: np.ndarray
    orders_before: np.ndarray  # (rows,)
    # products bought in the window after as_of (None where not asked for)
    bought: list[frozenset[str]] | None = None

    def __len__(self) -> int:
        return len(self.customer_id)

    def take(self, index: np.ndarray) -> Rows:
        bought = None if self.bought is None else [self.bought[i] for i in index]
        return Rows(
            self.customer_id[index],
            self.as_of[index],
            self.recent[index],
            self.history[index],
            self.orders[index],
            self.days_last[index],
            self.days_first[index],
            self.orders_before[index],
            bought,
        )

    def bought_before(self, row: int) -> frozenset[str]:
        return frozenset(p for p in self.history[row] if p != "")


def rows_from_table(table: pa.Table, length: int, width: int) -> Rows:
    """Rows from a table of the marts' columns (key, as_of, recent products, history lists)."""
    return Rows(
        customer_id=np.asarray(table.column("customer_id").to_pylist(), dtype=object),
        as_of=np.asarray(table.column("as_of").to_numpy(), dtype="datetime64[us]"),
        recent=padded(table.column("recent_product_ids"), length, "", object),
        history=padded(table.column("history_product_ids"), width, "", object),
        orders=padded(table.column("history_orders"), width, 0.0, np.float32),
        days_last=padded(table.column("history_days_since_last"), width, 0.0, np.float32),
        days_first=padded(table.column("history_days_since_first"), width, 0.0, np.float32),
        orders_before=np.asarray(
            pc.fill_null(pc.cast(table.column("orders_before"), pa.float64()), 0.0).to_numpy(
                zero_copy_only=False
            ),
            dtype=np.float32,
        ),
    )


def snapshot_sql(spec: RecommenderSpec, where: str = "true", with_future: bool = False) -> str:
    """Every customer snapshot with a purchase history (and, `with_future`, its purchases in
    the window after as_of, only for snapshots that have some)."""
    future = ""
    if with_future:
        days = spec.window.days
        future = f"""
        inner join (
            select s.customer_id, s.as_of, list(distinct l.product_id order by l.product_id)
                as bought
            from marts.customer_sequences as s
            inner join {LINES} as l
                on l.customer_id = s.customer_id and l.ordered_at >= s.as_of
                and l.ordered_at < s.as_of + interval {days} day
            where {where.replace("as_of", "s.as_of")}
            group by s.customer_id, s.as_of
        ) as f on f.customer_id = s.customer_id and f.as_of = s.as_of"""
    return f"""
        select s.customer_id, s.as_of, s.{spec.sequence},
            {", ".join(f"h.{c}" for c in HISTORY_COLUMNS)}, h.orders_before
            {", f.bought" if with_future else ""}
        from marts.customer_sequences as s
        inner join marts.customer_product_history as h
            on h.customer_id = s.customer_id and h.as_of = s.as_of
        {future}
        where {where.replace("as_of", "s.as_of")}
        order by s.as_of, s.customer_id
    """


def load_rows(
    con: duckdb.DuckDBPyConnection,
    spec: RecommenderSpec,
    start: datetime,
    end: datetime,
    length: int,
    width: int,
) -> Rows:
    """Snapshots from `start` to `end` (inclusive) with a purchase in the window after them."""
    try:
        table = con.execute(
            snapshot_sql(spec, "as_of >= ? and as_of <= ?", with_future=True),
            [start, end, start, end],
        ).to_arrow_table()
    except duckdb.CatalogException as err:
        raise TrainingError(
            f"{spec.name} reads marts.customer_product_history and marts.product_popularity "
            f"({err.args[0].splitlines()[0]}): run `dbt build` first."
        ) from err
    rows = rows_from_table(table, length, width)
    rows.bought = [frozenset(b) for b in table.column("bought").to_pylist()]
    return rows


def co_purchase_counts(
    con: duckdb.DuckDBPyConnection, before: datetime
) -> tuple[list[str], np.ndarray]:
    """How often two products shared an order, on orders before `before`: the products, and a
    (products, products) matrix whose column j is divided by the square root of product j's
    total, so that best sellers do not neighbour everything."""
    pairs = con.execute(
        f"""
        with baskets as (
            select distinct order_id, product_id from {LINES} where ordered_at < ?
        )
        select a.product_id as a, b.product_id as b, count(*) as shared from baskets a
        join baskets b on a.order_id = b.order_id and a.product_id <> b.product_id
        group by 1, 2
        """,
        [before],
    ).to_arrow_table()
    # pairs come both ways round, so the first column names every product; indices by arrow,
    # since millions of pairs as Python tuples cost more than the query
    products = sorted(pc.unique(pairs.column("a")).to_pylist())
    catalogue = pa.array(products, pa.string())
    rows = pc.index_in(pairs.column("a"), value_set=catalogue).to_numpy()
    columns = pc.index_in(pairs.column("b"), value_set=catalogue).to_numpy()
    counts = np.zeros((len(products), len(products)), dtype=np.float32)
    counts[rows, columns] = pairs.column("shared").to_numpy()
    counts /= np.sqrt(counts.sum(axis=0, keepdims=True) + 1.0)
    return products, counts


@dataclass(frozen=True)
class Popular:
    """The best sellers of one snapshot, most lines first."""

    product_ids: np.ndarray  # (width,) object, padded with ""
    lines_90d: np.ndarray  # (width,) float32
    lines_30d: np.ndarray


def load_popular(
    con: duckdb.DuckDBPyConnection, width: int | None = None
) -> tuple[dict[np.datetime64, Popular], int]:
    """Every snapshot's best sellers, and the list width (the longest list)."""
    table = con.execute(
        f"select as_of, {', '.join(POPULAR_COLUMNS)} from marts.product_popularity order by as_of"
    ).to_arrow_table()
    sizes = pc.list_value_length(table.column("popular_product_ids")).to_numpy(zero_copy_only=False)
    width = width or int(max(sizes.max(), 1) if len(sizes) else 1)
    ids = padded(table.column("popular_product_ids"), width, "", object)
    l90 = padded(table.column("popular_lines_90d"), width, 0.0, np.float32)
    l30 = padded(table.column("popular_lines_30d"), width, 0.0, np.float32)
    times = np.asarray(table.column("as_of").to_numpy(), dtype="datetime64[us]")
    return {t: Popular(ids[i], l90[i], l30[i]) for i, t in enumerate(times)}, width


def snapshot_times(con: duckdb.DuckDBPyConnection) -> tuple[list[datetime], datetime]:
    """The snapshots of the history mart and the newest order time (labels end there)."""
    times = [
        t
        for (t,) in con.execute(
            "select distinct as_of from marts.customer_product_history order by 1"
        ).fetchall()
    ]
    (observed,) = con.execute(f"select max(ordered_at) from {LINES}").fetchone()
    if not times or observed is None:
        raise TrainingError("No customer has a purchase history yet: run `dbt build` first.")
    return times, observed


def windows(
    times: list[datetime], observed: datetime, window: timedelta, cutoff: datetime | None
) -> tuple[datetime, tuple[datetime, datetime], tuple[datetime, datetime]]:
    """The cut-off, the training snapshots (whose window ends by the cut-off) and the
    validation snapshots (from the cut-off, whose window has passed)."""
    complete = [t for t in times if t + window <= observed]
    if cutoff is None:
        if len(complete) < 10:
            raise TrainingError(
                f"Only {len(complete)} snapshots have a complete {window.days}-day window: "
                "too few to train and validate a recommender."
            )
        cutoff = complete[int(len(complete) * 0.7)]
    train = [t for t in complete if t + window <= cutoff]
    valid = [t for t in complete if t >= cutoff]
    if not train or not valid:
        raise TrainingError(
            f"Cut-off {cutoff:%Y-%m-%d} leaves no training or no validation snapshots (data "
            f"from {times[0]:%Y-%m-%d} to {observed:%Y-%m-%d}, {window.days}-day windows)."
        )
    return cutoff, (train[0], train[-1]), (valid[0], valid[-1])


def onnx_feed(
    rows: Rows, popular: Popular, k: int, session=None, repeats: bool = True, unseen: bool = False
) -> dict[str, np.ndarray]:
    """The recommender's ONNX feed for rows of one snapshot (see `recommend_export`); with a
    session, only the inputs its graph kept."""
    feed = {
        "recent_product_ids": rows.recent,
        "history_product_ids": rows.history,
        "history_orders": rows.orders,
        "history_days_since_last": rows.days_last,
        "history_days_since_first": rows.days_first,
        "orders_before": rows.orders_before,
        "popular_product_ids": popular.product_ids[None],
        "popular_lines_90d": popular.lines_90d[None],
        "popular_lines_30d": popular.lines_30d[None],
        "k": np.array([k], dtype=np.int64),
        "include_repeats": np.array([1.0 if repeats else 0.0], dtype=np.float32),
        "include_unseen": np.array([1.0 if unseen else 0.0], dtype=np.float32),
    }
    if session is not None:
        names = {i.name for i in session.get_inputs()}
        feed = {n: v for n, v in feed.items() if n in names}
    return feed
