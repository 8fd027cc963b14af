"""The product text embeddings written by the Spark build's job, and their mart built by dbt on
Spark, equal DuckDB's (its dbt Python model); a second run encodes nothing and keeps them."""

from __future__ import annotations

import pytest

from cartcast.pretraining.spark_text import MART, TABLE, embed_on_spark
from cartcast.warehouse.dbt_runner import run_dbt
from tests.spark.compare import engine_differences
from tests.spark.conftest import MASTER, SALT_ENV

pytestmark = pytest.mark.spark

COMPARED = (TABLE, f"marts.{MART}")


def test_text_embeddings_built_on_spark_equal_duckdbs(both_engines, spark, tmp_path) -> None:
    warehouse, dbt_vars = both_engines
    run_dbt(
        ["build", "--select", "int_product_text_embeddings+"],
        warehouse,
        dbt_vars,
        work_dir=tmp_path / "duckdb",
        extra_env=SALT_ENV,
    )
    encoded = embed_on_spark(warehouse, MASTER, dbt_vars, tmp_path / "spark", SALT_ENV)
    products = spark.sql(f"select count(*) from {TABLE}").collect()[0][0]
    assert encoded == products > 0
    assert engine_differences(warehouse, spark, COMPARED) == []

    # incremental: nothing new to encode, every row kept
    again = embed_on_spark(warehouse, MASTER, dbt_vars, tmp_path / "spark", SALT_ENV)
    assert again == 0
    assert spark.sql(f"select count(*) from {TABLE}").collect()[0][0] == products
    assert engine_differences(warehouse, spark, COMPARED) == []
