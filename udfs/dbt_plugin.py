"""The dbt-duckdb plugin that prepares cartcast's warehouse for dbt's connection.

Named in profiles.yml (`plugins: - module: udfs.dbt_plugin`). It
- creates the folders of the DuckDB file and of the Parquet feature marts, so that a bare
  `dbt build` works on a fresh clone without a manual `mkdir`;
- creates the model registry table if missing, so models that read it (the `*_latest`
  prediction views) build before any model is trained;
- registers the SQL functions of `udfs.predict` (`cartcast_predict`, ...). They exist only on
  this connection: models that call them must be tables, not views;
- registers `cartcast_fault_point(name)`, which the models' post-hook calls only when a crash
  test names that model (`cartcast.warehouse.faults`); otherwise it is never called;
- registers the functions of `udfs.bi_publish`, through which the on-run-end hook publishes
  the tables BI tools read (`cartcast.bi.publish`);
- caps DuckDB's memory and names its spill folder from the plugin's `memory_limit` and
  `temp_directory` in profiles.yml (`cartcast.warehouse.memory`: a share of RAM by default).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection
from duckdb.sqltypes import BOOLEAN, VARCHAR

from cartcast.warehouse import memory
from cartcast.warehouse.faults import fault_point


def ensure_warehouse_folders(database_path: str, external_root: str) -> None:
    """Create the parent folder of the DuckDB file and the Parquet root if missing."""
    if database_path and database_path != ":memory:" and not database_path.startswith("md:"):
        Path(database_path).expanduser().parent.mkdir(parents=True, exist_ok=True)
    if external_root and "://" not in external_root:
        Path(external_root).expanduser().mkdir(parents=True, exist_ok=True)


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        self.memory_limit = plugin_config.get("memory_limit")
        self.temp_directory = plugin_config.get("temp_directory")
        # a bad value stops at dbt's start, not when the first model runs
        memory.memory_limit(self.memory_limit)

    def update_connection_config(self, creds: Any, config: dict[str, Any]) -> None:
        ensure_warehouse_folders(creds.path, creds.external_root)

    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        from cartcast.registry.versions import DDL
        from udfs import bi_publish
        from udfs.predict import register

        memory.cap(conn, self.memory_limit, self.temp_directory)
        conn.execute(DDL)
        register(conn)
        conn.create_function(
            "cartcast_fault_point", fault_point, [VARCHAR], BOOLEAN, side_effects=True
        )
        bi_publish.register(conn)
