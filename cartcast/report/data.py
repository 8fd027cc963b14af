"""What the report shows, read from the registry, the model folders and the warehouse.

Per model: the champion's registry entry and model card, every candidate's validation scores,
the stored permutation importance, and the monitoring tables (`monitoring.score_distribution`,
`monitoring.feature_drift`, `monitoring.realized_performance`) for that version when dbt has
built them. A table that is missing, or has no rows for the version, reads as None: the page
then says the model has not been scored yet.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import duckdb
import pandas as pd

from cartcast.catalog import MODELS, RECOMMENDERS, ModelSpec, RecommenderSpec, get_spec
from cartcast.registry import versions as registry
from cartcast.training import model_tables, validation_scores
from cartcast.warehouse.paths import Warehouse

MONITORING_TABLES = {
    "score_distribution": "monitoring.score_distribution",
    "feature_drift": "monitoring.feature_drift",
    "realized_performance": "monitoring.realized_performance",
}


@dataclass(frozen=True)
class ModelEvidence:
    spec: ModelSpec
    entry: registry.Entry
    card: dict
    scores: pd.DataFrame | None
    importance: pd.DataFrame
    score_distribution: pd.DataFrame | None
    feature_drift: pd.DataFrame | None
    realized_performance: pd.DataFrame | None

    @property
    def champion(self) -> str:
        return self.card.get("champion") or self.entry.metrics["champion"]


def reported_models(warehouse: Warehouse) -> list[str]:
    """Scoring models with a champion, in a stable order (recommenders have their own page)."""
    frame = registry.list_models(warehouse)
    champions = frame.loc[frame["status"] == "champion", "name"].unique()
    return sorted(n for n in champions if n in MODELS)


@dataclass(frozen=True)
class RecommendationEvidence:
    """A recommender's champion: its card, its realized lists and a few of its newest lists."""

    spec: RecommenderSpec
    entry: registry.Entry
    card: dict
    realized: pd.DataFrame | None
    examples: pd.DataFrame | None


def load_recommendations(warehouse: Warehouse) -> list[RecommendationEvidence]:
    frame = registry.list_models(warehouse)
    champions = set(frame.loc[frame["status"] == "champion", "name"])
    out = []
    for name, spec in RECOMMENDERS.items():
        if name not in champions:
            continue
        entry = registry.champion(warehouse, name)
        card_path = entry.path.parent / "model_card.json"
        card = json.loads(card_path.read_text()) if card_path.exists() else {}
        con = duckdb.connect(str(warehouse.duckdb_path), read_only=True)
        try:
            realized = monitoring_rows(
                con, "monitoring.recommendation_performance", name, entry.version
            )
            examples = _examples(con, f"predictions.{name}_latest")
        finally:
            con.close()
        out.append(RecommendationEvidence(spec, entry, card, realized, examples))
    return out


def _examples(con: duckdb.DuckDBPyConnection, view: str, customers: int = 3) -> pd.DataFrame | None:
    schema, relation = view.split(".")
    if not con.execute(
        "select 1 from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, relation],
    ).fetchone():
        return None
    rows = con.execute(
        f"""
        select customer_id, as_of, rank, product_id, description, score, is_repeat
        from {view}
        where customer_id in (
            select customer_id from {view} where not is_cold_start
            group by customer_id order by customer_id limit ?)
        order by customer_id, rank
        """,
        [customers],
    ).df()
    return None if rows.empty else rows


def monitoring_rows(
    con: duckdb.DuckDBPyConnection, table: str, name: str, version: int
) -> pd.DataFrame | None:
    schema, relation = table.split(".")
    exists = con.execute(
        "select 1 from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, relation],
    ).fetchone()
    if not exists:
        return None
    rows = con.execute(
        f"select * from {table} where model_name = ? and model_version = ? order by as_of",
        [name, version],
    ).df()
    return None if rows.empty else rows


def load_evidence(warehouse: Warehouse, name: str) -> ModelEvidence:
    entry = registry.champion(warehouse, name)
    folder = entry.path.parent
    card_path = folder / "model_card.json"
    card = json.loads(card_path.read_text()) if card_path.exists() else {}
    scores_path = folder / validation_scores.FILE
    scores = validation_scores.read(scores_path) if scores_path.exists() else None
    importance = model_tables.read_importance(warehouse, name, entry.version)
    monitoring: dict[str, pd.DataFrame | None] = {}
    con = duckdb.connect(str(warehouse.duckdb_path), read_only=True)
    try:
        for key, table in MONITORING_TABLES.items():
            monitoring[key] = monitoring_rows(con, table, name, entry.version)
    finally:
        con.close()
    return ModelEvidence(
        spec=get_spec(name),
        entry=entry,
        card=card,
        scores=scores,
        importance=importance,
        **monitoring,
    )
