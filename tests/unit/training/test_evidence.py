"""What training stores beside the model: drift reference, permutation importance (table and
model card), validation scores; written again, a version's rows are replaced, not added."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from cartcast.catalog import get_spec
from cartcast.registry.versions import IMPORTANCE_TABLE, REFERENCE_TABLE
from cartcast.training import model_tables, validation_scores
from cartcast.training.dataset import time_split
from cartcast.training.metrics import evaluate
from cartcast.training.reference import read_json
from cartcast.training.train import TrainOptions, TrainResult, train_model
from cartcast.warehouse.paths import Warehouse
from tests.support.scoring_data import synthetic_frame

CHURN = get_spec("churn_90d")


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    wh = Warehouse.under(tmp_path_factory.mktemp("evidence"))
    duckdb.connect(str(wh.duckdb_path)).close()
    return wh


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return synthetic_frame(CHURN, weeks=30)


@pytest.fixture(scope="module")
def trained(warehouse: Warehouse, frame: pd.DataFrame) -> TrainResult:
    return train_model(
        "churn_90d",
        warehouse,
        TrainOptions(quick=True, seed=3, pretrained=False),
        frame=frame,
        echo=lambda _: None,
    )


def rows(warehouse: Warehouse, table: str, version: int) -> pd.DataFrame:
    with duckdb.connect(str(warehouse.duckdb_path), read_only=True) as con:
        return con.execute(
            f"select * from {table} where model_name = 'churn_90d' and model_version = ? "
            "order by all",
            [version],
        ).df()


def test_reference_rows_and_file(warehouse: Warehouse, trained: TrainResult) -> None:
    table = rows(warehouse, REFERENCE_TABLE, trained.version)
    assert set(table["feature"]) == set(CHURN.numeric)
    shares = table.groupby("feature")["expected_share"].sum()
    assert np.allclose(shares.to_numpy(), 1.0, atol=1e-9)
    missing = table[table["bin"] == 0]
    assert len(missing) == len(CHURN.numeric)
    assert missing["lower_bound"].isna().all() and missing["upper_bound"].isna().all()
    # recency_days is missing for every 7th customer in the synthetic frame: 9 of 60.
    share = missing.set_index("feature").loc["recency_days", "expected_share"]
    assert share == pytest.approx(9 / 60)
    from_file = read_json(trained.path.parent / "reference.json")
    assert len(from_file) == len(table)
    assert sorted(b.expected_share for b in from_file) == pytest.approx(
        sorted(table["expected_share"])
    )


def test_importance_for_every_feature(warehouse: Warehouse, trained: TrainResult) -> None:
    table = rows(warehouse, IMPORTANCE_TABLE, trained.version).sort_values("rank")
    assert set(table["feature"]) == {*CHURN.numeric, *CHURN.categorical}
    assert list(table["rank"]) == list(range(1, len(table) + 1))
    assert (table["metric"] == "roc_auc").all()
    assert (table["importance_std"] >= 0).all()
    # The synthetic label is driven by orders_90d alone.
    assert table.iloc[0]["feature"] == "orders_90d"
    assert table.iloc[0]["importance"] > 0.05
    assert table["importance"].iloc[1:].abs().max() < table.iloc[0]["importance"] / 3
    card = json.loads((trained.path.parent / "model_card.json").read_text())
    assert [r["feature"] for r in card["importance"]] == list(table["feature"])
    markdown = (trained.path.parent / "model_card.md").read_text()
    assert "## Feature importance" in markdown and "| 1 | orders_90d |" in markdown


def test_validation_scores_file(trained: TrainResult, frame: pd.DataFrame) -> None:
    scores = validation_scores.read(trained.path.parent / validation_scores.FILE)
    assert validation_scores.candidates(scores) == list(trained.metrics)
    split = time_split(frame, CHURN)
    assert len(scores) == len(split.valid)
    assert scores["as_of"].min() == split.cutoff
    assert list(scores["label"]) == list(split.valid[CHURN.label_column])
    assert scores[["key", "as_of"]].duplicated().sum() == 0
    champion = evaluate("binary", scores["label"].to_numpy(), scores[trained.champion].to_numpy())
    assert champion == pytest.approx(trained.metrics[trained.champion])


def test_retraining_replaces_rows(
    warehouse: Warehouse, trained: TrainResult, frame: pd.DataFrame
) -> None:
    again = train_model(
        "churn_90d",
        warehouse,
        TrainOptions(quick=True, seed=3, pretrained=False),
        frame=frame,
        echo=lambda _: None,
    )
    assert again.version == trained.version + 1
    for table in (REFERENCE_TABLE, IMPORTANCE_TABLE):
        first = rows(warehouse, table, trained.version).drop(columns="model_version")
        second = rows(warehouse, table, again.version).drop(columns="model_version")
        pd.testing.assert_frame_equal(first, second)
    # Writing a version's rows again (a retried run) replaces them: one set per version.
    bins = read_json(again.path.parent / "reference.json")
    before = len(rows(warehouse, REFERENCE_TABLE, again.version))
    model_tables.write_reference(warehouse, "churn_90d", again.version, bins)
    model_tables.write_importance(warehouse, "churn_90d", again.version, again.importance)
    assert len(rows(warehouse, REFERENCE_TABLE, again.version)) == before
    assert len(rows(warehouse, IMPORTANCE_TABLE, again.version)) == len(again.importance)
    assert len(rows(warehouse, REFERENCE_TABLE, trained.version)) == before


def test_tables_created_if_missing(tmp_path: Path) -> None:
    wh = Warehouse.under(tmp_path)
    duckdb.connect(str(wh.duckdb_path)).close()
    assert model_tables.read_importance(wh, "churn_90d", 1).empty
    model_tables.write_reference(wh, "churn_90d", 1, [])
    assert model_tables.read_reference(wh, "churn_90d", 1).empty
