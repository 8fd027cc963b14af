"""The whole DAG on the bundled real data: `dbt build` (every model, data test and unit test)
passes, and its counts agree with counts taken from the raw files by plain Python."""

from __future__ import annotations

import csv
import gzip
import itertools
from collections import Counter
from datetime import timedelta
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
    for mart in (
        "customer_features",
        "customer_sequences",
        "user_event_features",
        "user_event_sequences",
    ):
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


def test_event_sequences_are_the_newest_events_of_the_window_before_each_snapshot(
    real_warehouse: Warehouse,
) -> None:
    """Every row of marts.user_event_sequences against the sessionized events, read in plain
    Python: the events of the 60 minutes strictly before as_of, newest first (ties in time by
    event key, as the session encoder's pre-training orders them), at most 20; and one row per
    user and snapshot of the feature mart."""
    events: dict[str, list[tuple]] = {}
    for user, at, event_id, kind, category in fetch(
        real_warehouse,
        "select user_id, occurred_at, event_id, event_type, category_id "
        "from intermediate.int_events_sessionized",
    ):
        events.setdefault(user, []).append((at, event_id, f"{kind}:{category or ''}"))
    window = timedelta(minutes=60)
    rows = fetch(
        real_warehouse,
        "select user_id, as_of, recent_event_tokens, sequence_length "
        "from marts.user_event_sequences",
    )
    ties = 0
    for user, as_of, tokens, length in rows:
        seen = sorted((e for e in events[user] if as_of - window <= e[0] < as_of), reverse=True)
        ties += any(a[0] == b[0] for a, b in itertools.pairwise(seen))
        assert tokens == [t for _, _, t in seen[:20]], (user, as_of)
        assert length == len(tokens)
    assert ties > 0  # the data holds events at the same second: their order was checked
    keys = fetch(real_warehouse, "select user_id, as_of from marts.user_event_features")
    assert sorted(keys) == sorted((u, a) for u, a, _, _ in rows)
