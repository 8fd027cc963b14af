"""The dbt-duckdb plugin prepares dbt's connection: here, the memory cap profiles.yml gives it."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from cartcast.errors import WarehouseError
from udfs.dbt_plugin import Plugin


def setting(con: duckdb.DuckDBPyConnection, name: str) -> str:
    return con.execute(f"select current_setting('{name}')").fetchone()[0]


def test_the_connection_gets_the_profiles_cap_and_spill_folder(tmp_path: Path) -> None:
    plugin = Plugin("cartcast", {"memory_limit": "300MB", "temp_directory": str(tmp_path / "t")})
    con = duckdb.connect()
    plugin.configure_connection(con)
    assert setting(con, "memory_limit") == "286.1 MiB"
    assert Path(setting(con, "temp_directory")) == tmp_path / "t"


def test_an_empty_setting_caps_at_the_default_share_not_duckdbs_80_percent() -> None:
    own = setting(duckdb.connect(), "memory_limit")
    con = duckdb.connect()
    Plugin("cartcast", {"memory_limit": "", "temp_directory": ""}).configure_connection(con)
    assert setting(con, "memory_limit") != own
    # the spill folder stays DuckDB's default
    assert setting(con, "temp_directory") == setting(duckdb.connect(), "temp_directory")


def test_a_bad_cap_stops_when_dbt_starts() -> None:
    with pytest.raises(WarehouseError, match="CARTCAST_DUCKDB_MEMORY_LIMIT"):
        Plugin("cartcast", {"memory_limit": "plenty"})
