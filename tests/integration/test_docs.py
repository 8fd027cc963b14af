"""`dbt docs generate` works, and every column of every model is described in YAML."""

from __future__ import annotations

import json
from pathlib import Path

from cartcast.warehouse.dbt_runner import run_dbt
from cartcast.warehouse.paths import Warehouse
from tests.conftest import FIXED_NOW


def test_every_built_column_is_documented(scored_warehouse: Warehouse, tmp_path: Path) -> None:
    run_dbt(["docs", "generate"], scored_warehouse, {"cartcast_now": FIXED_NOW}, work_dir=tmp_path)
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    catalog = json.loads((tmp_path / "target" / "catalog.json").read_text())

    undocumented = []
    checked = 0
    for unique_id, node in manifest["nodes"].items():
        if node["resource_type"] not in ("model", "seed"):
            continue
        if not node.get("description"):
            undocumented.append(f"{unique_id} (model description)")
        built = catalog["nodes"].get(unique_id)
        assert built is not None, f"{unique_id} is missing from the catalog"
        documented = {name.lower(): col.get("description") for name, col in node["columns"].items()}
        for column in built["columns"]:
            checked += 1
            if not documented.get(column.lower()):
                undocumented.append(f"{unique_id}.{column}")
    assert checked > 150
    assert not undocumented, "undocumented columns:\n" + "\n".join(undocumented)
