"""Permutation importance: shares of one whole are shuffled together and reported once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from cartcast.training.importance import COMPOSITIONS, permutation_importance, permutation_units

GROUP, MEMBERS = next(iter(COMPOSITIONS.items()))
OTHER = "recency_days"
INPUTS = [*MEMBERS, OTHER]


def _logistic_onnx(path: Path, weights: dict[str, float]) -> Path:
    """score = sigmoid(sum of weight * input), one float input per name: a real ONNX file."""
    nodes, terms = [], []
    for i, name in enumerate(INPUTS):
        w = helper.make_tensor(f"w{i}", TensorProto.FLOAT, [], [weights.get(name, 0.0)])
        nodes.append(helper.make_node("Mul", [name, f"w{i}"], [f"t{i}"]))
        terms.append((f"t{i}", w))
    nodes.append(helper.make_node("Sum", [t for t, _ in terms], ["logit"]))
    nodes.append(helper.make_node("Sigmoid", ["logit"], ["score"]))
    graph = helper.make_graph(
        nodes,
        "importance_case",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch"]) for n in INPUTS],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["batch"])],
        initializer=[w for _, w in terms],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def _shares(rng: np.random.Generator, rows: int) -> dict[str, np.ndarray]:
    """Rows of time-of-day shares summing to 1, and a tenth of customers with no order (0s)."""
    parts = rng.dirichlet(np.ones(len(MEMBERS)), size=rows)
    parts[rng.random(rows) < 0.1] = 0.0
    return {m: parts[:, i].astype(np.float32) for i, m in enumerate(MEMBERS)}


def test_shares_summing_to_one_are_shuffled_together_and_reported_once(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    feed = {**_shares(rng, 4000), OTHER: rng.normal(size=4000).astype(np.float32)}
    # the label follows the morning share, a little of the other input, and noise
    logit = 6 * (feed[MEMBERS[0]] - 0.33) + 0.3 * feed[OTHER]
    y = (rng.random(4000) < 1 / (1 + np.exp(-logit))).astype(np.float64)
    path = _logistic_onnx(tmp_path / "m.onnx", {MEMBERS[0]: 6.0, OTHER: 0.3})

    found = permutation_importance(path, feed, y, "binary", "roc_auc")
    assert [f.feature for f in found] == [GROUP, OTHER]
    assert found[0].importance > 0.1 > found[1].importance


def test_columns_that_do_not_sum_to_one_are_shuffled_one_by_one() -> None:
    rng = np.random.default_rng(1)
    feed = {m: rng.random(50).astype(np.float32) for m in MEMBERS}
    assert permutation_units(INPUTS, {**feed, OTHER: feed[MEMBERS[0]]}) == [
        (name, (name,)) for name in INPUTS
    ]
    shares = {**_shares(rng, 50), OTHER: rng.random(50).astype(np.float32)}
    assert permutation_units(INPUTS, shares) == [(GROUP, MEMBERS), (OTHER, (OTHER,))]
    # a model that takes only some of the parts keeps them as separate inputs
    assert permutation_units(INPUTS[1:], shares) == [(n, (n,)) for n in INPUTS[1:]]


@pytest.mark.parametrize("member", MEMBERS)
def test_every_group_member_is_a_customer_feature(member: str) -> None:
    from cartcast.catalog import get_spec, names

    assert any(member in get_spec(name).numeric for name in names())
