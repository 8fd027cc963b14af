"""Shared fixtures: a warehouse built once per test session from the bundled real data."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from cartcast import catalog
from cartcast.warehouse.dbt_runner import run_dbt
from cartcast.warehouse.paths import PROJECT_DIR, Warehouse

# A fixed "now" keeps the future-time rule, and so every table, reproducible across runs.
FIXED_NOW = "2026-01-01 00:00:00"
# Everything but scoring, which needs trained models (the `scored_warehouse` fixture).
BUILD = ("build", "--exclude", "tag:scoring")
# Seeds and models without the data and unit tests: for tests that build several times.
BUILD_ONLY = (*BUILD, "resource_type:test", "resource_type:unit_test")
SCORED_MODELS = catalog.names()


def build_warehouse(root: Path, dbt_vars: dict | None = None, args: tuple = BUILD) -> Warehouse:
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


def online_retail_var(path: Path) -> str:
    return f"read_csv('{path}', header=true, all_varchar=true)"


def taobao_var(path: Path) -> str:
    return (
        f"read_csv('{path}', header=false, all_varchar=true, "
        "names=['user_id','item_id','category_id','behavior_type','ts'])"
    )


def write_real_subset(
    raw_paths: dict[str, Path], out_dir: Path, every_nth_customer: int = 12
) -> dict[str, Path]:
    """A small, deterministic slice of the real data: every line of every n-th customer
    (plus guest lines of the same invoices' days), and the first 20 minutes of clickstream."""
    out_dir.mkdir(parents=True, exist_ok=True)
    orders = out_dir / "online_retail_subset.csv"
    events = out_dir / "taobao_subset.csv"
    con = duckdb.connect()
    con.execute(
        f"""
        copy (
            select * from read_csv('{raw_paths["online_retail"]}', header=true, all_varchar=true)
            where CustomerID is null and InvoiceNo like '5363%'
               or try_cast(CustomerID as bigint) % {every_nth_customer} = 0
        ) to '{orders}' (header true)
        """
    )
    con.execute(
        f"""
        copy (
            select * from read_csv('{raw_paths["taobao"]}', header=false, all_varchar=true)
            where try_cast(column4 as bigint) < 1511658000 + 20 * 60
        ) to '{events}' (header false)
        """
    )
    con.close()
    return {"online_retail": orders, "taobao": events}


def subset_vars(paths: dict[str, Path]) -> dict[str, str]:
    return {
        "online_retail_invoice_lines": online_retail_var(paths["online_retail"]),
        "taobao_user_behavior": taobao_var(paths["taobao"]),
    }


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real redis-server (Debian package) on 127.0.0.1 and a free port, stopped afterwards."""
    from cartcast.testing.local_redis import local_redis

    with local_redis(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="session")
def feast_warehouse(real_warehouse: Warehouse) -> Warehouse:
    """The real warehouse with the Feast definitions applied (SQLite online store)."""
    from cartcast.features import store as feature_store

    feature_store.apply(real_warehouse)
    return real_warehouse


@pytest.fixture(scope="session")
def scored_warehouse(feast_warehouse: Warehouse) -> Warehouse:
    """The real warehouse with every model trained (quick), the online store materialized,
    and predictions and monitoring built by `dbt build --select tag:scoring`."""
    from cartcast.features import store as feature_store
    from cartcast.registry import versions as registry
    from cartcast.training.train import TrainOptions, train_model
    from cartcast.training.train_recommender import RecommenderOptions, train_recommender

    feature_store.materialize(feast_warehouse)
    store = feature_store.get_store(feast_warehouse)
    for name in SCORED_MODELS:
        if registry.list_models(feast_warehouse, name).empty:
            train_model(
                name, feast_warehouse, TrainOptions(quick=True), store=store, echo=lambda _: None
            )
    for name in catalog.RECOMMENDERS:
        if registry.list_models(feast_warehouse, name).empty:
            train_recommender(
                name, feast_warehouse, RecommenderOptions(quick=True), echo=lambda _: None
            )
    run_dbt(
        ["build", "--select", "tag:scoring"],
        feast_warehouse,
        {"cartcast_now": FIXED_NOW},
        work_dir=feast_warehouse.duckdb_path.parent,
    )
    return feast_warehouse
