"""The SQL that reads a model's inputs from its entity's marts, run on small DuckDB tables."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pytest

from cartcast import catalog
from scoring.feature_source import AsOf, default_tables, snapshots_sql, source_sql
from scoring.model_inputs import Input


@pytest.fixture()
def con():
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute(
        "create table marts.customer_features as select * from (values "
        "('c1', timestamp '2011-01-03', 2.0, 'France'), "
        "('c2', timestamp '2011-01-03', 5.0, 'UK'), "
        "('c1', timestamp '2011-01-10', 3.0, 'France')) t(customer_id, as_of, orders_90d, country)"
    )
    con.execute(
        "create table marts.customer_sequences as select * from (values "
        "('c1', timestamp '2011-01-10', ['p1', 'p2'])) t(customer_id, as_of, recent_product_ids)"
    )
    yield con
    con.close()


def test_inputs_come_from_the_marts_that_declare_them(con) -> None:
    inputs = (Input("orders_90d", "float32"), Input("recent_product_ids", "string", 20))
    sql, params = source_sql("customer_id", inputs)
    rows = con.execute(sql + " order by 1, 2", params).fetchall()
    assert rows == [
        ("c1", datetime(2011, 1, 3), 2.0, None),
        ("c1", datetime(2011, 1, 10), 3.0, ["p1", "p2"]),
        ("c2", datetime(2011, 1, 3), 5.0, None),
    ]


def test_a_mart_no_input_needs_is_not_joined() -> None:
    sql, _ = source_sql("customer_id", (Input("orders_90d", "float32"),))
    assert "customer_sequences" not in sql


def test_an_input_no_mart_declares_is_left_for_the_schema_check(con) -> None:
    sql, params = source_sql("customer_id", (Input("not_a_feature", "float32"),))
    columns = [d[0] for d in con.execute(sql, params).description]
    assert columns == ["customer_id", "as_of"]


def test_as_of_filters(con) -> None:
    inputs = (Input("orders_90d", "float32"),)
    sql, params = source_sql("customer_id", inputs, AsOf(times=(datetime(2011, 1, 10),)))
    assert con.execute(sql, params).fetchall() == [("c1", datetime(2011, 1, 10), 3.0)]
    sql, params = source_sql("customer_id", inputs, AsOf(end=datetime(2011, 1, 9)))
    assert len(con.execute(sql, params).fetchall()) == 2
    assert AsOf().where("x") == ("true", [])


def test_the_marts_come_from_the_catalog() -> None:
    for key, entity in catalog.ENTITIES.items():
        assert list(default_tables(key)) == list(entity.mart_names)


@pytest.mark.parametrize(
    "as_of",
    [None, AsOf(end=datetime(2011, 1, 9)), AsOf(times=(datetime(2011, 1, 10),))],
)
def test_the_snapshots_are_those_of_the_rows_read(con, as_of) -> None:
    inputs = (Input("orders_90d", "float32"), Input("recent_product_ids", "string", 20))
    sql, params = source_sql("customer_id", inputs, as_of)
    read = sorted({row[1] for row in con.execute(sql, params).fetchall()})
    snapshots, params = snapshots_sql("customer_id", as_of)
    assert [row[0] for row in con.execute(snapshots, params).fetchall()] == read
    assert "customer_sequences" not in snapshots


def test_the_snapshots_read_the_tables_given(con) -> None:
    con.execute("create table other as select * from marts.customer_features where orders_90d > 4")
    snapshots, params = snapshots_sql("customer_id", None, {"customer_features": "other"})
    assert con.execute(snapshots, params).fetchall() == [(datetime(2011, 1, 3),)]
