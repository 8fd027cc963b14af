"""The monitoring tables on Spark, from the predictions `scoring.spark_job` wrote there.

On DuckDB, `dbt build` scores (Python models) and then builds the monitoring models. dbt-spark's
session method runs SQL models only, so on Spark the scores come from `cartcast score --engine
spark` and this builds the rest of what the scoring tag holds: `int_scores_with_outcomes`, the
monitoring tables and the `<model>_latest` views, over the same model files. The recommenders'
lists are written by a dbt Python model only, so their descendants are left out.

dbt runs inside this process: the embedded metastore admits one JVM, and the scoring job's
session (or a new one) is the one dbt-spark's session method then takes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cartcast.catalog import MODELS, RECOMMENDERS
from cartcast.errors import ScoringError
from cartcast.warehouse.dbt_runner import run_dbt_in_process
from cartcast.warehouse.paths import Warehouse
from cartcast.warehouse.spark import session, spark_env
from scoring import predictions


def monitoring_args(names: list[str]) -> list[str]:
    """`dbt build` of what the scores of `names` feed, as SQL: the outcomes joined to scores,
    the monitoring tables and each model's `<name>_latest` view (the catalog's convention);
    not the recommenders' monitoring, which reads their lists (a dbt Python model)."""
    return [
        "build",
        "--select",
        "int_scores_with_outcomes",
        "path:models/monitoring",
        *(f"{name}_latest" for name in names),
        "--exclude",
        *(f"{name}+" for name in RECOMMENDERS),
    ]


def missing_predictions(warehouse: Warehouse, names: list[str]) -> list[str]:
    """The models among `names` with no Spark prediction table (its folder) yet."""
    schema_dir = warehouse.spark_dir / "tables" / f"{predictions.SCHEMA}.db"
    return [name for name in names if not (schema_dir / name).is_dir()]


def monitor_on_spark(
    warehouse: Warehouse,
    master: str | None = None,
    dbt_vars: Mapping[str, Any] | None = None,
    work_dir: Path | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> None:
    """Build the monitoring tables on Spark from every monitored model's Spark predictions
    (dbt var `scored_models`, by default every scoring model)."""
    names = list((dbt_vars or {}).get("scored_models") or MODELS)
    missing = missing_predictions(warehouse, names)
    if missing:
        raise ScoringError(
            f"No Spark predictions for {', '.join(missing)}: monitoring reads every scored "
            "model's. Run `cartcast score --all --engine spark` first."
        )
    # the session dbt's run will take (already running when the scoring job started it)
    session(warehouse, master, app="cartcast monitoring")
    run_dbt_in_process(
        monitoring_args(names),
        warehouse,
        dbt_vars,
        work_dir,
        {**spark_env(warehouse, master), **(extra_env or {})},
    )
