"""Co-purchase counts on hand-made orders: which orders count, and how columns are scaled.

Real data cannot pin an order to the cut-off's exact instant; the integration tests run the
same function on the bundled data through the recommender and its baseline.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import numpy as np
import pytest

from cartcast.features.recommend_rows import LINES, co_purchase_counts

CUTOFF = datetime(2011, 8, 1)


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"create schema {LINES.split('.')[0]}")
    con.execute(
        f"create table {LINES} (order_id varchar, product_id varchar, ordered_at timestamp)"
    )
    lines = [
        # o1: A, B, and B again on a second line (one order, counted once)
        ("o1", "A", "2011-07-01"), ("o1", "B", "2011-07-01"), ("o1", "B", "2011-07-01"),
        ("o2", "A", "2011-07-02"), ("o2", "C", "2011-07-02"),
        ("o3", "A", "2011-07-03"), ("o3", "B", "2011-07-03"),
        # at the cut-off itself and after it: not counted
        ("o4", "A", "2011-08-01"), ("o4", "D", "2011-08-01"),
        ("o5", "C", "2011-09-01"), ("o5", "D", "2011-09-01"),
    ]  # fmt: skip
    con.executemany(f"insert into {LINES} values (?, ?, ?)", lines)
    yield con
    con.close()


def test_only_orders_before_the_cutoff_count_each_once(con) -> None:
    products, counts = co_purchase_counts(con, CUTOFF)
    assert products == ["A", "B", "C"]  # D only shared orders from the cut-off on
    a, b, c = range(3)
    # column j is divided by sqrt(its total + 1): A's column totals 2 + 1 = 3, B's 2, C's 1
    assert counts[b, a] == pytest.approx(2 / np.sqrt(4))
    assert counts[c, a] == pytest.approx(1 / np.sqrt(4))
    assert counts[a, b] == pytest.approx(2 / np.sqrt(3))
    assert counts[a, c] == pytest.approx(1 / np.sqrt(2))
    assert counts[b, c] == counts[c, b] == 0.0
    assert np.diag(counts).tolist() == [0.0, 0.0, 0.0]


def test_no_order_before_the_cutoff_gives_no_products(con) -> None:
    products, counts = co_purchase_counts(con, datetime(2011, 1, 1))
    assert products == []
    assert counts.shape == (0, 0)
