"""The list-making marts built in slices of customers (macros/sliced_builds.sql), on real data:
the same rows as in one step, whether the count of slices comes from the memory cap or the var."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from cartcast.warehouse.dbt_runner import DbtError, run_dbt
from cartcast.warehouse.paths import Warehouse
from tests.conftest import FIXED_NOW

SLICED = ["customer_sequences", "customer_product_history", "user_event_sequences"]


def _copy(real_warehouse: Warehouse, root: Path) -> Warehouse:
    copy = Warehouse.under(root)
    root.mkdir(parents=True)
    shutil.copy(real_warehouse.duckdb_path, copy.duckdb_path)
    shutil.copytree(real_warehouse.parquet_dir, copy.parquet_dir)
    return copy


def _rebuild(copy: Warehouse, root: Path, dbt_vars: dict, extra_env: dict | None = None) -> str:
    done = run_dbt(
        ["run", "--select", *SLICED],
        copy,
        {"cartcast_now": FIXED_NOW, **dbt_vars},
        work_dir=root / "dbt",
        extra_env=extra_env,
    )
    return done.stdout


def _differences(one: Path, other: Path) -> tuple[int, int, int]:
    """Rows of `one`, and the rows each file has that the other lacks (as multisets)."""
    con = duckdb.connect()
    try:
        a, b = f"read_parquet('{one}')", f"read_parquet('{other}')"
        rows = con.sql(f"select count(*) from {a}").fetchone()[0]
        only_a = con.sql(f"select count(*) from (from {a} except all from {b})").fetchone()[0]
        only_b = con.sql(f"select count(*) from (from {b} except all from {a})").fetchone()[0]
    finally:
        con.close()
    return rows, only_a, only_b


def _assert_same_rows(copy: Warehouse, real_warehouse: Warehouse) -> None:
    for mart in SLICED:
        rows, only_sliced, only_whole = _differences(
            copy.mart_file(mart), real_warehouse.mart_file(mart)
        )
        assert rows > 0 and (only_sliced, only_whole) == (0, 0), mart


def test_a_small_memory_cap_builds_the_list_marts_in_slices_with_the_same_rows(
    real_warehouse: Warehouse, tmp_path: Path
) -> None:
    copy = _copy(real_warehouse, tmp_path / "warehouse")
    # the real data's marts need more than half of 256MB: each is sized into several slices
    output = _rebuild(copy, tmp_path, {}, {"CARTCAST_DUCKDB_MEMORY_LIMIT": "256MB"})
    for mart in SLICED:
        line = next(line for line in output.splitlines() if f"{mart}: built in" in line)
        assert int(line.split("built in ")[1].split()[0]) > 1, line
    _assert_same_rows(copy, real_warehouse)


def test_the_slices_var_forces_a_count_and_keeps_the_rows(
    real_warehouse: Warehouse, tmp_path: Path
) -> None:
    copy = _copy(real_warehouse, tmp_path / "warehouse")
    output = _rebuild(copy, tmp_path, {"slices": 3})
    for mart in SLICED:
        assert f"{mart}: built in 3 slices" in output
    _assert_same_rows(copy, real_warehouse)


def test_a_slice_count_below_one_is_refused_by_name(
    real_warehouse: Warehouse, tmp_path: Path
) -> None:
    copy = _copy(real_warehouse, tmp_path / "warehouse")
    with pytest.raises(DbtError, match="var 'slices' must be a whole number of at least 1"):
        _rebuild(copy, tmp_path, {"slices": 0})
