"""The same slice of the bundled real data built by dbt on DuckDB and on Spark."""

from __future__ import annotations

import pytest

from cartcast.warehouse.dbt_runner import run_dbt
from cartcast.warehouse.paths import Warehouse
from cartcast.warehouse.spark import SQL_ONLY_EXCLUDE, spark_env
from tests.conftest import FIXED_NOW, subset_vars, write_real_subset

# Every SQL model (what `cartcast build --engine spark` builds), on both engines.
SPARK_BUILD = ("build", "--exclude", *SQL_ONLY_EXCLUDE)
# A documented slice: every 20th customer's order lines (with the guest lines of the first
# days) and the first 20 minutes of clickstream (tests/conftest.py write_real_subset).
EVERY_NTH_CUSTOMER = 20


@pytest.fixture(scope="session")
def both_engines(raw_paths, tmp_path_factory: pytest.TempPathFactory):
    """(DuckDB warehouse, Spark warehouse, dbt vars), both built from the same files."""
    root = tmp_path_factory.mktemp("engines")
    paths = write_real_subset(raw_paths, root / "raw", every_nth_customer=EVERY_NTH_CUSTOMER)
    # ids pseudonymized, as the demo builds them: the salted hashes must agree too
    dbt_vars = {
        "cartcast_now": FIXED_NOW,
        "cartcast_pseudonymize_ids": True,
        **subset_vars(paths),
        "spark_raw_files": {
            "online_retail.invoice_lines": {"path": str(paths["online_retail"]), "header": True},
            "taobao.user_behavior": {"path": str(paths["taobao"]), "header": False},
        },
    }
    salt = {"CARTCAST_ID_SALT": "a salt with a quote ' and a backslash \\ in it"}
    duck = Warehouse.under(root / "duckdb")
    run_dbt(list(SPARK_BUILD), duck, dbt_vars, work_dir=root / "duckdb", extra_env=salt)
    spark = Warehouse.under(root / "spark")
    spark_run = {**spark_env(spark), **salt}
    run_dbt(list(SPARK_BUILD), spark, dbt_vars, work_dir=root / "spark", extra_env=spark_run)
    return duck, spark, dbt_vars
