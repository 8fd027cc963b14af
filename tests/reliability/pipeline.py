"""The whole pipeline on a small real slice, and checksums of what it writes.

Reruns and fault tests compare a warehouse's tables, Parquet files and online store before
and after a run; only `scored_at` (when a row was scored) is left out, since it says when,
not what.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import duckdb

from cartcast.warehouse.dbt_runner import dbt_command, dbt_env, run_dbt
from cartcast.warehouse.faults import FAULT_ENV, FAULT_LOG_ENV
from cartcast.warehouse.paths import PROJECT_DIR, Warehouse
from tests.conftest import FIXED_NOW, online_retail_var, taobao_var

SALT = "reliability-pipeline-salt-7e21"
PRIVATE = {"cartcast_pseudonymize_ids": True}
SALT_ENV = {"CARTCAST_ID_SALT": SALT}
IGNORED_COLUMNS = {"scored_at"}
PIPELINE_SCHEMAS = ("marts", "predictions", "monitoring")
BUILD_SCHEMAS = ("staging", "intermediate", "marts")


def write_slice(raw_paths: dict[str, Path], out_dir: Path, before: str | None = None) -> dict:
    """Every 24th customer's order lines (those before `before` if given) and every 8th
    clickstream user: small, but with enough snapshots to train every model."""
    out_dir.mkdir(parents=True, exist_ok=True)
    orders, events = out_dir / "orders.csv", out_dir / "events.csv"
    cut = f"and try_cast(InvoiceDate as timestamp) < '{before}'" if before else ""
    con = duckdb.connect()
    con.execute(
        f"""
        copy (
            select * from read_csv('{raw_paths["online_retail"]}', header=true, all_varchar=true)
            where (try_cast(CustomerID as bigint) % 24 = 0
                   or CustomerID is null and InvoiceNo like '5363%') {cut}
        ) to '{orders}' (header true)
        """
    )
    con.execute(
        f"""
        copy (
            select * from read_csv('{raw_paths["taobao"]}', header=false, all_varchar=true)
            where try_cast(column0 as bigint) % 8 = 0
        ) to '{events}' (header false)
        """
    )
    con.close()
    return {
        "online_retail_invoice_lines": online_retail_var(orders),
        "taobao_user_behavior": taobao_var(events),
    }


def dbt_vars(source_vars: dict) -> dict:
    return {"cartcast_now": FIXED_NOW, **source_vars, **PRIVATE}


def dbt(args: list[str], warehouse: Warehouse, source_vars: dict) -> None:
    run_dbt(
        args,
        warehouse,
        dbt_vars(source_vars),
        work_dir=warehouse.duckdb_path.parent,
        extra_env=SALT_ENV,
    )


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    rows = con.execute(
        "select column_name from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, table],
    ).fetchall()
    return [f'"{name}"' for (name,) in rows if name not in IGNORED_COLUMNS]


def table_checksums(warehouse: Warehouse, schemas: tuple[str, ...]) -> dict[str, tuple]:
    """Rows and an order-independent hash of every row, per table or view (and per Parquet
    file of the warehouse), without the ignored columns."""
    con = duckdb.connect(str(warehouse.duckdb_path), read_only=True)
    try:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            f"where table_schema in {schemas} and table_name not like '%__dbt_%' order by all"
        ).fetchall()
        out = {}
        for schema, name in tables:
            columns = ", ".join(_columns(con, schema, name))
            out[f"{schema}.{name}"] = con.execute(
                f'select count(*), coalesce(sum(hash({columns})), 0) from "{schema}"."{name}"'
            ).fetchone()
        for path in sorted(warehouse.parquet_dir.glob("*.parquet")):
            out[f"parquet/{path.name}"] = parquet_checksum(con, path)
        return out
    finally:
        con.close()


def parquet_checksum(con: duckdb.DuckDBPyConnection, path: Path) -> tuple:
    try:
        return con.execute(
            "select count(*), coalesce(sum(hash(t)), 0) from read_parquet(?) as t", [str(path)]
        ).fetchone()
    except duckdb.Error as err:  # a torn file is a state that is neither before nor after
        return ("unreadable", str(err).splitlines()[0])


def online_rows(warehouse: Warehouse) -> dict[str, str]:
    """A digest of every row of every table of the SQLite online store (creation time left
    out: Feast stamps it when it writes)."""
    path = warehouse.duckdb_path.parent / "feast" / "online_store.db"
    con = sqlite3.connect(path)
    try:
        out = {}
        for (table,) in con.execute("select name from sqlite_master where type = 'table'"):
            digest = hashlib.sha256()
            for row in con.execute(
                f'select entity_key, feature_name, value, event_ts from "{table}" order by 1, 2'
            ):
                digest.update(repr(row).encode())
            out[table] = digest.hexdigest()
        return out
    finally:
        con.close()


def copy_warehouse(source: Warehouse, root: Path) -> Warehouse:
    """A closed warehouse copied (DuckDB file, Parquet, Feast folder) below `root`."""
    shutil.copytree(
        source.duckdb_path.parent, root, ignore=shutil.ignore_patterns("target", "logs")
    )
    return Warehouse.under(root)


def dbt_killed_at(
    point: str, args: list[str], warehouse: Warehouse, source_vars: dict, log: Path
) -> str:
    """Run `dbt <args>` with the fault point `point` armed (CARTCAST_FAULT_POINT): the shipped
    post-hook kills dbt there, after that model's write and before its commit. Returns the
    fault log's line, the proof that the kill happened at that point."""
    env = dbt_env(warehouse, warehouse.duckdb_path.parent, SALT_ENV)
    env |= {FAULT_ENV: point, FAULT_LOG_ENV: str(log)}
    done = subprocess.run(
        dbt_command(args, dbt_vars(source_vars)),
        cwd=PROJECT_DIR,
        env=env,
        text=True,
        capture_output=True,
    )
    if done.returncode != -signal.SIGKILL:
        raise AssertionError(f"dbt was not killed (exit {done.returncode}):\n{done.stdout[-3000:]}")
    return fault_log_line(log, point)


def fault_log_line(log: Path, point: str) -> str:
    """The fault log's one line for `point`; fails when the point was never reached."""
    lines = log.read_text().splitlines() if log.exists() else []
    assert len(lines) == 1 and lines[0].startswith(f"{point} pid="), lines
    return lines[0]


def model_wrote_before(work_dir: Path, model: str) -> bool:
    """Whether dbt's debug log shows a statement of `model` that writes (create, insert,
    delete, copy, or the rename that puts a Python model's table in place) and that DuckDB
    finished ("SQL status: OK"), and no commit of it: the kill came mid-write, not before the
    model began writing nor after it was done."""
    log = (work_dir / "logs" / "dbt.log").read_text(errors="replace")
    node = f"model.cartcast.{model}"
    write = re.compile(r"^\s*(create|insert|delete|copy|alter)\b", re.IGNORECASE | re.MULTILINE)
    blocks = log.split(f"On {node}: ")[1:]
    committed = any(block.startswith("COMMIT") for block in blocks)
    finished_write = any(write.search(b) and "SQL status: OK" in b for b in blocks)
    return finished_write and not committed


def run_python(
    script: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_DIR), **(env or {})},
    )
