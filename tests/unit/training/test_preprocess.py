"""Preprocessing fitted on training rows: medians, signed log1p, scaling, missing indicators,
vocabularies; the numpy twin (baselines) and the torch module (exported graph) agree."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from cartcast.catalog import get_spec
from cartcast.errors import TrainingError
from cartcast.training import preprocess as pp
from tests.support.scoring_data import synthetic_frame

PURCHASE = get_spec("purchase_30d")


def small_spec():
    return dataclasses.replace(
        PURCHASE, numeric=("orders_90d", "cancellation_rate", "recency_days")
    )


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "orders_90d": [0.0, 3.0, -1.0, 7.0],
            "cancellation_rate": [0.5, 0.5, 0.5, 0.5],
            "recency_days": [1.0, None, 3.0, None],
            "country": ["France"] * 4,
            "recent_product_ids": [["A", "B"], None, ["A"], []],
        }
    )


def test_fit_takes_medians_scales_and_marks_missing() -> None:
    params = pp.fit(small_spec(), frame())
    assert params.transforms == ["signed_log1p", "identity", "signed_log1p"]
    assert params.medians == [1.5, 0.5, 2.0]  # recency: median of the two known values
    assert params.has_missing == [False, False, True]
    assert params.stds[1] == 1.0  # a constant column is not divided by zero
    logged = pp.signed_log1p(np.array([0.0, 3.0, -1.0, 7.0]))
    assert params.means[0] == pytest.approx(logged.mean())
    assert params.stds[0] == pytest.approx(logged.std())
    assert params.n_tabular == 4


def test_signed_log1p_keeps_the_sign_of_money() -> None:
    assert pp.signed_log1p(np.array([-3.0, 0.0, 3.0])) == pytest.approx(
        [-np.log(4), 0.0, np.log(4)]
    )


def test_a_feature_missing_everywhere_is_refused_by_name() -> None:
    rows = frame().assign(recency_days=np.nan)
    with pytest.raises(TrainingError, match="recency_days is missing in every training row"):
        pp.fit(small_spec(), rows)


def test_rare_categories_and_products_stay_out_of_the_vocabulary() -> None:
    rows = synthetic_frame(PURCHASE, weeks=2, customers=45)  # 30 rows per country
    rows.loc[0, "country"] = "Iceland"  # seen once: below the minimum count
    params = pp.fit(PURCHASE, rows)
    assert "Iceland" not in params.categories["country"]
    assert params.categories["country"] == ["France", "Germany", "United Kingdom"]
    codes = pp.category_codes(pd.DataFrame({"country": ["Germany", "Iceland", None]}), params)
    assert codes[:, 0].tolist() == [2, 0, 0]  # unseen and missing share code 0
    counts = pd.Series([p for s in rows["recent_product_ids"].dropna() for p in s]).value_counts()
    assert set(params.products) == set(counts[counts >= pp.MIN_PRODUCT_COUNT].index)


def test_product_codes_pad_and_out_of_vocabulary() -> None:
    params = dataclasses.replace(pp.fit(small_spec(), frame()), products=["A", "B"])
    strings = pp.product_strings(frame(), PURCHASE, 3)
    assert strings.tolist()[0] == ["A", "B", ""]
    codes = pp.product_codes(np.array([["A", "Z", ""]], dtype=object), params)
    assert codes.tolist() == [[2, pp.OOV, pp.PAD]]


def test_numpy_twin_equals_the_torch_module() -> None:
    params = pp.fit(small_spec(), frame())
    raw = pp.raw_numeric(frame(), small_spec().numeric)
    twin = pp.transform_numeric(raw, params)
    module = pp.TabularPreprocessor(params)(torch.from_numpy(raw)).numpy()
    np.testing.assert_allclose(module, twin, rtol=1e-5, atol=1e-6)
    # row 1: recency missing -> its median, indicator 1
    assert twin[1, 3] == 1.0 and twin[0, 3] == 0.0


def test_values_that_cannot_be_scaled_are_named() -> None:
    params = pp.fit(small_spec(), frame())
    raw = pp.raw_numeric(frame(), small_spec().numeric)
    raw[2, 1] = np.inf
    with pytest.raises(TrainingError, match="cancellation_rate is not finite"):
        pp.transform_numeric(raw, params)
