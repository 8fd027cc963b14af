"""Shared fixtures: a warehouse built once per test session from the bundled real data."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from cartcast.dbt_runner import run_dbt
from cartcast.paths import PROJECT_DIR, Warehouse

# A fixed "now" keeps the future-time rule, and so every table, reproducible across runs.
FIXED_NOW = "2026-01-01 00:00:00"


def build_warehouse(root: Path, dbt_vars: dict | None = None, args: tuple = ("build",)) -> Warehouse:
    """`dbt build` into a fresh warehouse below `root`."""
    warehouse = Warehouse.under(root)
    run_dbt(list(args), warehouse, {"cartcast_now": FIXED_NOW, **(dbt_vars or {})}, work_dir=root)
    return warehouse


@pytest.fixture(scope="session")
def real_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    """The whole DAG built and tested (`dbt build`) on the bundled real data."""
    return build_warehouse(tmp_path_factory.mktemp("real_warehouse"))


@pytest.fixture()
def real_db(real_warehouse: Warehouse) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(real_warehouse.duckdb_path), read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="session")
def raw_paths() -> dict[str, Path]:
    return {
        "online_retail": PROJECT_DIR / "data/raw/online_retail/online_retail.csv.gz",
        "taobao": PROJECT_DIR / "data/raw/taobao/user_behavior_sample.csv.gz",
    }
