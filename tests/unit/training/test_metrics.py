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


def test_normalised_gini_of_a_case_worked_by_hand() -> None:
    # Spend 1, 0, 3, 2; ranked by the predictions: 3, 2, 0, 1 (of 6 in all). The cumulative
    # shares are 3/6, 5/6, 5/6, 6/6: Gini = (19/6) / 4 - 5/8 = 1/6. The perfect ranking
    # 3, 2, 1, 0 gives 3/6, 5/6, 6/6, 6/6: (20/6) / 4 - 5/8 = 5/24. Normalised: 0.8.
    y = np.array([1, 0, 3, 2], dtype=float)
    pred = np.array([0.1, 0.2, 0.9, 0.5])
    assert normalised_gini(y, pred) == pytest.approx(0.8)
    # ranked backwards: 1, 0, 2, 3 -> 1/6, 1/6, 3/6, 6/6: (11/6) / 4 - 5/8 = -1/6, so -0.8
    assert normalised_gini(y, -pred) == pytest.approx(-0.8)
    y = np.array([0, 0, 5, 10, 100], dtype=float)
    m = regression_metrics(y, y + 1)
    assert m["mae"] == pytest.approx(1.0) and m["rmse"] == pytest.approx(1.0)
    assert m["spearman"] == pytest.approx(1.0)
