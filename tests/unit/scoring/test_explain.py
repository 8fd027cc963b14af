"""Reasons against known answers: exact Shapley values of small real ONNX models.

For a linear score w.x + b the Shapley value of input i against the baseline is
w_i (x_i - baseline_i); for x1 * x2 it is (x1 - b1)(x2 + b2) / 2 for x1 (and symmetrically).
One antithetic pair of orders must give both exactly; a single random order gives neither
for the product, so these checks fail if the pairing or the crediting breaks.
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

    def score(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        (out,) = self.session.run(["score"], feed)
        return np.asarray(out, dtype=np.float64)


def _model(tmp_path: Path, nodes, initializers) -> OnnxFile:
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
    )


def linear(tmp_path: Path) -> OnnxFile:
    nodes = [helper.make_node("Mul", [n, f"w{i}"], [f"t{i}"]) for i, n in enumerate(NAMES)]
    nodes.append(helper.make_node("Sum", [f"t{i}" for i in range(len(NAMES))] + ["b"], ["score"]))
    weights = [
        helper.make_tensor(f"w{i}", TensorProto.FLOAT, [], [w]) for i, w in enumerate(WEIGHTS)
    ]
    return _model(
        tmp_path, nodes, [*weights, helper.make_tensor("b", TensorProto.FLOAT, [], [0.5])]
    )


def product(tmp_path: Path) -> OnnxFile:
    """score = orders_90d * tenure_days + recency_days (an interaction and a main effect)."""
    nodes = [
        helper.make_node("Mul", [NAMES[1], NAMES[3]], ["p"]),
        helper.make_node("Add", ["p", NAMES[0]], ["score"]),
    ]
    return _model(tmp_path, nodes, [])


def rows(n: int = 64) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    return {
        "recency_days": rng.integers(0, 365, n).astype(np.float32),
        "orders_90d": rng.integers(0, 12, n).astype(np.float32),
        "net_spend_90d": rng.gamma(2.0, 200.0, n).astype(np.float32),
        "tenure_days": rng.integers(0, 700, n).astype(np.float32),
    }


def test_linear_contributions_are_the_closed_form(tmp_path: Path) -> None:
    model = linear(tmp_path)
    feed = rows()
    contributions, base = explainer(model, pairs=1, seed=5).contributions(feed)
    expected = np.stack(
        [
            w * (feed[n].astype(np.float64) - m)
            for n, m, w in zip(NAMES, MEDIANS, WEIGHTS, strict=True)
        ],
        axis=1,
    )
    np.testing.assert_allclose(contributions, expected, atol=2e-4)
    assert base[0] == pytest.approx(
        0.5 + sum(w * m for w, m in zip(WEIGHTS, MEDIANS, strict=True)), abs=1e-4
    )


def test_one_antithetic_pair_is_exact_for_a_pairwise_interaction(tmp_path: Path) -> None:
    model = product(tmp_path)
    feed = {k: v.astype(np.float64) for k, v in rows().items()}
    x1, x2, b1, b2 = feed[NAMES[1]], feed[NAMES[3]], MEDIANS[1], MEDIANS[3]
    expected = np.zeros((len(x1), len(NAMES)))
    expected[:, 0] = feed[NAMES[0]] - MEDIANS[0]
    expected[:, 1] = (x1 - b1) * (x2 + b2) / 2
    expected[:, 3] = (x2 - b2) * (x1 + b1) / 2
    f32 = {k: v.astype(np.float32) for k, v in feed.items()}
    for seed in range(4):
        contributions, _ = explainer(model, pairs=1, seed=seed).contributions(f32)
        np.testing.assert_allclose(contributions, expected, rtol=1e-5, atol=1e-2)
    # a single unpaired order credits the whole interaction to whichever input comes last
    one = Explainer(model, baseline_feed(model), antithetic_orders(len(NAMES), 1, 0)[:1])
    assert np.abs(one.contributions(f32)[0] - expected).max() > 1.0


def test_orders_come_in_reversed_pairs_and_are_permutations() -> None:
    orders = antithetic_orders(28, 4, seed=9)
    assert orders.shape == (8, 28)
    for first, second in zip(orders[::2], orders[1::2], strict=True):
        assert sorted(first) == list(range(28)) and list(second) == list(first[::-1])
    assert len({tuple(o) for o in orders[::2]}) == 4
