"""The dbt-duckdb plugin that prepares cartcast's warehouse for dbt's connection.

Named in profiles.yml (`plugins: - module: udfs.dbt_plugin`). It creates the folders of
the DuckDB file and of the Parquet feature marts, so that a bare `dbt build` works on a
fresh clone without a manual `mkdir`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin


def ensure_warehouse_folders(database_path: str, external_root: str) -> None:
    """Create the parent folder of the DuckDB file and the Parquet root if missing."""
    if database_path and database_path != ":memory:" and not database_path.startswith("md:"):
        Path(database_path).expanduser().parent.mkdir(parents=True, exist_ok=True)
    if external_root and "://" not in external_root:
        Path(external_root).expanduser().mkdir(parents=True, exist_ok=True)


class Plugin(BasePlugin):
    def update_connection_config(self, creds: Any, config: dict[str, Any]) -> None:
        ensure_warehouse_folders(creds.path, creds.external_root)
