"""Online lookup latency: Feast's get_online_features for one customer, after cartcast's
bulk materialization, in process and over the Feast feature server's HTTP.

Synthetic customers with the real `customer_features` columns (as in bench/materialize.py)
are materialized with cartcast's engine into SQLite and into Redis (a redis-server started
here on 127.0.0.1 and a free port, stopped afterwards). Then, for random customers:

- in process: `FeatureStore.get_online_features(features=<churn_90d_v1 service>,
  entity_rows=[one customer])`, through cartcast's store classes and, as the peer, through
  Feast's stock store classes reading the same data (reads are Feast's own code either way);
- over HTTP: the Feast feature server (`feast.feature_server.get_app`, uvicorn) in a
  subprocess, POST /get-online-features for one customer on a kept-alive connection;
- scoring one customer in process, what `cartcast predict --customer ID --model churn_90d`
  does after start-up: `scoring.online.predict_one` (the online features through
  cartcast's store, then the champion's ONNX file on a single-threaded ONNX Runtime session
  from `open_model`). The model is the churn_90d MLP of bench/scoring.py (preprocessing
  fitted on synthetic rows, one epoch, exported with `export_torch`), registered as champion
  in each warehouse. The ONNX part alone (`model.score` on a feed built from features
  already fetched) is printed beside it;
- one customer's next products in process, what `cartcast recommend --customer ID` does after
  start-up: `scoring.recommend_online.recommend_one` (one `get_online_features` call for the
  customer's `customer_sequences` and `customer_product_history` rows and the catalogue's
  `product_popularity` row, then the next_products ONNX file on a single-threaded session).
  Synthetic marts as long as the real ones (histories of up to 100 products, 40 on average,
  the 20 most recent products, 300 best sellers, a catalogue of 4,000 products) for up to
  20,000 customers; the model is the demo champion's family (the repeat-aware mix, no
  encoder) exported untrained with `recommend_export.export`, which takes the same time per
  call. The ONNX part alone is printed beside it.

Each figure: p50 and p99 of 1,000 calls after 100 warm-up calls.

    .venv/bin/python bench/online.py            # 100,000 customers materialized
    .venv/bin/python bench/online.py --quick    # 5,000 customers, 300 calls

The last line is `RESULT online sqlite_p99=<ms> redis_p99=<ms> http_p99=<ms>
predict_p99=<ms, the higher of SQLite and Redis> ratio=<stock p99 / cartcast p99, in process
on SQLite> recommend_p99_ms=<recommend_one's p99, the higher of SQLite and Redis>`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
# The project root ahead of bench/: bench/scoring.py would otherwise hide the `scoring` package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from materialize import (
    AS_OF,
    VIEW,
    apply,
    materialize,
    synthetic_mart,
    write_marts,
)
from scoring_module import bench_scoring

from cartcast.features import store as feature_store
from cartcast.testing.local_redis import free_port
from cartcast.testing.local_redis import local_redis as redis_server
from cartcast.warehouse.paths import Warehouse

BENCH = Path(__file__).resolve().parent
SERVICE = "churn_90d_v1"
RECOMMENDER = "next_products"
RECOMMENDER_VIEWS = ["customer_sequences", "customer_product_history", "product_popularity"]
RECOMMEND_CUSTOMERS = 20_000
# as long as the bundled data's: its best sellers are every product sold in 90 days (up to 3,012)
CATALOGUE, HISTORY, RECENT, POPULAR = 4_000, 100, 20, 3_000
MODEL = "churn_90d"  # scores from SERVICE's features
SERVER = """
import sys, uvicorn
from pathlib import Path
from feast.feature_server import get_app
from cartcast.features.store import get_store
from cartcast.warehouse.paths import Warehouse
duckdb_path, parquet_dir, online, url, port = sys.argv[1:]
warehouse = Warehouse(duckdb_path=Path(duckdb_path), parquet_dir=Path(parquet_dir))
store = get_store(warehouse, online, url or None)
uvicorn.run(get_app(store), host="127.0.0.1", port=int(port), log_level="warning",
            access_log=False)
"""


def percentiles(seconds: list[float]) -> tuple[float, float]:
    ms = np.array(seconds) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def in_process(store, customers: list[str], calls: int, warmup: int) -> tuple[float, float]:
    service = store.get_feature_service(SERVICE)
    rng = np.random.default_rng(1)
    picks = rng.choice(customers, warmup + calls)
    timings = []
    for i, customer in enumerate(picks):
        start = time.perf_counter()
        answer = store.get_online_features(
            features=service, entity_rows=[{"customer_id": str(customer)}]
        ).to_dict()
        elapsed = time.perf_counter() - start
        if i >= warmup:
            timings.append(elapsed)
    if answer["recency_days"] == [None] and answer["orders_lifetime"] == [None]:
        sys.exit("in-process lookups read nothing: materialization did not land")
    return percentiles(timings)


def predict(
    store, warehouse: Warehouse, customers: list[str], calls: int, warmup: int
) -> list[tuple[float, float]]:
    """p50/p99 of predict_one (features + score); of the ONNX score alone; and of the same
    work two other ways: the feature service read from Feast's cached registry
    (`get_feature_service(..., allow_cache=True)`) on every call, and fetched once."""
    from scoring.online import online_feed, open_model, predict_one

    model = open_model(warehouse, MODEL)
    rng = np.random.default_rng(3)
    picks = rng.choice(customers, warmup + calls)
    timings, fetched = [], []
    for i, customer in enumerate(picks):
        start = time.perf_counter()
        # synthetic snapshots are dated in the generator's calendar, not today's: the ages are
        # still measured on every call (the same work), only not enforced
        answer = predict_one(str(customer), model, store, warehouse, allow_stale=True)
        elapsed = time.perf_counter() - start
        if not 0.0 <= answer.score <= 1.0:
            sys.exit(f"{MODEL} scored {answer.score} for customer {customer}")
        if i >= warmup:
            timings.append(elapsed)
            fetched.append(answer.features)
    alone = []
    for features in fetched:
        start = time.perf_counter()
        model.score(online_feed(model, features))
        alone.append(time.perf_counter() - start)
    once = store.get_feature_service(SERVICE)
    variants = []
    for fetch in (lambda: store.get_feature_service(SERVICE, allow_cache=True), lambda: once):
        seconds = []
        for i, customer in enumerate(picks):
            start = time.perf_counter()
            row = store.get_online_features(
                features=fetch(), entity_rows=[{"customer_id": str(customer)}]
            ).to_dict()
            model.score(online_feed(model, {name: values[0] for name, values in row.items()}))
            if i >= warmup:
                seconds.append(time.perf_counter() - start)
        variants.append(percentiles(seconds))
    return [percentiles(timings), percentiles(alone), *variants]


# ---- the recommender --------------------------------------------------------------------


def _lists(lengths: np.ndarray, values: np.ndarray, arrow_type: pa.DataType) -> pa.Array:
    offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, arrow_type))


def _table(mart: str, columns: dict[str, pa.Array]) -> pa.Table:
    """The columns in the order the dbt contract declares them (and no others)."""
    from cartcast.warehouse.dbt_contract import mart_columns

    names = [c.name for c in mart_columns(mart)]
    if sorted(names) != sorted(columns):
        sys.exit(f"synthetic {mart} has columns {sorted(columns)}, its contract {names}")
    return pa.table({name: columns[name] for name in names})


def recommender_marts(directory: Path, customers: list[str], rng: np.random.Generator) -> list:
    """customer_sequences, customer_product_history and product_popularity as long as the real
    marts (in place of write_marts' small ones), one snapshot; returns the catalogue."""
    vocab = [str(20_000 + i) for i in range(CATALOGUE)]
    skew = 1.0 / np.arange(1, CATALOGUE + 1)
    skew /= skew.sum()
    n = len(customers)
    ids = pa.array(customers, pa.string())
    as_of = pa.array(np.full(n, np.datetime64(AS_OF, "us")), pa.timestamp("us"))
    recent = np.minimum(RECENT, 1 + rng.geometric(1 / 17, n))
    seen = np.minimum(HISTORY, 1 + rng.geometric(1 / 45, n))
    bought = np.concatenate([rng.choice(CATALOGUE, size, replace=False) for size in seen])
    orders = np.concatenate([-np.sort(-(1 + rng.poisson(1.0, size))) for size in seen])
    last = rng.random(seen.sum()) * 300
    starts = np.cumsum(seen) - seen
    orders_before = np.maximum.reduceat(orders, starts) + rng.poisson(2.0, n)
    names = np.array(vocab, dtype=object)
    pq.write_table(
        _table(
            "customer_sequences",
            {
                "customer_id": ids,
                "as_of": as_of,
                "recent_product_ids": _lists(
                    recent, names[rng.choice(CATALOGUE, recent.sum(), p=skew)], pa.string()
                ),
                "recent_quantities": _lists(recent, 1 + rng.poisson(3, recent.sum()), pa.int64()),
                "recent_days_before_as_of": _lists(
                    recent, np.round(rng.random(recent.sum()) * 200, 6), pa.float64()
                ),
                "sequence_length": pa.array(recent, pa.int64()),
            },
        ),
        directory / "customer_sequences.parquet",
    )
    pq.write_table(
        _table(
            "customer_product_history",
            {
                "customer_id": ids,
                "as_of": as_of,
                "history_product_ids": _lists(seen, names[bought], pa.string()),
                "history_orders": _lists(seen, orders, pa.int64()),
                "history_days_since_last": _lists(seen, np.round(last, 6), pa.float64()),
                "history_days_since_first": _lists(
                    seen, np.round(last + rng.random(seen.sum()) * 100, 6), pa.float64()
                ),
                "history_length": pa.array(seen, pa.int64()),
                "orders_before": pa.array(orders_before, pa.int64()),
            },
        ),
        directory / "customer_product_history.parquet",
    )
    lines = np.sort(rng.integers(50, 800, POPULAR))[::-1]
    pq.write_table(
        _table(
            "product_popularity",
            {
                "catalogue_id": pa.array(["all"]),
                "as_of": pa.array([np.datetime64(AS_OF, "us")], pa.timestamp("us")),
                "popular_product_ids": pa.array([vocab[:POPULAR]], pa.list_(pa.string())),
                "popular_lines_90d": pa.array([lines.tolist()], pa.list_(pa.int64())),
                "popular_lines_30d": pa.array([(lines // 3).tolist()], pa.list_(pa.int64())),
            },
        ),
        directory / "product_popularity.parquet",
    )
    return vocab


def build_recommender(folder: Path, data: Path, vocab: list[str]) -> Path:
    """The repeat-aware mix over the synthetic catalogue, exported to ONNX untrained."""
    import torch

    from cartcast.features.recommend_rows import HISTORY_COLUMNS, Popular, padded, rows_from_table
    from cartcast.training import recommend_export as rexport
    from cartcast.training import recommender as rec
    from cartcast.training.export import save

    torch.manual_seed(0)
    sequences = pq.read_table(data / "customer_sequences.parquet").slice(0, 7)
    history = pq.read_table(data / "customer_product_history.parquet").slice(0, 7)
    table = sequences.select(["customer_id", "as_of", "recent_product_ids"])
    for name in (*HISTORY_COLUMNS, "orders_before"):
        table = table.append_column(name, history.column(name))
    rows = rows_from_table(table, RECENT, HISTORY)
    best = pq.read_table(data / "product_popularity.parquet")
    popular = Popular(
        padded(best.column("popular_product_ids"), POPULAR, "", object)[0],
        padded(best.column("popular_lines_90d"), POPULAR, 0.0, np.float32)[0],
        padded(best.column("popular_lines_30d"), POPULAR, 0.0, np.float32)[0],
    )
    # co-purchase neighbours of a trained model's shape, so the graph's co-purchase step
    # costs here what it costs in production
    n = len(vocab)
    positions = (np.arange(n)[:, None] + np.arange(1, rec.NEIGHBOURS + 1)[None]) % n
    neighbours = rec.Neighbours(positions, np.ones(positions.shape, dtype=np.float32))
    model = rec.NextProducts(None, n, n, neighbours)
    example = rec.Batch.of(rows, popular, rec.Coder(vocab))
    metadata = {
        "model_name": RECOMMENDER,
        "version": "1",
        "task": "recommend",
        "feature_service": f"{RECOMMENDER}_v1",
        "candidate": "repeat-aware mix (untrained)",
        "family": "torch",
        "history_width": str(HISTORY),
        "sequence_length": str(RECENT),
        "n_seen": str(len(vocab)),
    }
    folder.mkdir(parents=True, exist_ok=True)
    return save(rexport.export(model, vocab, example, metadata), folder / "model.onnx")


def register_recommender(warehouse: Warehouse, path: Path) -> None:
    from cartcast.registry import versions as registry

    registry.register(
        warehouse,
        name=RECOMMENDER,
        version=1,
        task="recommend",
        feature_service=f"{RECOMMENDER}_v1",
        family="torch",
        train_window=("2011-01-01T00:00:00+00:00", "2011-08-01T00:00:00+00:00"),
        valid_window=("2011-08-01T00:00:00+00:00", "2011-11-01T00:00:00+00:00"),
        cutoff="2011-08-01T00:00:00+00:00",
        metrics={"champion": "repeat-aware mix (untrained)", "selection_metric": "ndcg_at_10"},
        path=path,
    )


def recommend(
    store, warehouse: Warehouse, customers: list[str], calls: int, warmup: int
) -> tuple[tuple[float, float], tuple[float, float]]:
    """p50/p99 of recommend_one (features + list) for one customer, and of the ONNX part alone
    (the arrays built from features already fetched, then the session's run)."""
    from datetime import UTC, timedelta

    from cartcast.features.online import read_row
    from scoring.recommend_online import (
        customer_rows,
        open_recommender,
        popular_row,
        recommend_one,
    )

    model = open_recommender(warehouse, RECOMMENDER)
    now = AS_OF.replace(tzinfo=UTC) + timedelta(days=1)
    rng = np.random.default_rng(4)
    picks = rng.choice(customers, warmup + calls)
    timings = []
    for i, customer in enumerate(picks):
        start = time.perf_counter()
        answer = recommend_one(store, str(customer), 10, now, model=model)
        elapsed = time.perf_counter() - start
        if answer.cold_start or len(answer.items) != 10:
            sys.exit(f"{RECOMMENDER} gave customer {customer} no history-based list: {answer}")
        if i >= warmup:
            timings.append(elapsed)
    entity = {"customer_id": str(picks[-1]), "catalogue_id": "all"}
    values, _ = read_row(store, model.feature_service, entity, now)
    net = model.model
    alone = []
    for _ in range(calls):
        start = time.perf_counter()
        rows = customer_rows(values, entity["customer_id"], now, net.length, net.width)
        net.run(rows, popular_row(values, net.popular_width), 10, model.repeats, model.unseen)
        alone.append(time.perf_counter() - start)
    return percentiles(timings), percentiles(alone)


def over_http(
    warehouse: Warehouse, online: str, url: str, customers: list[str], calls: int, warmup: int
) -> tuple[float, float]:
    port = free_port()
    args = [str(warehouse.duckdb_path), str(warehouse.parquet_dir), online, url, str(port)]
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        conn = _wait_for_server(server, port)
        rng = np.random.default_rng(2)
        timings = []
        for i, customer in enumerate(rng.choice(customers, warmup + calls)):
            body = json.dumps({"feature_service": SERVICE, "entities": {"customer_id": [customer]}})
            start = time.perf_counter()
            conn.request("POST", "/get-online-features", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            payload = response.read()
            elapsed = time.perf_counter() - start
            if response.status != 200:
                sys.exit(f"feature server answered {response.status}: {payload[:500]!r}")
            if i >= warmup:
                timings.append(elapsed)
        conn.close()
        return percentiles(timings)
    finally:
        server.terminate()
        server.wait(timeout=20)


def _wait_for_server(server: subprocess.Popen, port: int) -> http.client.HTTPConnection:
    deadline = time.monotonic() + 120
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", "/health")
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                return conn
        except OSError:
            conn.close()
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            sys.exit(f"feature server did not start: {server.stderr.read().decode()[-2000:]}")
        time.sleep(0.3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5,000 customers, 300 calls")
    parser.add_argument("--customers", type=int)
    parser.add_argument("--calls", type=int)
    parser.add_argument("--dir", type=Path, help="work folder (default: a temporary one)")
    args = parser.parse_args()
    n = args.customers or (5_000 if args.quick else 100_000)
    calls = args.calls or (300 if args.quick else 1_000)
    warmup = 100

    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-online-") as tmp:
        root = Path(tmp)
        rng = np.random.default_rng(0)
        table = synthetic_mart(VIEW, n, rng)
        write_marts(root / "data", table, rng)
        customers = table.column("customer_id").to_pylist()
        shoppers = customers[:RECOMMEND_CUSTOMERS]
        vocab = recommender_marts(root / "data", shoppers, rng)
        scoring_bench = bench_scoring()
        model_path = scoring_bench.build_model(root / "model", 0)
        recommender_path = build_recommender(root / "recommender", root / "data", vocab)
        print(
            f"get_online_features({SERVICE}: {len(table.column_names) - 2} features) for one "
            f"customer of {n:,} materialized; p50/p99 of {calls:,} calls after {warmup} warm-up"
        )
        results = {}
        with redis_server(root) as url:
            for online, store_url in (("sqlite", ""), ("redis", url)):
                warehouse = Warehouse(root / online / "cartcast.duckdb", root / "data")
                store = apply(warehouse, online, store_url or None, True)
                materialize(store)
                materialize(store, RECOMMENDER_VIEWS)
                fast = in_process(store, customers, calls, warmup)
                stock_store = feature_store.get_store(warehouse, online, store_url or None, False)
                stock = in_process(stock_store, customers, calls, warmup)
                http = over_http(warehouse, online, store_url, customers, calls, warmup)
                scoring_bench.register_model(warehouse, model_path)
                scored, onnx_alone, cached, once = predict(
                    store, warehouse, customers, calls, warmup
                )
                register_recommender(warehouse, recommender_path)
                listed, list_alone = recommend(store, warehouse, shoppers, calls, warmup)
                results[online] = (fast, stock, http, scored, listed)
                print(f"{online}:")
                print(
                    f"  in process, cartcast store : p50 {fast[0]:6.2f} ms  p99 {fast[1]:6.2f} ms"
                )
                print(
                    f"  in process, stock store    : p50 {stock[0]:6.2f} ms  p99 {stock[1]:6.2f} ms"
                )
                print(
                    f"  HTTP feature server        : p50 {http[0]:6.2f} ms  p99 {http[1]:6.2f} ms"
                )
                print(
                    f"  predict_one ({MODEL})    : p50 {scored[0]:6.2f} ms  p99 {scored[1]:6.2f} ms"
                    f"  (the ONNX score alone: p50 {onnx_alone[0]:.3f} ms, "
                    f"p99 {onnx_alone[1]:.3f} ms)"
                )
                print(
                    f"  same, registry cached      : p50 {cached[0]:6.2f} ms  "
                    f"p99 {cached[1]:6.2f} ms  (get_feature_service(..., allow_cache=True))"
                )
                print(
                    f"  same, service fetched once : p50 {once[0]:6.2f} ms  p99 {once[1]:6.2f} ms"
                )
                print(
                    f"  recommend_one ({RECOMMENDER}): p50 {listed[0]:6.2f} ms  "
                    f"p99 {listed[1]:6.2f} ms  (the ONNX part alone: p50 {list_alone[0]:.3f} ms, "
                    f"p99 {list_alone[1]:.3f} ms; {len(shoppers):,} customers with histories)"
                )

    (sqlite_fast, sqlite_stock, sqlite_http, sqlite_predict, sqlite_listed) = results["sqlite"]
    (redis_fast, _, redis_http, redis_predict, redis_listed) = results["redis"]
    http_p99 = max(sqlite_http[1], redis_http[1])
    predict_p99 = max(sqlite_predict[1], redis_predict[1])
    recommend_p99 = max(sqlite_listed[1], redis_listed[1])
    print(
        f"RESULT online sqlite_p99={sqlite_fast[1]:.2f}ms redis_p99={redis_fast[1]:.2f}ms "
        f"http_p99={http_p99:.2f}ms predict_p99={predict_p99:.2f}ms "
        f"ratio={sqlite_stock[1] / sqlite_fast[1]:.2f} recommend_p99_ms={recommend_p99:.2f}"
    )


if __name__ == "__main__":
    main()
