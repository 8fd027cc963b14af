"""The privacy option: no raw customer or user id in any table or Parquet file, the Python
hash equals the SQL one, and every count per customer is unchanged."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from cartcast.warehouse.dbt_runner import DbtError, run_dbt
from cartcast.warehouse.paths import Warehouse
from cartcast.warehouse.privacy import pseudonymize
from tests.conftest import BUILD_ONLY, FIXED_NOW, subset_vars
from tests.reliability import defects as gen
from tests.reliability.summary import TALLY
from tests.support.warehouse_queries import fetch

SALT = "reliability-suite-salt-3f9c"
ON = {"cartcast_pseudonymize_ids": True}
ID_COLUMNS = {"customer_id", "user_id", "raw_customer_id", "raw_user_id"}
HEX64 = re.compile(r"[0-9a-f]{64}")


@pytest.fixture(scope="module")
def private_warehouse(subset: dict[str, Path], tmp_path_factory) -> Warehouse:
    root = tmp_path_factory.mktemp("rel_private")
    warehouse = Warehouse.under(root)
    run_dbt(
        list(BUILD_ONLY),
        warehouse,
        {"cartcast_now": FIXED_NOW, **subset_vars(subset), **ON},
        work_dir=root,
        extra_env={"CARTCAST_ID_SALT": SALT},
    )
    return warehouse


def _raw_ids(subset: dict[str, Path]) -> set[str]:
    orders = gen.read_rows(subset["online_retail"], header=True)
    events = gen.read_rows(subset["taobao"], header=False)
    customers = {re.sub(r"\.0+$", "", r[6].strip()) for r in orders if r[6].strip()}
    users = {r[0].strip() for r in events if r[0].strip()}
    return customers | users


def _id_values(warehouse: Warehouse) -> dict[str, set[str]]:
    """Every value of every id column, per table and per Parquet file."""
    found: dict[str, set[str]] = {}
    columns = fetch(
        warehouse,
        "select table_schema, table_name, column_name from information_schema.columns "
        f"where column_name in {tuple(ID_COLUMNS)}",
    )
    for schema, table, column in columns:
        rows = fetch(warehouse, f'select distinct "{column}" from "{schema}"."{table}"')
        found[f"{schema}.{table}.{column}"] = {str(v) for (v,) in rows if v is not None}
    for path in sorted(warehouse.parquet_dir.glob("*.parquet")):
        con = duckdb.connect()
        names = [
            r[0]
            for r in con.execute("describe select * from read_parquet(?)", [str(path)]).fetchall()
        ]
        for column in ID_COLUMNS & set(names):
            rows = con.execute(f'select distinct "{column}" from read_parquet(?)', [str(path)])
            found[f"{path.name}.{column}"] = {str(v) for (v,) in rows.fetchall() if v is not None}
        con.close()
    return found


def test_no_raw_id_in_any_table_or_parquet_file(
    private_warehouse: Warehouse, subset: dict[str, Path]
) -> None:
    raw = _raw_ids(subset)
    found = _id_values(private_warehouse)
    assert any(k.endswith(".parquet.customer_id") for k in found), found.keys()
    assert any(k.startswith("marts.") for k in found)
    leaks = {place: len(values & raw) for place, values in found.items() if values & raw}
    not_hashed = [p for p, values in found.items() if any(not HEX64.fullmatch(v) for v in values)]
    for place in [*leaks, *not_hashed]:
        TALLY.mismatch(f"raw id in {place}")
    TALLY.add("id columns checked for raw ids", len(found))
    assert not leaks and not not_hashed


def test_python_hash_matches_sql_and_counts_per_customer_are_unchanged(
    private_warehouse: Warehouse, clean_warehouse: Warehouse
) -> None:
    checks = {
        "marts.customer_features": "customer_id",
        "marts.customer_labels": "customer_id",
        "intermediate.int_orders": "customer_id",
        "marts.user_event_features": "user_id",
    }
    for table, key in checks.items():
        query = f"select {key}, count(*) from {table} group by 1"
        clean = {pseudonymize(k, SALT): n for k, n in fetch(clean_warehouse, query)}
        private = dict(fetch(private_warehouse, query))
        assert clean and private == clean, table
    spend = "select customer_id, sum(net_amount) from intermediate.int_orders group by 1"
    assert {pseudonymize(k, SALT): v for k, v in fetch(clean_warehouse, spend)} == dict(
        fetch(private_warehouse, spend)
    )
    assert pseudonymize(" 17850.0", SALT) == pseudonymize("17850", SALT)


def test_the_polars_oracle_gives_the_same_pseudonyms(
    private_warehouse: Warehouse, subset: dict[str, Path]
) -> None:
    from cartcast.testing import oracle

    now = datetime.fromisoformat(FIXED_NOW)
    customers = oracle.build_customer_marts(subset["online_retail"], now=now, id_salt=SALT)
    users = oracle.build_event_marts(subset["taobao"], now=now, id_salt=SALT)
    sql_customers = {
        k for (k,) in fetch(private_warehouse, "select customer_id from marts.customer_features")
    }
    sql_users = {
        k for (k,) in fetch(private_warehouse, "select user_id from marts.user_event_features")
    }
    assert set(customers["customer_features"]["customer_id"]) == sql_customers
    assert set(users["user_event_features"]["user_id"]) == sql_users


def test_the_option_without_a_salt_stops_the_build(subset: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(DbtError) as caught:
        run_dbt(
            ["run", "--select", "base_taobao__user_behavior"],
            Warehouse.under(tmp_path / "wh"),
            {"cartcast_now": FIXED_NOW, **subset_vars(subset), **ON},
            work_dir=tmp_path,
            extra_env={"CARTCAST_ID_SALT": ""},
        )
    first = str(caught.value).splitlines()[0]
    assert "CARTCAST_ID_SALT" in first and "(rule: id_salt_required)" in first
