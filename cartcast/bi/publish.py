"""Publish what BI tools read as a read-only copy of the warehouse's BI-facing tables.

A publication is a folder `published/<build-id>/` with one Parquet file per table and
`bi.duckdb`, a DuckDB file holding the same tables under the warehouse's own names
(`predictions.purchase_30d_latest`, `monitoring.calibration`, ...), so SQL written against
the warehouse runs unchanged. It is made in two steps:

1. `copy_statements`: `COPY ... TO parquet`, run on a connection that sees the finished build.
   dbt's on-run-end hook runs them on dbt's own connection (the only process that may open
   the warehouse then), through the SQL function `cartcast_bi_plan` the cartcast dbt plugin
   registers; `publish` runs them on a read-only connection after `cartcast score`.
2. `activate`: loads the Parquet files into the publication's `bi.duckdb`, writes the
   manifest last, then swaps the `current` symlink to it with os.replace (atomic), and removes
   publications retired longer than the grace period ago.

A reader opens `published/current/bi.duckdb` read-only. It sees the previous complete
publication until the swap and the new one after it, never a table half-written: nothing in
a publication changes once `current` can point to it. The tables are copied into `bi.duckdb`
rather than read from the Parquet files by views, so a BI connection can run with file access
switched off (`enable_external_access=false`) and still read everything.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from cartcast.bi.paths import CURRENT, DATABASE_FILE, MANIFEST_FILE, BIPaths
from cartcast.errors import BIError
from cartcast.warehouse.connection import connect
from cartcast.warehouse.identifiers import qualified, qualified_from_text
from cartcast.warehouse.paths import Warehouse

# Every table and view of these schemas is published.
PUBLISHED_SCHEMAS = ("predictions", "monitoring")
# And from the registry what a dashboard shows about each model version (not its file path).
REGISTRY = "ml.model_registry"
REGISTRY_COLUMNS = (
    "name", "version", "status", "family", "task", "feature_service", "created_at",
    "promoted_at", "cutoff", "train_start", "train_end", "valid_start", "valid_end",
)  # fmt: skip
# Queries still running on a replaced publication get this long before its files go.
GRACE_S = 15 * 60
# A table with a `reasons` column (a list of {feature, value, contribution}) also gets
# `reasons_text`, the reasons as one line: BI tables show text, not nested lists.
REASONS_TEXT = (
    "array_to_string(list_transform(reasons, lambda r: r.feature || ' = ' || r.\"value\" "
    "|| printf(' (%+.3f)', r.contribution)), '; ')"
)
# The table in each publication that says what it holds (one row per published table).
MANIFEST_TABLE = "cartcast.publication"


@dataclass(frozen=True)
class Publication:
    build_id: str
    path: Path
    published_at: datetime
    source: str
    rows: dict[str, int]

    @property
    def database(self) -> Path:
        return self.path / DATABASE_FILE

    @property
    def tables(self) -> set[str]:
        """Every table of its `bi.duckdb` ("schema.table"), the manifest table included."""
        return {*self.rows, MANIFEST_TABLE}

    def describe(self) -> str:
        tables = len(self.rows)
        return (
            f"Published {tables} table{'s' if tables != 1 else ''} for BI "
            f"({sum(self.rows.values()):,} rows) from {self.source} to {self.path}"
        )


def new_build_id(tag: str | None = None, now: datetime | None = None) -> str:
    """Sorts by time (names are compared as text when cleaning up); unique per run."""
    now = now or datetime.now(UTC)
    suffix = (tag or uuid.uuid4().hex).replace("-", "")[:12]
    return f"{now:%Y%m%dT%H%M%S%fZ}-{suffix}"


def published_tables(available: Iterable[str]) -> list[str]:
    """Which of the warehouse's tables and views ("schema.table") a publication holds."""
    chosen = {
        name for name in available if name.split(".", 1)[0] in PUBLISHED_SCHEMAS or name == REGISTRY
    }
    return sorted(chosen)


def _parquet_path(publication: Path, table: str) -> Path:
    schema, name = table.split(".", 1)
    return publication / "parquet" / schema / f"{name}.parquet"


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def copy_statements(tables: Iterable[str], publication: Path) -> list[str]:
    """One `COPY (select ...) TO '<publication>/parquet/<schema>/<table>.parquet'` per table."""
    statements = []
    for table in tables:
        source = qualified_from_text(table)
        columns = "*"
        if table == REGISTRY:
            columns = ", ".join(qualified(c) for c in REGISTRY_COLUMNS)
        target = _parquet_path(publication, table)
        statements.append(
            f"copy (select {columns} from {source}) to {_sql_text(str(target))} "
            "(format parquet, compression zstd)"
        )
    return statements


def plan(paths: BIPaths, build_id: str, available: Iterable[str], changed: bool) -> list[str]:
    """The COPY statements of a new publication, its folders created; none when there is
    nothing to publish (no predictions yet) or no need (the run changed no BI-facing table
    and a publication exists)."""
    tables = published_tables(available)
    if not any(t.startswith("predictions.") for t in tables):
        return []
    if not changed and current(paths) is not None:
        return []
    publication = paths.publication(build_id)
    for schema in {t.split(".", 1)[0] for t in tables}:
        (publication / "parquet" / schema).mkdir(parents=True, exist_ok=True)
    return copy_statements(tables, publication)


def _load(database: Path, parquet_files: dict[str, Path], meta: dict) -> dict[str, int]:
    """The Parquet files as tables of a new DuckDB file, plus the manifest table."""
    rows: dict[str, int] = {}
    con = duckdb.connect(str(database))
    try:
        con.execute("begin")
        for table, parquet in sorted(parquet_files.items()):
            schema, name = table.split(".", 1)
            con.execute(f"create schema if not exists {qualified(schema)}")
            source = f"read_parquet({_sql_text(str(parquet))})"
            columns = {
                c[0]: c[1] for c in con.execute(f"describe select * from {source}").fetchall()
            }
            reasons = columns.get("reasons", "")  # a list of {feature, value, contribution}
            explained = reasons.startswith("STRUCT(") and reasons.endswith("[]")
            extra = f", {REASONS_TEXT} as reasons_text" if explained else ""
            con.execute(f"create table {qualified(schema, name)} as select *{extra} from {source}")
            (rows[table],) = con.execute(
                f"select count(*) from {qualified(schema, name)}"
            ).fetchone()
        con.execute("create schema if not exists cartcast")
        con.execute(
            f"create table {MANIFEST_TABLE} (build_id varchar, published_at timestamp, "
            "source varchar, table_schema varchar, table_name varchar, rows bigint)"
        )
        con.executemany(
            f"insert into {MANIFEST_TABLE} values (?, ?, ?, ?, ?, ?)",
            [
                [meta["build_id"], meta["published_at"], meta["source"], *t.split(".", 1), n]
                for t, n in rows.items()
            ],
        )
        con.execute("commit")
        con.execute("checkpoint")
    finally:
        con.close()
    return rows


def activate(paths: BIPaths, build_id: str, source: str, grace_s: float = GRACE_S) -> Publication:
    """Load the publication's Parquet files into its `bi.duckdb`, write its manifest, make it
    `current` (atomically) and remove publications retired more than `grace_s` ago."""
    publication = paths.publication(build_id)
    parquet_files = {
        f"{p.parent.name}.{p.stem}": p
        for p in sorted((publication / "parquet").glob("*/*.parquet"))
    }
    if not parquet_files:
        raise BIError(f"Nothing to publish in {publication}: no Parquet files were written.")
    published_at = datetime.now(UTC).replace(tzinfo=None)
    meta = {"build_id": build_id, "published_at": published_at, "source": source}
    database = publication / DATABASE_FILE
    database.unlink(missing_ok=True)
    rows = _load(database, parquet_files, meta)
    manifest = {**meta, "published_at": published_at.isoformat(), "rows": rows}
    _write_atomically(publication / MANIFEST_FILE, json.dumps(manifest, indent=2) + "\n")
    _point_current(paths, build_id)
    cleanup(paths, grace_s)
    return Publication(build_id, publication, published_at, source, rows)


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


def _point_current(paths: BIPaths, build_id: str) -> None:
    # A relative link: the bi/ folder can move with the warehouse.
    link = paths.published / f".{CURRENT}.{uuid.uuid4().hex}"
    os.symlink(build_id, link)
    if paths.current.is_dir() and not paths.current.is_symlink():
        # a copy of the warehouse that followed the link made `current` a real folder: a
        # link cannot replace a folder, and that folder is a stale copy of a publication
        shutil.rmtree(paths.current)
    os.replace(link, paths.current)


def read_manifest(publication: Path) -> Publication | None:
    try:
        manifest = json.loads((publication / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        return None
    return Publication(
        manifest["build_id"],
        publication,
        datetime.fromisoformat(manifest["published_at"]),
        manifest["source"],
        manifest["rows"],
    )


def current(paths: BIPaths) -> Publication | None:
    """The publication `current` points to, if any (None before the first one)."""
    if not paths.current.is_symlink():
        return None
    return read_manifest(paths.published / os.readlink(paths.current))


def cleanup(paths: BIPaths, grace_s: float = GRACE_S, now: datetime | None = None) -> list[Path]:
    """Remove publications that stopped being current more than `grace_s` ago, and
    incomplete ones (no manifest: a run that died mid-publish) older than that; return them."""
    now = (now or datetime.now(UTC)).replace(tzinfo=None)
    if not paths.published.is_dir():
        return []
    pointed = os.readlink(paths.current) if paths.current.is_symlink() else None
    folders = sorted(p for p in paths.published.iterdir() if p.is_dir() and not p.is_symlink())
    complete = [(p, read_manifest(p)) for p in folders]
    removed = []
    for index, (folder, manifest) in enumerate(complete):
        if folder.name == pointed:
            continue
        if manifest is None:
            age = now.timestamp() - folder.stat().st_mtime
            retired_long_ago = age > grace_s
        else:
            # retired when the next newer complete publication was published
            successors = [m for _, m in complete[index + 1 :] if m is not None]
            retired_long_ago = bool(successors) and (
                (now - successors[0].published_at).total_seconds() > grace_s
            )
        if retired_long_ago:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _available(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [
        f"{schema}.{name}"
        for schema, name in con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_catalog = current_database()"
        ).fetchall()
    ]


def publish(
    warehouse: Warehouse,
    source: str = "cartcast bi publish",
    paths: BIPaths | None = None,
    grace_s: float = GRACE_S,
) -> Publication:
    """Publish the warehouse's BI-facing tables now (a read-only connection: WarehouseBusy
    while a build holds the file; that build publishes when it finishes)."""
    paths = paths or BIPaths.for_warehouse(warehouse)
    if not warehouse.duckdb_path.exists():
        raise BIError(
            f"No warehouse at {warehouse.duckdb_path}: build it first (`make demo`, or "
            "`cartcast build`), or point CARTCAST_DUCKDB at yours."
        )
    build_id = new_build_id()
    con = connect(warehouse, read_only=True)
    try:
        statements = plan(paths, build_id, _available(con), changed=True)
        if not statements:
            raise BIError(
                f"Nothing to publish: {warehouse.duckdb_path} has no prediction tables yet. "
                "Train and score first (`cartcast demo`, or `cartcast train --all` then "
                "`cartcast build`)."
            )
        # one transaction: every table from the same state of the warehouse
        con.execute("begin")
        for statement in statements:
            con.execute(statement)
        con.execute("commit")
    finally:
        con.close()
    return activate(paths, build_id, source, grace_s)
