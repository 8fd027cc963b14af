"""SQL functions through which dbt's on-run-end hook publishes the BI-facing tables.

The hook (macro `cartcast_publish_bi`) runs inside dbt, on dbt's connection: the one process
that may open the warehouse while dbt runs. The functions only plan and finish the work of
`cartcast.bi.publish`; the hook itself runs the COPY statements, on dbt's connection, which
sees the finished build:

    cartcast_bi_build_id(invocation_id)                 -> a new publication's id
    cartcast_bi_plan(build_id, database, tables, changed) -> its COPY statements (or none)
    cartcast_bi_activate(build_id, database, source)    -> loads it, makes it current
"""

from __future__ import annotations

import duckdb
from duckdb.sqltypes import BOOLEAN, VARCHAR, DuckDBPyType

from cartcast.bi import publish
from cartcast.bi.paths import BIPaths

VARCHAR_LIST = DuckDBPyType("VARCHAR[]")


def build_id(invocation_id: str) -> str:
    return publish.new_build_id(invocation_id)


def plan(build: str, database_path: str, tables: list[str], changed: bool) -> list[str]:
    return publish.plan(BIPaths.for_database(database_path), build, tables or [], changed)


def activate(build: str, database_path: str, source: str) -> str:
    return publish.activate(BIPaths.for_database(database_path), build, source).describe()


def register(con: duckdb.DuckDBPyConnection) -> None:
    con.create_function("cartcast_bi_build_id", build_id, [VARCHAR], VARCHAR, side_effects=True)
    con.create_function(
        "cartcast_bi_plan",
        plan,
        [VARCHAR, VARCHAR, VARCHAR_LIST, BOOLEAN],
        VARCHAR_LIST,
        side_effects=True,
    )
    con.create_function(
        "cartcast_bi_activate", activate, [VARCHAR, VARCHAR, VARCHAR], VARCHAR, side_effects=True
    )
