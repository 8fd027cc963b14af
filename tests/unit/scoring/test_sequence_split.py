"""A sequence model cut at its sequence state scores and explains exactly like the whole
graph, and a graph with no single cut is left whole. Small real ONNX models: the product
codes go through a LabelEncoder as in the exported models."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from scoring.explain import explainer
from scoring.model_inputs import Input
from scoring.onnx_session import Session, open_session
from scoring.sequence_split import find_state, split_model

LENGTH = 3
PRODUCTS = ["85123A", "22423", "47566", "84879"]


@dataclass(frozen=True)
class SequenceModel:
    """What the explainer reads of a scoring model, around a real ONNX Runtime session."""

    inputs: tuple[Input, ...]
    metadata: dict[str, str]
    session: Session
    task: str
    proto: onnx.ModelProto

    def score(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(self.session.run(feed), dtype=np.float64)


def sequence_model(two_branches: bool = False) -> SequenceModel:
    """score = sigmoid(recency * tanh(sum of product weights) / 100 + orders / 4): the
    sequence meets the other inputs at one tensor (or, `two_branches`, at two)."""
    nodes = [
        helper.make_node(
            "LabelEncoder",
            ["products"],
            ["codes"],
            domain="ai.onnx.ml",
            keys_strings=PRODUCTS,
            values_floats=[0.5, -1.0, 2.0, 0.25],
            default_float=0.0,
        ),
        helper.make_node("Mul", ["codes", "position"], ["weighted"]),
        helper.make_node("ReduceSum", ["weighted", "axis"], ["summed"], keepdims=0),
        helper.make_node("Tanh", ["summed"], ["state"]),
        helper.make_node("Mul", ["recency", "state"], ["mixed"]),
        helper.make_node("Mul", ["mixed", "hundredth"], ["scaled"]),
        helper.make_node("Mul", ["orders", "quarter"], ["orders_part"]),
        helper.make_node("Add", ["scaled", "orders_part"], ["z"]),
    ]
    if two_branches:
        nodes += [
            helper.make_node("ReduceMax", ["codes", "axis"], ["largest"], keepdims=0),
            helper.make_node("Add", ["z", "largest"], ["z2"]),
            helper.make_node("Sigmoid", ["z2"], ["score"]),
        ]
    else:
        nodes.append(helper.make_node("Sigmoid", ["z"], ["score"]))
    initializers = [
        helper.make_tensor("position", TensorProto.FLOAT, [LENGTH], [1.0, 0.5, 0.25]),
        helper.make_tensor("axis", TensorProto.INT64, [1], [1]),
        helper.make_tensor("hundredth", TensorProto.FLOAT, [], [0.01]),
        helper.make_tensor("quarter", TensorProto.FLOAT, [], [0.25]),
    ]
    graph = helper.make_graph(
        nodes,
        "sequence_case",
        [
            helper.make_tensor_value_info("recency", TensorProto.FLOAT, ["batch"]),
            helper.make_tensor_value_info("orders", TensorProto.FLOAT, ["batch"]),
            helper.make_tensor_value_info("products", TensorProto.STRING, ["batch", LENGTH]),
        ],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["batch"])],
        initializer=initializers,
    )
    proto = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("ai.onnx.ml", 3)]
    )
    proto.ir_version = 9
    onnx.checker.check_model(proto)
    preprocessing = json.dumps({"numeric": ["recency", "orders"], "medians": [30.0, 2.0]})
    inputs = (
        Input("recency", "float32"),
        Input("orders", "float32"),
        Input("products", "string", LENGTH),
    )
    session = open_session(proto.SerializeToString(), "cpu")
    return SequenceModel(inputs, {"preprocessing": preprocessing}, session, "binary", proto)


def rows(n: int = 50) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    choices = np.array([*PRODUCTS, "", "unknown-code"], dtype=object)
    return {
        "recency": rng.integers(0, 365, n).astype(np.float32),
        "orders": rng.integers(0, 12, n).astype(np.float32),
        "products": rng.choice(choices, size=(n, LENGTH)),
    }


def test_the_cut_is_where_the_sequence_meets_the_other_inputs() -> None:
    assert find_state(sequence_model().proto, "products") == "state"
    assert find_state(sequence_model(two_branches=True).proto, "products") is None


def test_encoder_then_head_scores_like_the_whole_graph() -> None:
    model = sequence_model()
    split = split_model(model.proto, "products")
    feed = rows()
    others = {k: v for k, v in feed.items() if k != "products"}
    halves = split.score(others, split.state(feed["products"]))
    np.testing.assert_array_equal(halves, model.score(feed))


@pytest.mark.parametrize("pairs", [1, 8])
def test_explanations_of_the_cut_model_equal_the_whole_graphs(pairs: int) -> None:
    model = sequence_model()
    feed = rows()
    cut = explainer(model, pairs=pairs, max_pairs=pairs)
    whole = explainer(model, pairs=pairs, max_pairs=pairs, split=False)
    assert cut.split is not None and whole.split is None
    contributions, base = cut.contributions(feed)
    expected, expected_base = whole.contributions(feed)
    np.testing.assert_array_equal(contributions, expected)
    np.testing.assert_array_equal(base, expected_base)
    # the sequence is credited: the test would pass vacuously if it never mattered
    assert np.abs(contributions[:, 2]).max() > 1e-3


def test_a_graph_with_no_single_cut_is_explained_whole() -> None:
    model = sequence_model(two_branches=True)
    assert explainer(model).split is None
    contributions, base = explainer(model).contributions(rows(20))
    np.testing.assert_allclose(contributions.sum(axis=1), model.score(rows(20)) - base, atol=1e-6)
