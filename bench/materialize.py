"""Materialization throughput: stock Feast against cartcast's bulk engine and stores.

Synthetic customers with the real `customer_features` columns and types (read from the dbt
contract, `cartcast.dbt_contract.mart_columns`), random values (some nulls), one snapshot,
materialized with Feast's Python API into:

- SQLite: stock Feast (`type: sqlite`, `batch_engine: local`) and cartcast's
  (`CartcastSqliteOnlineStore` + `CartcastComputeEngine`, the repository's default);
- Redis: stock `RedisOnlineStore` and `CartcastRedisOnlineStore`, on a redis-server this
  script starts on 127.0.0.1 and a free port and stops afterwards.

Stock Feast is measured on a slice of the customers (it would take many minutes on all of
them); both figures are customers (entities) per second, each with all its features. The
timed part is `FeatureStore.materialize` of `customer_features`: Feast reading the Parquet,
keeping the newest row per customer and writing the online store.

Also printed, as the ceilings the figures run into on this machine: SQLite inserting the
same rows from SQL alone (no Python at all; the median of 3 inserts), and redis-server taking
the same hashes as HSETs from `redis-cli --pipe` (Redis's mass insertion, the protocol made
beforehand); and, as a bound no client reaches, Redis's own time inside each HSET (INFO
commandstats, which leaves out reading and parsing the command). And a parity check: Feast's
`get_online_features` answers the same for a sample of customers from both paths.

    .venv/bin/python bench/materialize.py            # 1,000,000 customers, stock on 50,000
    .venv/bin/python bench/materialize.py --quick    # 20,000 and 5,000, under a minute

The last line is `RESULT materialize sqlite=<customers/s>(<x>) redis=<customers/s>(<x>)
ratio=<SQLite cartcast over stock> sqlite_vs_ceiling=<x> redis_vs_ceiling=<x>
redis_vs_hset_time=<x>`: the last three are cartcast's customers/s over each ceiling, and over
the HSET-time bound, of the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cartcast.features import store as feature_store
from cartcast.testing.local_redis import local_redis as redis_server
from cartcast.warehouse.dbt_contract import mart_columns
from cartcast.warehouse.paths import Warehouse

AS_OF = datetime(2011, 12, 5)
VIEW = "customer_features"
KEYS = {
    "customer_features": "customer_id",
    "customer_sequences": "customer_id",
    "customer_product_history": "customer_id",
    "product_popularity": "catalogue_id",
    "user_event_features": "user_id",
    "user_event_sequences": "user_id",
}
COUNTRIES = [
    "United Kingdom",
    "Germany",
    "France",
    "EIRE",
    "Spain",
    "Netherlands",
    "Belgium",
    "Switzerland",
    "Portugal",
    "Australia",
    "Norway",
    "Italy",
    "Channel Islands",
]
SAMPLE = 200


# ---- synthetic marts with the contract's columns ---------------------------------------


def synthetic_mart(mart: str, n: int, rng: np.random.Generator) -> pa.Table:
    """`n` rows of `mart` with the declared columns and types, one snapshot (AS_OF)."""
    columns = {}
    for col in mart_columns(mart):
        columns[col.name] = _column(col.name, col.data_type, n, rng, key=col.name == KEYS[mart])
    return pa.table(columns)


def _column(name: str, dbt_type: str, n: int, rng: np.random.Generator, key: bool) -> pa.Array:
    nulls = rng.random(n) < 0.05 if not key and name != "as_of" else None
    if dbt_type == "varchar":
        if key:  # distinct ids, in no particular order
            return pc.cast(pa.array(rng.permutation(n) + 100_000), pa.string())
        values = pa.array(rng.choice(COUNTRIES, n)) if name == "country" else None
        if values is None:
            values = pc.cast(pa.array(rng.integers(0, 10_000, n)), pa.string())
        return _with_nulls(values, nulls)
    if dbt_type == "timestamp":
        return pa.array(np.full(n, np.datetime64(AS_OF, "us")), pa.timestamp("us"))
    if dbt_type == "double":
        values = rng.gamma(2.0, 50.0, n) if "spend" in name else rng.random(n) * 100
        return _with_nulls(pa.array(values), nulls)
    if dbt_type in ("bigint", "integer"):
        dtype = pa.int64() if dbt_type == "bigint" else pa.int32()
        return _with_nulls(pa.array(rng.poisson(4.0, n), dtype), nulls)
    if dbt_type == "boolean":
        return _with_nulls(pa.array(rng.random(n) < 0.5), nulls)
    if dbt_type.endswith("[]"):
        inner = _column(name, dbt_type[:-2], 3 * n, rng, key=False).fill_null(
            pa.scalar("0") if dbt_type == "varchar[]" else 0
        )
        offsets = pa.array(np.arange(0, 3 * n + 1, 3), pa.int32())
        return pa.ListArray.from_arrays(offsets, inner)
    raise TypeError(f"{name}: no synthetic values for dbt type {dbt_type!r}")


def _with_nulls(values: pa.Array, nulls: np.ndarray | None) -> pa.Array:
    if nulls is None or not nulls.any():
        return values
    return pc.if_else(pa.array(nulls), pa.scalar(None, values.type), values)


def write_marts(directory: Path, customers: pa.Table, rng: np.random.Generator) -> None:
    """customer_features as given; the other marts small (Feast validates all sources)."""
    directory.mkdir(parents=True)
    pq.write_table(customers, directory / f"{VIEW}.parquet")
    for mart in KEYS:
        if mart != VIEW:
            pq.write_table(synthetic_mart(mart, 100, rng), directory / f"{mart}.parquet")


# ---- Feast, in process ----------------------------------------------------------------


def apply(warehouse: Warehouse, online: str, url: str | None, fast: bool):
    """`feast apply` for this warehouse (no dbt build here, so no check of the marts)."""
    with contextlib.redirect_stdout(io.StringIO()):
        return feature_store.apply(warehouse, online, url, check=False, fast=fast)


def materialize(store, views: list[str] | None = None) -> float:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        start = time.perf_counter()
        store.materialize(
            start_date=AS_OF - timedelta(days=1),
            end_date=AS_OF + timedelta(days=1),
            feature_views=views or [VIEW],
        )
        return time.perf_counter() - start


def run(root: Path, name: str, data: Path, online: str, url: str | None, fast: bool):
    """apply + timed materialize into a fresh registry and online store under root/name.
    Feast prints progress; that output is swallowed to keep the benchmark's readable."""
    warehouse = Warehouse(duckdb_path=root / name / "cartcast.duckdb", parquet_dir=data)
    store = apply(warehouse, online, url, fast)
    return materialize(store), store, feature_store.feast_dir(warehouse)


def same_answers(stock, fast, customers: list[str]) -> bool:
    """Feast's get_online_features (churn_90d_v1: all customer_features) agree, and read data."""
    rows = [{"customer_id": c} for c in customers]
    answers = [
        _nan_as_text(
            store.get_online_features(
                features=store.get_feature_service("churn_90d_v1"), entity_rows=rows
            ).to_dict()
        )
        for store in (stock, fast)
    ]
    filled = sum(v is not None for v in answers[0]["recency_days"])
    return answers[0] == answers[1] and filled > len(customers) // 2


def _nan_as_text(answer: dict[str, list]) -> dict[str, list]:
    return {
        name: ["NaN" if isinstance(x, float) and math.isnan(x) else x for x in values]
        for name, values in answer.items()
    }


# ---- ceilings --------------------------------------------------------------------------


def sqlite_ceiling(
    source_db: Path, customers: int, work: Path, repeats: int = 3
) -> tuple[float, list[float]]:
    """Customers/s SQLite itself manages for the same rows into Feast's table layout:
    INSERT ... SELECT from a copy in memory, in key order, no Python per row; the median of
    `repeats` inserts, each into a new, empty database file (one insert varied by up to 10%
    from run to run, as much as the goal's margin), and each insert's rate."""
    table = f"cartcast_{VIEW}"
    with contextlib.closing(sqlite3.connect(source_db)) as source:
        schema = source.execute(
            "select sql from sqlite_master where name in (?, ?) order by type desc",
            [table, f"{table}_ek"],
        ).fetchall()
    # The rows live in this connection's own in-memory database, read once; each timed
    # insert writes them into a fresh file attached beside it.
    con = sqlite3.connect(":memory:")
    times = []
    try:
        con.execute(f"attach '{source_db}' as src")
        con.execute(
            f"create table main.rows as select * from src.{table} where entity_key in "
            f"(select distinct entity_key from src.{table} order by entity_key "
            f"limit {customers}) order by entity_key, feature_name"
        )
        con.commit()
        con.execute("detach src")
        for i in range(repeats):
            target = work / f"ceiling-{i}.db"
            target.unlink(missing_ok=True)
            with contextlib.closing(sqlite3.connect(target)) as empty:
                for (sql,) in schema:
                    empty.execute(sql)
                empty.commit()
            con.execute(f"attach '{target}' as target")
            start = time.perf_counter()
            with con:
                con.execute(f"insert into target.{table} select * from main.rows")
            times.append(time.perf_counter() - start)
            (n,) = con.execute(f"select count(distinct entity_key) from target.{table}").fetchone()
            con.execute("detach target")
            target.unlink()
        return n / float(np.median(times)), [n / t for t in times]
    finally:
        con.close()


def redis_hset_usec(url: str) -> float:
    import redis

    host, port = url.split(":")
    stats = redis.Redis(host=host, port=int(port)).info("commandstats")
    return float(stats["cmdstat_hset"]["usec_per_call"])


def redis_pipe_ceiling(url: str, work: Path, repeats: int = 3) -> tuple[float, int]:
    """Customers/s redis-server takes the same hashes at, as HSETs fed by `redis-cli --pipe`
    (Redis's own mass insertion: the protocol made beforehand, no client work while timed)
    into an emptied server; the median of `repeats` feeds. Returns the rate and the number
    of hashes."""
    import redis

    host, port = url.split(":")
    client = redis.Redis(host=host, port=int(port))
    keys = sorted(client.scan_iter(count=10_000))
    dump = work / "hsets.resp"
    with dump.open("wb") as out:
        for start in range(0, len(keys), 10_000):
            chunk = keys[start : start + 10_000]
            pipe = client.pipeline(transaction=False)
            for key in chunk:
                pipe.hgetall(key)
            for key, fields in zip(chunk, pipe.execute(), strict=True):
                args = [b"HSET", key, *(x for pair in fields.items() for x in pair)]
                out.write(b"*%d\r\n" % len(args))
                out.write(b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
    times = []
    for _ in range(repeats):
        client.flushall()
        with dump.open("rb") as feed:
            start = time.perf_counter()
            done = subprocess.run(
                ["redis-cli", "-h", host, "-p", port, "--pipe"],
                stdin=feed,
                capture_output=True,
                text=True,
                check=True,
            )
            times.append(time.perf_counter() - start)
        if "errors: 0" not in done.stdout or client.dbsize() != len(keys):
            sys.exit(f"redis-cli --pipe did not write the {len(keys):,} hashes: {done.stdout}")
    dump.unlink()
    return len(keys) / float(np.median(times)), len(keys)


def redis_reset(url: str) -> None:
    import redis

    host, port = url.split(":")
    client = redis.Redis(host=host, port=int(port))
    client.flushall()
    client.config_resetstat()


# ---- main ------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20,000 customers, stock on 5,000")
    parser.add_argument("--customers", type=int, help="customers for cartcast's path")
    parser.add_argument("--stock-customers", type=int, help="customers for stock Feast")
    parser.add_argument("--dir", type=Path, help="work folder (default: a temporary one)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n = args.customers or (20_000 if args.quick else 1_000_000)
    n_stock = min(n, args.stock_customers or (5_000 if args.quick else 50_000))

    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-materialize-") as tmp:
        root = Path(tmp)
        rng = np.random.default_rng(args.seed)
        customers = synthetic_mart(VIEW, n, rng)
        features = len(customers.column_names) - 2
        write_marts(root / "full", customers, rng)
        write_marts(root / "slice", customers.slice(0, n_stock), rng)
        write_marts(root / "warm", customers.slice(0, 500), rng)
        sample = (
            customers.column("customer_id")
            .slice(0, n_stock)
            .to_pylist()[:: max(1, n_stock // SAMPLE)]
        )
        print(
            f"materialize {VIEW}: {n:,} synthetic customers x {features} features "
            f"(real columns and types, one snapshot); stock Feast on the first {n_stock:,}"
        )

        # Warm up both paths (imports, DuckDB, Feast's first-call work) outside the timings.
        for fast in (False, True):
            run(root, f"warm-{fast}", root / "warm", "sqlite", None, fast)

        results = {}
        stock_s, stock, stock_dir = run(root, "sqlite-stock", root / "slice", "sqlite", None, False)
        fast_s, fast, fast_dir = run(root, "sqlite-fast", root / "full", "sqlite", None, True)
        parity = same_answers(stock, fast, sample)
        ceiling, inserts = sqlite_ceiling(fast_dir / "online_store.db", n, root)
        results["sqlite"] = (n_stock / stock_s, n / fast_s, ceiling)
        _report("sqlite", n_stock, stock_s, n, fast_s, parity)
        print(
            f"  ceiling: SQLite alone inserting the same rows (SQL, no Python; median of "
            f"{len(inserts)}): {ceiling:,.0f} customers/s "
            f"(inserts: {', '.join(f'{r:,.0f}' for r in inserts)})"
        )
        del stock, fast
        shutil.rmtree(stock_dir, ignore_errors=True)
        shutil.rmtree(fast_dir, ignore_errors=True)

        with redis_server(root) as url:
            # Stock and cartcast on the slice in two databases (the parity check), then
            # cartcast on all customers into an empty server.
            redis_reset(url)
            stock_s, stock, _ = run(
                root, "redis-stock", root / "slice", "redis", f"{url},db=1", False
            )
            stock_usec = redis_hset_usec(url)
            _, fast_slice, _ = run(
                root, "redis-fast-slice", root / "slice", "redis", f"{url},db=2", True
            )
            parity = same_answers(stock, fast_slice, sample)
            redis_reset(url)
            fast_s, _, _ = run(root, "redis-fast", root / "full", "redis", url, True)
            usec = redis_hset_usec(url)
            pipe_rate, hashes = redis_pipe_ceiling(url, root)
            results["redis"] = (n_stock / stock_s, n / fast_s, pipe_rate, 1e6 / usec)
            _report("redis", n_stock, stock_s, n, fast_s, parity)
            print(
                f"  ceiling: redis-cli --pipe feeding the same {hashes:,} hashes as HSETs "
                f"({features + 1} fields), made beforehand (median of 3): "
                f"{pipe_rate:,.0f} customers/s"
            )
            print(
                f"  bound  : redis-server's time inside HSET alone (INFO commandstats, no "
                f"protocol parsing): {usec:.1f} us (stock run {stock_usec:.1f} us) = "
                f"{1e6 / usec:,.0f} customers/s"
            )

    sqlite_stock, sqlite_fast, sqlite_ceil = results["sqlite"]
    redis_stock, redis_fast, redis_ceil, redis_hset = results["redis"]
    print(
        f"RESULT materialize sqlite={sqlite_fast:,.0f}/s({sqlite_fast / sqlite_stock:.1f}x) "
        f"redis={redis_fast:,.0f}/s({redis_fast / redis_stock:.1f}x) "
        f"ratio={sqlite_fast / sqlite_stock:.1f} "
        f"sqlite_vs_ceiling={sqlite_fast / sqlite_ceil:.2f} "
        f"redis_vs_ceiling={redis_fast / redis_ceil:.2f} "
        f"redis_vs_hset_time={redis_fast / redis_hset:.2f}"
    )


def _report(backend: str, n_stock: int, stock_s: float, n: int, fast_s: float, parity: bool):
    stock_rate, fast_rate = n_stock / stock_s, n / fast_s
    print(f"{backend}:")
    print(
        f"  stock Feast   : {n_stock:>9,} customers in {stock_s:7.1f} s = "
        f"{stock_rate:>9,.0f} customers/s (on a {n_stock:,}-customer slice)"
    )
    print(
        f"  cartcast bulk : {n:>9,} customers in {fast_s:7.1f} s = "
        f"{fast_rate:>9,.0f} customers/s   ratio {fast_rate / stock_rate:.1f}x"
    )
    print(
        f"  parity: get_online_features identical for {SAMPLE} sampled customers: "
        f"{'yes' if parity else 'NO'}"
    )
    if not parity:
        sys.exit(f"{backend}: stock and bulk materialization disagree")


if __name__ == "__main__":
    main()
