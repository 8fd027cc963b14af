"""Defective raw rows, generated with Hypothesis from real rows, each with its expected fate.

Every generated row is a real, usable row with exactly one value made defective, tagged in a
column no rule reads (Description for order lines, category_id for events) so the test can
find it in quarantine. Generation is derandomized: the same rows on every run.
"""

from __future__ import annotations

import csv
import string
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from cartcast.warehouse.raw_layouts import ONLINE_RETAIL_COLUMNS, TAOBAO_COLUMNS

# Letters (some beyond ASCII, all valid UTF-8) and harmless punctuation: never a number or
# a time in any layout the staging models accept.
WORDS = st.text(alphabet=string.ascii_letters + "éßø中 £$%&*!?:/", min_size=1, max_size=12).filter(
    lambda s: any(c.isalpha() for c in s)
)
BLANK = st.sampled_from(["", " ", "\t", "  "])


def _timestamps(start: int, end: int) -> st.SearchStrategy[str]:
    return st.datetimes(datetime(start, 1, 1), datetime(end, 12, 31)).map(
        lambda d: d.strftime("%Y-%m-%d %H:%M:%S")
    )


# kind -> (column, strategy of the defective value, expected quarantine reason)
ORDER_DEFECTS: dict[str, tuple[str, st.SearchStrategy[str], str]] = {
    "null order key": ("InvoiceNo", BLANK, "missing_order_id"),
    "null customer key": ("CustomerID", BLANK, "missing_customer_id"),
    "null product key": ("StockCode", BLANK, "missing_product_id"),
    "null order time": ("InvoiceDate", BLANK, "missing_time"),
    "unparseable order time": ("InvoiceDate", WORDS, "unparseable_time"),
    "order time as epoch (wrong type)": (
        "InvoiceDate",
        st.integers(10**9, 2 * 10**9).map(str),
        "unparseable_time",
    ),
    "future order time": ("InvoiceDate", _timestamps(2027, 2999), "future_time"),
    "ancient order time": ("InvoiceDate", _timestamps(1900, 1998), "time_too_old"),
    "quantity as text (wrong type)": ("Quantity", WORDS, "unparseable_quantity"),
    "fractional quantity (wrong type)": (
        "Quantity",
        st.decimals(1, 500, places=2).filter(lambda d: d != d.to_integral()).map(str),
        "unparseable_quantity",
    ),
    "zero quantity": ("Quantity", st.sampled_from(["0", "00", "-0"]), "zero_quantity"),
    "negative quantity": (
        "Quantity",
        st.integers(-100_000, -1).map(str),
        "negative_quantity_not_cancellation",
    ),
    "absurd quantity": ("Quantity", st.integers(100_001, 10**17).map(str), "absurd_quantity"),
    "price as text (wrong type)": ("UnitPrice", WORDS, "unparseable_price"),
    "negative price": (
        "UnitPrice",
        st.decimals(-(10**6), 0, places=2).map(str),
        "non_positive_price",
    ),
    "absurd price": (
        "UnitPrice",
        st.decimals("100000.01", 10**12, places=2).map(str),
        "absurd_price",
    ),
}

EVENT_DEFECTS: dict[str, tuple[str, st.SearchStrategy[str], str]] = {
    "null user key": ("user_id", BLANK, "missing_user_id"),
    "null event type": ("behavior_type", BLANK, "missing_event_type"),
    "unknown event type": (
        "behavior_type",
        WORDS.filter(lambda s: s.strip().lower() not in {"pv", "cart", "fav", "buy"}),
        "unknown_event_type",
    ),
    "null event time": ("ts", BLANK, "missing_time"),
    "unparseable event time": ("ts", WORDS, "unparseable_time"),
    "event time as date (wrong type)": ("ts", _timestamps(2017, 2017), "unparseable_time"),
    "future event time": (
        "ts",
        st.integers(1_767_225_601, 253_402_300_799).map(str),
        "future_time",
    ),
    "ancient event time": ("ts", st.integers(-(10**10), 946_684_799).map(str), "time_too_old"),
    "null product key": ("item_id", BLANK, "missing_product_id"),
}


@dataclass(frozen=True)
class Defect:
    kind: str
    column: str
    value: str
    reason: str
    template: int  # which real row it was made from


def draw(defects: dict, templates: int, per_kind: int) -> list[Defect]:
    """`per_kind` distinct defective values per kind, applied to real template rows."""
    drawn: list[Defect] = []
    for kind, (column, values, reason) in defects.items():
        drawn += _draw_kind(kind, column, values, reason, templates, per_kind)
    return drawn


def _draw_kind(
    kind: str, column: str, values: st.SearchStrategy[str], reason: str, templates: int, n: int
) -> list[Defect]:
    drawn: list[Defect] = []

    @settings(
        max_examples=n,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(value=values, template=st.integers(0, templates - 1))
    def collect(value: str, template: int) -> None:
        drawn.append(Defect(kind, column, value, reason, template))

    collect()
    # distinct values only: Hypothesis may offer the same one twice
    return list({d.value: d for d in drawn}.values())


def read_rows(path: Path, header: bool) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return rows[1:] if header else rows


def usable_order_templates(rows: list[list[str]], n: int) -> list[list[str]]:
    """Real lines every rule accepts: plain invoice, customer, 2010-2011 time, positive values."""
    out = []
    for row in rows:
        line = dict(zip(ONLINE_RETAIL_COLUMNS, row, strict=True))
        if (
            line["InvoiceNo"].isdigit()
            and line["CustomerID"].strip()
            and line["StockCode"].strip()
            and line["Quantity"].isdigit()
            and 0 < int(line["Quantity"]) <= 1000
            and 0 < float(line["UnitPrice"]) < 1000
            and line["InvoiceDate"].startswith(("2010-", "2011-"))
        ):
            out.append(row)
        if len(out) == n:
            break
    return out


def usable_event_templates(rows: list[list[str]], n: int) -> list[list[str]]:
    out = [r for r in rows if all(v.strip() for v in r) and r[3] in {"pv", "cart", "fav", "buy"}]
    return out[:n]


def apply(
    defects: list[Defect], templates: list[list[str]], columns: list[str], tag_column: str
) -> list[list[str]]:
    """One raw row per defect, tagged `DEFECT <i>` in `tag_column`."""
    rows = []
    for i, defect in enumerate(defects):
        row = dict(zip(columns, templates[defect.template], strict=True))
        row[tag_column] = f"DEFECT {i}"
        row[defect.column] = defect.value
        rows.append([row[c] for c in columns])
    return rows


def write_csv(path: Path, header: list[str] | None, rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        if header is not None:
            writer.writerow(header)
        writer.writerows(rows)


__all__ = ["EVENT_DEFECTS", "ORDER_DEFECTS", "TAOBAO_COLUMNS", "Defect", "draw"]
