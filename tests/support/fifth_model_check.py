"""Run inside a copy of the project that gained a fifth model (tests/integration/
test_fifth_model.py): every consumer of the catalog must pick it up. Prints one line per check
and exits non-zero on the first that fails. Imports come from the copy (PYTHONPATH)."""

from __future__ import annotations

import sys
from pathlib import Path

NAME = "order_again_30d"


def main(root: Path) -> None:
    import duckdb
    from typer.testing import CliRunner

    from cartcast import catalog
    from cartcast.cli.app import app
    from cartcast.features import store as feature_store
    from cartcast.features import training_set
    from cartcast.training.train import TrainOptions, train_model
    from cartcast.warehouse.dbt_runner import run_dbt
    from cartcast.warehouse.paths import PROJECT_DIR, Warehouse
    from scoring.batch import score

    assert root == PROJECT_DIR, f"imports come from {PROJECT_DIR}, not the copy {root}"
    spec = catalog.get_spec(NAME)
    print("catalog:", spec.feature_service)
    problems = catalog.check_project()
    assert problems == [], problems
    print("dbt project agrees")

    help_text = CliRunner().invoke(app, ["train", "--help"]).output
    assert NAME in help_text, help_text
    refused = CliRunner().invoke(app, ["train", "--model", "not_a_model"])
    assert refused.exit_code == 2 and NAME in refused.output, refused.output
    print("command line lists it")

    warehouse = Warehouse.under(root / "warehouse_copy")
    store = feature_store.apply(warehouse)
    service = store.get_feature_service(spec.feature_service)
    assert [p.name for p in service.feature_view_projections] == list(spec.marts)
    print("feast feature service:", service.name)

    labels = training_set.label_entity_frame(spec.feature_service, warehouse)
    assert len(labels) > 1000 and list(labels.columns)[-1] == spec.label
    print("labelled rows:", len(labels))

    result = train_model(NAME, warehouse, TrainOptions(quick=True), store=store, echo=print)
    assert result.entry is not None and result.entry.status == "champion"
    print("trained:", result.champion, result.metrics[result.champion][spec.selection_metric])

    run_dbt(
        ["build", "--select", f"{NAME} {NAME}_latest"],
        warehouse,
        {"cartcast_now": "2026-01-01 00:00:00"},
        work_dir=warehouse.duckdb_path.parent,
    )
    con = duckdb.connect(str(warehouse.duckdb_path), read_only=True)
    try:
        (scored,) = con.execute(f"select count(*) from predictions.{NAME}").fetchone()
        (snapshots,) = con.execute("select count(*) from marts.customer_features").fetchone()
        (latest,) = con.execute(f"select count(*) from predictions.{NAME}_latest").fetchone()
    finally:
        con.close()
    assert scored == snapshots and latest > 0, (scored, snapshots, latest)
    print("dbt scored:", scored)

    run = score(warehouse, NAME, explain="none")
    print("cartcast score:", run.describe())


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve())
