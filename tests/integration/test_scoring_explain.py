"""Reasons per prediction row: sampled Shapley contributions of each input, on real rows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import onnx
import onnxruntime as ort
import pytest

from cartcast.catalog import get_spec
from cartcast.registry.metadata import read_metadata
from cartcast.training import export
from cartcast.training.fit import TorchConfig, make_inputs, train_torch
from cartcast.training.train import TrainOptions, prepare
from cartcast.warehouse.paths import Warehouse
from scoring.explain import baseline_feed, explainer
from scoring.feature_source import source_sql
from scoring.model import load
from scoring.model_inputs import feed, parse_inputs
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


# The goal: the top three reasons of a row agree between two seeds for 95% of rows.
AGREEMENT = 0.95


def agreement(model, inputs) -> float:
    first = top_three(explainer(model, seed=0).reasons(inputs).to_pylist())
    second = top_three(explainer(model, seed=1).reasons(inputs).to_pylist())
    return float(np.mean([a == b for a, b in zip(first, second, strict=True)]))


@pytest.mark.parametrize("name", SCORED_MODELS)
def test_top_three_reasons_agree_across_seeds(scored_warehouse: Warehouse, name: str) -> None:
    """Reasons are a property of the row, not of the random orders that estimated them."""
    model, inputs = real_feed(scored_warehouse, name)
    agree = agreement(model, inputs)
    assert agree >= AGREEMENT, f"{name}: top three reasons agree on {agree:.1%} of rows"


@dataclass(frozen=True)
class OnnxFile:
    """The parts of a scoring model the explainer reads, around a real ONNX Runtime session."""

    inputs: tuple
    metadata: dict[str, str]
    session: ort.InferenceSession
    task: str

    def score(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        (out,) = self.session.run(["score"], feed)
        return np.asarray(out, dtype=np.float64)


def real_mlp(warehouse: Warehouse, name: str, folder: Path) -> OnnxFile:
    """An MLP trained on the real training set and exported like a champion: the sampled
    path of the explainer, whatever family wins the scored warehouse's comparisons."""
    spec = get_spec(name)
    prepared = prepare(spec, warehouse, TrainOptions(quick=True))
    config = TorchConfig(epochs=1, seed=0, dropout=0.2)
    head, _ = train_torch(spec, prepared.params, prepared.split.train, prepared.split.valid, config)
    example = make_inputs(prepared.split.valid.head(64), spec, prepared.params, False)
    metadata = {
        "model_name": spec.name,
        "task": spec.task,
        "inputs": export.input_signature(spec, prepared.params, False),
        "output": "score",
        "preprocessing": prepared.params.to_json(),
    }
    path = export.save(
        export.export_torch(head, spec, prepared.params, example, metadata), folder / "mlp.onnx"
    )
    meta = read_metadata(onnx.load(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return OnnxFile(parse_inputs(meta), meta, session, spec.task)


@pytest.mark.parametrize("name", ["churn_90d", "spend_90d"])
def test_sampled_reasons_agree_across_seeds(
    scored_warehouse: Warehouse, name: str, tmp_path: Path
) -> None:
    """The same goal for a model that is not additive before its link: its reasons are
    sampled, and rows whose top three are not yet apart draw more orders."""
    model = real_mlp(scored_warehouse, name, tmp_path)
    _, inputs = real_feed(scored_warehouse, name)
    agree = agreement(model, inputs)
    assert agree >= AGREEMENT, f"{name} MLP: top three reasons agree on {agree:.1%} of rows"
    # not additive: a fixed handful of orders would not have been enough
    fixed = [explainer(model, seed=s, max_pairs=8).reasons(inputs).to_pylist() for s in (0, 1)]
    first, second = (top_three(r) for r in fixed)
    assert np.mean([a == b for a, b in zip(first, second, strict=True)]) < agree


def test_contributions_add_up_to_score_minus_baseline(scored_warehouse: Warehouse) -> None:
    """Scaled back from before the link, a row's contributions still sum to its score
    minus the baseline score (the scaling is where this could break)."""
    for name in SCORED_MODELS:
        model, inputs = real_feed(scored_warehouse, name, rows=60)
        contributions, base = explainer(model).contributions(inputs)
        scores = model.score(inputs)
        scale = 1.0 if model.task == "binary" else np.maximum(1.0, np.abs(scores))
        assert (np.abs(contributions.sum(axis=1) - (scores - base)) / scale).max() < 1e-5, name


def test_sequence_champions_are_explained_cut_in_two_exactly(scored_warehouse: Warehouse) -> None:
    """A Transformer champion is explained through its encoder and head run apart (the
    encoder twice per row instead of in every configuration): the same contributions as the
    whole graph, on real rows."""
    checked = []
    for name in SCORED_MODELS:
        model, inputs = real_feed(scored_warehouse, name, rows=40)
        if not any(i.length is not None for i in model.inputs):
            continue
        cut = explainer(model)
        assert cut.split is not None, f"{name}: the exported sequence model was not cut"
        whole = explainer(model, split=False).contributions(inputs)
        np.testing.assert_array_equal(cut.contributions(inputs)[0], whole[0])
        checked.append(name)
    if not checked:
        pytest.skip("no champion of the scored warehouse reads a product sequence")


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
