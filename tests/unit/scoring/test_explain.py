"""Reasons against known answers: exact Shapley values of small real ONNX models.

Contributions are Shapley values before the model's output link (the logit of a probability,
the signed log1p of an amount), scaled per row so they sum to score - baseline score. Before
the link, a linear model's value for input i is w_i (x_i - baseline_i), whatever the order;
for x1 * x2 it is (x1 - b1)(x2 + b2) / 2 for x1 (and symmetrically), which one antithetic
pair of orders gives exactly and a single random order does not. These checks fail if the
link, the pairing, the crediting or the scaling breaks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from scoring.explain import Explainer, antithetic_orders, baseline_feed, explainer
from scoring.model_inputs import Input

NAMES = ("recency_days", "orders_90d", "net_spend_90d", "tenure_days")
MEDIANS = (30.0, 2.0, 150.0, 200.0)
WEIGHTS = (-0.02, 0.4, 0.001, 0.003)


@dataclass(frozen=True)
class OnnxFile:
    """The parts of a scoring model the explainer uses, around a real ONNX Runtime session."""

    inputs: tuple[Input, ...]
    metadata: dict[str, str]
    session: ort.InferenceSession
    task: str

    def score(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        (out,) = self.session.run(["score"], feed)
        return np.asarray(out, dtype=np.float64)


def _model(tmp_path: Path, nodes, initializers, task: str) -> OnnxFile:
    graph = helper.make_graph(
        nodes,
        "explain_case",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch"]) for n in NAMES],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["batch"])],
        initializer=initializers,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    onnx.checker.check_model(proto)
    path = tmp_path / "model.onnx"
    onnx.save(proto, path)
    preprocessing = json.dumps({"numeric": list(NAMES), "medians": list(MEDIANS)})
    return OnnxFile(
        tuple(Input(n, "float32") for n in NAMES),
        {"preprocessing": preprocessing},
        ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]),
        task,
    )


def logistic(tmp_path: Path) -> OnnxFile:
    """score = sigmoid(w.x + b): linear before its link."""
    nodes = [helper.make_node("Mul", [n, f"w{i}"], [f"t{i}"]) for i, n in enumerate(NAMES)]
    nodes.append(helper.make_node("Sum", [f"t{i}" for i in range(len(NAMES))] + ["b"], ["z"]))
    nodes.append(helper.make_node("Sigmoid", ["z"], ["score"]))
    weights = [
        helper.make_tensor(f"w{i}", TensorProto.FLOAT, [], [w]) for i, w in enumerate(WEIGHTS)
    ]
    bias = helper.make_tensor("b", TensorProto.FLOAT, [], [0.5])
    return _model(tmp_path, nodes, [*weights, bias], "binary")


def product(tmp_path: Path) -> OnnxFile:
    """An amount: z = orders_90d * tenure_days / 1000 + recency_days / 100, then signed expm1
    (an interaction and a main effect before the link)."""
    scale = [
        helper.make_tensor(n, TensorProto.FLOAT, [], [v]) for n, v in (("k", 1e-3), ("r", 1e-2))
    ]
    nodes = [
        helper.make_node("Mul", [NAMES[1], NAMES[3]], ["p"]),
        helper.make_node("Mul", ["p", "k"], ["pk"]),
        helper.make_node("Mul", [NAMES[0], "r"], ["rr"]),
        helper.make_node("Add", ["pk", "rr"], ["z"]),
        helper.make_node("Abs", ["z"], ["az"]),
        helper.make_node("Exp", ["az"], ["ez"]),
        helper.make_node("Sign", ["z"], ["sz"]),
        helper.make_node("Sub", ["ez", "one"], ["em"]),
        helper.make_node("Mul", ["sz", "em"], ["score"]),
    ]
    one = helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])
    return _model(tmp_path, nodes, [*scale, one], "regression")


def _in_score_units(model: OnnxFile, feed, link_values: np.ndarray) -> np.ndarray:
    """Link-space values scaled so each row sums to score - baseline score."""
    change = model.score(feed) - model.score(baseline_feed(model))[0]
    return link_values * (change / link_values.sum(axis=1))[:, None]


def rows(n: int = 64) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    return {
        "recency_days": rng.integers(0, 365, n).astype(np.float32),
        "orders_90d": rng.integers(0, 12, n).astype(np.float32),
        "net_spend_90d": rng.gamma(2.0, 200.0, n).astype(np.float32),
        "tenure_days": rng.integers(0, 700, n).astype(np.float32),
    }


def test_linear_contributions_are_the_closed_form(tmp_path: Path) -> None:
    model = logistic(tmp_path)
    feed = rows()
    contributions, base = explainer(model, pairs=1, seed=5).contributions(feed)
    before_link = np.stack(
        [
            w * (feed[n].astype(np.float64) - m)
            for n, m, w in zip(NAMES, MEDIANS, WEIGHTS, strict=True)
        ],
        axis=1,
    )
    np.testing.assert_allclose(
        contributions, _in_score_units(model, feed, before_link), rtol=1e-3, atol=1e-6
    )
    logit = 0.5 + sum(w * m for w, m in zip(WEIGHTS, MEDIANS, strict=True))
    assert base[0] == pytest.approx(1 / (1 + np.exp(-logit)), abs=1e-6)
    np.testing.assert_allclose(contributions.sum(axis=1), model.score(feed) - base, atol=1e-6)
    # exact, so no seed changes anything
    again, _ = explainer(model, pairs=1, seed=6).contributions(feed)
    np.testing.assert_array_equal(contributions, again)


def test_one_antithetic_pair_is_exact_for_a_pairwise_interaction(tmp_path: Path) -> None:
    model = product(tmp_path)
    f32 = rows()
    feed = {k: v.astype(np.float64) for k, v in f32.items()}
    x1, x2, b1, b2 = feed[NAMES[1]], feed[NAMES[3]], MEDIANS[1], MEDIANS[3]
    before_link = np.zeros((len(x1), len(NAMES)))
    before_link[:, 0] = (feed[NAMES[0]] - MEDIANS[0]) / 100
    before_link[:, 1] = (x1 - b1) * (x2 + b2) / 2 / 1000
    before_link[:, 3] = (x2 - b2) * (x1 + b1) / 2 / 1000
    expected = _in_score_units(model, f32, before_link)
    for seed in range(4):
        contributions, _ = explainer(model, pairs=1, seed=seed).contributions(f32)
        np.testing.assert_allclose(contributions, expected, rtol=2e-3, atol=1e-4)
    # a single unpaired order (here paired with itself) credits the whole interaction to
    # whichever input comes last
    order = antithetic_orders(len(NAMES), 1, 0)[:1]
    one = Explainer(model, baseline_feed(model), np.repeat(order, 2, axis=0), first_pairs=1)
    assert np.abs(one.contributions(f32)[0] - expected).max() > 0.1


def test_orders_come_in_reversed_pairs_and_are_permutations() -> None:
    orders = antithetic_orders(28, 4, seed=9)
    assert orders.shape == (8, 28)
    for first, second in zip(orders[::2], orders[1::2], strict=True):
        assert sorted(first) == list(range(28)) and list(second) == list(first[::-1])
    assert len({tuple(o) for o in orders[::2]}) == 4
