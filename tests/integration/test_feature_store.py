"""Feast over the feature marts: definitions in sync with dbt, point-in-time training sets,
online lookups in process and over HTTP, and clear errors for what a user can fix."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cartcast.features import store as feature_store
from cartcast.features.store import FeatureStoreError
from cartcast.features.training_set import TrainingSetError, build_training_set, label_entity_frame
from cartcast.testing.local_redis import free_port
from cartcast.warehouse.dbt_contract import mart_columns
from cartcast.warehouse.paths import Warehouse
from tests.support.warehouse_queries import fetch

FEATURE_MARTS = {
    "customer_features": "customer_id",
    "customer_sequences": "customer_id",
    "customer_product_history": "customer_id",
    "product_popularity": "catalogue_id",
    "user_event_features": "user_id",
    "user_event_sequences": "user_id",
}
SCALARS = {
    pa.string(): "varchar",
    pa.float64(): "double",
    pa.int64(): "bigint",
    pa.int32(): "integer",
    pa.timestamp("us"): "timestamp",
}
DBT_TO_ARROW = {
    **{name: arrow for arrow, name in SCALARS.items()},
    **{f"{name}[]": pa.list_(arrow) for arrow, name in SCALARS.items()},
}


def arrow_to_dbt(arrow_type: pa.DataType) -> str:
    if pa.types.is_list(arrow_type):
        return arrow_to_dbt(arrow_type.value_type) + "[]"
    return SCALARS.get(arrow_type, str(arrow_type))


def test_feast_schemas_match_the_dbt_contracts_and_the_parquet(feast_warehouse: Warehouse) -> None:
    store = feature_store.get_store(feast_warehouse)
    for mart, key in FEATURE_MARTS.items():
        declared = [(c.name, c.data_type) for c in mart_columns(mart)]
        parquet = pq.read_schema(feast_warehouse.parquet_dir / f"{mart}.parquet")
        written = [(f.name, arrow_to_dbt(f.type)) for f in parquet]
        assert written == declared, f"{mart}: the Parquet dbt wrote differs from its contract"
        view = store.get_feature_view(mart)
        feast_fields = [f.name for f in view.features]
        assert feast_fields == [n for n, _ in declared if n not in (key, "as_of")]
        assert view.batch_source.path == str(feast_warehouse.parquet_dir / f"{mart}.parquet")


def test_every_model_has_its_feature_service(feast_warehouse: Warehouse) -> None:
    store = feature_store.get_store(feast_warehouse)
    names = {s.name for s in store.list_feature_services()}
    assert names == {
        "purchase_30d_v1",
        "churn_90d_v1",
        "churn_90d_v2",
        "spend_90d_v1",
        "spend_90d_v2",
        "intent_session_v1",
        "intent_session_v2",
        "next_products_v1",
        "customer_embeddings_v1",
    }
    views = {
        # an earlier version keeps its views: a version registered on it still serves
        "churn_90d_v1": ["customer_features"],
        "churn_90d_v2": ["customer_features", "customer_sequences"],
        # the clickstream model's v2 adds its users' recent event tokens
        "intent_session_v1": ["user_event_features"],
        "intent_session_v2": ["user_event_features", "user_event_sequences"],
        "purchase_30d_v1": ["customer_features", "customer_sequences"],
        # the recommender's service spans the customer's views and the catalogue's best sellers
        "next_products_v1": [
            "customer_sequences",
            "customer_product_history",
            "product_popularity",
        ],
    }
    for service, expected in views.items():
        got = [p.name for p in store.get_feature_service(service).feature_view_projections]
        assert got == expected, service
    popularity = store.get_feature_view("product_popularity")
    assert popularity.entities == ["catalogue"] and popularity.ttl == timedelta(days=8)
    assert store.get_entity("catalogue").join_key == "catalogue_id"


def test_training_set_from_feast_equals_the_marts_on_real_data(feast_warehouse: Warehouse) -> None:
    store = feature_store.get_store(feast_warehouse)
    entities = label_entity_frame("churn_90d_v1", feast_warehouse)
    assert len(entities) > 50_000 and set(entities["churn_90d"].unique()) == {0, 1}
    training = build_training_set(entities, "churn_90d_v1", store)
    assert len(training) == len(entities)

    con = duckdb.connect(str(feast_warehouse.duckdb_path), read_only=True)
    marts = con.sql("select * from marts.customer_features").df()
    con.close()
    marts["event_timestamp"] = pd.to_datetime(marts.pop("as_of"), utc=True)
    joined = training.merge(marts, on=["customer_id", "event_timestamp"], suffixes=("", "_mart"))
    assert len(joined) == len(training)
    for column in ("recency_days", "orders_90d", "spend_365d", "country", "return_rate"):
        pd.testing.assert_series_equal(
            joined[column], joined[f"{column}_mart"], check_names=False, check_dtype=False
        )


def _write_hand_made_marts(parquet_dir: Path, rows: list[dict]) -> None:
    """Feature files with the marts' exact schemas; only customer_features has rows."""
    parquet_dir.mkdir(parents=True, exist_ok=True)
    for mart in FEATURE_MARTS:
        columns = mart_columns(mart)
        data = {c.name: [] for c in columns}
        if mart == "customer_features":
            for row in rows:
                for c in columns:
                    default = {"varchar": "UK", "bigint": 0, "double": 0.0}.get(c.data_type)
                    data[c.name].append(row.get(c.name, default))
        schema = pa.schema([(c.name, DBT_TO_ARROW[c.data_type]) for c in columns])
        pq.write_table(pa.table(data, schema=schema), parquet_dir / f"{mart}.parquet")


def test_training_set_is_point_in_time_correct(tmp_path: Path) -> None:
    warehouse = Warehouse.under(tmp_path)
    t0 = datetime(2011, 3, 7)
    _write_hand_made_marts(
        warehouse.parquet_dir,
        [
            {"customer_id": "a", "as_of": t0, "orders_lifetime": 1},
            {"customer_id": "a", "as_of": t0 + timedelta(days=7), "orders_lifetime": 2},
            {"customer_id": "a", "as_of": t0 + timedelta(days=14), "orders_lifetime": 3},
            {"customer_id": "b", "as_of": t0 + timedelta(days=7), "orders_lifetime": 9},
        ],
    )
    store = feature_store.apply(warehouse, check=False)
    entities = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "b", "b"],
            "event_timestamp": [
                t0 + timedelta(days=7),  # exactly at a snapshot: that snapshot
                t0 + timedelta(days=13, hours=23),  # just before the next: still the older one
                t0 - timedelta(seconds=1),  # before any row: nothing
                t0 + timedelta(days=14 + 9),  # past the 8-day TTL: stale, so nothing
                t0 + timedelta(days=6),  # before b's only row: nothing, never the future row
                t0 + timedelta(days=8),
            ],
        }
    )
    training = build_training_set(entities, "churn_90d_v1", store)
    got = training.sort_values(["customer_id", "event_timestamp"])["orders_lifetime"].tolist()
    assert [None if pd.isna(v) else int(v) for v in got] == [None, 2, 2, None, None, 9]


@pytest.mark.parametrize(
    ("frame", "service", "message"),
    [
        (pd.DataFrame({"customer_id": ["a"]}), "churn_90d_v1", "event_timestamp"),
        (
            pd.DataFrame({"user": ["a"], "event_timestamp": [datetime(2011, 1, 1)]}),
            "churn_90d_v1",
            "join key",
        ),
        (pd.DataFrame({"customer_id": [], "event_timestamp": []}), "churn_90d_v1", "empty"),
        (
            pd.DataFrame({"customer_id": ["a"], "event_timestamp": [datetime(2011, 1, 1)]}),
            "nope_v9",
            "not registered",
        ),
    ],
)
def test_training_set_refuses_bad_input(
    feast_warehouse: Warehouse, frame: pd.DataFrame, service: str, message: str
) -> None:
    store = feature_store.get_store(feast_warehouse)
    with pytest.raises(TrainingSetError, match=message):
        build_training_set(frame, service, store)


def test_missing_or_stale_parquet_is_refused(real_warehouse: Warehouse, tmp_path: Path) -> None:
    copy = Warehouse.under(tmp_path)
    copy.parquet_dir.mkdir(parents=True)
    shutil.copy(real_warehouse.duckdb_path, copy.duckdb_path)
    with pytest.raises(FeatureStoreError, match="missing: run `dbt build`"):
        feature_store.apply(copy)

    for mart in FEATURE_MARTS:
        source = real_warehouse.parquet_dir / f"{mart}.parquet"
        shutil.copy(source, copy.parquet_dir / source.name)
    stale = copy.parquet_dir / "customer_features.parquet"
    con = duckdb.connect()
    con.execute(
        f"copy (select * from read_parquet('{stale}') where as_of < '2011-06-01') "
        f"to '{tmp_path / 'older.parquet'}'"
    )
    con.close()
    shutil.move(tmp_path / "older.parquet", stale)
    with pytest.raises(FeatureStoreError, match="stale"):
        feature_store.apply(copy)


@pytest.fixture(scope="module")
def materialized(feast_warehouse: Warehouse) -> Warehouse:
    feature_store.materialize(feast_warehouse)
    return feast_warehouse


def test_online_lookup_returns_the_latest_snapshot(materialized: Warehouse) -> None:
    from cartcast.features.online import online_features

    con = duckdb.connect(str(materialized.duckdb_path), read_only=True)
    customer, orders, country = con.sql(
        "select customer_id, orders_lifetime, country from marts.customer_features "
        "qualify as_of = max(as_of) over (partition by customer_id) "
        "order by orders_lifetime desc, customer_id limit 1"
    ).fetchone()
    con.close()
    values = online_features(customer=customer, warehouse=materialized)
    assert values["orders_lifetime"] == orders and values["country"] == country
    assert isinstance(values["recent_product_ids"], list) and values["recent_product_ids"]
    with pytest.raises(FeatureStoreError, match="not materialized"):
        online_features(customer="no-such-customer", warehouse=materialized)


def test_feature_server_answers_over_http(materialized: Warehouse) -> None:
    from cartcast.features.online import online_features

    port = free_port()
    env = {**os.environ, **materialized.env()}
    server = subprocess.Popen(
        [sys.executable, "-m", "cartcast.cli", "features", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        body = json.dumps(
            {"feature_service": "churn_90d_v1", "entities": {"customer_id": ["12347", "12348"]}}
        ).encode()
        deadline = time.monotonic() + 60
        while True:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/get-online-features",
                    data=body,
                    headers={"Content-Type": "application/json"},
                )
                with urllib.request.urlopen(request, timeout=5) as response:
                    answer = json.loads(response.read())
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(server.stderr.read().decode()[-2000:]) from None
                time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(timeout=20)

    names = answer["metadata"]["feature_names"]
    over_http = {
        name: result["values"][0] for name, result in zip(names, answer["results"], strict=True)
    }
    in_process = online_features(customer="12347", service="churn_90d_v1", warehouse=materialized)
    for name, value in in_process.items():
        assert over_http[name] == value, name
    # equal, and equal to the warehouse's newest row of the customer: not two empty answers
    ((orders, recency, country),) = fetch(
        materialized,
        "select orders_lifetime, recency_days, country from marts.customer_features "
        "where customer_id = '12347' order by as_of desc limit 1",
    )
    assert (over_http["orders_lifetime"], over_http["recency_days"]) == (orders, recency)
    assert over_http["country"] == country and orders > 0
    second = {name: r["values"][1] for name, r in zip(names, answer["results"], strict=True)}
    assert second["customer_id"] == "12348" and second["orders_lifetime"] is not None
