"""BI reads while `dbt build` writes: the published copy against the warehouse file itself.

On a copy of a built warehouse (default: the one `make demo` built, with its trained models),
the script publishes once (`cartcast bi publish`), then runs `dbt build` (the whole DAG,
scoring and monitoring included; `--quick`: only `--select tag:scoring`) while two reader
processes loop over the dashboard's queries, each query on a new read-only connection, as
Superset opens one per query:

- **published**: `warehouse/bi/published/current/bi.duckdb`, what the BI server reads. After
  each query the same connection checks the publication is whole: every table's row count
  equals the count its manifest (`cartcast.publication`) recorded, and
  `purchase_30d_latest` has one row per customer. A read that disagrees counts as
  inconsistent (a half-written table);
- **warehouse** (the peer): the warehouse file itself, read-only, what a BI tool pointed at
  the warehouse would do. It starts once dbt holds the file (dbt's first node started): a
  reader that has the file open at the moment dbt opens it makes the build itself fail.

Figures cover the queries started while dbt ran: queries, errors, inconsistent reads, median
and longest wait (opening the connection plus the query), and which publications the
published reader saw (the build publishes a new one when it ends; readers go on for a few
seconds after it, to see it).

    .venv/bin/python bench/bi_concurrency.py              # `dbt build`, a copy of the demo's
    .venv/bin/python bench/bi_concurrency.py --quick      # `dbt build --select tag:scoring`
    .venv/bin/python bench/bi_concurrency.py --warehouse PATH/cartcast.duckdb --artifacts PATH

The last line is `RESULT bi queries=<n> errors=<n> inconsistent=<n> longest_wait_ms=<ms>
publications_seen=<n> build_s=<s> direct_queries=<n> direct_errors=<n>
ratio=<share of the published reader's queries that succeeded / the warehouse reader's>`.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cartcast.bi.paths import BIPaths
from cartcast.bi.publish import MANIFEST_TABLE, publish
from cartcast.registry.versions import artifacts_dir
from cartcast.warehouse.dbt_runner import run_dbt
from cartcast.warehouse.paths import Warehouse

# What the dashboard's charts ask (valid on the warehouse and on a publication).
QUERIES = (
    "select customer_id, score, score_decile, reasons from predictions.purchase_30d_latest "
    "order by score desc limit 25",
    "select score_decile, avg(score) from predictions.churn_90d_latest group by 1 order by 1",
    "select sum(score), count(*) from predictions.spend_90d_latest",
    "select model_name, as_of, max(roc_auc) from monitoring.realized_performance "
    "group by all order by all",
    "select model_name, score_decile, sum(mean_score * rows) / sum(rows), "
    "sum(mean_outcome * rows) / sum(rows) from monitoring.calibration group by all order by all",
    "select model_name, as_of, sum(case when drift_level <> 'stable' then 1 else 0 end) "
    "from monitoring.feature_drift group by all order by all",
)
PAUSE_S = 0.05
AFTER_BUILD_S = 5.0


def _whole(con) -> bool:
    """Every table holds the rows its manifest says, and the latest view one per customer."""
    manifest = con.execute(
        f"select table_schema, table_name, rows from {MANIFEST_TABLE}"
    ).fetchall()
    counts = " union all ".join(
        f'select \'{s}.{t}\', count(*) from "{s}"."{t}"' for s, t, _ in manifest
    )
    found = dict(con.execute(counts).fetchall())
    if any(found[f"{s}.{t}"] != rows for s, t, rows in manifest):
        return False
    total, customers = con.execute(
        "select count(*), count(distinct customer_id) from predictions.purchase_30d_latest"
    ).fetchone()
    return total == customers


def read_loop(path: str, check: bool, stop, out: str) -> None:
    import duckdb

    records = []
    i = 0
    while not stop.is_set():
        sql = QUERIES[i % len(QUERIES)]
        i += 1
        started = time.time()
        record = {"t": started, "ok": True, "whole": None, "build": None, "error": None}
        try:
            con = duckdb.connect(path, read_only=True)
            try:
                con.execute(sql).fetchall()
                record["wait_ms"] = (time.time() - started) * 1000
                if check:
                    record["whole"] = _whole(con)
                    record["build"] = con.execute(
                        f"select any_value(build_id) from {MANIFEST_TABLE}"
                    ).fetchone()[0]
            finally:
                con.close()
        except duckdb.Error as err:
            record.update(ok=False, error=str(err).splitlines()[0][:200])
            record["wait_ms"] = (time.time() - started) * 1000
        records.append(record)
        time.sleep(PAUSE_S)
    Path(out).write_text(json.dumps(records))


def summarize(records: list[dict], start: float, end: float) -> dict:
    during = [r for r in records if start <= r["t"] <= end]
    waits = [r["wait_ms"] for r in during if r["ok"]]
    return {
        "queries": len(during),
        "errors": sum(not r["ok"] for r in during),
        "inconsistent": sum(r["whole"] is False for r in during),
        "p50_ms": statistics.median(waits) if waits else float("nan"),
        "longest_ms": max(waits) if waits else float("nan"),
        "longest_any_ms": max((r["wait_ms"] for r in during), default=float("nan")),
        "builds": sorted({r["build"] for r in records if r["build"]}),
        "first_error": next((r["error"] for r in during if r["error"]), None),
        # when the queries that did succeed started, in seconds before the build ended
        "ok_before_end_s": sorted(end - r["t"] for r in during if r["ok"]),
    }


def wait_for_dbt(log: Path, builder: threading.Thread, timeout_s: float = 600) -> float:
    """When dbt's log shows its first node (or hook) started: dbt then holds the file."""
    deadline = time.time() + timeout_s
    while time.time() < deadline and builder.is_alive():
        if log.exists() and re.search(r"\b1 of \d+ START", log.read_text(errors="replace")):
            return time.time()
        time.sleep(0.2)
    return time.time()


def copy_warehouse(source: Warehouse, root: Path) -> Warehouse:
    copy = Warehouse.under(root)
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source.duckdb_path, copy.duckdb_path)
    if source.parquet_dir.exists():
        shutil.copytree(source.parquet_dir, copy.parquet_dir)
    return copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="Only `dbt build --select tag:scoring`."
    )
    parser.add_argument(
        "--warehouse", type=Path, help="A built warehouse file (default: the demo's)."
    )
    parser.add_argument(
        "--artifacts", type=Path, help="Its models and encoders (default: its artifacts)."
    )
    parser.add_argument("--keep", action="store_true", help="Keep the copy (printed).")
    args = parser.parse_args()

    source = Warehouse.from_env()
    if args.warehouse:
        source = Warehouse(args.warehouse.resolve(), args.warehouse.resolve().parent / "parquet")
    if not source.duckdb_path.exists():
        sys.exit(
            f"No warehouse at {source.duckdb_path}: run `make demo` first, or pass --warehouse."
        )
    artifacts = (args.artifacts or artifacts_dir(source)).resolve()
    root = Path(tempfile.mkdtemp(prefix="bi_concurrency_"))
    try:
        warehouse = copy_warehouse(source, root / "warehouse")
        # the copy scores with the source's models; nothing else of the source is touched
        os.environ["CARTCAST_ARTIFACTS"] = str(artifacts)
        paths = BIPaths.for_warehouse(warehouse)
        first = publish(warehouse, source="bench")
        print(first.describe())

        ctx = mp.get_context("spawn")
        stop = ctx.Event()
        outs = {"published": root / "published.json", "warehouse": root / "warehouse.json"}
        published_reader = ctx.Process(
            target=read_loop, args=(str(paths.current_database), True, stop, str(outs["published"]))
        )
        direct_reader = ctx.Process(
            target=read_loop, args=(str(warehouse.duckdb_path), False, stop, str(outs["warehouse"]))
        )
        build = ["build", *(["--select", "tag:scoring"] if args.quick else [])]
        outcome: dict = {}

        def run_build() -> None:
            try:
                run_dbt(build, warehouse, work_dir=root)
            except Exception as err:  # reported below, after the readers stop
                outcome["error"] = err

        try:
            published_reader.start()
            time.sleep(2)
            print(f"dbt {' '.join(build)} on {warehouse.duckdb_path}, readers running ...")
            builder = threading.Thread(target=run_build)
            start = time.time()
            builder.start()
            # A reader of the warehouse file that opens it as dbt starts makes dbt fail: the
            # peer starts once dbt holds the file (its first node has started).
            direct_start = wait_for_dbt(root / "logs" / "dbt.log", builder)
            direct_reader.start()
            builder.join()
            end = time.time()
            time.sleep(AFTER_BUILD_S)
        finally:
            stop.set()
            for reader in (published_reader, direct_reader):
                if reader.pid is not None:  # started
                    reader.join(timeout=60)
                    if reader.is_alive():
                        reader.terminate()
        if "error" in outcome:
            raise outcome["error"]
        results = {
            "published": summarize(json.loads(outs["published"].read_text()), start, end),
            "warehouse": summarize(json.loads(outs["warehouse"].read_text()), direct_start, end),
        }
    finally:
        if args.keep:
            print(f"kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    build_s = end - start
    pub, direct = results["published"], results["warehouse"]
    print(f"\nBI reads while `dbt {' '.join(build)}` ran ({build_s:.0f} s):")
    print(
        f"{'reader':<36}{'queries':>9}{'errors':>8}{'inconsistent':>14}{'p50 ms':>9}"
        f"{'longest ms':>12}"
    )
    for name, r in (
        ("published copy (what Superset reads)", pub),
        ("the warehouse file itself", direct),
    ):
        inconsistent = r["inconsistent"] if name.startswith("published") else "-"
        print(
            f"{name:<36}{r['queries']:>9,}{r['errors']:>8,}{inconsistent!s:>14}"
            f"{r['p50_ms']:>9.1f}{r['longest_ms']:>12.1f}"
        )
    print(
        f"publications the published reader saw: {len(pub['builds'])} ({', '.join(pub['builds'])})"
    )
    if direct["first_error"]:
        print(f"the warehouse reader's first error: {direct['first_error']}")
    if direct["ok_before_end_s"]:
        late = direct["ok_before_end_s"]
        print(
            f"the warehouse reader's {len(late)} successful queries started {late[-1]:.1f} to "
            f"{late[0]:.1f} s before the build ended"
        )
    if pub["first_error"]:
        print(f"the published reader's first error: {pub['first_error']}")
    ok_pub = 1 - pub["errors"] / max(pub["queries"], 1)
    ok_direct = 1 - direct["errors"] / max(direct["queries"], 1)
    ratio = ok_pub / ok_direct if ok_direct else float("inf")
    print(
        f"RESULT bi queries={pub['queries']} errors={pub['errors']} "
        f"inconsistent={pub['inconsistent']} longest_wait_ms={pub['longest_ms']:.1f} "
        f"publications_seen={len(pub['builds'])} build_s={build_s:.0f} "
        f"direct_queries={direct['queries']} direct_errors={direct['errors']} ratio={ratio:.1f}"
    )


if __name__ == "__main__":
    main()
