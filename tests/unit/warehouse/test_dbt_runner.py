"""dbt's environment: always this project and this warehouse, whatever the caller exported."""

from __future__ import annotations

from pathlib import Path

import pytest

from cartcast.warehouse.dbt_runner import dbt_command, dbt_env
from cartcast.warehouse.paths import PROJECT_DIR, Warehouse


def test_the_project_is_the_one_whose_code_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the Makefile exports DBT_PROJECT_DIR; a copy of the project run from it must build itself
    monkeypatch.setenv("DBT_PROJECT_DIR", str(tmp_path / "another_checkout"))
    monkeypatch.setenv("DBT_PROFILES_DIR", str(tmp_path / "another_checkout"))
    warehouse = Warehouse.under(tmp_path)
    env = dbt_env(warehouse, tmp_path, {"CARTCAST_ID_SALT": "s"})
    assert env["DBT_PROJECT_DIR"] == env["DBT_PROFILES_DIR"] == str(PROJECT_DIR)
    assert env["CARTCAST_DUCKDB"] == str(warehouse.duckdb_path)
    assert env["DBT_TARGET_PATH"] == str(tmp_path / "target")
    assert env["CARTCAST_ID_SALT"] == "s"


def test_vars_travel_as_json() -> None:
    command = dbt_command(["build", "--select", "x"], {"a": 1, "b": "two"})
    assert command[1:4] == ["build", "--select", "x"]
    assert command[-2:] == ["--vars", '{"a": 1, "b": "two"}']
