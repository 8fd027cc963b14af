"""The model catalog: its lookups, its baseline rules, and its agreement with the dbt project
(the var `scored_models`, the prediction models and their YAML) and the Feast repository."""

from __future__ import annotations

import dataclasses
import importlib
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from cartcast import catalog
from cartcast.errors import CatalogError
from cartcast.warehouse.paths import PROJECT_DIR


def test_every_model_is_keyed_by_a_known_entity_and_reads_its_marts() -> None:
    for spec in catalog.MODELS.values():
        assert spec.entity is catalog.ENTITIES[spec.key]
        assert set(spec.marts) <= set(spec.entity.mart_names), spec.name
        assert spec.feature_service == f"{spec.name}_v{spec.service_version}"
        assert catalog.by_service(spec.feature_service) is spec


def test_earlier_services_still_name_their_model_and_marts() -> None:
    churn = catalog.get_spec("churn_90d")
    assert churn.services == {
        "churn_90d_v1": ("customer_features",),
        "churn_90d_v2": ("customer_features", "customer_sequences"),
    }
    assert catalog.by_service("churn_90d_v1") is churn
    assert catalog.is_upgrade(churn, "churn_90d_v1")
    assert not catalog.is_upgrade(churn, "churn_90d_v2")


def test_a_service_version_without_the_marts_of_each_earlier_one_is_refused() -> None:
    spec = catalog.get_spec("purchase_30d")
    with pytest.raises(CatalogError, match="lists the marts of 0 earlier version"):
        dataclasses.replace(spec, service_version=2)


def test_unknown_names_are_refused_with_the_known_ones() -> None:
    with pytest.raises(CatalogError, match=r"Unknown model 'nope'; known: \[") as err:
        catalog.get_spec("nope")
    assert str(err.value).startswith("Unknown model")  # not quoted like a KeyError
    with pytest.raises(CatalogError, match="Unknown feature service 'x_v1'"):
        catalog.by_service("x_v1")
    with pytest.raises(CatalogError, match="No model is keyed by 'shop_id'"):
        catalog.default_model("shop_id")


def test_the_default_model_of_an_entity_is_its_first_in_the_catalog() -> None:
    for key in catalog.ENTITIES:
        first = next(s for s in catalog.MODELS.values() if s.key == key)
        assert catalog.default_model(key) is first
        assert catalog.default_service(key) == first.feature_service


def test_baseline_rules_compute_their_terms() -> None:
    frame = pd.DataFrame(
        {
            "orders_90d": [3.0, None],
            "recency_days": [1.0, None],
            "orders_365d": [0.0, 7.0],
            "spend_90d": [12.5, None],
            "carts_15m": [1.0, 0.0],
            "views_5m": [3.0, None],
            "minutes_since_last_event": [30.0, None],
        }
    )

    def column(name: str, fill: float) -> np.ndarray:
        return frame[name].fillna(fill).to_numpy(dtype=float)

    score = {name: spec.rule.score(column) for name, spec in catalog.MODELS.items()}
    # log1p(3) - log1p(1) = log 2; missing counts fill with 0 orders and 365 days of recency
    assert score["purchase_30d"] == pytest.approx([np.log(2), -np.log(366)])
    assert score["churn_90d"] == pytest.approx([np.log(2), np.log(366) - np.log(8)])
    assert score["spend_90d"] == pytest.approx([12.5, 0.0])
    assert score["intent_session"] == pytest.approx([2 * np.log(2) + np.log(4) - 0.5, -1.0])


def test_the_dbt_project_agrees_with_the_catalog() -> None:
    assert catalog.check_project() == []


def _project_copy(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "models").mkdir(parents=True)
    shutil.copy(PROJECT_DIR / "dbt_project.yml", root)
    shutil.copytree(PROJECT_DIR / "models" / "predictions", root / "models" / "predictions")
    return root


def test_disagreements_are_named(tmp_path: Path) -> None:
    root = _project_copy(tmp_path)
    names = list(catalog.MODELS)
    project = yaml.safe_load((root / "dbt_project.yml").read_text())
    scored = project["vars"]["scored_models"]
    del scored[names[0]]
    scored[names[1]]["label"] = "something_else"
    scored["ghost_7d"] = dict(scored[names[2]])
    (root / "dbt_project.yml").write_text(yaml.safe_dump(project))
    (root / "models" / "predictions" / f"{names[3]}_latest.sql").unlink()
    (root / "models" / "predictions" / "stray_model.py").write_text("")
    problems = catalog.check_project(root)
    assert problems == [
        f"{names[0]}: missing from the var scored_models in dbt_project.yml",
        f"{names[1]}: scored_models.{names[1]}.label is 'something_else' in dbt_project.yml, "
        f"the catalog says {catalog.MODELS[names[1]].label!r}",
        f"{names[3]}: models/predictions/{names[3]}_latest.sql is missing",
        "ghost_7d: in the var scored_models of dbt_project.yml, not in the catalog",
        "stray_model: models/predictions/stray_model.py has no catalog entry",
    ]


def test_a_model_missing_from_the_prediction_docs_is_named(tmp_path: Path) -> None:
    root = _project_copy(tmp_path)
    docs = root / "models" / "predictions" / "_predictions__models.yml"
    content = yaml.safe_load(docs.read_text())
    name = next(iter(catalog.MODELS))
    content["models"] = [m for m in content["models"] if m["name"] != name]
    docs.write_text(yaml.safe_dump(content))
    assert catalog.check_project(root) == [
        f"{name}: {name} is not documented in models/predictions/_predictions__models.yml"
    ]


def test_the_feast_repository_has_one_feature_service_per_catalog_model() -> None:
    repo = str(PROJECT_DIR / "feature_repo")
    sys.path.insert(0, repo)
    try:
        services = importlib.import_module("feature_services")
        for spec in catalog.MODELS.values():
            assert list(spec.services)[-1] == spec.feature_service
            assert spec.services[spec.feature_service] == spec.marts
            for name, marts in spec.services.items():
                service = getattr(services, name)
                views = [p.name for p in service.feature_view_projections]
                assert views == list(marts), name
                assert service.tags["model"] == spec.name
    finally:
        sys.path.remove(repo)
