"""Baselines fitted on the same split: a linear model, boosted trees, a recency/frequency rule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, Ridge

from cartcast.catalog import ModelSpec
from cartcast.training import preprocess as pp


@dataclass
class Baseline:
    name: str
    family: str
    estimator: Any
    params: pp.PreprocessParams
    spec: ModelSpec
    # Amounts: the signed-log1p range of the training target, which predictions stay within.
    bounds: tuple[float, float] | None = None

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        if self.family == "linear":
            x = linear_matrix(frame, self.spec, self.params)
        elif self.family == "boosted_trees":
            x = tree_matrix(frame, self.spec, self.params)
        else:
            return self.estimator(frame)
        if self.spec.task == "binary":
            return self.estimator.predict_proba(x)[:, 1]
        z = self.estimator.predict(x)
        if self.bounds is not None:
            z = np.clip(z, *self.bounds)
        return inverse_signed_log1p(z)

    def as_torch(self):
        """The linear baseline as a `ScoreHead` (exportable like the torch models)."""
        from cartcast.training.nets import LinearNet, ScoreHead

        if self.family != "linear":
            raise ValueError(f"{self.name} has no torch form.")
        coef = self.estimator.coef_
        intercept = np.ravel(self.estimator.intercept_)[0]
        net = LinearNet(self.params, coef, intercept)
        return ScoreHead(net, self.spec.task, self.bounds).eval()


def inverse_signed_log1p(z: np.ndarray) -> np.ndarray:
    return np.sign(z) * np.expm1(np.abs(z))


def linear_matrix(frame: pd.DataFrame, spec: ModelSpec, params: pp.PreprocessParams) -> np.ndarray:
    """The torch preprocessing (numpy twin) plus one-hot categories."""
    parts = [pp.transform_numeric(pp.raw_numeric(frame, spec.numeric), params)]
    codes = pp.category_codes(frame, params)
    for j, vocab in enumerate(params.categories.values()):
        parts.append(np.eye(len(vocab) + 1)[codes[:, j]])
    return np.hstack(parts)


def tree_matrix(frame: pd.DataFrame, spec: ModelSpec, params: pp.PreprocessParams) -> np.ndarray:
    """Raw numeric features (missing stays NaN: trees route it) plus category codes as floats,
    float32 as the ONNX graph sees them."""
    raw = pp.raw_numeric(frame, spec.numeric)
    codes = pp.category_codes(frame, params).astype(np.float32)
    return np.hstack([raw, codes]).astype(np.float32)


def fit_linear(spec: ModelSpec, params: pp.PreprocessParams, train: pd.DataFrame) -> Baseline:
    x = linear_matrix(train, spec, params)
    y = train[spec.label_column].to_numpy(dtype=float)
    if spec.task == "binary":
        model = LogisticRegression(C=1.0, max_iter=2000).fit(x, y.astype(int))
        name = "logistic regression"
    else:
        from cartcast.training.fit import target_bounds

        model = Ridge(alpha=1.0).fit(x, pp.signed_log1p(y))
        bounds = target_bounds(spec, train)
        return Baseline("ridge (signed log1p)", "linear", model, params, spec, bounds)
    return Baseline(name, "linear", model, params, spec)


def fit_boosted_trees(
    spec: ModelSpec, params: pp.PreprocessParams, train: pd.DataFrame, seed: int
) -> Baseline:
    """Conservative fixed settings and no early stopping: weekly snapshots of one customer are
    near copies, so a random early-stopping slice would leak (see the project brief)."""
    x = tree_matrix(train, spec, params)
    y = train[spec.label_column].to_numpy(dtype=float)
    settings = dict(
        learning_rate=0.1,
        max_iter=100,
        max_leaf_nodes=15,
        min_samples_leaf=200,
        l2_regularization=1.0,
        early_stopping=False,
        random_state=seed,
    )
    if spec.task == "binary":
        model = HistGradientBoostingClassifier(**settings).fit(x, y.astype(int))
    else:
        model = HistGradientBoostingRegressor(**settings).fit(x, pp.signed_log1p(y))
    return Baseline("hist gradient boosting", "boosted_trees", model, params, spec)


def _col(frame: pd.DataFrame, name: str, fill: float) -> np.ndarray:
    return pd.to_numeric(frame[name], errors="coerce").fillna(fill).to_numpy(dtype=float)


def heuristic_score(spec: ModelSpec, frame: pd.DataFrame) -> np.ndarray:
    """The model's baseline rule from the catalog; higher = more of the label."""
    return spec.rule.score(lambda name, fill: _col(frame, name, fill))


def fit_heuristic(spec: ModelSpec, params: pp.PreprocessParams, train: pd.DataFrame) -> Baseline:
    """Binary: the rule's score, turned into a probability by the positive rate of its
    training decile. Spend: the rule's amount as it is."""
    if spec.task == "regression":
        return Baseline("recency/frequency rule", "heuristic", lambda f: heuristic_score(spec, f),
                        params, spec)  # fmt: skip
    score = heuristic_score(spec, train)
    edges = np.unique(np.quantile(score, np.linspace(0, 1, 11)[1:-1]))
    y = train[spec.label_column].to_numpy(dtype=float)
    bins = np.digitize(score, edges)
    prior = y.mean()
    rates = np.array(
        [(y[bins == b].sum() + prior) / ((bins == b).sum() + 1) for b in range(len(edges) + 1)]
    )

    def predict(frame: pd.DataFrame) -> np.ndarray:
        return rates[np.digitize(heuristic_score(spec, frame), edges)]

    return Baseline("recency/frequency rule", "heuristic", predict, params, spec)
