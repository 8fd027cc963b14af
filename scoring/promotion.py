"""Can a registered version serve? Its file exists, matches its sha256, loads in ONNX Runtime,
and its declared inputs fit the feature marts. `promote` here hands that check to the registry,
which refuses a version that fails, so a broken file never becomes the champion;
`cartcast models check` reports every version.
"""

from __future__ import annotations

import duckdb

from cartcast.errors import RegistryError, ScoringError
from cartcast.registry import versions as registry
from cartcast.warehouse.paths import Warehouse
from scoring import recommend
from scoring.feature_source import source_sql
from scoring.model import from_entry
from scoring.model_inputs import check_schema


def problem(con: duckdb.DuckDBPyConnection, entry: registry.Entry) -> str | None:
    """Why `entry` cannot score the marts on `con`, or None when it can."""
    try:
        if entry.task == "recommend":
            return recommender_problem(con, entry)
        # one thread on the CPU: this only proves the file loads, it scores nothing
        model = from_entry(entry, device="cpu", threads=1)
        declared = {i.name for i in model.inputs}
        if declared != set(model.session.input_names):
            # scoring feeds the declared inputs: the graph would fail on the first batch
            raise ScoringError(
                f"its metadata declares inputs {sorted(declared)} but its graph takes "
                f"{sorted(model.session.input_names)}: the file was not exported by "
                "`cartcast train`, or was altered"
            )
        sql, params = source_sql(model.key, model.inputs)
        # a zero-row query gives the marts' Arrow schema without reading any feature row
        schema = con.execute(f"select * from ({sql}) limit 0", params).fetch_record_batch().schema
        check_schema(schema, model.inputs, model.name, "the feature marts")
    except (RegistryError, ScoringError) as err:
        return str(err)
    except duckdb.CatalogException as err:
        return f"the feature marts cannot be read ({err.args[0].splitlines()[0]}): run `dbt build`"
    return None


def recommender_problem(con: duckdb.DuckDBPyConnection, entry: registry.Entry) -> str | None:
    """A recommender loads and its marts hold the list columns it reads."""
    recommend.load(entry, device="cpu")
    for table, columns in RECOMMENDER_COLUMNS.items():
        have = {c for (c, *_) in con.execute(f"describe {table}").fetchall()}
        missing = sorted(set(columns) - have)
        if missing:
            return f"{table} lacks {missing}: rebuild the marts (`dbt build`)"
    return None


RECOMMENDER_COLUMNS = {
    "marts.customer_sequences": ("customer_id", "as_of", "recent_product_ids"),
    "marts.customer_product_history": (
        "customer_id", "as_of", "history_product_ids", "history_orders",
        "history_days_since_last", "history_days_since_first", "orders_before",
    ),
    "marts.product_popularity": (
        "as_of", "popular_product_ids", "popular_lines_90d", "popular_lines_30d",
    ),
}  # fmt: skip


def check(con: duckdb.DuckDBPyConnection, entry: registry.Entry) -> None:
    """Raise RegistryError naming the version, the cause and the champion that stays."""
    cause = problem(con, entry)
    if cause is None:
        return
    row = con.execute(
        f"select version from {registry.TABLE} where name = ? and status = 'champion'",
        [entry.name],
    ).fetchone()
    stays = f"v{row[0]} stays the champion" if row else "there is no champion"
    raise RegistryError(f"Refusing to promote {entry.name} v{entry.version}: {cause} ({stays}.)")


def promote(warehouse: Warehouse, name: str, version: int) -> registry.Entry:
    """Make `version` the champion if it passes `check`; else RegistryError, champion kept."""
    return registry.promote(warehouse, name, version, verify=check)
