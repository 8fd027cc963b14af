"""The short load summary printed after a build: what came in, what was set aside, what came out."""

from __future__ import annotations

from cartcast.errors import WarehouseNotBuilt
from dataclasses import dataclass

import duckdb

from cartcast.warehouse.identifiers import qualified
from cartcast.warehouse.paths import Warehouse
from cartcast.warehouse.connection import connect

FEATURE_MARTS = ("customer_features", "user_event_features")
KEY_COLUMNS = {"customer_id", "user_id", "as_of"}


@dataclass(frozen=True)
class LoadSummary:
    sources: list[tuple[str, int, int, int, int]]
    quarantine: list[tuple[str, str, int]]
    customers: int
    snapshots: int
    labelled_rows: int
    users: int
    event_snapshots: int
    features: dict[str, int]


def load_summary(warehouse: Warehouse) -> LoadSummary:
    if not warehouse.duckdb_path.exists():
        raise WarehouseNotBuilt(
            f"No warehouse at {warehouse.duckdb_path}: run `make demo` or `dbt build` first."
        )
    con = connect(warehouse, read_only=True)
    try:
        return _read(con)
    except duckdb.CatalogException as err:
        raise WarehouseNotBuilt(
            f"The warehouse at {warehouse.duckdb_path} is incomplete ({err}); run `dbt build`."
        ) from err
    finally:
        con.close()


def _read(con: duckdb.DuckDBPyConnection) -> LoadSummary:
    sources = con.sql(
        "select source_table, raw_rows, used_rows, quarantined_rows, duplicate_rows_removed "
        "from audit.load_reconciliation order by source_table"
    ).fetchall()
    quarantine = con.sql(
        "select source_table, reason, quarantined_rows from audit.quarantine_summary "
        "order by source_table, quarantined_rows desc, reason"
    ).fetchall()
    customers, snapshots = con.sql(
        "select count(distinct customer_id), count(distinct as_of) from marts.customer_features"
    ).fetchone()
    (labelled,) = con.sql("select count(*) from marts.customer_labels").fetchone()
    users, event_snapshots = con.sql(
        "select count(distinct user_id), count(distinct as_of) from marts.user_event_features"
    ).fetchone()
    features = {}
    for mart in FEATURE_MARTS:
        columns = con.sql(f"describe {qualified('marts', mart)}").fetchall()
        features[mart] = sum(1 for c in columns if c[0] not in KEY_COLUMNS)
    return LoadSummary(
        sources, quarantine, customers, snapshots, labelled, users, event_snapshots, features
    )


def render_summary(s: LoadSummary) -> str:
    lines = ["", "cartcast load summary", "====================="]
    lines.append(f"{'source':<30}{'rows in':>10}{'used':>10}{'quarantined':>13}{'duplicates':>12}")
    for name, raw, used, quarantined, dups in s.sources:
        lines.append(f"{name:<30}{raw:>10,}{used:>10,}{quarantined:>13,}{dups:>12,}")
    lines.append("")
    lines.append("quarantined by reason:")
    if not s.quarantine:
        lines.append("  (none)")
    for name, reason, n in s.quarantine:
        lines.append(f"  {name:<30}{reason:<38}{n:>10,}")
    lines.append("")
    lines.append(
        f"customers: {s.customers:,}   snapshots: {s.snapshots}   "
        f"labelled customer snapshots: {s.labelled_rows:,}"
    )
    lines.append(f"clickstream users: {s.users:,}   event snapshots: {s.event_snapshots}")
    lines.append("features: " + ", ".join(f"{mart} {n}" for mart, n in s.features.items()))
    return "\n".join(lines)
