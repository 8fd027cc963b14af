"""Adding a model: the exact steps the README gives ("Adding a model"), done in a copy of the
project, and every consumer picks the new model up: the dbt agreement check, the command line,
the Feast feature service, training sets, training and registration, dbt's prediction model
and `cartcast score`. The copy's own code runs (PYTHONPATH), so nothing is patched."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from cartcast import catalog
from cartcast.warehouse.paths import PROJECT_DIR, Warehouse
from tests.reliability.pipeline import copy_warehouse
from tests.support.fifth_model_check import NAME

# Step 1: one entry in the catalog (cartcast/catalog.py).
CATALOG_ENTRY = f'''        ModelSpec(
            name="{NAME}",
            task="binary",
            entity=CUSTOMER,
            label="purchase_30d",
            label_window=timedelta(days=30),
            marts=("customer_features",),
            numeric=CUSTOMER_NUMERIC,
            categorical=("country",),
            selection_metric="roc_auc",
            description="Probability of an order in 30 days, from the tabular features only.",
            rule=BaselineRule(
                "recency/frequency: orders in 30 days over days since the last order",
                (RuleTerm("orders_30d", 0), RuleTerm("recency_days", 365, weight=-1)),
            ),
        ),
'''
# where MODELS starts, and the end of its tuple: new entries go just before it (the
# recommenders' dict, after it, ends the same way)
START_OF_MODELS = "MODELS: dict[str, ModelSpec] = {\n"
END_OF_MODELS = "    )\n}\n"


def add_fifth_model(root: Path) -> None:
    source = root / "cartcast" / "catalog.py"
    text = source.read_text()
    assert text.count(START_OF_MODELS) == 1, "the catalog no longer defines MODELS as the steps say"
    end = text.index(END_OF_MODELS, text.index(START_OF_MODELS))
    source.write_text(text[:end] + CATALOG_ENTRY + text[end:])
    # Step 2: the var scored_models in dbt_project.yml (a line like the others).
    project = root / "dbt_project.yml"
    line = (
        f"    {NAME}: {{key: customer_id, task: binary, features: customer_features, "
        "labels: customer_labels, label: purchase_30d}\n"
    )
    text = project.read_text()
    anchor = "  scored_models:\n"
    project.write_text(text.replace(anchor, anchor + line))
    # Step 3: the prediction model and its latest view, copied from a model of the same entity
    # with the name replaced, and their YAML entries likewise.
    predictions = root / "models" / "predictions"
    template = catalog.default_model(catalog.CUSTOMER.key).name
    for suffix in (".py", "_latest.sql"):
        body = (predictions / f"{template}{suffix}").read_text()
        (predictions / f"{NAME}{suffix}").write_text(body.replace(template, NAME))
    docs = predictions / "_predictions__models.yml"
    content = yaml.safe_load(docs.read_text())
    added = []
    for model in content["models"]:
        if model["name"] in (template, f"{template}_latest"):
            text = yaml.safe_dump(model).replace(template, NAME)
            added.append(yaml.safe_load(text))
    content["models"] += added
    docs.write_text(yaml.safe_dump(content, sort_keys=False))


def test_a_fifth_model_reaches_every_consumer(feast_warehouse: Warehouse, tmp_path: Path) -> None:
    root = tmp_path / "project"
    top_level = {
        ".venv", ".venv-bi", ".git", "warehouse", "artifacts", "target", "logs", "bench", "docs",
    }  # fmt: skip

    def skip(folder: str, names: list[str]) -> set[str]:
        # the top-level build outputs only: cartcast/warehouse/ is a package
        skipped = {n for n in names if n == "__pycache__" or n.endswith(".egg-info")}
        return skipped | (top_level & set(names) if Path(folder) == PROJECT_DIR else set())

    shutil.copytree(PROJECT_DIR, root, ignore=skip)
    add_fifth_model(root)
    copy_warehouse(feast_warehouse, root / "warehouse_copy")
    env = {**os.environ, "PYTHONPATH": str(root)}
    for name in ("CARTCAST_DUCKDB", "CARTCAST_PARQUET_DIR", "CARTCAST_ARTIFACTS"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, str(PROJECT_DIR / "tests/support/fifth_model_check.py"), str(root)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    for line in (
        "dbt project agrees",
        "command line lists it",
        f"feast feature service: {NAME}_v1",
        "dbt scored:",
        "cartcast score:",
    ):
        assert line in done.stdout, done.stdout
