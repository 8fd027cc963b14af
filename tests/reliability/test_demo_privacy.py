"""The privacy option in the demo: `cartcast demo` builds with pseudonymized ids, the salt
from CARTCAST_ID_SALT or (said aloud) a fixed demo salt, and `cartcast predict --raw-id`
finds a customer by the raw id."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from cartcast.cli import pipeline as cli
from cartcast.cli.app import app
from cartcast.warehouse.privacy import pseudonymize
from tests.reliability.pipeline import SALT, SALT_ENV
from tests.support.warehouse_queries import fetch


class _Stop(Exception):
    pass


def _demo_dbt_call(monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], dict, dict]:
    """The demo's first dbt call (what it would run), without running dbt."""
    calls: list = []

    def record(args, warehouse, dbt_vars=None, extra_env=None) -> None:
        calls.append((args, dbt_vars, extra_env))
        raise _Stop

    monkeypatch.setattr(cli, "_dbt", record)
    with pytest.raises(_Stop):
        cli.demo()
    return calls[0]


def test_the_demo_builds_with_pseudonymized_ids_and_the_salt_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("CARTCAST_ID_SALT", "a-salt-of-this-deployment")
    args, dbt_vars, env = _demo_dbt_call(monkeypatch)
    assert args[0] == "build" and dbt_vars == {"cartcast_pseudonymize_ids": True}
    assert env == {"CARTCAST_ID_SALT": "a-salt-of-this-deployment"}
    assert "demo salt" not in capsys.readouterr().out


def test_the_demo_without_a_salt_uses_the_demo_salt_and_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.delenv("CARTCAST_ID_SALT", raising=False)
    _, dbt_vars, env = _demo_dbt_call(monkeypatch)
    assert dbt_vars == {"cartcast_pseudonymize_ids": True}
    assert env == {"CARTCAST_ID_SALT": cli.DEMO_ID_SALT}
    out = capsys.readouterr().out
    assert "fixed demo salt" in out and "must set CARTCAST_ID_SALT" in out


def test_predict_finds_a_customer_by_raw_id(pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    warehouse, _ = pipeline
    for key, value in {**warehouse.env(), **SALT_ENV}.items():
        monkeypatch.setenv(key, value)
    sql = "select distinct customer_id from marts.customer_features"
    keys = {k for (k,) in fetch(warehouse, sql)}
    # the slice holds every 24th customer: find a raw id whose pseudonym the warehouse holds
    raw = next(str(n) for n in range(12000, 18300, 24) if pseudonymize(str(n), SALT) in keys)
    hashed = pseudonymize(raw, SALT)
    ((end,),) = fetch(warehouse, "select max(as_of) from marts.customer_features")
    at = ["--now", end.isoformat()]
    runner = CliRunner()
    by_raw = runner.invoke(app, ["predict", "--customer", raw, "--raw-id", *at])
    by_key = runner.invoke(app, ["predict", "--customer", hashed, *at])
    assert by_raw.exit_code == 0, by_raw.output
    assert f"customer_id={hashed}:" in by_raw.output
    assert by_raw.output == by_key.output
    assert re.search(r": \d", by_raw.output)
    # the warehouse records that its ids are hashed: the raw id alone finds the customer
    assert runner.invoke(app, ["predict", "--customer", raw, *at]).output == by_key.output
    key = runner.invoke(app, ["features", "key", "--customer", raw])
    assert key.exit_code == 0 and key.output.strip() == hashed
    # a salt that is not the warehouse's is refused, not used to look up nothing
    monkeypatch.setenv("CARTCAST_ID_SALT", "another-salt")
    wrong = runner.invoke(app, ["predict", "--customer", raw, *at])
    assert wrong.exit_code == 1 and "not the salt this warehouse was built with" in wrong.output
    monkeypatch.delenv("CARTCAST_ID_SALT")
    no_salt = runner.invoke(app, ["predict", "--customer", raw, "--raw-id", *at])
    assert no_salt.exit_code == 1 and "CARTCAST_ID_SALT" in no_salt.output
    unknown = runner.invoke(app, ["features", "get", "--customer", raw])
    assert unknown.exit_code == 1 and "set the environment variable CARTCAST_ID_SALT" in (
        unknown.output
    )
