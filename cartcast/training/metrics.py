"""Validation metrics: ranking, calibration and lift for probabilities; error and ranking
for amounts."""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    mean_absolute_error,
    roc_auc_score,
)

EPS = 1e-7


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Mean |observed rate - mean predicted| over equal-width probability bins, by bin size."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.sum() * abs(y[mask].mean() - p[mask].mean())
    return float(total / len(y))


def top_decile_lift(y: np.ndarray, score: np.ndarray) -> float:
    """Positive rate among the 10% highest scores over the overall positive rate."""
    n = max(1, int(np.ceil(0.1 * len(y))))
    top = np.argsort(-score, kind="stable")[:n]
    base = y.mean()
    return float(y[top].mean() / base) if base > 0 else float("nan")


def normalised_gini(y: np.ndarray, pred: np.ndarray) -> float:
    """Gini of the predictions' ordering over the Gini of the perfect ordering (1 = perfect)."""

    def gini(actual: np.ndarray, order_by: np.ndarray) -> float:
        order = np.lexsort((np.arange(len(order_by)), -order_by))
        a = actual[order]
        cumulative = np.cumsum(a) / a.sum()
        return float(cumulative.sum() / len(a) - (len(a) + 1) / (2 * len(a)))

    y = np.asarray(y, dtype=float)
    perfect = gini(y, y)
    return gini(y, np.asarray(pred, dtype=float)) / perfect if perfect else float("nan")


def binary_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    y = np.asarray(y, dtype=int)
    p = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
        "ece": expected_calibration_error(y, p),
        "lift_top10": top_decile_lift(y, p),
    }


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    y = np.asarray(y, dtype=float)
    pred = np.asarray(pred, dtype=float)
    rho = spearmanr(y, pred).statistic
    return {
        "mae": float(mean_absolute_error(y, pred)),
        "rmse": float(np.sqrt(np.mean((y - pred) ** 2))),
        "spearman": float(rho) if np.isfinite(rho) else 0.0,
        "gini": normalised_gini(y, pred),
    }


def evaluate(task: str, y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    return binary_metrics(y, pred) if task == "binary" else regression_metrics(y, pred)


BINARY_COLUMNS = ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "lift_top10")
REGRESSION_COLUMNS = ("mae", "rmse", "spearman", "gini")
