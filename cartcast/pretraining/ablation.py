"""Where the pre-training ablation (bench/pretraining.py) keeps its last result, for the
report: `<artifacts>/benchmarks/pretraining.json`."""

from __future__ import annotations

import json
from pathlib import Path

from cartcast.registry.versions import artifacts_dir
from cartcast.warehouse.paths import Warehouse


def ablation_path(warehouse: Warehouse) -> Path:
    return artifacts_dir(warehouse) / "benchmarks" / "pretraining.json"


def write_ablation(warehouse: Warehouse, result: dict) -> Path:
    path = ablation_path(warehouse)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, sort_keys=True))
    return path


def read_ablation(warehouse: Warehouse) -> dict | None:
    path = ablation_path(warehouse)
    return json.loads(path.read_text()) if path.exists() else None
