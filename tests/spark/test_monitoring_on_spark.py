"""The monitoring models built on Spark from the Spark job's predictions equal DuckDB's, built
from DuckDB's scoring of the same champion: the outcomes joined to scores, realized ROC-AUC and
errors, calibration by decile, score distributions, feature drift, and the latest-scores view."""

from __future__ import annotations

import pytest
import yaml

from cartcast.warehouse.dbt_runner import run_dbt
from cartcast.warehouse.paths import PROJECT_DIR
from scoring.spark_monitoring import missing_predictions, monitor_on_spark, monitoring_args
from tests.spark.compare import engine_differences
from tests.spark.conftest import MASTER, SALT_ENV, SCORED_MODEL

pytestmark = pytest.mark.spark

MONITORED = (
    "intermediate.int_scores_with_outcomes",
    "monitoring.realized_performance",
    "monitoring.calibration",
    "monitoring.score_distribution",
    "monitoring.feature_drift",
    f"predictions.{SCORED_MODEL}_latest",
)


def test_monitoring_tables_built_on_spark_equal_duckdbs(
    both_engines, spark, churn_scored, tmp_path
) -> None:
    warehouse, dbt_vars = both_engines
    project = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())
    # the one model both engines scored: monitoring reads every model the var names
    monitored = {SCORED_MODEL: project["vars"]["scored_models"][SCORED_MODEL]}
    run_vars = {**dbt_vars, "scored_models": monitored}
    assert missing_predictions(warehouse, [SCORED_MODEL, "purchase_30d"]) == ["purchase_30d"]

    run_dbt(
        monitoring_args([SCORED_MODEL]),
        warehouse,
        run_vars,
        work_dir=tmp_path / "duckdb",
        extra_env=SALT_ENV,
    )
    monitor_on_spark(warehouse, MASTER, run_vars, tmp_path / "spark", SALT_ENV)

    assert engine_differences(warehouse, spark, MONITORED) == []
