"""The model registry: first version is champion, promote archives, rollback returns."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from cartcast.cli.app import app
from cartcast.errors import RegistryError
from cartcast.registry import versions as registry
from cartcast.warehouse.paths import Warehouse


@pytest.fixture()
def placeholder_files_pass_the_serving_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command line promotes through serving's full check; these tests follow statuses
    with placeholder files, and the check itself has its own tests
    (tests/reliability/test_model_safety.py)."""
    from scoring import promotion

    monkeypatch.setattr(promotion, "check", lambda con, entry: None)


@pytest.fixture()
def warehouse(tmp_path: Path) -> Warehouse:
    wh = Warehouse.under(tmp_path)
    duckdb.connect(str(wh.duckdb_path)).close()
    return wh


def add(warehouse: Warehouse, version: int, service: str = "churn_90d_v1") -> registry.Entry:
    path = registry.model_dir(warehouse, "churn_90d", version) / "model.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(f"model {version}".encode())
    return registry.register(
        warehouse,
        name="churn_90d",
        version=version,
        task="binary",
        feature_service=service,
        family="torch",
        train_window=("2011-01-03T00:00:00+00:00", "2011-04-18T00:00:00+00:00"),
        valid_window=("2011-07-18T00:00:00+00:00", "2011-09-05T00:00:00+00:00"),
        cutoff="2011-07-18T00:00:00+00:00",
        metrics={
            "champion": "torch mlp",
            "selection_metric": "roc_auc",
            "torch mlp": {"roc_auc": 0.7},
        },
        path=path,
    )


def statuses(warehouse: Warehouse) -> dict[int, str]:
    frame = registry.list_models(warehouse, "churn_90d")
    return dict(zip(frame["version"], frame["status"], strict=True))


def test_artifacts_live_beside_a_non_default_warehouse(warehouse: Warehouse) -> None:
    assert registry.model_dir(warehouse, "x", 3) == warehouse.duckdb_path.parent / (
        "artifacts/models/x/3"
    )


def test_promote_and_rollback(warehouse: Warehouse) -> None:
    first = add(warehouse, 1)
    assert first.status == "champion"  # a name's first version: scoring needs a champion
    add(warehouse, 2)
    add(warehouse, 3)
    assert statuses(warehouse) == {1: "champion", 2: "candidate", 3: "candidate"}
    assert registry.next_version(warehouse, "churn_90d") == 4

    registry.promote(warehouse, "churn_90d", 2, verify=None)
    registry.promote(warehouse, "churn_90d", 3, verify=None)
    assert statuses(warehouse) == {1: "archived", 2: "archived", 3: "champion"}
    assert registry.rollback(warehouse, "churn_90d").version == 2
    assert registry.rollback(warehouse, "churn_90d").version == 1
    assert statuses(warehouse) == {1: "champion", 2: "archived", 3: "archived"}
    with pytest.raises(RegistryError, match="no earlier champion"):
        registry.rollback(warehouse, "churn_90d")

    champion = registry.champion(warehouse, "churn_90d")
    assert champion.verify_file() == champion.path
    champion.path.write_bytes(b"tampered")
    with pytest.raises(RegistryError, match="sha256"):
        champion.verify_file()


def test_unknown_version_and_feature_service_mismatch(warehouse: Warehouse) -> None:
    add(warehouse, 1)
    with pytest.raises(RegistryError, match="No model churn_90d v9"):
        registry.promote(warehouse, "churn_90d", 9, verify=None)
    with pytest.raises(RegistryError, match="does not match"):
        registry.champion(warehouse, "churn_90d", feature_service="spend_90d_v1")
    with pytest.raises(RegistryError, match="does not match"):
        add(warehouse, 2, service="spend_90d_v1")


def test_a_refused_version_leaves_the_champion(warehouse: Warehouse) -> None:
    add(warehouse, 1)
    add(warehouse, 2)
    seen = []

    def refuse(con: duckdb.DuckDBPyConnection, entry: registry.Entry) -> None:
        seen.append((entry.name, entry.version))
        raise RegistryError("cannot serve")

    with pytest.raises(RegistryError, match="cannot serve"):
        registry.promote(warehouse, "churn_90d", 2, verify=refuse)
    assert seen == [("churn_90d", 2)]
    assert statuses(warehouse) == {1: "champion", 2: "candidate"}


@pytest.mark.usefixtures("placeholder_files_pass_the_serving_check")
def test_models_commands(warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in warehouse.env().items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    assert "No models registered" in runner.invoke(app, ["models", "list"]).output
    add(warehouse, 1)
    add(warehouse, 2)
    result = runner.invoke(app, ["models", "promote", "churn_90d", "2"])
    assert result.exit_code == 0, result.output
    listing = runner.invoke(app, ["models", "list"]).output
    assert "champion" in listing and "archived" in listing and "roc_auc 0.7000" in listing
    result = runner.invoke(app, ["models", "rollback", "churn_90d"])
    assert result.exit_code == 0 and "v1 is the champion" in result.output
    result = runner.invoke(app, ["models", "promote", "churn_90d", "7"])
    assert result.exit_code == 1 and "No model churn_90d v7" in result.output


def test_a_model_may_move_to_a_later_version_of_its_own_feature_service(
    warehouse: Warehouse,
) -> None:
    add(warehouse, 1, service="churn_90d_v1")
    moved = add(warehouse, 2, service="churn_90d_v2")
    assert moved.feature_service == "churn_90d_v2"
    with pytest.raises(RegistryError, match="does not match"):
        add(warehouse, 3, service="churn_90d_v1")  # never back
    with pytest.raises(RegistryError, match="does not match"):
        add(warehouse, 3, service="spend_90d_v3")  # never another model's
    assert registry.newer_service("churn_90d", "churn_90d_v1", "churn_90d_v10")
    assert not registry.newer_service("churn_90d", "churn_90d_v2", "churn_90d_vx")
