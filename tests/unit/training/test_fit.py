"""Fitting a torch candidate: seeded, learns a real signal, reports each epoch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from cartcast.catalog import get_spec
from cartcast.errors import TrainingError
from cartcast.training import preprocess as pp
from cartcast.training.fit import (
    TorchConfig,
    device,
    make_inputs,
    predict,
    target,
    target_bounds,
    train_torch,
)
from cartcast.training.metrics import evaluate
from tests.support.scoring_data import synthetic_frame

CHURN = get_spec("churn_90d")
SPEND = get_spec("spend_90d")


@pytest.fixture(scope="module")
def split():
    train = synthetic_frame(CHURN, weeks=8, customers=100, seed=4)
    valid = synthetic_frame(CHURN, weeks=2, customers=100, seed=5)
    return train, valid, pp.fit(CHURN, train)


def fit(split, seed: int):
    train, valid, params = split
    epochs: list[tuple[int, float, float]] = []
    head, history = train_torch(
        CHURN, params, train, valid, TorchConfig(epochs=4, batch_size=64, seed=seed),
        lambda e, loss, metric: epochs.append((e, loss, metric)),
    )  # fmt: skip
    scores = predict(head, make_inputs(valid, CHURN, params, use_sequence=False))
    return scores, history, epochs


def test_the_same_seed_gives_the_same_model_and_another_seed_another(split) -> None:
    first, history, epochs = fit(split, seed=0)
    again, _, _ = fit(split, seed=0)
    other, _, _ = fit(split, seed=1)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert [e for e, _, _ in epochs] == [1, 2, 3, 4] and len(history) == 4
    assert history[-1]["roc_auc"] == epochs[-1][2]


def test_it_learns_the_signal(split) -> None:
    _, valid, _ = split
    scores, _, _ = fit(split, seed=0)
    y = valid[CHURN.label_column].to_numpy(dtype=float)
    assert evaluate("binary", y, scores)["roc_auc"] > 0.85  # the linear baseline reaches 0.92


def test_amount_targets_are_signed_log1p_and_bounded_by_training() -> None:
    train = pd.DataFrame({SPEND.label_column: [0.0, 10.0, -5.0] + [100.0] * 997})
    z = target(SPEND, train)
    assert z[:3] == pytest.approx([0.0, np.log(11), -np.log(6)])
    low, high = target_bounds(SPEND, train)
    assert low == pytest.approx(np.quantile(z, 0.001)) and high == pytest.approx(np.log(101))
    assert target_bounds(CHURN, train.rename(columns={SPEND.label_column: "x"})) is None


def test_the_training_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CARTCAST_TRAINING_DEVICE", raising=False)
    assert device("cpu").type == "cpu"
    assert device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(TrainingError, match="Unknown training device 'tpu'"):
        device("tpu")
    monkeypatch.setattr(torch.version, "cuda", None)
    with pytest.raises(TrainingError, match="is a CPU build: install a CUDA build of torch"):
        device("cuda")
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(TrainingError, match="torch sees no GPU"):
        device("cuda")
    monkeypatch.setenv("CARTCAST_TRAINING_DEVICE", "cpu")
    assert device("cuda").type == "cpu"
