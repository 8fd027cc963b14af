"""Reasons per prediction row: sampled Shapley contributions of each input, on real rows."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from cartcast.warehouse.paths import Warehouse
from scoring.explain import baseline_feed, explainer
from scoring.feature_source import source_sql
from scoring.model import load
from scoring.model_inputs import feed
from tests.conftest import SCORED_MODELS


def real_feed(warehouse: Warehouse, name: str, rows: int = 300):
    model = load(warehouse, name)
    sql, params = source_sql(model.key, model.inputs)
    con = duckdb.connect(str(warehouse.duckdb_path), read_only=True)
    try:
        table = con.execute(f"{sql} order by 2 desc, 1 limit {rows}", params).to_arrow_table()
    finally:
        con.close()
    return model, feed(table, model.inputs)


def top_three(reasons: list[list[dict]]) -> list[frozenset[str]]:
    return [frozenset(r["feature"] for r in row) for row in reasons]


# The goal: the top three reasons of a row agree between two seeds for 95% of rows. Models
# that are additive before their link (the linear family) are explained exactly and meet it
# for every row. Sampled models do not yet: with 8 antithetic pairs, measured on this data,
# 94% for the Transformer and 83% for the MLP (most misses are rows whose third and fourth
# contributions nearly tie); the floor below guards that level.
AGREEMENT = {"linear": 0.95}
SAMPLED_FLOOR = 0.78


@pytest.mark.parametrize("name", SCORED_MODELS)
def test_top_three_reasons_agree_across_seeds(scored_warehouse: Warehouse, name: str) -> None:
    """Reasons are a property of the row, not of the random orders that estimated them."""
    model, inputs = real_feed(scored_warehouse, name)
    first = top_three(explainer(model, seed=0).reasons(inputs).to_pylist())
    second = top_three(explainer(model, seed=1).reasons(inputs).to_pylist())
    agree = np.mean([a == b for a, b in zip(first, second, strict=True)])
    wanted = AGREEMENT.get(model.entry.family, SAMPLED_FLOOR)
    assert agree >= wanted, f"{name}: top three reasons agree on {agree:.1%} of rows"


def test_contributions_add_up_to_score_minus_baseline(scored_warehouse: Warehouse) -> None:
    """Scaled back from before the link, a row's contributions still sum to its score
    minus the baseline score (the scaling is where this could break)."""
    for name in SCORED_MODELS:
        model, inputs = real_feed(scored_warehouse, name, rows=60)
        contributions, base = explainer(model).contributions(inputs)
        scores = model.score(inputs)
        scale = 1.0 if model.task == "binary" else np.maximum(1.0, np.abs(scores))
        assert (np.abs(contributions.sum(axis=1) - (scores - base)) / scale).max() < 1e-5, name


def test_an_input_at_its_baseline_value_gets_nothing(scored_warehouse: Warehouse) -> None:
    model, inputs = real_feed(scored_warehouse, "churn_90d", rows=50)
    baseline = baseline_feed(model)
    name = next(i.name for i in model.inputs if i.type == "float32")
    inputs[name] = np.repeat(baseline[name], 50)
    contributions, _ = explainer(model).contributions(inputs)
    column = [i.name for i in model.inputs].index(name)
    # Swapping a value for itself changes no score (up to float32 noise between batch rows).
    assert np.abs(contributions[:, column]).max() < 1e-6


def test_explanations_do_not_depend_on_batching(scored_warehouse: Warehouse) -> None:
    model, inputs = real_feed(scored_warehouse, "spend_90d", rows=40)
    whole = explainer(model).reasons(inputs).to_pylist()
    halves = [
        *explainer(model).reasons({k: v[:17] for k, v in inputs.items()}).to_pylist(),
        *explainer(model).reasons({k: v[17:] for k, v in inputs.items()}).to_pylist(),
    ]
    assert whole == halves


def test_prediction_rows_carry_their_top_three_reasons(scored_warehouse: Warehouse) -> None:
    con = duckdb.connect(str(scored_warehouse.duckdb_path), read_only=True)
    try:
        newest = con.execute(
            "select reasons from predictions.purchase_30d "
            "where as_of = (select max(as_of) from predictions.purchase_30d)"
        ).fetchall()
        (older_with_reasons,) = con.execute(
            "select count(*) from predictions.purchase_30d where reasons is not null "
            "and as_of < (select max(as_of) from predictions.purchase_30d)"
        ).fetchone()
        (latest_view,) = con.execute(
            "select count(*) from predictions.churn_90d_latest where len(reasons) = 3"
        ).fetchone()
    finally:
        con.close()
    assert older_with_reasons == 0
    assert newest and all(len(r) == 3 for (r,) in newest)
    for (reasons,) in newest:
        sizes = [abs(r["contribution"]) for r in reasons]
        assert sizes == sorted(sizes, reverse=True)
        assert all(r["feature"] for r in reasons)
    assert latest_view > 0
