"""Feast serves the marts a Spark build wrote: the same FileSources, pointed at the Parquet
files of Spark's tables, give the training set the DuckDB-built marts give."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pyarrow as pa
import pytest

from cartcast.features import store as feature_store
from cartcast.features.training_set import build_training_set, label_entity_frame
from tests.spark.compare import difference

pytestmark = pytest.mark.spark

SERVICE = "churn_90d_v2"  # customer features and the recent products: two views, a list column


def training_set(warehouse) -> pa.Table:
    store = feature_store.apply(warehouse)
    frame = build_training_set(label_entity_frame(SERVICE, warehouse), SERVICE, store)
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
    return pa.Table.from_pandas(frame, preserve_index=False)


def test_feast_reads_the_spark_marts_into_the_same_training_set(both_engines, spark) -> None:
    warehouse, _ = both_engines
    on_spark = dataclasses.replace(warehouse, marts_engine="spark")
    spark_mart = on_spark.mart_file("customer_features")
    assert list(spark_mart.parent.glob(spark_mart.name))
    expected = training_set(warehouse)
    actual = training_set(on_spark)
    assert expected.num_rows > 1000
    assert difference(f"training set {SERVICE}", expected, actual) is None
    # and back: the DuckDB marts again for the tests that follow
    feature_store.apply(warehouse)
