"""`cartcast bi publish | stop | serve` on a small warehouse, without starting a server."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cartcast.bi import superset
from cartcast.bi.paths import BIPaths
from cartcast.cli.app import app
from tests.unit.bi.test_publish import make_warehouse


@pytest.fixture()
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    warehouse = make_warehouse(tmp_path / "wh")
    monkeypatch.delenv("CARTCAST_BI_DIR", raising=False)
    for key, value in warehouse.env().items():
        monkeypatch.setenv(key, value)
    return warehouse


def test_publish_prints_what_it_published(warehouse) -> None:
    result = CliRunner().invoke(app, ["bi", "publish"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Published 4 tables for BI (12 rows) from cartcast bi publish")
    assert BIPaths.for_warehouse(warehouse).current_database.exists()


def test_stop_without_a_server(warehouse) -> None:
    result = CliRunner().invoke(app, ["bi", "stop"])
    assert result.exit_code == 0 and "No BI server was running." in result.output


def test_serve_without_superset_installed_names_the_make_target(
    warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(superset, "VENV", tmp_path / "no-venv")
    result = CliRunner().invoke(app, ["bi", "serve", "--port", "1"])
    assert result.exit_code == 1
    assert "Superset is not installed" in result.output and "make bi-setup" in result.output
    assert "Traceback" not in result.output
    # said before any work
    assert not BIPaths.for_warehouse(warehouse).published.exists()
