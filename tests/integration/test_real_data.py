"""The whole DAG on the bundled real data: `dbt build` (every model, data test and unit test)
passes, and its counts agree with counts taken from the raw files by plain Python."""

from __future__ import annotations

import csv
import gzip
from collections import Counter
from pathlib import Path

from typer.testing import CliRunner

from cartcast.cli.app import app
from cartcast.warehouse.paths import Warehouse
from tests.support.warehouse_queries import fetch


def _raw_rows(path: Path, header: bool) -> list[tuple[str, ...]]:
    with gzip.open(path, "rt", newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        if header:
            next(reader)
        return [tuple(v.strip() for v in row) for row in reader]


def test_every_raw_row_is_used_quarantined_or_a_counted_duplicate(
    real_warehouse: Warehouse, raw_paths
) -> None:
    recon = {
        name: rest
        for name, *rest in fetch(real_warehouse, "select * from audit.load_reconciliation")
    }
    for source, path, header in (
        ("online_retail.invoice_lines", raw_paths["online_retail"], True),
        ("taobao.user_behavior", raw_paths["taobao"], False),
    ):
        rows = _raw_rows(path, header)
        duplicates = sum(n - 1 for n in Counter(rows).values())
        raw, used, quarantined, removed = recon[source]
        assert raw == len(rows), source
        assert removed == duplicates, source
        assert raw == used + quarantined + removed, source


def test_cancellations_are_modelled_not_quarantined(real_warehouse: Warehouse, raw_paths) -> None:
    rows = _raw_rows(raw_paths["online_retail"], header=True)
    # cancellation lines with a customer and a positive price, as the raw file has them
    expected = {r for r in rows if r[0].startswith("C") and r[6] and float(r[5]) > 0}
    (cancelled_lines,) = fetch(
        real_warehouse,
        "select count(*) from staging.stg_online_retail__order_lines where status = 'cancelled'",
    )[0]
    assert cancelled_lines == len(expected)
    (nonzero_rate,) = fetch(
        real_warehouse,
        "select count(*) from marts.customer_features where cancellation_rate > 0",
    )[0]
    assert nonzero_rate > 10_000


def test_labels_exist_only_for_whole_windows(real_warehouse: Warehouse) -> None:
    (last_order,) = fetch(real_warehouse, "select max(ordered_at) from intermediate.int_orders")[0]
    latest_purchase_label, latest_spend_label = fetch(
        real_warehouse,
        "select max(as_of), max(as_of) filter (where spend_90d is not null) "
        "from marts.customer_labels",
    )[0]
    assert (last_order - latest_purchase_label).days >= 30
    assert (last_order - latest_purchase_label).days < 37
    assert (last_order - latest_spend_label).days >= 90
    (snapshots_without_labels,) = fetch(
        real_warehouse,
        "select count(distinct as_of) from marts.customer_features "
        "where as_of > (select max(as_of) from marts.customer_labels)",
    )[0]
    assert snapshots_without_labels >= 4  # the newest snapshots are for scoring


def test_parquet_marts_are_what_the_views_show(real_warehouse: Warehouse) -> None:
    for mart in ("customer_features", "customer_sequences", "user_event_features"):
        path = real_warehouse.parquet_dir / f"{mart}.parquet"
        assert path.exists(), path
        (n_parquet,) = fetch(real_warehouse, f"select count(*) from read_parquet('{path}')")[0]
        (n_view,) = fetch(real_warehouse, f"select count(*) from marts.{mart}")[0]
        assert n_parquet == n_view > 0


def test_summary_command_prints_the_warehouse_counts(
    real_warehouse: Warehouse, monkeypatch
) -> None:
    for key, value in real_warehouse.env().items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(app, ["summary"])
    assert result.exit_code == 0, result.output
    (customers,) = fetch(
        real_warehouse, "select count(distinct customer_id) from marts.customer_features"
    )[0]
    assert f"customers: {customers:,}" in result.output
    assert "missing_customer_id" in result.output
    (raw_rows,) = fetch(
        real_warehouse,
        "select raw_rows from audit.load_reconciliation "
        "where source_table = 'online_retail.invoice_lines'",
    )[0]
    assert f"{raw_rows:,}" in result.output


def test_summary_says_what_to_do_without_a_warehouse(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CARTCAST_DUCKDB", str(tmp_path / "missing.duckdb"))
    result = CliRunner().invoke(app, ["summary"])
    assert result.exit_code != 0
    assert result.exit_code == 1
    assert "dbt build" in result.output
