"""Incremental feature snapshots: new data appended gives what a full rebuild gives, and a
rerun recomputes only recent snapshots."""

from __future__ import annotations

from pathlib import Path

import duckdb

from cartcast.warehouse.dbt_runner import run_dbt
from cartcast.warehouse.paths import Warehouse
from tests.conftest import BUILD_ONLY, FIXED_NOW, online_retail_var, subset_vars, write_real_subset
from tests.support.warehouse_queries import fetch, table_rows

MARTS = (
    "marts.customer_features",
    "marts.customer_labels",
    "marts.customer_sequences",
    "marts.user_event_features",
    "marts.user_event_sequences",
    "marts.user_event_labels",
)


def _snapshot_of_marts(warehouse: Warehouse) -> dict[str, list[tuple]]:
    return {mart: table_rows(warehouse, mart) for mart in MARTS}


def test_appended_data_builds_incrementally_to_the_full_refresh_result(
    tmp_path: Path, raw_paths
) -> None:
    subset = write_real_subset(raw_paths, tmp_path / "raw")
    early = tmp_path / "raw" / "early.csv"
    con = duckdb.connect()
    con.execute(
        f"copy (select * from {online_retail_var(subset['online_retail'])} "
        f"where InvoiceDate < '2011-07-01') to '{early}' (header true)"
    )
    con.close()

    warehouse = Warehouse.under(tmp_path / "wh")
    full_vars = {"cartcast_now": FIXED_NOW, **subset_vars(subset)}
    early_vars = {**full_vars, "online_retail_invoice_lines": online_retail_var(early)}
    run_dbt(list(BUILD_ONLY), warehouse, early_vars, work_dir=tmp_path)

    # Mark one old snapshot row; an incremental run must leave it alone (it is not recomputed).
    con = duckdb.connect(str(warehouse.duckdb_path))
    marked = con.execute(
        "select customer_id, as_of from intermediate.int_customer_snapshot_features "
        "where as_of < '2011-04-01' order by as_of, customer_id limit 1"
    ).fetchone()
    con.execute(
        "update intermediate.int_customer_snapshot_features set orders_lifetime = -1 "
        "where customer_id = ? and as_of = ?",
        marked,
    )
    con.close()

    run_dbt(list(BUILD_ONLY), warehouse, full_vars, work_dir=tmp_path)
    incremental = _snapshot_of_marts(warehouse)
    (marker,) = fetch(
        warehouse,
        "select orders_lifetime from marts.customer_features "
        f"where customer_id = '{marked[0]}' and as_of = '{marked[1]}'",
    )[0]
    assert marker == -1, "the incremental run recomputed an old snapshot"

    run_dbt([*BUILD_ONLY, "--full-refresh"], warehouse, full_vars, work_dir=tmp_path)
    full = _snapshot_of_marts(warehouse)
    assert len(full["marts.customer_features"]) > 5000
    for mart in MARTS:
        inc_rows = [
            r
            for r in incremental[mart]
            if mart != "marts.customer_features" or (r[0], r[1]) != marked
        ]
        full_rows = [
            r for r in full[mart] if mart != "marts.customer_features" or (r[0], r[1]) != marked
        ]
        assert inc_rows == full_rows, f"{mart}: incremental build differs from --full-refresh"

    # A rerun on unchanged input gives identical tables.
    run_dbt(list(BUILD_ONLY), warehouse, full_vars, work_dir=tmp_path)
    assert _snapshot_of_marts(warehouse) == full
