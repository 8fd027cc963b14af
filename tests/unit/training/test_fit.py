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


def tiny_pretrained(params: pp.PreprocessParams):
    from datetime import datetime

    from cartcast.pretraining.encoder import BehaviourEncoder
    from cartcast.pretraining.pretrain import PretrainConfig, Pretrained

    vocab = [f"P{i}" for i in range(30)]
    torch.manual_seed(2)
    encoder = BehaviourEncoder(30, torch.randn(32, 384), length=params.sequence_length, dim=16)
    config = PretrainConfig(length=params.sequence_length, dim=16)
    return Pretrained(encoder.eval(), vocab, 30, datetime(2011, 8, 1), config)


def test_frozen_vectors_are_the_encoders_output_for_every_row() -> None:
    from cartcast.training.fit import Inputs, frozen_vectors
    from cartcast.training.nets import PretrainedSequence

    purchase = get_spec("purchase_30d")
    params = pp.fit(purchase, synthetic_frame(purchase, weeks=2, customers=20))
    sequence = PretrainedSequence(tiny_pretrained(params).encoder, frozen=True)
    products = torch.tensor([[3, 4, 0], [5, 0, 0], [3, 4, 0], [0, 0, 0], [5, 0, 0]])
    inputs = Inputs(torch.zeros(5, 1), None, products)
    got = frozen_vectors(sequence, inputs, batch_size=2).products
    with torch.no_grad():
        want = sequence(products)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
    assert torch.equal(got[0], got[2]) and not torch.equal(got[0], got[1])
    assert torch.equal(got[3], torch.zeros(16))


def test_a_frozen_candidate_trains_on_the_encoders_vectors_and_keeps_the_encoder() -> None:
    """The head is fitted on vectors computed once; what it returns scores raw product codes
    through the untouched encoder, with the metric its last epoch reported."""
    from cartcast.training.fit import params_for_encoder
    from cartcast.training.nets import PretrainedSequence

    purchase = get_spec("purchase_30d")
    train = synthetic_frame(purchase, weeks=6, customers=60, seed=1)
    valid = synthetic_frame(purchase, weeks=2, customers=60, seed=2)
    pretrained = tiny_pretrained(pp.fit(purchase, train))
    params = params_for_encoder(pp.fit(purchase, train), pretrained)
    config = TorchConfig(
        epochs=2, batch_size=64, use_sequence=True, pretrained=pretrained, freeze_encoder=True
    )
    head, history = train_torch(purchase, params, train, valid, config)
    assert isinstance(head.net.sequence, PretrainedSequence)
    torch.testing.assert_close(
        head.net.sequence.encoder.state_dict(), pretrained.encoder.state_dict()
    )
    inputs = make_inputs(valid, purchase, params, use_sequence=True)
    with torch.no_grad():  # every row through the encoder, no sharing of distinct sequences
        direct = head(inputs.numeric, inputs.categories, inputs.products).numpy()
    y = valid[purchase.label_column].to_numpy(dtype=float)
    assert evaluate("binary", y, direct)["roc_auc"] == pytest.approx(
        history[-1]["roc_auc"], abs=1e-9
    )
    # predicting encodes each distinct sequence once: the same scores, and the encoder stays
    np.testing.assert_allclose(predict(head, inputs), direct, rtol=1e-5, atol=1e-6)
    assert isinstance(head.net.sequence, PretrainedSequence)
