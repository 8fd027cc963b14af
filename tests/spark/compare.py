"""Row-by-row comparison of one table as two engines built it.

Rows are matched after sorting both sides by every column but the floating-point ones
(which may differ in the last bits between engines); integers, strings, decimals, dates and
lists of them must be equal, floats equal to `REL` relative (and lists of floats element by
element). The first difference is reported with the table, the row's key and the column.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pyarrow as pa

REL = 1e-9
# stamped with the run's own start time, so two builds never agree on them
RUN_STAMPS = frozenset({"loaded_at", "set_at", "scored_at"})


def _is_float(field: pa.Field) -> bool:
    t = field.type
    while pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        t = t.value_type
    return pa.types.is_floating(t)


def _plain(value):
    """Timestamps as naive UTC (Spark returns them zoned, DuckDB naive)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _close(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, list) or isinstance(b, list):
        return (
            isinstance(a, list)
            and isinstance(b, list)
            and len(a) == len(b)
            and all(_close(x, y) for x, y in zip(a, b, strict=True))
        )
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=REL, abs_tol=1e-12)


def _rounded(value):
    """A float (or list of them) to 8 significant digits: a sort key both engines share."""
    if isinstance(value, list):
        return tuple(_rounded(v) for v in value)
    return None if value is None else float(f"{value:.8g}")


def _sort_key(row: tuple) -> tuple:
    return tuple((v is None, repr(v)) for v in row)


def difference(table: str, expected: pa.Table, actual: pa.Table) -> str | None:
    """None when `actual` (Spark) holds the rows of `expected` (DuckDB), else what differs."""
    columns = [c for c in expected.column_names if c not in RUN_STAMPS]
    missing = sorted(set(columns) - set(actual.column_names))
    extra = sorted(set(actual.column_names) - set(expected.column_names) - RUN_STAMPS)
    if missing or extra:
        return f"{table}: columns differ (missing on Spark {missing}, extra {extra})"
    if expected.num_rows != actual.num_rows:
        return f"{table}: {expected.num_rows} rows on DuckDB, {actual.num_rows} on Spark"
    floats = {c for c in columns if _is_float(expected.schema.field(c))}
    exact = [c for c in columns if c not in floats]

    def rows(t: pa.Table) -> list[dict]:
        listed = [{c: _plain(v) for c, v in row.items()} for row in t.select(columns).to_pylist()]
        return sorted(
            listed,
            key=lambda r: _sort_key(
                (*(r[c] for c in exact), *(_rounded(r[c]) for c in sorted(floats)))
            ),
        )

    for left, right in zip(rows(expected), rows(actual), strict=True):
        key = {c: left[c] for c in exact[:3]}
        for c in exact:
            if left[c] != right[c]:
                return f"{table}: row {key}: column {c}: DuckDB {left[c]!r}, Spark {right[c]!r}"
        for c in floats:
            if not _close(left[c], right[c]):
                return f"{table}: row {key}: column {c}: DuckDB {left[c]!r}, Spark {right[c]!r}"
    return None


def engine_differences(warehouse, spark, names) -> list[str]:
    """What differs in each table of `names` between DuckDB's file and Spark's session; a
    table empty on DuckDB counts as a difference (nothing would have been compared)."""
    import duckdb

    con = duckdb.connect(str(warehouse.duckdb_path), read_only=True)
    try:
        found = []
        for name in names:
            expected = con.execute(f"select * from {name}").to_arrow_table()
            if expected.num_rows == 0:
                found.append(f"{name} is empty on DuckDB: nothing compared")
                continue
            found.append(difference(name, expected, spark.sql(f"select * from {name}").toArrow()))
    finally:
        con.close()
    return [f for f in found if f]
