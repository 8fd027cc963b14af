"""Publishing the BI-facing tables: what a publication holds, the atomic pointer, cleanup."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from cartcast.bi import publish
from cartcast.bi.paths import BIPaths
from cartcast.errors import BIError, WarehouseBusy
from cartcast.warehouse.paths import Warehouse

REASONS = "[{'feature': 'orders_30d', 'value': '3', 'contribution': 0.25}, " \
    "{'feature': 'country', 'value': 'France', 'contribution': -0.125}]"  # fmt: skip


def make_warehouse(root: Path, customers: int = 5) -> Warehouse:
    """A warehouse with the shapes publishing reads: predictions (a table and its latest
    view), monitoring, the registry, and tables that are not for BI."""
    warehouse = Warehouse.under(root)
    root.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(warehouse.duckdb_path))
    con.execute(
        f"""
        create schema predictions; create schema monitoring; create schema ml;
        create schema marts;
        create table predictions.purchase_30d as
            select 'c' || i as customer_id, timestamp '2011-12-05' as as_of, i / 10 as score,
                   {REASONS} as reasons, 1 as model_version
            from range({customers}) t(i);
        create view predictions.purchase_30d_latest as select * from predictions.purchase_30d;
        create table monitoring.calibration as select 1 as score_decile, 0.5 as mean_score;
        create table ml.model_registry as
            select 'purchase_30d' as name, 1 as version, 'champion' as status, 'linear' as family,
                   'binary' as task, 'purchase_30d_v1' as feature_service,
                   timestamp '2026-01-01' as created_at, timestamp '2026-01-01' as promoted_at,
                   timestamp '2011-09-05' as cutoff, null::timestamp as train_start,
                   null::timestamp as train_end, null::timestamp as valid_start,
                   null::timestamp as valid_end, '/secret/path/model.onnx' as path,
                   'abc' as sha256;
        create table marts.customer_features as select 1 as x;
        """
    )
    con.close()
    return warehouse


def read(database: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(database), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_a_publication_holds_the_bi_tables_under_their_own_names(tmp_path: Path) -> None:
    warehouse = make_warehouse(tmp_path / "wh")
    done = publish.publish(warehouse, source="test")
    paths = BIPaths.for_warehouse(warehouse)
    assert done.path.parent == paths.published == tmp_path / "wh" / "bi" / "published"
    assert done.rows == {
        "ml.model_registry": 1,
        "monitoring.calibration": 1,
        "predictions.purchase_30d": 5,
        "predictions.purchase_30d_latest": 5,
    }
    database = paths.current_database
    assert database.resolve() == done.database.resolve()
    # the warehouse's SQL runs unchanged; marts are not for BI
    assert read(database, "select count(*) from predictions.purchase_30d_latest") == [(5,)]
    with pytest.raises(duckdb.CatalogException):
        read(database, "select * from marts.customer_features")
    # the registry without its file paths
    columns = [c for (c,) in read(database, "select column_name from (describe ml.model_registry)")]
    assert columns == list(publish.REGISTRY_COLUMNS)
    # reasons as one line of text beside the list
    (text,) = read(database, "select reasons_text from predictions.purchase_30d_latest limit 1")[0]
    assert text == "orders_30d = 3 (+0.250); country = France (-0.125)"
    # the manifest: in the file and beside it
    manifest = read(
        database, f"select table_schema, table_name, rows from {publish.MANIFEST_TABLE}"
    )
    assert {(f"{s}.{t}", n) for s, t, n in manifest} == set(done.rows.items())
    on_disk = json.loads((done.path / "manifest.json").read_text())
    assert on_disk["rows"] == done.rows and on_disk["source"] == "test"
    # and Parquet for tools that read files
    assert (done.path / "parquet/predictions/purchase_30d_latest.parquet").exists()
    assert publish.current(paths).build_id == done.build_id


def test_a_new_publication_replaces_the_pointer_and_open_readers_keep_theirs(tmp_path) -> None:
    warehouse = make_warehouse(tmp_path / "wh", customers=5)
    paths = BIPaths.for_warehouse(warehouse)
    first = publish.publish(warehouse)
    reader = duckdb.connect(str(paths.current_database), read_only=True)
    try:
        con = duckdb.connect(str(warehouse.duckdb_path))
        con.execute(
            "insert into predictions.purchase_30d select 'x', timestamp '2011-12-12', 0.5, [], 1"
        )
        con.close()
        second = publish.publish(warehouse, grace_s=0)
        # the replaced publication was removed (grace 0), yet the open reader still reads it
        assert not first.path.exists()
        assert reader.execute("select count(*) from predictions.purchase_30d").fetchone() == (5,)
    finally:
        reader.close()
    assert os.readlink(paths.current) == second.build_id
    assert read(paths.current_database, "select count(*) from predictions.purchase_30d") == [(6,)]


def test_cleanup_keeps_the_current_and_recently_replaced_publications(tmp_path) -> None:
    warehouse = make_warehouse(tmp_path / "wh")
    paths = BIPaths.for_warehouse(warehouse)
    first = publish.publish(warehouse)
    second = publish.publish(warehouse)
    # a publisher that died before its manifest
    dead = paths.publication(publish.new_build_id())
    (dead / "parquet").mkdir(parents=True)
    assert publish.cleanup(paths) == []  # all within the grace period
    later = datetime.now(UTC) + timedelta(seconds=publish.GRACE_S + 60)
    old = later.timestamp() - publish.GRACE_S - 30
    os.utime(dead, (old, old))
    removed = publish.cleanup(paths, now=later)
    assert set(removed) == {first.path, dead}
    assert second.path.exists() and publish.current(paths).build_id == second.build_id


def test_nothing_to_publish_before_anything_is_scored(tmp_path: Path) -> None:
    warehouse = Warehouse.under(tmp_path / "wh")
    (tmp_path / "wh").mkdir()
    duckdb.connect(str(warehouse.duckdb_path)).execute("create schema marts").close()
    with pytest.raises(BIError, match="no prediction tables yet"):
        publish.publish(warehouse)
    assert not BIPaths.for_warehouse(warehouse).current.exists()


def test_a_run_that_changed_no_bi_table_publishes_only_when_nothing_is_published(tmp_path) -> None:
    warehouse = make_warehouse(tmp_path / "wh")
    paths = BIPaths.for_warehouse(warehouse)
    tables = ["predictions.purchase_30d", "marts.customer_features"]
    assert publish.plan(paths, "b1", tables, changed=False) != []
    publish.publish(warehouse)
    assert publish.plan(paths, "b2", tables, changed=False) == []
    statements = publish.plan(paths, "b3", tables, changed=True)
    assert len(statements) == 1 and "purchase_30d.parquet" in statements[0]


def test_publishing_while_a_writer_holds_the_warehouse_says_busy(tmp_path: Path) -> None:
    import subprocess
    import sys

    warehouse = make_warehouse(tmp_path / "wh")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
         "print('held', flush=True); sys.stdin.read()", str(warehouse.duckdb_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(WarehouseBusy):
            publish.publish(warehouse)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


def test_names_sort_by_time_and_the_bi_folder_can_be_moved(tmp_path, monkeypatch) -> None:
    early = publish.new_build_id("abc", datetime(2026, 1, 1, tzinfo=UTC))
    late = publish.new_build_id("abc", datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC))
    assert early < late
    monkeypatch.setenv("CARTCAST_BI_DIR", str(tmp_path / "elsewhere"))
    assert BIPaths.for_database(tmp_path / "wh.duckdb").root == tmp_path / "elsewhere"


def test_no_warehouse_names_the_command_that_builds_it(tmp_path: Path) -> None:
    with pytest.raises(BIError, match="make demo"):
        publish.publish(Warehouse.under(tmp_path / "none"))


def test_the_registry_columns_published_exist_in_the_registry() -> None:
    from cartcast.registry.versions import DDL

    con = duckdb.connect()
    con.execute(DDL)
    columns = {
        c for (c,) in con.execute("select column_name from (describe ml.model_registry)").fetchall()
    }
    con.close()
    assert set(publish.REGISTRY_COLUMNS) <= columns
    assert not {"path", "sha256"} & set(publish.REGISTRY_COLUMNS)
