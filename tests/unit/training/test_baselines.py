"""Baselines on the same split: the catalog's rule turned into probabilities, the linear model
and its torch form, boosted trees on raw values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cartcast.catalog import get_spec
from cartcast.training import baselines
from cartcast.training import preprocess as pp
from cartcast.training.fit import make_inputs
from tests.support.scoring_data import synthetic_frame

CHURN = get_spec("churn_90d")
SPEND = get_spec("spend_90d")


@pytest.fixture(scope="module")
def data():
    train = synthetic_frame(CHURN, weeks=6, customers=80, seed=1)
    valid = synthetic_frame(CHURN, weeks=2, customers=80, seed=2)
    return train, valid, pp.fit(CHURN, train)


def test_heuristic_score_is_the_catalog_rule(data) -> None:
    train, _, _ = data
    score = baselines.heuristic_score(CHURN, train)
    recency = train["recency_days"].fillna(365).to_numpy()
    orders = train["orders_365d"].fillna(0).to_numpy()
    np.testing.assert_allclose(score, np.log1p(recency) - np.log1p(orders))


def test_heuristic_probabilities_follow_the_rule_deciles(data) -> None:
    train, valid, params = data
    rule = baselines.fit_heuristic(CHURN, params, train)
    p = rule.predict(valid)
    assert ((p > 0) & (p < 1)).all()
    # the same rule score always gets the same probability
    score = baselines.heuristic_score(CHURN, valid)
    for value in np.unique(score)[:20]:
        assert len(np.unique(p[score == value])) == 1


def test_linear_baseline_as_torch_scores_like_scikit_learn(data) -> None:
    train, valid, params = data
    linear = baselines.fit_linear(CHURN, params, train)
    assert linear.name == "logistic regression" and linear.family == "linear"
    head = linear.as_torch()
    inputs = make_inputs(valid, CHURN, params, use_sequence=False)
    with torch.no_grad():
        got = head(inputs.numeric, inputs.categories, None).numpy()
    np.testing.assert_allclose(got, linear.predict(valid), atol=1e-5)


def test_amount_baselines_stay_within_the_training_range() -> None:
    train = synthetic_frame(SPEND, weeks=6, customers=80, seed=3)
    params = pp.fit(SPEND, train)
    ridge = baselines.fit_linear(SPEND, params, train)
    assert ridge.bounds is not None
    extreme = train.head(5).copy()
    extreme[list(SPEND.numeric)] = 1e9
    high = baselines.inverse_signed_log1p(np.array(ridge.bounds[1]))
    assert (ridge.predict(extreme) <= high * (1 + 1e-9)).all()


def test_boosted_trees_route_missing_values(data) -> None:
    train, valid, params = data
    trees = baselines.fit_boosted_trees(CHURN, params, train, seed=0)
    x = baselines.tree_matrix(valid, CHURN, params)
    assert np.isnan(x).any()  # missing recency stays NaN for the trees
    p = trees.predict(valid)
    assert p.shape == (len(valid),) and ((p >= 0) & (p <= 1)).all()
    with pytest.raises(ValueError, match="has no torch form"):
        trees.as_torch()
