"""The one place the command line reports errors: every CartcastError is one line and exit
code 1, a busy warehouse exits 75, anything else is a real bug and keeps its trace."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from cartcast import errors
from cartcast.cli.errors import BUSY_EXIT_CODE, CartcastGroup


def app_raising(error: BaseException) -> typer.Typer:
    app = typer.Typer(cls=CartcastGroup)
    sub = typer.Typer()

    @app.command()
    def top() -> None:
        raise error

    @sub.command()
    def nested() -> None:
        raise error

    app.add_typer(sub, name="group")
    return app


@pytest.mark.parametrize(
    "error",
    [
        errors.TrainingError("No rows: build more data first."),
        errors.RegistryError("No model x v9; see `cartcast models list`."),
        errors.ScoringError("Model m cannot score t: run `dbt build`."),
        errors.FeatureStoreError("Run `cartcast features apply`."),
        errors.TrainingSetError("The entity frame is empty."),
        errors.WarehouseNotBuilt("No warehouse: run `make demo`."),
        errors.MissingSalt("Set CARTCAST_ID_SALT."),
        errors.CatalogError("Unknown model 'x'; known: ['a']."),
        errors.BIError("Superset is not installed: run `make bi-setup`."),
    ],
    ids=lambda e: type(e).__name__,
)
def test_every_cartcast_error_is_one_line_and_exit_1(error: errors.CartcastError) -> None:
    for command in (["top"], ["group", "nested"]):
        result = CliRunner().invoke(app_raising(error), command)
        assert result.exit_code == 1
        assert result.output.strip() == str(error)
        assert "Traceback" not in result.output


def test_dbt_failures_show_the_first_line_dbt_already_printed_the_rest() -> None:
    error = errors.DbtError("`dbt build` failed: raw file x.csv, column y\nlog line 1\nlog line 2")
    result = CliRunner().invoke(app_raising(error), ["top"])
    assert result.exit_code == 1
    assert result.output.strip() == "`dbt build` failed: raw file x.csv, column y"


def test_a_busy_warehouse_exits_75() -> None:
    result = CliRunner().invoke(app_raising(errors.WarehouseBusy("/w.duckdb", 42)), ["top"])
    assert result.exit_code == BUSY_EXIT_CODE == 75
    assert "process 42 holds it" in result.output


def test_other_exceptions_are_not_hidden() -> None:
    result = CliRunner().invoke(app_raising(ZeroDivisionError("bug")), ["top"])
    assert result.exit_code == 1 and isinstance(result.exception, ZeroDivisionError)


def test_every_error_has_the_one_base() -> None:
    defined = [v for v in vars(errors).values() if isinstance(v, type) and issubclass(v, Exception)]
    assert len(defined) >= 12
    assert all(issubclass(cls, errors.CartcastError) for cls in defined)
