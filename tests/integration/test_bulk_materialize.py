"""cartcast's bulk materialization (cartcast/features/bulk/) against stock Feast.

Parity on the real data: materialize with stock Feast and with the bulk engine and stores,
then Feast's own, unchanged `get_online_features` must answer the same for every feature
service, and the stored rows (SQLite) or hashes (Redis) must be the same bytes. Then the
encoders alone against Feast's conversion on edge values, and a clear error when Redis is down.
"""

from __future__ import annotations

import math
import socket
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest
import redis
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.helpers import extract_text_and_num
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.type_map import python_values_to_proto_values
from feast.value_type import ValueType

from cartcast.features import store as feature_store
from cartcast.features.bulk.encode import encode_column, encode_entity_keys
from cartcast.features.store import FeatureStoreError
from cartcast.warehouse.paths import Warehouse

SAMPLE_CUSTOMERS = 300
SAMPLE_USERS = 300


def _twin(real: Warehouse, root: Path) -> Warehouse:
    """The real warehouse's marts and DuckDB file, with a Feast registry and online store
    of its own (feast_dir() sits beside the DuckDB file, so link that file into `root`)."""
    root.mkdir(parents=True)
    (root / real.duckdb_path.name).symlink_to(real.duckdb_path)
    return Warehouse(duckdb_path=root / real.duckdb_path.name, parquet_dir=real.parquet_dir)


def _sample_entities(warehouse: Warehouse) -> dict[str, list[str]]:
    con = duckdb.connect()
    try:

        def ids(mart: str, key: str, n: int) -> list[str]:
            path = warehouse.parquet_dir / f"{mart}.parquet"
            rows = con.execute(
                f"select distinct {key} from read_parquet(?) order by hash({key}) limit {n}",
                [str(path)],
            ).fetchall()
            return [r[0] for r in rows]

        customers = ids("customer_features", "customer_id", SAMPLE_CUSTOMERS)
        users = ids("user_event_features", "user_id", SAMPLE_USERS)
    finally:
        con.close()
    # Unknown entities too: both paths must answer them with nulls.
    return {
        "customer_id": [*customers, "no-such-customer"],
        "user_id": [*users, "no-such-user"],
        "catalogue_id": ["all", "no-such-catalogue"],
    }


def _online_answers(store, entities: dict[str, list[str]]) -> dict[str, dict]:
    """Feast's get_online_features for every feature service, as plain dicts. A service over
    two entities (the recommender's: customer and catalogue) gets rows with both keys."""
    answers = {}
    for service in store.list_feature_services():
        keys = sorted(
            {e for view in service.feature_view_projections for e in _join_keys(store, view)}
        )
        n = max(len(entities[key]) for key in keys)
        rows = [{key: entities[key][i % len(entities[key])] for key in keys} for i in range(n)]
        answers[service.name] = store.get_online_features(
            features=service, entity_rows=rows
        ).to_dict()
    return answers


def _join_keys(store, projection) -> list[str]:
    view = store.get_feature_view(projection.name)
    return [c.name for c in view.entity_columns]


def _assert_same_answers(stock: dict[str, dict], fast: dict[str, dict]) -> None:
    assert stock.keys() == fast.keys()
    for service in stock:
        assert stock[service].keys() == fast[service].keys(), service
        for name, values in stock[service].items():
            assert _normalised(values) == _normalised(fast[service][name]), (service, name)
    # The sample really reads data: most features have values.
    churn = stock["churn_90d_v1"]
    assert sum(v is not None for v in churn["recency_days"]) >= SAMPLE_CUSTOMERS // 2
    recommend = stock["next_products_v1"]
    assert sum(v is not None for v in recommend["history_product_ids"]) >= SAMPLE_CUSTOMERS // 2
    assert sum(v is not None for v in recommend["popular_product_ids"]) >= SAMPLE_CUSTOMERS // 3


def _normalised(values: list) -> list:
    # NaN != NaN: compare NaN as a marker (both paths must agree on where they are).
    return [
        "NaN" if isinstance(v, float) and math.isnan(v) else _normalised(v) if isinstance(v, list)
        else v
        for v in values
    ]  # fmt: skip


def _sqlite_rows(path: Path) -> dict[str, set]:
    con = sqlite3.connect(path)
    try:
        tables = [r[0] for r in con.execute("select name from sqlite_master where type='table'")]
        out = {
            t: set(
                con.execute(
                    "select entity_key, feature_name, value, typeof(value), value_text, "
                    f"typeof(value_text), vector_value, event_ts, typeof(event_ts), created_ts "
                    f'from "{t}"'
                )
            )
            for t in tables
        }
        out["sqlite_master"] = set(
            con.execute("select type, name, tbl_name, sql from sqlite_master")
        )
        return out
    finally:
        con.close()


def _redis_contents(url: str) -> dict[bytes, dict]:
    host, port_and_db = url.split(":", 1)
    port, _, db = port_and_db.partition(",db=")
    client = redis.Redis(host=host, port=int(port), db=int(db or 0))
    keys = sorted(client.scan_iter(count=10_000))
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.hgetall(key)
        pipe.hkeys(key)
        pipe.ttl(key)
    replies = pipe.execute()
    return {
        key: {"hash": replies[3 * i], "order": replies[3 * i + 1], "ttl": replies[3 * i + 2]}
        for i, key in enumerate(keys)
    }


def _pushed_rows(warehouse: Warehouse):
    """A few customer rows, changed and newer, to push through `write_to_online_store`."""
    con = duckdb.connect()
    try:
        frame = con.execute(
            "select * from read_parquet(?) order by as_of desc, customer_id limit 25",
            [str(warehouse.parquet_dir / "customer_features.parquet")],
        ).df()
    finally:
        con.close()
    frame["as_of"] = datetime(2012, 1, 1)
    frame["recency_days"] = frame["recency_days"] + 0.5
    frame.loc[::3, "spend_90d"] = None
    return frame


# ---- (a) SQLite parity on the real data ------------------------------------------------


def test_sqlite_bulk_materialization_matches_stock_feast(
    real_warehouse: Warehouse, tmp_path: Path
) -> None:
    stock_wh = _twin(real_warehouse, tmp_path / "stock")
    fast_wh = _twin(real_warehouse, tmp_path / "fast")
    feature_store.apply(stock_wh, fast=False)
    feature_store.apply(fast_wh)
    stock = feature_store.materialize(stock_wh, fast=False)
    fast = feature_store.materialize(fast_wh)
    assert type(stock._provider.online_store).__name__ == "SqliteOnlineStore"
    assert type(fast._provider.online_store).__name__ == "CartcastSqliteOnlineStore"
    assert type(fast._provider.batch_engine).__name__ == "CartcastComputeEngine"

    entities = _sample_entities(real_warehouse)
    _assert_same_answers(_online_answers(stock, entities), _online_answers(fast, entities))

    stock_db = feature_store.feast_dir(stock_wh) / "online_store.db"
    fast_db = feature_store.feast_dir(fast_wh) / "online_store.db"
    stock_rows, fast_rows = _sqlite_rows(stock_db), _sqlite_rows(fast_db)
    assert stock_rows.keys() == fast_rows.keys()
    for table in stock_rows:
        assert stock_rows[table] == fast_rows[table], table
    assert len(stock_rows["cartcast_customer_features"]) > 50_000

    # A batch staged and inserted in many slices (the next one staged while the last one is
    # inserted) stores the same rows as in one.
    sliced_wh = _twin(real_warehouse, tmp_path / "sliced")
    sliced = feature_store.apply(sliced_wh)
    sliced.config.online_store.bulk_entities = 997
    assert sliced._provider.repo_config.online_store.bulk_entities == 997
    skipped = feature_store.check_marts(sliced_wh)
    sliced.materialize(
        start_date=datetime(1970, 1, 1, tzinfo=UTC),
        end_date=datetime.now(UTC),
        feature_views=[v.name for v in sliced.list_feature_views() if v.name not in skipped],
    )
    sliced_db = feature_store.feast_dir(sliced_wh) / "online_store.db"
    assert _sqlite_rows(sliced_db) == fast_rows

    # Materializing again changes nothing; rows pushed through Feast's row interface
    # (the store's batched online_write_batch) land as stock Feast writes them.
    feature_store.materialize(fast_wh)
    pushed = _pushed_rows(real_warehouse)
    stock.write_to_online_store("customer_features", pushed)
    fast.write_to_online_store("customer_features", pushed)
    assert _sqlite_rows(stock_db) == _sqlite_rows(fast_db)


# ---- (b) Redis parity on the real data -------------------------------------------------


def test_redis_bulk_materialization_matches_stock_feast(
    real_warehouse: Warehouse, redis_url: str, tmp_path: Path
) -> None:
    stock_url, fast_url = f"{redis_url},db=1", f"{redis_url},db=2"
    for url in (stock_url, fast_url):
        host, port = redis_url.split(":")
        redis.Redis(host=host, port=int(port), db=int(url[-1])).flushdb()
    stock_wh = _twin(real_warehouse, tmp_path / "stock")
    fast_wh = _twin(real_warehouse, tmp_path / "fast")
    feature_store.apply(stock_wh, online="redis", redis_url=stock_url, fast=False)
    feature_store.apply(fast_wh, online="redis", redis_url=fast_url)
    stock = feature_store.materialize(stock_wh, online="redis", redis_url=stock_url, fast=False)
    fast = feature_store.materialize(fast_wh, online="redis", redis_url=fast_url)
    assert type(stock._provider.online_store).__name__ == "RedisOnlineStore"
    assert type(fast._provider.online_store).__name__ == "CartcastRedisOnlineStore"

    entities = _sample_entities(real_warehouse)
    _assert_same_answers(_online_answers(stock, entities), _online_answers(fast, entities))
    stock_contents, fast_contents = _redis_contents(stock_url), _redis_contents(fast_url)
    assert len(stock_contents) > 10_000
    assert stock_contents == fast_contents

    # Again: every row is now as old as the stored one, so Feast's rule skips them all: no
    # HSET at all, the same hashes. (Not the same HKEYS order: a customer's hash, with the
    # fields of three views, is a real hash table, and the HGETs of the check advance its
    # incremental rehashing, which reorders iteration without changing a value.)
    host, port = redis_url.split(":")
    server = redis.Redis(host=host, port=int(port))
    writes = server.info("commandstats").get("cmdstat_hset", {}).get("calls", 0)
    feature_store.materialize(fast_wh, online="redis", redis_url=fast_url)
    assert server.info("commandstats").get("cmdstat_hset", {}).get("calls", 0) == writes
    again = _redis_contents(fast_url)
    assert again.keys() == stock_contents.keys()
    for key, stored in stock_contents.items():
        assert again[key]["hash"] == stored["hash"] and again[key]["ttl"] == stored["ttl"], key
        assert sorted(again[key]["order"]) == sorted(stored["order"]), key


# ---- (c) Redis down ----------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("fast", [True, False], ids=["bulk", "stock"])
def test_materialize_to_a_redis_that_is_down_says_what_to_do(
    real_warehouse: Warehouse, tmp_path: Path, fast: bool
) -> None:
    warehouse = _twin(real_warehouse, tmp_path / "wh")
    feature_store.apply(warehouse)  # the registry; SQLite needs no server
    url = f"127.0.0.1:{_closed_port()}"
    with pytest.raises(FeatureStoreError) as err:
        feature_store.materialize(
            warehouse,
            online="redis",
            redis_url=url,
            feature_views=["customer_features"],
            fast=fast,
        )
    message = str(err.value)
    assert url in message
    assert "redis-server" in message and "CARTCAST_REDIS_URL" in message
    assert isinstance(err.value.__cause__, redis.exceptions.ConnectionError)


# ---- The encoders alone, against Feast's conversion --------------------------------


def _feast_bytes(array: pa.Array, value_type: ValueType) -> tuple[list, list]:
    protos = python_values_to_proto_values(array.to_numpy(zero_copy_only=False), value_type)
    return (
        [p.SerializeToString() for p in protos],
        [extract_text_and_num(p, False)[0] for p in protos],
    )


def _tricky_doubles(n: int = 100_000) -> list[float | None]:
    rng = np.random.default_rng(7)
    bits = rng.integers(0, 2**63, n, dtype=np.int64).view(np.float64)
    scaled = rng.standard_normal(n) * 10.0 ** rng.integers(-12, 22, n)
    special = [0.0, -0.0, 1.0, -1.0, 0.1, 1e-4, 9.99e-5, 1e-5, 1e15, 1e16, 1.5e16, 123456789.0]
    special += [2.0**53, 1 / 3, math.inf, -math.inf, math.nan, None, 5e-324, 1.7976931348623157e308]
    return [*special, *bits[np.isfinite(bits)].tolist(), *scaled.tolist()]


CASES = [
    (pa.array(_tricky_doubles(), pa.float64()), ValueType.DOUBLE),
    (pa.array([1.5, None, math.nan, -0.0, 3.4e38, 1e-40], pa.float32()), ValueType.FLOAT),
    (pa.array([0, 1, -1, 127, 128, 2**31, -(2**63), 2**63 - 1, 300], pa.int64()), ValueType.INT64),
    (pa.array([0, None, -5, 2**40, 2**53 + 1, 7], pa.int64()), ValueType.INT64),
    (pa.array([0, -1, 2**31 - 1, -(2**31), None], pa.int32()), ValueType.INT32),
    # Integers with nulls come out of Feast's pandas de-duplication as float64.
    (
        pa.array([0.0, None, math.nan, -3.0, 2.0**53, 2.7, -2.7, 1e18], pa.float64()),
        ValueType.INT64,
    ),
    (pa.array([1.0, None, -(2.0**31)], pa.float64()), ValueType.INT32),
    (pa.array([1.0, math.inf], pa.float64()), ValueType.INT64),  # Feast raises: so must we
    (pa.array([True, False, None, True], pa.bool_()), ValueType.BOOL),
    (pa.array([True, False], pa.bool_()), ValueType.BOOL),
    (pa.array(["", "a", None, "é—ü", "x" * 300, "United Kingdom"], pa.string()), ValueType.STRING),
    (pa.array([None, None], pa.float64()), ValueType.DOUBLE),
    # Not vectorized: Feast's own conversion, still through encode_column.
    (pa.array([[1, 2], [], None, [3]], pa.list_(pa.int64())), ValueType.INT64_LIST),
    (pa.array([["a"], None, ["b", "c"]], pa.list_(pa.string())), ValueType.STRING_LIST),
    (pa.array([[0.5], [], None], pa.list_(pa.float64())), ValueType.DOUBLE_LIST),
    (pa.array([1, 2, None], pa.int64()), ValueType.DOUBLE),  # Arrow type unlike the feature's
]


@pytest.mark.parametrize(("array", "value_type"), CASES, ids=[str(c[1]) for c in CASES])
def test_encoded_values_and_texts_are_feasts(array: pa.Array, value_type: ValueType) -> None:
    try:
        feast_values, feast_texts = _feast_bytes(array, value_type)
    except (ValueError, OverflowError, TypeError) as feast_error:
        with pytest.raises(type(feast_error)):
            encode_column(array, value_type)
        return
    encoded = encode_column(array, value_type)
    assert encoded.values.to_pylist() == feast_values
    assert encoded.text() == feast_texts


def _feast_key(row: dict, join_keys: dict[str, ValueType]) -> bytes:
    values = python_values_to_proto_values
    key = EntityKeyProto(
        join_keys=list(join_keys),
        entity_values=[values([row[k]], vt)[0] for k, vt in join_keys.items()],
    )
    return serialize_entity_key(key, entity_key_serialization_version=3)


@pytest.mark.parametrize(
    "join_keys",
    [
        {"customer_id": ValueType.STRING},
        {"user_id": ValueType.INT64},
        {"user_id": ValueType.INT32},
        {"store": ValueType.STRING, "day": ValueType.INT64},
        {"z": ValueType.INT64, "a": ValueType.STRING},
        {"customer_id": ValueType.STRING, "n": ValueType.DOUBLE},  # Feast's path (and its error)
    ],
    ids=lambda j: "+".join(f"{k}:{v.name}" for k, v in j.items()),
)
def test_encoded_entity_keys_are_feasts(join_keys: dict[str, ValueType]) -> None:
    columns = {
        "customer_id": pa.array(["12346", "", "é", "x" * 200]),
        "store": pa.array(["s1", "s2", "s3", "s4"]),
        "a": pa.array(["b", "a", "c", "d"]),
        "user_id": pa.array([0, -1, 2**31 - 1, 7], pa.int32()),
        "day": pa.array([2**40, -5, 0, 1], pa.int64()),
        "z": pa.array([1, 2, 3, 4], pa.int64()),
        "n": pa.array([0.5, 1.5, 2.5, 3.5]),
    }
    table = pa.table({k: columns[k] for k in join_keys})
    rows = table.to_pylist()
    if ValueType.DOUBLE in join_keys.values():
        with pytest.raises(ValueError):
            _feast_key(rows[0], join_keys)
        with pytest.raises(ValueError):
            encode_entity_keys(table, join_keys)
        return
    expected = [_feast_key(row, join_keys) for row in rows]
    assert encode_entity_keys(table, join_keys).to_pylist() == expected


def test_bulk_timestamps_are_feasts() -> None:
    from cartcast.features.bulk.encode import Timestamps
    from cartcast.features.bulk.redis import _timestamp
    from cartcast.features.bulk.sqlite import _sqlite_timestamp

    stamps = pa.array(
        [datetime(2011, 12, 5), datetime(2011, 12, 5), datetime(1969, 7, 20, 20, 17, 40, 5)],
        pa.timestamp("us"),
    )
    encoded = Timestamps.of(stamps)
    assert encoded.codes.tolist() == [0, 0, 1]
    naive = [datetime(2011, 12, 5), datetime(2011, 12, 5), datetime(1969, 7, 20, 20, 17, 40, 5)]
    assert encoded.mapped(lambda d: d) == naive
    assert encoded.mapped(_sqlite_timestamp) == [sqlite3.adapt(d) for d in naive]
    aware = datetime(2011, 12, 5, tzinfo=UTC)
    assert _timestamp(naive[0])[1] == int(aware.timestamp()) * 1_000_000_000


def test_bulk_redis_connection_splits_and_checks_replies(redis_url: str) -> None:
    """The bulk writer reads write replies by counting lines: replies to later commands
    (binary values with line ends inside) must reach the parser intact, errors must raise."""
    from cartcast.features.bulk.redis import _Commands, _frame, _RespConnection

    def commands(*args_list: list[bytes]) -> _Commands:
        raw = b"".join(b"*%d\r\n" % len(a) + b"".join(_frame(x) for x in a) for a in args_list)
        return _Commands(memoryview(raw), len(args_list))

    host, port = redis_url.split(":")
    conn = _RespConnection(host, int(port), {"db": 3})
    try:
        tricky = b"\r\n:1\r\n-\r\n\x00"
        conn.call(commands([b"FLUSHDB"], [b"SET", b"bin", tricky], [b"SET", b"text", b"v"]))
        for _ in range(3):  # a few rounds, so that some reads straddle line ends
            conn.send(commands(*[[b"HSET", b"h", b"f%d" % i, b"1"] for i in range(5000)]))
            conn.send(commands([b"GET", b"bin"], [b"HGET", b"h", b"f7"], [b"GET", b"none"]))
            conn.skip_replies(5000)
            assert conn.read(3) == [tricky, b"1", None]
        conn.send(commands([b"HSET", b"h", b"f", b"1"], [b"HSET", b"text", b"f", b"1"]))
        with pytest.raises(redis.exceptions.ResponseError, match="WRONGTYPE"):
            conn.skip_replies(2)
    finally:
        conn.close()
