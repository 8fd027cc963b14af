"""The synthetic generator: deterministic, in the raw layouts, and buildable by dbt."""

from __future__ import annotations

import csv
import gzip
import re
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cartcast.cli.app import app
from cartcast.synthetic.generate import generate, relation_expression
from cartcast.warehouse.raw_layouts import ONLINE_RETAIL_COLUMNS, TAOBAO_COLUMNS
from tests.conftest import build_warehouse

CUSTOMERS = 80
EVENTS = 4_000


def _generate(out: Path, seed: int = 7, file_format: str = "csv") -> dict[str, Path]:
    return generate(out, customers=CUSTOMERS, seed=seed, file_format=file_format, events=EVENTS)


@pytest.fixture(scope="module")
def csv_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _generate(tmp_path_factory.mktemp("synthetic_csv"))


def _rows(path: Path) -> list[list[str]]:
    with gzip.open(path, "rt", newline="") as f:
        return list(csv.reader(f))


@pytest.mark.parametrize("file_format", ["csv", "parquet"])
def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path, file_format: str) -> None:
    first = _generate(tmp_path / "a", seed=11, file_format=file_format)
    again = _generate(tmp_path / "b", seed=11, file_format=file_format)
    other = _generate(tmp_path / "c", seed=12, file_format=file_format)
    assert set(first) == {"online_retail", "taobao"}
    for name in first:
        assert first[name].read_bytes() == again[name].read_bytes(), name
        assert first[name].read_bytes() != other[name].read_bytes(), name


def test_file_names_and_formats(csv_files: dict[str, Path], tmp_path: Path) -> None:
    assert csv_files["online_retail"].name.endswith(".csv.gz")
    assert csv_files["taobao"].name.endswith(".csv.gz")
    parquet = _generate(tmp_path, file_format="parquet")
    for name, path in parquet.items():
        assert path.suffix == ".parquet"
        schema = pq.read_schema(path)
        expected = ONLINE_RETAIL_COLUMNS if name == "online_retail" else TAOBAO_COLUMNS
        assert schema.names == expected
        assert all(str(t) == "string" for t in schema.types)
    # Both formats hold the same rows.
    for name in ("online_retail", "taobao"):
        from_csv = duckdb.sql(f"select * from {relation_expression(csv_files[name])}").fetchall()
        from_parquet = duckdb.sql(f"select * from read_parquet('{parquet[name]}')").fetchall()
        assert from_csv == from_parquet, name


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="file_format"):
        generate(tmp_path, customers=1, seed=0, file_format="json")


def test_order_lines_layout_and_flaws(csv_files: dict[str, Path]) -> None:
    header, *rows = _rows(csv_files["online_retail"])
    assert header == ONLINE_RETAIL_COLUMNS
    assert all(len(r) == len(ONLINE_RETAIL_COLUMNS) for r in rows)
    lines = [dict(zip(ONLINE_RETAIL_COLUMNS, r, strict=True)) for r in rows]
    n = len(lines)
    assert 4_000 < n < 25_000  # about 126 lines per customer

    date = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
    assert all(date.match(line["InvoiceDate"]) for line in lines)
    assert min(line["InvoiceDate"] for line in lines) >= "2010-12-01"
    assert max(line["InvoiceDate"] for line in lines) < "2011-12-10"

    cancellations = [line for line in lines if line["InvoiceNo"].startswith("C")]
    assert cancellations
    assert all(int(line["Quantity"]) < 0 for line in cancellations)
    completed = [line for line in lines if line["InvoiceNo"].isdigit()]
    assert all(int(line["Quantity"]) > 0 for line in completed)

    guests = sum(line["CustomerID"] == "" for line in lines)
    assert 0.05 < guests / n < 0.5
    assert any(float(line["UnitPrice"]) <= 0 for line in lines)
    assert any(line["StockCode"] == "POST" for line in lines)
    assert len(set(map(tuple, rows))) < n  # exact duplicate lines
    # Invoice numbers run in time order.
    firsts: dict[int, str] = {}
    for line in lines:
        firsts.setdefault(int(line["InvoiceNo"].lstrip("CA")), line["InvoiceDate"])
    times = [firsts[k] for k in sorted(firsts)]
    assert times == sorted(times)


def test_events_layout_and_funnel(csv_files: dict[str, Path]) -> None:
    rows = _rows(csv_files["taobao"])
    assert len(rows) == EVENTS  # no header, exactly the events asked for
    assert all(len(r) == len(TAOBAO_COLUMNS) for r in rows)
    assert all(r[0].isdigit() and r[1].isdigit() and r[2].isdigit() for r in rows)
    counts = {b: sum(r[3] == b for r in rows) for b in ("pv", "cart", "fav", "buy")}
    assert sum(counts.values()) == EVENTS
    assert counts["pv"] > 10 * counts["cart"] > 0
    assert counts["cart"] > counts["buy"] > 0
    ts = [int(r[4]) for r in rows]
    assert min(ts) > 1_511_000_000 and max(ts) - min(ts) < 10 * 86_400


def test_events_default_to_100_per_customer(tmp_path: Path) -> None:
    files = generate(tmp_path, customers=3, seed=0)
    assert len(_rows(files["taobao"])) == 300


def test_cli_generate(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["generate", "--out", str(tmp_path), "--customers", "5", "--seed", "1",
         "--format", "parquet", "--events", "500", "--event-days", "1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert pq.read_metadata(tmp_path / "user_behavior.parquet").num_rows == 500
    assert (tmp_path / "online_retail.parquet").exists()


def test_generated_files_build_through_dbt(
    csv_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> None:
    warehouse = build_warehouse(
        tmp_path_factory.mktemp("synthetic_warehouse"),
        dbt_vars={
            "online_retail_invoice_lines": relation_expression(csv_files["online_retail"]),
            "taobao_user_behavior": relation_expression(csv_files["taobao"]),
        },
    )
    con = duckdb.connect(str(warehouse.duckdb_path), read_only=True)
    try:
        for mart in (
            "customer_features",
            "customer_labels",
            "customer_sequences",
            "user_event_features",
            "user_event_labels",
        ):
            assert con.sql(f"select count(*) from marts.{mart}").fetchone()[0] > 0, mart
        reconciliation = con.sql(
            "select source_table, raw_rows, used_rows, quarantined_rows, duplicate_rows_removed "
            "from audit.load_reconciliation order by source_table"
        ).fetchall()
        raw_counts = {
            "online_retail.invoice_lines": len(_rows(csv_files["online_retail"])) - 1,
            "taobao.user_behavior": EVENTS,
        }
        assert {r[0] for r in reconciliation} == set(raw_counts)
        for source, raw, used, quarantined, duplicates in reconciliation:
            assert raw == raw_counts[source]
            assert raw == used + quarantined + duplicates, source
            assert used > 0
        retail = next(r for r in reconciliation if r[0] == "online_retail.invoice_lines")
        assert retail[3] > 0 and retail[4] > 0  # guests quarantined, duplicates removed
        reasons = {
            r[0]
            for r in con.sql(
                "select reason from audit.quarantine_summary "
                "where source_table = 'online_retail.invoice_lines'"
            ).fetchall()
        }
        assert "missing_customer_id" in reasons
        # Both labels see positives and negatives.
        assert (
            con.sql("select count(distinct purchase_30d) from marts.customer_labels").fetchone()[0]
            == 2
        )
        assert (
            con.sql(
                "select count(distinct purchase_within_horizon) from marts.user_event_labels"
            ).fetchone()[0]
            == 2
        )
    finally:
        con.close()
