"""`cartcast score --engine spark`: the ONNX file scored on two executor processes over the
Spark-built marts writes the prediction rows DuckDB's scoring writes over DuckDB's marts."""

from __future__ import annotations

import duckdb
import pytest

from scoring.spark_job import score_on_spark
from tests.spark.compare import difference
from tests.spark.conftest import SCORED_MODEL as MODEL

pytestmark = pytest.mark.spark


def test_spark_scoring_writes_the_rows_duckdb_scoring_writes(
    both_engines, spark, churn_scored
) -> None:
    warehouse, _ = both_engines
    on_duckdb, on_spark = churn_scored
    assert on_spark.rows == on_duckdb.rows > 0
    assert on_spark.as_ofs == on_duckdb.as_ofs > 1
    # separate executor processes did the scoring (the driver is not one of them)
    assert spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() == 3

    con = duckdb.connect(str(warehouse.duckdb_path), read_only=True)
    try:
        expected = con.execute(f"select * exclude (scored_at) from predictions.{MODEL}")
        expected = expected.to_arrow_table()
    finally:
        con.close()
    actual = spark.table(f"predictions.{MODEL}").drop("scored_at").toArrow()
    assert difference(f"predictions.{MODEL}", expected, actual) is None

    # scoring again replaces the version's partitions: no row twice
    again = score_on_spark(warehouse, MODEL)
    assert again.rows == on_spark.rows
    total = spark.sql(f"select count(*) from predictions.{MODEL}").collect()[0][0]
    assert total == on_duckdb.rows
