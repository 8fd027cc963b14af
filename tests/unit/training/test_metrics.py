"""Validation metrics on cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from cartcast.training.metrics import (
    binary_metrics,
    expected_calibration_error,
    normalised_gini,
    regression_metrics,
    top_decile_lift,
)


def test_perfectly_calibrated_and_separating_scores() -> None:
    y = np.array([0] * 90 + [1] * 10)
    p = np.where(y == 1, 0.9, 0.1)
    m = binary_metrics(y, p)
    assert m["roc_auc"] == 1.0 and m["pr_auc"] == 1.0
    assert top_decile_lift(y, p) == pytest.approx(10.0)
    assert expected_calibration_error(np.array([0, 1] * 50), np.full(100, 0.5)) == 0.0


def test_normalised_gini_bounds() -> None:
    y = np.array([0, 0, 5, 10, 100], dtype=float)
    assert normalised_gini(y, y) == pytest.approx(1.0)
    assert normalised_gini(y, -y) == pytest.approx(-1.0)
    m = regression_metrics(y, y + 1)
    assert m["mae"] == pytest.approx(1.0) and m["rmse"] == pytest.approx(1.0)
    assert m["spearman"] == pytest.approx(1.0)
