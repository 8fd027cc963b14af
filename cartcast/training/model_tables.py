"""Rows stored with a model version in the warehouse: `ml.model_reference` (drift bins) and
`ml.model_feature_importance`. A version's rows are replaced as a whole in one transaction,
so writing them again (a retried training run) leaves exactly one set."""

from __future__ import annotations

import duckdb
import pandas as pd

from cartcast.registry.versions import IMPORTANCE_TABLE, REFERENCE_TABLE, connect
from cartcast.training.importance import Importance
from cartcast.training.reference import ReferenceBin
from cartcast.warehouse.paths import Warehouse


def _replace(
    con: duckdb.DuckDBPyConnection, table: str, name: str, version: int, rows: list[tuple]
) -> None:
    con.execute("begin")
    try:
        con.execute(
            f"delete from {table} where model_name = ? and model_version = ?", [name, version]
        )
        if rows:
            marks = ", ".join("?" * len(rows[0]))
            con.executemany(f"insert into {table} values ({marks})", rows)
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise


def write_reference_on(
    con: duckdb.DuckDBPyConnection, name: str, version: int, bins: list[ReferenceBin]
) -> None:
    rows = [
        (name, version, b.feature, b.bin, b.lower_bound, b.upper_bound, b.expected_share)
        for b in bins
    ]
    _replace(con, REFERENCE_TABLE, name, version, rows)


def write_importance_on(
    con: duckdb.DuckDBPyConnection, name: str, version: int, importances: list[Importance]
) -> None:
    rows = [
        (name, version, i.feature, i.importance, i.importance_std, i.metric, i.rank)
        for i in importances
    ]
    _replace(con, IMPORTANCE_TABLE, name, version, rows)


def write_reference(
    warehouse: Warehouse, name: str, version: int, bins: list[ReferenceBin]
) -> None:
    with connect(warehouse) as con:
        write_reference_on(con, name, version, bins)


def write_importance(
    warehouse: Warehouse, name: str, version: int, importances: list[Importance]
) -> None:
    with connect(warehouse) as con:
        write_importance_on(con, name, version, importances)


def _read(warehouse: Warehouse, table: str, name: str, version: int, order: str) -> pd.DataFrame:
    with connect(warehouse, read_only=True) as con:
        exists = con.execute(
            "select 1 from information_schema.tables where table_schema = ? and table_name = ?",
            table.split("."),
        ).fetchone()
        if not exists:
            return pd.DataFrame()
        return con.execute(
            f"select * from {table} where model_name = ? and model_version = ? order by {order}",
            [name, version],
        ).df()


def read_reference(warehouse: Warehouse, name: str, version: int) -> pd.DataFrame:
    return _read(warehouse, REFERENCE_TABLE, name, version, "feature, bin")


def read_importance(warehouse: Warehouse, name: str, version: int) -> pd.DataFrame:
    return _read(warehouse, IMPORTANCE_TABLE, name, version, "rank")
