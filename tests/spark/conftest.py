"""The same slice of the bundled real data built by dbt on DuckDB and on Spark, in one
warehouse (DuckDB's file and Parquet marts beside Spark's tables, as a user would have)."""

from __future__ import annotations

import pytest

from cartcast.warehouse.dbt_runner import run_dbt
from cartcast.warehouse.paths import Warehouse
from cartcast.warehouse.spark import SQL_ONLY_EXCLUDE, session, spark_env
from tests.conftest import FIXED_NOW, subset_vars, write_real_subset

# Every SQL model (what `cartcast build --engine spark` builds), on both engines.
SPARK_BUILD = ("build", "--exclude", *SQL_ONLY_EXCLUDE)
# A documented slice: every 20th customer's order lines (with the guest lines of the first
# days) and the first 20 minutes of clickstream (tests/conftest.py write_real_subset).
EVERY_NTH_CUSTOMER = 20
# Two executor processes of one core each: serialization and per-executor ONNX Runtime
# sessions are exercised, not only threads of one process.
MASTER = "local-cluster[2,1,1024]"
# the salt of the slice's pseudonymized ids: every later dbt run on it needs the same one
SALT_ENV = {"CARTCAST_ID_SALT": "a salt with a quote ' and a backslash \\\\ in it"}
# customer features and the recent-product sequence (a list column)
SCORED_MODEL = "churn_90d"


@pytest.fixture(scope="session")
def both_engines(raw_paths, tmp_path_factory: pytest.TempPathFactory):
    """(warehouse, dbt vars): the slice built by dbt on DuckDB, and twice on Spark."""
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
    salt = SALT_ENV
    warehouse = Warehouse.under(root / "warehouse")
    run_dbt(list(SPARK_BUILD), warehouse, dbt_vars, work_dir=root / "duckdb", extra_env=salt)
    spark_run = {**spark_env(warehouse), **salt}
    run_dbt(list(SPARK_BUILD), warehouse, dbt_vars, work_dir=root / "spark", extra_env=spark_run)
    # and again: the incremental snapshot features take their insert_overwrite path, and the
    # tests compare what the rerun left
    run_dbt(list(SPARK_BUILD), warehouse, dbt_vars, work_dir=root / "spark", extra_env=spark_run)
    return warehouse, dbt_vars


@pytest.fixture(scope="session")
def spark(both_engines):
    """cartcast's Spark session on the warehouse's Spark tables (stopped at the end)."""
    warehouse, _ = both_engines
    started = session(warehouse, master=MASTER)
    yield started
    started.stop()


@pytest.fixture(scope="session")
def churn_scored(both_engines, spark):
    """(DuckDB's run, Spark's run): churn_90d trained on the slice (a quick champion), then
    scored by DuckDB's batch scoring and by the Spark job on the two-executor session."""
    from cartcast.features import store as feature_store
    from cartcast.training.train import TrainOptions, train_model
    from scoring.batch import score
    from scoring.spark_job import score_on_spark

    warehouse, _ = both_engines
    feature_store.apply(warehouse)
    train_model(
        SCORED_MODEL,
        warehouse,
        TrainOptions(quick=True, pretrained=False),
        store=feature_store.get_store(warehouse),
        echo=lambda _: None,
    )
    return score(warehouse, SCORED_MODEL, explain="none"), score_on_spark(warehouse, SCORED_MODEL)
