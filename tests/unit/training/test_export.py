"""ONNX export: raw named inputs, preprocessing in the graph, metadata, parity with torch."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from cartcast.catalog import get_spec
from cartcast.registry.metadata import read_metadata
from cartcast.training import baselines, export
from cartcast.training import preprocess as pp
from cartcast.training.fit import TorchConfig, make_inputs, predict, train_torch
from tests.support.scoring_data import synthetic_frame

PURCHASE = get_spec("purchase_30d")
SPEND = get_spec("spend_90d")


@pytest.fixture(scope="module")
def purchase_data():
    frame = synthetic_frame(PURCHASE)
    train, rows = frame.iloc[:500], frame.iloc[500:].copy()
    # What a scoring caller may pass that training never saw.
    rows.iloc[0, rows.columns.get_loc("country")] = "Atlantis"
    rows.iloc[1, rows.columns.get_loc("country")] = None
    rows.at[rows.index[2], PURCHASE.sequence] = ["NEVER-SOLD", "P1"]
    rows.iloc[3, rows.columns.get_loc("spend_90d")] = np.nan
    rows.iloc[4, rows.columns.get_loc("spend_90d")] = -250.0
    return pp.fit(PURCHASE, train), train, rows


def test_numpy_and_torch_preprocessing_agree(purchase_data) -> None:
    params, _, rows = purchase_data
    raw = pp.raw_numeric(rows, PURCHASE.numeric)
    expected = pp.transform_numeric(raw, params)
    got = pp.TabularPreprocessor(params)(torch.from_numpy(raw)).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert params.transforms[PURCHASE.numeric.index("spend_90d")] == "signed_log1p"
    assert params.transforms[PURCHASE.numeric.index("return_rate")] == "identity"


@pytest.mark.parametrize("use_sequence", [False, True])
def test_onnx_matches_torch_with_raw_inputs(purchase_data, use_sequence: bool) -> None:
    params, train, rows = purchase_data
    config = TorchConfig(epochs=1, use_sequence=use_sequence)
    head, _ = train_torch(PURCHASE, params, train, rows, config)
    example = make_inputs(rows, PURCHASE, params, use_sequence)
    model = export.export_torch(head, PURCHASE, params, example, {"model_name": "purchase_30d"})
    expected = predict(head, example)
    feed = export.onnx_feed(rows, PURCHASE, params, sequence=use_sequence)
    got = export.run_onnx(model.SerializeToString(), feed)
    assert np.abs(got - expected).max() <= 1e-5
    # Dynamic batch: one row, and another batch size than the export's example.
    one = {k: v[:1] for k, v in feed.items()}
    assert export.run_onnx(model.SerializeToString(), one).shape == (1,)

    inputs = {i.name: i for i in model.graph.input}
    assert list(inputs)[: len(PURCHASE.numeric)] == list(PURCHASE.numeric)
    assert inputs["recency_days"].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert inputs["country"].type.tensor_type.elem_type == onnx.TensorProto.STRING
    assert (PURCHASE.sequence in inputs) == use_sequence
    assert [o.name for o in model.graph.output] == ["score"]
    assert read_metadata(model)["model_name"] == "purchase_30d"


def test_linear_baseline_exports_through_torch(purchase_data) -> None:
    params, train, rows = purchase_data
    linear = baselines.fit_linear(PURCHASE, params, train)
    head = linear.as_torch()
    example = make_inputs(rows, PURCHASE, params, use_sequence=False)
    np.testing.assert_allclose(predict(head, example), linear.predict(rows), atol=1e-5)
    model = export.export_torch(head, PURCHASE, params, example, {})
    feed = export.onnx_feed(rows, PURCHASE, params, sequence=False)
    got = export.run_onnx(model.SerializeToString(), feed)
    assert np.abs(got - linear.predict(rows)).max() <= 1e-5


@pytest.mark.parametrize("spec", [PURCHASE, SPEND], ids=lambda s: s.name)
def test_boosted_trees_export(spec) -> None:
    frame = synthetic_frame(spec)
    train, rows = frame.iloc[:500], frame.iloc[500:]
    params = pp.fit(spec, train)
    trees = baselines.fit_boosted_trees(spec, params, train, seed=0)
    model = export.export_trees(trees, spec, params, {"family": "boosted_trees"})
    got = export.run_onnx(model.SerializeToString(), export.onnx_feed(rows, spec, params, False))
    expected = trees.predict(rows)
    assert (np.abs(got - expected) / np.maximum(1, np.abs(expected))).max() <= 1e-4
    assert read_metadata(model)["family"] == "boosted_trees"


@pytest.mark.parametrize("frozen", [True, False])
def test_a_pretrained_encoder_candidate_exports_with_parity(purchase_data, frozen: bool) -> None:
    """The encoder inside the graph: raw product ids in (unknown ones and padding included),
    the same scores as torch."""
    from datetime import datetime

    from cartcast.pretraining.encoder import BehaviourEncoder
    from cartcast.pretraining.pretrain import PretrainConfig, Pretrained
    from cartcast.training.fit import params_for_encoder

    params, train, rows = purchase_data
    vocab = [f"P{i}" for i in range(25)] + ["TEXT-ONLY"]
    torch.manual_seed(1)
    text = torch.randn(len(vocab) + 2, 384)
    encoder = BehaviourEncoder(25, text, length=params.sequence_length, dim=16)
    config = PretrainConfig(length=params.sequence_length, dim=16)
    pretrained = Pretrained(encoder.eval(), vocab, 25, datetime(2011, 8, 1), config)
    own = params_for_encoder(params, pretrained)
    torch_config = TorchConfig(
        epochs=1, use_sequence=True, pretrained=pretrained, freeze_encoder=frozen
    )
    head, _ = train_torch(PURCHASE, own, train, rows, torch_config)
    if frozen:  # the frozen encoder is the pre-trained one, untouched by fitting the head
        torch.testing.assert_close(
            head.net.sequence.encoder.id_embed.weight, encoder.id_embed.weight
        )
    else:
        assert not torch.equal(head.net.sequence.encoder.id_embed.weight, encoder.id_embed.weight)
    example = make_inputs(rows, PURCHASE, own, True)
    model = export.export_torch(head, PURCHASE, own, example, {"model_name": "purchase_30d"})
    feed = export.onnx_feed(rows, PURCHASE, own, sequence=True)
    got = export.run_onnx(model.SerializeToString(), feed)
    assert np.abs(got - predict(head, example)).max() <= 1e-5
