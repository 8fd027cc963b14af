"""Next products online on the real warehouse: the Feast online store (SQLite, and Redis) gives
a customer the list the batch path gives the same snapshot's mart rows, and the one dbt wrote
to predictions.next_products; an unknown customer gets the flagged cold-start list; k outside
1..1000 is refused; `cartcast recommend --json` answers the same."""

from __future__ import annotations

import json
from datetime import UTC, timedelta

import duckdb
import numpy as np
import pyarrow as pa
import pytest
import redis
from typer.testing import CliRunner

from cartcast.catalog import get_recommender
from cartcast.cli.app import app
from cartcast.errors import ScoringError
from cartcast.features import store as feature_store
from cartcast.features.recommend_rows import rows_from_table
from cartcast.warehouse.paths import Warehouse
from scoring import recommend as batch
from scoring.recommend_online import (
    DEFAULT_RECOMMENDER,
    list_options,
    open_recommender,
    recommend_one,
)
from tests.support.warehouse_queries import fetch

K = 10
MARTS = ("customer_features", "customer_sequences", "customer_product_history")


@pytest.fixture(scope="module")
def snapshot(scored_warehouse: Warehouse):
    """The newest snapshot; customers with the longest histories there, and one with orders
    but never a merchandise purchase (a cold start in the batch lists too), if any."""
    con = duckdb.connect(str(scored_warehouse.duckdb_path), read_only=True)
    try:
        (as_of,) = con.execute("select max(as_of) from marts.customer_features").fetchone()
        shoppers = [
            c
            for (c,) in con.execute(
                "select customer_id from marts.customer_product_history where as_of = ? "
                "order by history_length desc, customer_id limit 3",
                [as_of],
            ).fetchall()
        ]
        never = con.execute(
            "select customer_id from marts.customer_features where as_of = ? and customer_id "
            "not in (select customer_id from marts.customer_product_history) "
            "order by customer_id limit 1",
            [as_of],
        ).fetchone()
    finally:
        con.close()
    return scored_warehouse, as_of, shoppers, None if never is None else never[0]


def batch_lists(warehouse: Warehouse, as_of, customers: list[str]) -> dict[str, pa.Table]:
    """`scoring.recommend.lists` over the marts' rows of `as_of`, per customer; with the
    champion as dbt's Python model loads it."""
    repeats, unseen = list_options()
    con = duckdb.connect(str(warehouse.duckdb_path), read_only=True)
    try:
        model = batch.load(batch.champion(con, DEFAULT_RECOMMENDER))
        tables = {m: f"marts.{m}" for m in MARTS}
        popular = batch.popular_lists(con, "marts.product_popularity", model.popular_width)
        marks = ", ".join("?" for _ in customers)
        table = con.execute(
            batch.snapshot_sql(tables, f"f.as_of = ? and f.customer_id in ({marks})"),
            [as_of, *customers],
        ).to_arrow_table()
    finally:
        con.close()
    rows = rows_from_table(table, model.length, model.width)
    result = pa.Table.from_batches(
        [batch.lists(model, rows, popular[np.datetime64(as_of, "us")], K, repeats, unseen)]
    )
    return {c: result.filter(pa.compute.equal(result.column("customer_id"), c)) for c in customers}


def empty_history_list(warehouse: Warehouse, as_of) -> pa.Table:
    """The batch path's list for a snapshot row with no history at all."""
    strings, numbers = pa.list_(pa.string()), pa.list_(pa.float64())
    table = pa.table(
        {
            "customer_id": ["nobody"],
            "as_of": pa.array([as_of], pa.timestamp("us")),
            "recent_product_ids": pa.array([None], strings),
            "history_product_ids": pa.array([None], strings),
            "history_orders": pa.array([None], numbers),
            "history_days_since_last": pa.array([None], numbers),
            "history_days_since_first": pa.array([None], numbers),
            "orders_before": pa.array([0], pa.int64()),
        }
    )
    repeats, unseen = list_options()
    con = duckdb.connect(str(warehouse.duckdb_path), read_only=True)
    try:
        model = batch.load(batch.champion(con, DEFAULT_RECOMMENDER))
        popular = batch.popular_lists(con, "marts.product_popularity", model.popular_width)
    finally:
        con.close()
    rows = rows_from_table(table, model.length, model.width)
    best = popular[np.datetime64(as_of, "us")]
    return pa.Table.from_batches([batch.lists(model, rows, best, K, repeats, unseen)])


def same_list(online, expected: pa.Table) -> None:
    assert online.product_ids == expected.column("product_id").to_pylist()
    np.testing.assert_allclose(
        [i.score for i in online.items], expected.column("score").to_pylist(), rtol=1e-6
    )
    assert [i.is_repeat for i in online.items] == expected.column("is_repeat").to_pylist()
    assert [i.rank for i in online.items] == expected.column("rank").to_pylist()
    assert online.cold_start == expected.column("is_cold_start")[0].as_py()


def test_online_lists_equal_the_batch_lists_of_the_same_snapshot(snapshot) -> None:
    warehouse, as_of, shoppers, never = snapshot
    now = as_of.replace(tzinfo=UTC) + timedelta(days=1)
    customers = [*shoppers, *([never] if never else [])]
    expected = batch_lists(warehouse, as_of, customers)
    for customer in shoppers:
        got = recommend_one(warehouse, customer, K, now)
        same_list(got, expected[customer])
        assert not got.cold_start and got.known_customer and got.as_of == now - timedelta(days=1)
        assert any(i.is_repeat for i in got.items) and got.stale == []
    if never is not None:  # orders, but no merchandise: unknown to the history views
        got = recommend_one(warehouse, never, K, now)
        same_list(got, expected[never])
        assert got.cold_start and not got.known_customer


def test_online_lists_equal_what_dbt_wrote(snapshot) -> None:
    warehouse, as_of, shoppers, _ = snapshot
    now = as_of.replace(tzinfo=UTC) + timedelta(days=2)
    got = recommend_one(warehouse, shoppers[0], K, now)
    con = duckdb.connect(str(warehouse.duckdb_path), read_only=True)
    try:
        written = con.execute(
            "select product_id, description, is_repeat from predictions.next_products "
            "where customer_id = ? and as_of = ? and model_version = ? order by rank",
            [shoppers[0], as_of, got.version],
        ).fetchall()
    finally:
        con.close()
    assert [(i.product_id, i.description, i.is_repeat) for i in got.items] == written


def test_an_unknown_customer_gets_the_flagged_cold_start_list(snapshot) -> None:
    warehouse, as_of, _, _ = snapshot
    now = as_of.replace(tzinfo=UTC) + timedelta(days=1)
    got = recommend_one(warehouse, "no-such-customer", K, now)
    assert got.cold_start and not got.known_customer
    assert got.as_of == now - timedelta(days=1) and not any(i.is_repeat for i in got.items)
    same_list(got, empty_history_list(warehouse, as_of))
    ((best,),) = fetch(
        warehouse,
        "select popular_product_ids from marts.product_popularity "
        f"where as_of = '{as_of:%Y-%m-%d %H:%M:%S}'",
    )
    assert got.items[0].product_id in best  # led by the snapshot's best sellers


@pytest.mark.parametrize("k", [0, 1001])
def test_k_outside_1_to_1000_is_refused(snapshot, k: int) -> None:
    warehouse, as_of, shoppers, _ = snapshot
    with pytest.raises(ScoringError, match="k must be between 1 and 1000"):
        recommend_one(warehouse, shoppers[0], k, as_of)


def test_redis_serves_the_same_lists(snapshot, redis_url: str) -> None:
    warehouse, as_of, shoppers, _ = snapshot
    url = f"{redis_url},db=5"
    host, port = redis_url.split(":")
    redis.Redis(host=host, port=int(port), db=5).flushdb()
    feature_store.materialize(
        warehouse,
        online="redis",
        redis_url=url,
        feature_views=list(get_recommender(DEFAULT_RECOMMENDER).marts),
    )
    store = feature_store.get_store(warehouse, "redis", url)
    model = open_recommender(warehouse)
    now = as_of.replace(tzinfo=UTC) + timedelta(days=1)
    for customer in [*shoppers, "no-such-customer"]:
        on_redis = recommend_one(store, customer, K, now, model=model)
        on_sqlite = recommend_one(warehouse, customer, K, now)
        assert on_redis.items == on_sqlite.items
        assert on_redis.cold_start == on_sqlite.cold_start


def test_recommend_command_answers_the_same(snapshot, monkeypatch: pytest.MonkeyPatch) -> None:
    warehouse, as_of, shoppers, _ = snapshot
    for key, value in warehouse.env().items():
        monkeypatch.setenv(key, value)
    now = as_of.replace(tzinfo=UTC) + timedelta(days=1)
    result = CliRunner().invoke(
        app,
        ["recommend", "--customer", shoppers[0], "--k", "5", "--now", now.isoformat(), "--json"],
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    direct = recommend_one(warehouse, shoppers[0], 5, now)
    assert [i["product_id"] for i in answer["items"]] == direct.product_ids
    assert answer["cold_start"] is False and answer["as_of"] == direct.as_of.isoformat()
