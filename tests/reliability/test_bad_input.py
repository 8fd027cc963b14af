"""Bad raw input: every defective row is quarantined with the right reason, or the build
stops naming the file, column and rule; counts reconcile; nothing else changes.

Row defects are generated (Hypothesis, derandomized) from real rows of the bundled data and
all go into one build, beside the real slice they came from; defects of a whole file
(encoding, line endings, missing columns, empty files) each stop a short staging run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cartcast.warehouse.dbt_runner import DbtError, run_dbt
from cartcast.warehouse.paths import Warehouse
from cartcast.warehouse.raw_layouts import ONLINE_RETAIL_COLUMNS, TAOBAO_COLUMNS
from tests.conftest import FIXED_NOW, build_warehouse, online_retail_var, taobao_var
from tests.reliability import defects as gen
from tests.reliability.summary import TALLY
from tests.support.warehouse_queries import fetch

PER_KIND = 6
DUPLICATES = 7
EXTRA_COLUMN = "Notes"
# Tables downstream of the judging step: a quarantined row must not change any of them.
COMPARED_SCHEMAS = ("staging", "intermediate", "marts")
SOURCES = ("online_retail.invoice_lines", "taobao.user_behavior")


def _table_checksums(warehouse: Warehouse) -> dict[str, tuple[int, int]]:
    """Row count and an order-independent hash of every row, per table."""
    tables = fetch(
        warehouse,
        "select table_schema, table_name from information_schema.tables "
        f"where table_schema in {COMPARED_SCHEMAS} and table_name not like 'base_%' "
        "order by all",
    )
    return {
        f"{schema}.{name}": fetch(
            warehouse,
            f'select count(*), coalesce(sum(hash(t)), 0) from "{schema}"."{name}" as t',
        )[0]
        for schema, name in tables
    }


def _reconciliation(warehouse: Warehouse) -> dict[str, tuple[int, ...]]:
    return {
        name: tuple(rest)
        for name, *rest in fetch(warehouse, "select * from audit.load_reconciliation")
    }


@pytest.fixture(scope="module")
def defect_build(subset: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The real slice plus generated defective rows, exact duplicates and an extra column."""
    root = tmp_path_factory.mktemp("rel_defects")
    orders = gen.read_rows(subset["online_retail"], header=True)
    events = gen.read_rows(subset["taobao"], header=False)
    order_defects = gen.draw(gen.ORDER_DEFECTS, 40, PER_KIND)
    event_defects = gen.draw(gen.EVENT_DEFECTS, 40, PER_KIND)
    bad_orders = gen.apply(
        order_defects, gen.usable_order_templates(orders, 40), ONLINE_RETAIL_COLUMNS, "Description"
    )
    bad_events = gen.apply(
        event_defects, gen.usable_event_templates(events, 40), TAOBAO_COLUMNS, "category_id"
    )
    # exact copies of real rows: counted as removed duplicates, used once
    copied_orders = orders[:: max(1, len(orders) // DUPLICATES)][:DUPLICATES]
    copied_events = events[:: max(1, len(events) // DUPLICATES)][:DUPLICATES]
    # a column the source does not document rides along on every row: it must be ignored
    order_rows = [[*r, f"note {i}"] for i, r in enumerate(orders + bad_orders + copied_orders)]
    event_rows = [[*r, "extra"] for r in events + bad_events + copied_events]
    gen.write_csv(root / "orders.csv", [*ONLINE_RETAIL_COLUMNS, EXTRA_COLUMN], order_rows)
    gen.write_csv(root / "events.csv", None, event_rows)
    warehouse = build_warehouse(
        root / "wh",
        {
            "online_retail_invoice_lines": online_retail_var(root / "orders.csv"),
            "taobao_user_behavior": taobao_var(root / "events.csv"),
        },
        # every dbt data test: the defects must not trip any of them (scoring needs trained
        # models, which this build has not; it is covered by the pipeline tests)
        ("build", "--exclude", "tag:scoring"),
    )
    return {
        "warehouse": warehouse,
        "defects": {
            "online_retail.invoice_lines": order_defects,
            "taobao.user_behavior": event_defects,
        },
        "raw_rows": {
            "online_retail.invoice_lines": len(order_rows),
            "taobao.user_behavior": len(event_rows),
        },
    }


def test_each_defective_row_is_quarantined_with_its_reason(defect_build: dict) -> None:
    warehouse = defect_build["warehouse"]
    got = {
        "online_retail.invoice_lines": dict(
            fetch(
                warehouse,
                "select raw_description, reason from quarantine.online_retail__invoice_lines "
                "where raw_description like 'DEFECT %'",
            )
        ),
        "taobao.user_behavior": dict(
            fetch(
                warehouse,
                "select raw_category_id, reason from quarantine.taobao__user_behavior "
                "where raw_category_id like 'DEFECT %'",
            )
        ),
    }
    wrong = []
    for source, drawn in defect_build["defects"].items():
        for i, defect in enumerate(drawn):
            reason = got[source].get(f"DEFECT {i}")
            if reason != defect.reason:
                wrong.append(
                    f"{source} {defect.kind} {defect.value!r}: {reason} != {defect.reason}"
                )
        TALLY.defects({f"{source}: {d.kind}" for d in drawn}, len(drawn), len(got[source]))
    for m in wrong:
        TALLY.mismatch(m)
    assert not wrong, wrong
    assert sum(len(d) for d in defect_build["defects"].values()) > 100


def test_counts_reconcile(defect_build: dict, clean_warehouse: Warehouse) -> None:
    clean = _reconciliation(clean_warehouse)
    got = _reconciliation(defect_build["warehouse"])
    for source in SOURCES:
        n_defects = len(defect_build["defects"][source])
        raw, used, quarantined, duplicates = got[source]
        expected = (
            clean[source][0] + n_defects + DUPLICATES,
            clean[source][1],
            clean[source][2] + n_defects,
            clean[source][3] + DUPLICATES,
        )
        assert raw == defect_build["raw_rows"][source]
        assert raw == used + quarantined + duplicates
        if got[source] != expected:
            TALLY.mismatch(f"{source} reconciliation {got[source]} != {expected}")
        assert got[source] == expected
    TALLY.defects({"exact duplicate rows", "extra column"}, 2 * DUPLICATES, 0)


def test_nothing_else_changes(defect_build: dict, clean_warehouse: Warehouse) -> None:
    """Every staging, intermediate and mart table equals the build without the defects."""
    clean = _table_checksums(clean_warehouse)
    got = _table_checksums(defect_build["warehouse"])
    assert set(got) == set(clean) and len(clean) > 10
    changed = [t for t in clean if got[t] != clean[t]]
    for table in changed:
        TALLY.mismatch(f"{table} changed by quarantined rows")
    TALLY.add("tables compared", len(clean))
    assert not changed


# ------------------------------------------------------------------------------------------
# Defects of a whole file: the build stops, naming the file, the column or line, and the rule.
# ------------------------------------------------------------------------------------------

BASE_MODELS = ("run", "--select", "base_online_retail__invoice_lines", "base_taobao__user_behavior")


def _stage(root: Path, orders: Path, events: Path) -> str:
    """Run the two judging models on these files; the error message dbt_runner gives."""
    with pytest.raises(DbtError) as caught:
        run_dbt(
            list(BASE_MODELS),
            Warehouse.under(root / "wh"),
            {
                "cartcast_now": FIXED_NOW,
                "online_retail_invoice_lines": online_retail_var(orders),
                "taobao_user_behavior": taobao_var(events),
            },
            work_dir=root,
        )
    return str(caught.value).splitlines()[0]


def _lines(path: Path, header: bool, n: int) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()[: n + int(header)]


def test_mixed_line_endings_and_non_utf8_bytes_stop_naming_the_file(
    subset: dict[str, Path], tmp_path: Path
) -> None:
    orders, events = tmp_path / "mixed_endings.csv", tmp_path / "latin1.csv"
    lines = _lines(subset["online_retail"], True, 60)
    # CRLF and LF alternate, as when exports from two systems are concatenated
    orders.write_bytes(
        b"".join(ln.encode() + (b"\r\n" if i % 2 else b"\n") for i, ln in enumerate(lines))
    )
    good = [ln.encode() + b"\n" for ln in _lines(subset["taobao"], False, 60)]
    bad = "1,2268318,caf\xe9 cr\xe8me,pv,1511658000\n".encode("latin-1")
    events.write_bytes(b"".join(good[:30]) + bad + b"".join(good[30:]))

    message = _stage(tmp_path, orders, events)
    assert str(orders) in message and "(rule: csv_layout)" in message and "line endings" in message
    assert str(events) in message and "(rule: utf8_text)" in message and "line " in message
    TALLY.stopped("mixed CRLF/LF line endings", len(lines) - 1)
    TALLY.stopped("non-UTF-8 bytes", len(good) + 1)


def test_missing_columns_stop_naming_the_file_and_column(
    subset: dict[str, Path], tmp_path: Path
) -> None:
    orders, events = tmp_path / "no_customer.csv", tmp_path / "no_ts.csv"
    rows = gen.read_rows(subset["online_retail"], header=True)[:50]
    keep = [i for i, c in enumerate(ONLINE_RETAIL_COLUMNS) if c != "CustomerID"]
    gen.write_csv(
        orders, [ONLINE_RETAIL_COLUMNS[i] for i in keep], [[r[i] for i in keep] for r in rows]
    )
    events_rows = gen.read_rows(subset["taobao"], header=False)[:50]
    gen.write_csv(events, None, [r[:4] for r in events_rows])

    message = _stage(tmp_path, orders, events)
    assert str(orders) in message
    assert "has no column CustomerID (rule: required_columns)" in message
    assert str(events) in message and "has 4 columns where its source needs 5" in message
    TALLY.stopped("missing column (header)", len(rows))
    TALLY.stopped("missing field (headerless)", len(events_rows))


def test_empty_files_stop_naming_the_file(tmp_path: Path) -> None:
    orders, events = tmp_path / "empty_orders.csv", tmp_path / "empty_events.csv"
    orders.write_bytes(b"")
    events.write_bytes(b"")
    message = _stage(tmp_path, orders, events)
    assert str(orders) in message and "has no column InvoiceNo" in message
    assert "looks empty" in message
    assert str(events) in message and "has 0 columns" in message
    TALLY.stopped("empty file", 0)


def test_a_header_only_file_builds_with_zero_rows(subset: dict[str, Path], tmp_path: Path) -> None:
    orders = tmp_path / "header_only.csv"
    gen.write_csv(orders, ONLINE_RETAIL_COLUMNS, [])
    warehouse = build_warehouse(
        tmp_path / "wh",
        {
            "online_retail_invoice_lines": online_retail_var(orders),
            "taobao_user_behavior": taobao_var(subset["taobao"]),
        },
        ("build", "--select", "+load_reconciliation"),
    )
    counts = _reconciliation(warehouse)
    assert counts["online_retail.invoice_lines"] == (0, 0, 0, 0)
    raw, used, quarantined, duplicates = counts["taobao.user_behavior"]
    assert raw > 0 and raw == used + quarantined + duplicates
    TALLY.defects({"header-only file"}, 0, 0)
