"""The torch models: padding never changes a sequence's encoding, scores are probabilities or
amounts within the training range."""

from __future__ import annotations

import numpy as np
import torch

from cartcast.catalog import get_spec
from cartcast.training import preprocess as pp
from cartcast.training.nets import CartcastNet, ScoreHead, SequenceEncoder
from tests.support.scoring_data import synthetic_frame

PURCHASE = get_spec("purchase_30d")


def test_padding_positions_do_not_change_the_encoding() -> None:
    torch.manual_seed(0)
    encoder = SequenceEncoder(vocab_size=10, length=5).eval()
    short = torch.tensor([[3, 4, pp.PAD, pp.PAD, pp.PAD]])
    other_pad_embedding = encoder.embed.weight.detach().clone()
    out = encoder(short)
    with torch.no_grad():
        encoder.embed.weight[pp.PAD] += 5.0  # whatever sits at padding must not leak in
    assert torch.allclose(encoder(short), out, atol=1e-6)
    with torch.no_grad():
        encoder.embed.weight.copy_(other_pad_embedding)
        encoder.embed.weight[3] += 5.0
    assert not torch.allclose(encoder(short), out, atol=1e-3)


def test_an_empty_history_encodes_to_zeros_not_nan() -> None:
    encoder = SequenceEncoder(vocab_size=10, length=4).eval()
    out = encoder(torch.full((2, 4), pp.PAD))
    assert torch.isfinite(out).all() and torch.count_nonzero(out) == 0


def test_net_and_heads_over_real_feature_columns() -> None:
    frame = synthetic_frame(PURCHASE, weeks=2, customers=40)
    params = pp.fit(PURCHASE, frame)
    net = CartcastNet(params, use_sequence=True).eval()
    numeric = torch.from_numpy(pp.raw_numeric(frame, PURCHASE.numeric))
    categories = torch.from_numpy(pp.category_codes(frame, params))
    strings = pp.product_strings(frame, PURCHASE, params.sequence_length)
    products = torch.from_numpy(pp.product_codes(strings, params))
    with torch.no_grad():
        logits = net(numeric, categories, products)
        p = ScoreHead(net, "binary")(numeric, categories, products)
        amounts = ScoreHead(net, "regression", (0.0, 1.0))(numeric, categories, products)
    assert logits.shape == (len(frame),)
    np.testing.assert_allclose(p.numpy(), torch.sigmoid(logits).numpy(), rtol=1e-6)
    # amounts are kept within expm1 of the training bounds, whatever the network says
    assert (amounts >= 0).all() and (amounts <= np.expm1(1.0) + 1e-5).all()
