"""Small read helpers the tests share."""

from __future__ import annotations

import duckdb

from cartcast.warehouse.paths import Warehouse


def fetch(warehouse: Warehouse, sql: str) -> list[tuple]:
    con = duckdb.connect(str(warehouse.duckdb_path), read_only=True)
    try:
        return con.sql(sql).fetchall()
    finally:
        con.close()


def table_rows(warehouse: Warehouse, table: str, key: str = "1, 2") -> list[tuple]:
    return fetch(warehouse, f"select * from {table} order by {key}")
