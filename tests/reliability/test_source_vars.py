"""Source vars as users write them, and sources that build into nothing.

A source var is any DuckDB relation, braces of struct and map literals included (dbt-duckdb
formats source locations with `str.format_map`, which reads braces as placeholders). A
source whose rows are all quarantined stops the build naming the source, its top reason and
the var to change; one mostly quarantined builds, with a warning naming the reasons.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import duckdb
import pytest

from cartcast.warehouse.dbt_runner import DbtError, run_dbt
from cartcast.warehouse.paths import Warehouse
from tests.conftest import FIXED_NOW, online_retail_var, taobao_var
from tests.reliability.summary import TALLY
from tests.support.warehouse_queries import fetch

# Staging, quarantine and the audit tables (whose post-hook checks the shares), no tests.
AUDIT = (
    "build",
    "--select",
    "+load_reconciliation",
    "--exclude",
    "resource_type:test",
    "resource_type:unit_test",
)


def _audit_build(root: Path, orders_var: str, events_var: str, extra: dict | None = None):
    return run_dbt(
        list(AUDIT),
        Warehouse.under(root / "wh"),
        {
            "cartcast_now": FIXED_NOW,
            "online_retail_invoice_lines": orders_var,
            "taobao_user_behavior": events_var,
            **(extra or {}),
        },
        work_dir=root,
    )


def _reconciliation(root: Path) -> dict[str, tuple]:
    rows = fetch(Warehouse.under(root / "wh"), "select * from audit.load_reconciliation")
    return {name: tuple(rest) for name, *rest in rows}


def _raw_rows(path: Path, header: bool) -> int:
    with path.open(newline="") as handle:
        return sum(1 for _ in csv.reader(handle)) - int(header)


def test_source_vars_with_struct_and_map_literals_build(
    subset: dict[str, Path], tmp_path: Path
) -> None:
    orders, events = subset["online_retail"], subset["taobao"]
    # a `types={...}` struct argument, and map and struct literals in a filter that keeps
    # every row: all three reach DuckDB exactly as written, or dbt could not even parse them
    orders_var = (
        f"read_csv('{orders}', header=true, all_varchar=true, types={{'CustomerID': 'VARCHAR'}})"
    )
    events_var = (
        f"(select * from {taobao_var(events)} "
        "where map {'kept': 1}['kept'] = 1 and {'kept': true}.kept)"
    )
    _audit_build(tmp_path, orders_var, events_var)
    counts = _reconciliation(tmp_path)
    assert counts["online_retail.invoice_lines"][0] == _raw_rows(orders, header=True)
    assert counts["taobao.user_behavior"][0] == _raw_rows(events, header=False)
    for raw, used, quarantined, duplicates in counts.values():
        assert used > 0 and raw == used + quarantined + duplicates
    TALLY.add("bad vars tried", 2)


def _rewrite(source: Path, out: Path, change) -> int:
    """Real order lines with one value changed by `change(row)`; returns the rows written."""
    with source.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    with out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        for i, row in enumerate(rows):
            writer.writerow(change(i, row))
    return len(rows)


def test_a_source_with_no_usable_row_stops_naming_the_reason_and_var(
    subset: dict[str, Path], tmp_path: Path
) -> None:
    # another shop's history, all before min_valid_time: the real rows moved to 1999
    orders = tmp_path / "orders_1999.csv"
    rows = _rewrite(
        subset["online_retail"],
        orders,
        lambda _, row: {**row, "InvoiceDate": re.sub(r"^20\d\d", "1999", row["InvoiceDate"])},
    )
    with pytest.raises(DbtError) as caught:
        _audit_build(tmp_path, online_retail_var(orders), taobao_var(subset["taobao"]))
    first = str(caught.value).splitlines()[0]
    assert "online_retail.invoice_lines" in first
    assert "(rule: source_unusable)" in first and f"has {rows} rows and none is usable" in first
    assert "most as time_too_old" in first and "Change the var min_valid_time" in first
    assert "taobao.user_behavior" not in first
    TALLY.add("bad vars tried")
    TALLY.stopped("every row quarantined", rows)


def test_a_mostly_quarantined_source_warns_naming_the_reasons(
    subset: dict[str, Path], tmp_path: Path
) -> None:
    clean = _audit_build(tmp_path / "clean", online_retail_var(subset["online_retail"]),
                         taobao_var(subset["taobao"]))  # fmt: skip
    assert "rule: mostly_quarantined" not in clean.stdout

    # three lines in five lose their customer: more than the default share of one half
    orders = tmp_path / "orders_guests.csv"
    _rewrite(
        subset["online_retail"],
        orders,
        lambda i, row: {**row, "CustomerID": ""} if i % 5 < 3 else row,
    )
    warned = _audit_build(tmp_path / "guests", online_retail_var(orders),
                          taobao_var(subset["taobao"]))  # fmt: skip
    (line,) = [ln for ln in warned.stdout.splitlines() if "rule: mostly_quarantined" in ln]
    assert "online_retail.invoice_lines" in line and "missing_customer_id" in line
    raw, used, quarantined, _ = _reconciliation(tmp_path / "guests")["online_retail.invoice_lines"]
    assert used > 0 and quarantined / raw > 0.5 and f"{quarantined} of {raw} rows" in line

    # the share is a var: at 0 any quarantined row of the clean slice is worth a warning
    strict = _audit_build(
        tmp_path / "strict",
        online_retail_var(subset["online_retail"]),
        taobao_var(subset["taobao"]),
        {"max_quarantined_share": 0},
    )
    assert "rule: mostly_quarantined" in strict.stdout
    TALLY.defects({"mostly quarantined source"}, raw, quarantined)


def test_duckdb_reads_the_literals_the_first_test_uses() -> None:
    # the literals themselves are valid DuckDB: a failure above is dbt's, not the SQL's
    con = duckdb.connect()
    assert con.sql("select map {'kept': 1}['kept'] = 1 and {'kept': true}.kept").fetchone()[0]
