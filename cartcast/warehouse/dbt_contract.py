"""The marts' declared columns and types, read from the dbt YAML that enforces their contract.

Feast's schemas are derived from here, so adding a documented column to a mart is a change in
one place (the model and its YAML), and Feast cannot drift from dbt.
"""

from __future__ import annotations

from cartcast.errors import ContractError
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from cartcast.warehouse.paths import PROJECT_DIR

MARTS_YAML = PROJECT_DIR / "models" / "marts" / "_marts__models.yml"


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str
    description: str


@cache
def _models(path: Path = MARTS_YAML) -> dict[str, dict]:
    doc = yaml.safe_load(path.read_text())
    return {m["name"]: m for m in doc.get("models", [])}


def mart_columns(model: str, path: Path = MARTS_YAML) -> list[Column]:
    """Every declared column of a contracted mart, in declared order."""
    models = _models(path)
    if model not in models:
        raise ContractError(f"No mart named {model!r} in {path}; known: {sorted(models)}.")
    node = models[model]
    if not node.get("config", {}).get("contract", {}).get("enforced"):
        raise ContractError(f"Mart {model!r} has no enforced contract in {path}.")
    columns = []
    for col in node.get("columns", []):
        if "data_type" not in col:
            raise ContractError(f"{model}.{col['name']} has no data_type in {path}.")
        columns.append(
            Column(col["name"], col["data_type"].strip().lower(), col.get("description", ""))
        )
    return columns


def feature_columns(model: str, keys: tuple[str, ...], path: Path = MARTS_YAML) -> list[Column]:
    """The declared columns that are features: all but the entity keys and the timestamp."""
    return [c for c in mart_columns(model, path) if c.name not in keys]
