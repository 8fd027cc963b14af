"""The dbt marts against the independent Polars oracle, on the bundled real data.

Both implementations follow docs/features.md; any cell where they differ is a bug in one
of them. Every comparison is on computed values: nothing here is a hard-coded expectation.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest

from cartcast.testing.oracle import TAOBAO_COLUMNS, build_customer_marts, build_event_marts
from cartcast.warehouse.paths import Warehouse
from tests.conftest import FIXED_NOW

NOW = datetime.fromisoformat(FIXED_NOW)
TOLERANCE = 1e-6
SHOWN_ROWS = 5
RETAIL_SOURCE = "online_retail.invoice_lines"
TAOBAO_SOURCE = "taobao.user_behavior"
CUSTOMER_KEYS = ["customer_id", "as_of"]
USER_KEYS = ["user_id", "as_of"]

pytestmark = pytest.mark.slow


# ---------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def warehouse_con(real_warehouse: Warehouse) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(real_warehouse.duckdb_path), read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="module")
def customer_marts(raw_paths: dict[str, Path]) -> dict[str, pl.DataFrame]:
    return build_customer_marts(raw_paths["online_retail"], now=NOW)


@pytest.fixture(scope="module")
def event_marts(raw_paths: dict[str, Path]) -> dict[str, pl.DataFrame]:
    return build_event_marts(raw_paths["taobao"], now=NOW)


def sql_table(con: duckdb.DuckDBPyConnection, query: str) -> pl.DataFrame:
    return con.sql(query).pl()


def sql_mart(con: duckdb.DuckDBPyConnection, name: str) -> pl.DataFrame:
    return sql_table(con, f"select * from marts.{name}")


# ---------------------------------------------------------------------------------------------
# Frame comparison with readable failures
# ---------------------------------------------------------------------------------------------


def _close(sql: pl.Expr, oracle: pl.Expr) -> pl.Expr:
    """Equal within tolerance, or both null; NaN only matches NaN."""
    both_null = sql.is_null() & oracle.is_null()
    within = (sql - oracle).abs() <= TOLERANCE * pl.max_horizontal(1.0, sql.abs())
    both_nan = sql.is_nan() & oracle.is_nan()
    return both_null | (within | both_nan).fill_null(False)


def _list_mismatches(joined: pl.DataFrame, column: str, dtype: pl.List) -> pl.Series:
    """Row mask: list lengths differ, or some element differs (floats within tolerance)."""
    sql, oracle = pl.col(column), pl.col(f"{column}__oracle")
    if dtype.inner != pl.Float64:
        return joined.select(sql.ne_missing(oracle)).to_series()
    rows = joined.select(sql, oracle).with_row_index("_row")
    lengths_differ = rows.select(sql.list.len().ne_missing(oracle.list.len())).to_series()
    elements = rows.filter(~lengths_differ).explode(column, f"{column}__oracle")
    bad_rows = elements.filter(~_close(sql, oracle))["_row"].unique()
    return lengths_differ | rows["_row"].is_in(bad_rows.implode())


def _mismatches(joined: pl.DataFrame, column: str, dtype: pl.DataType) -> pl.Series:
    """Row mask of cells where SQL and oracle differ."""
    if isinstance(dtype, pl.List):
        return _list_mismatches(joined, column, dtype)
    sql, oracle = pl.col(column), pl.col(f"{column}__oracle")
    differ = ~_close(sql, oracle) if dtype == pl.Float64 else sql.ne_missing(oracle)
    return joined.select(differ).to_series()


def compare_frames(sql: pl.DataFrame, oracle: pl.DataFrame, keys: list[str], name: str) -> None:
    """Fail with a few example rows unless both frames hold the same rows and values."""
    assert sql.columns == oracle.columns, f"{name}: columns differ\n{sql.columns}\n{oracle.columns}"
    dtypes = {c: (sql.schema[c], oracle.schema[c]) for c in sql.columns}
    wrong_types = {c: pair for c, pair in dtypes.items() if pair[0] != pair[1]}
    assert not wrong_types, f"{name}: column types (sql, oracle) differ: {wrong_types}"
    assert sql.select(keys).is_duplicated().sum() == 0, f"{name}: duplicate keys in SQL"
    assert oracle.select(keys).is_duplicated().sum() == 0, f"{name}: duplicate keys in oracle"

    only_sql = sql.join(oracle, on=keys, how="anti")
    only_oracle = oracle.join(sql, on=keys, how="anti")
    assert only_sql.height == 0 and only_oracle.height == 0, (
        f"{name}: row sets differ (sql {sql.height} rows, oracle {oracle.height} rows)\n"
        f"only in SQL ({only_sql.height}):\n{only_sql.select(keys).head(SHOWN_ROWS)}\n"
        f"only in oracle ({only_oracle.height}):\n{only_oracle.select(keys).head(SHOWN_ROWS)}"
    )

    joined = sql.join(oracle, on=keys, how="inner", suffix="__oracle").sort(keys)
    problems = []
    for column in (c for c in sql.columns if c not in keys):
        mismatch = _mismatches(joined, column, sql.schema[column])
        if mismatch.any():
            examples = joined.filter(mismatch).select(*keys, column, f"{column}__oracle")
            with pl.Config(fmt_table_cell_list_len=25, fmt_str_lengths=300, tbl_width_chars=300):
                shown = str(examples.head(SHOWN_ROWS))
            problems.append(f"{column}: {mismatch.sum()} of {joined.height} rows differ\n{shown}")
    assert not problems, f"{name}: SQL and oracle disagree\n" + "\n".join(problems)


# ---------------------------------------------------------------------------------------------
# Staging: quarantine, duplicates, used rows
# ---------------------------------------------------------------------------------------------


def _reason_counts(frame: pl.DataFrame) -> dict[str, int]:
    return dict(frame.group_by("reason").len().iter_rows())


def _reconciliation(con: duckdb.DuckDBPyConnection, source: str) -> dict[str, int]:
    row = sql_table(con, f"select * from audit.load_reconciliation where source_table = '{source}'")
    assert row.height == 1, f"no reconciliation row for {source}"
    return row.row(0, named=True)


def test_order_line_quarantine_matches(warehouse_con, customer_marts) -> None:
    sql = sql_table(warehouse_con, "select reason from quarantine.online_retail__invoice_lines")
    assert _reason_counts(customer_marts["quarantine"]) == _reason_counts(sql)


def test_order_line_counts_reconcile(warehouse_con, customer_marts) -> None:
    audit = _reconciliation(warehouse_con, RETAIL_SOURCE)
    used = customer_marts["order_lines"].height
    quarantined = customer_marts["quarantine"].height
    duplicates = customer_marts["duplicates_removed"].item()
    assert duplicates == audit["duplicate_rows_removed"]
    assert used == audit["used_rows"]
    assert quarantined == audit["quarantined_rows"]
    # Every raw row ends in exactly one place, in the oracle too.
    assert used + quarantined + duplicates == audit["raw_rows"]


def test_order_line_money_matches_to_the_penny(warehouse_con, customer_marts) -> None:
    sql = sql_table(
        warehouse_con,
        "select status, is_merchandise, count(*) as lines, sum(quantity) as quantity, "
        "cast(sum(line_amount) as varchar) as amount "
        "from staging.stg_online_retail__order_lines group by all",
    )
    oracle = (
        customer_marts["order_lines"]
        .group_by("status", "is_merchandise")
        .agg(
            lines=pl.len().cast(pl.Int64),
            quantity=pl.col("quantity").sum().cast(pl.Int128),
            amount=pl.col("line_amount").sum().cast(pl.String),
        )
    )
    sql = sql.with_columns(pl.col("quantity").cast(pl.Int128))
    compare_frames(sql, oracle.select(sql.columns), ["status", "is_merchandise"], "order lines")


def test_event_quarantine_and_counts_match(warehouse_con, event_marts) -> None:
    audit = _reconciliation(warehouse_con, TAOBAO_SOURCE)
    sql = sql_table(warehouse_con, "select reason from quarantine.taobao__user_behavior")
    assert _reason_counts(event_marts["quarantine"]) == _reason_counts(sql)
    assert event_marts["duplicates_removed"].item() == audit["duplicate_rows_removed"]
    assert event_marts["events"].height == audit["used_rows"]
    assert event_marts["quarantine"].height == audit["quarantined_rows"]


# ---------------------------------------------------------------------------------------------
# Marts, cell by cell
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mart", "keys"),
    [
        ("customer_features", CUSTOMER_KEYS),
        ("customer_labels", CUSTOMER_KEYS),
        ("customer_sequences", CUSTOMER_KEYS),
    ],
)
def test_customer_mart_matches(warehouse_con, customer_marts, mart: str, keys: list[str]) -> None:
    sql = sql_mart(warehouse_con, mart)
    assert sql.height > 0, f"{mart} is empty: nothing would be compared"
    compare_frames(sql, customer_marts[mart], keys, mart)


@pytest.mark.parametrize(
    ("mart", "keys"),
    [("user_event_features", USER_KEYS), ("user_event_labels", USER_KEYS)],
)
def test_event_mart_matches(warehouse_con, event_marts, mart: str, keys: list[str]) -> None:
    sql = sql_mart(warehouse_con, mart)
    assert sql.height > 0, f"{mart} is empty: nothing would be compared"
    compare_frames(sql, event_marts[mart], keys, mart)


# ---------------------------------------------------------------------------------------------
# The oracle itself
# ---------------------------------------------------------------------------------------------


def test_comparison_catches_a_changed_cell(customer_marts) -> None:
    """The comparison is not vacuous: one nudged float or list element fails it."""
    features = customer_marts["customer_features"]
    nudged = features.with_columns(
        pl.when(pl.int_range(pl.len()) == 7)
        .then(pl.col("tenure_days") + 1e-3)
        .otherwise(pl.col("tenure_days"))
        .alias("tenure_days")
    )
    with pytest.raises(AssertionError, match="tenure_days: 1 of"):
        compare_frames(features, nudged, CUSTOMER_KEYS, "customer_features")

    sequences = customer_marts["customer_sequences"]
    reversed_lists = sequences.with_columns(pl.col("recent_days_before_as_of").list.reverse())
    with pytest.raises(AssertionError, match="recent_days_before_as_of"):
        compare_frames(sequences, reversed_lists, CUSTOMER_KEYS, "customer_sequences")


def test_parquet_input_gives_the_same_marts(
    raw_paths: dict[str, Path], event_marts, tmp_path: Path
) -> None:
    parquet = tmp_path / "user_behavior.parquet"
    pl.read_csv(
        raw_paths["taobao"], has_header=False, new_columns=TAOBAO_COLUMNS, infer_schema=False
    ).write_parquet(parquet)
    from_parquet = build_event_marts(parquet, now=NOW)
    for mart in ("user_event_features", "user_event_labels"):
        compare_frames(event_marts[mart], from_parquet[mart], USER_KEYS, f"{mart} (parquet)")
