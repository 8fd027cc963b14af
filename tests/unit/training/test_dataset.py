"""The time-based split and the checks that stop training on unusable data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cartcast.catalog import get_spec
from cartcast.errors import TrainingError
from cartcast.training.dataset import check_frame, describe_split, time_split
from tests.support.scoring_data import synthetic_frame

PURCHASE = get_spec("purchase_30d")
CHURN = get_spec("churn_90d")


def test_no_training_label_window_reaches_past_the_cutoff() -> None:
    frame = synthetic_frame(CHURN, weeks=30)
    cutoff = pd.Timestamp("2011-06-06", tz="UTC")
    split = time_split(frame, CHURN, cutoff)
    assert (split.valid["event_timestamp"] >= cutoff).all()
    assert (split.train["event_timestamp"] + CHURN.label_window <= cutoff).all()
    # Snapshots in the 90 days before the cut-off are in neither side.
    gap = frame[
        (frame["event_timestamp"] < cutoff)
        & (frame["event_timestamp"] + CHURN.label_window > cutoff)
    ]
    assert split.dropped_for_gap == len(gap) > 0
    assert len(split.train) + len(split.valid) + len(gap) == len(frame)
    text = describe_split(split, CHURN)
    assert "positives" in text and "dropped" in text


def test_default_cutoff_validates_on_the_latest_snapshots() -> None:
    frame = synthetic_frame(PURCHASE, weeks=20)
    split = time_split(frame, PURCHASE)
    assert split.valid["event_timestamp"].min() > split.train["event_timestamp"].max()
    assert split.valid["event_timestamp"].nunique() == 4


def test_empty_training_set() -> None:
    frame = synthetic_frame(PURCHASE).iloc[0:0]
    with pytest.raises(TrainingError, match="empty"):
        time_split(frame, PURCHASE)


def test_single_class_label() -> None:
    frame = synthetic_frame(PURCHASE)
    frame[PURCHASE.label_column] = 1
    with pytest.raises(TrainingError, match="single class"):
        time_split(frame, PURCHASE)


def test_single_class_in_the_training_split() -> None:
    frame = synthetic_frame(PURCHASE, weeks=20)
    early = frame["event_timestamp"] < pd.Timestamp("2011-04-04", tz="UTC")
    frame.loc[early, PURCHASE.label_column] = 0
    with pytest.raises(TrainingError, match=r"training split .* single class"):
        time_split(frame, PURCHASE, pd.Timestamp("2011-05-02", tz="UTC"))


@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_infinite_feature_names_the_column(bad: float) -> None:
    frame = synthetic_frame(PURCHASE)
    frame.loc[5, "avg_order_value"] = bad
    with pytest.raises(TrainingError, match=r"avg_order_value .*infinite"):
        time_split(frame, PURCHASE)


def test_feature_missing_everywhere_names_the_column() -> None:
    frame = synthetic_frame(PURCHASE)
    frame["days_between_orders_std"] = np.nan
    with pytest.raises(TrainingError, match="days_between_orders_std is missing in every row"):
        check_frame(frame, PURCHASE)


def test_missing_label_values() -> None:
    frame = synthetic_frame(PURCHASE)
    frame[PURCHASE.label_column] = frame[PURCHASE.label_column].astype(float)
    frame.loc[3, PURCHASE.label_column] = np.nan
    with pytest.raises(TrainingError, match="missing values"):
        check_frame(frame, PURCHASE)


def test_frame_of_another_feature_service() -> None:
    frame = synthetic_frame(get_spec("intent_session"))
    frame[PURCHASE.label_column] = 0
    with pytest.raises(TrainingError, match="lacks column"):
        check_frame(frame, PURCHASE)


def test_cutoff_leaving_no_validation_data() -> None:
    frame = synthetic_frame(PURCHASE)
    with pytest.raises(TrainingError, match="leaves no validation data"):
        time_split(frame, PURCHASE, pd.Timestamp("2012-01-01", tz="UTC"))


def test_cutoff_leaving_no_training_data() -> None:
    frame = synthetic_frame(CHURN)
    with pytest.raises(TrainingError, match="leaves no training data"):
        time_split(frame, CHURN, pd.Timestamp("2011-02-07", tz="UTC"))
