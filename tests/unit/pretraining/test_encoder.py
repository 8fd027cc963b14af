"""The behaviour encoder: causal, blind to padding, and the marts' newest-first order flipped."""

from __future__ import annotations

import numpy as np
import torch

from cartcast.pretraining.encoder import OOV, PAD, BehaviourEncoder, used_length
from cartcast.pretraining.pretrain import build_vocab, windows


def encoder(n_seen: int = 6, text_only: int = 2, length: int = 5) -> BehaviourEncoder:
    torch.manual_seed(0)
    text = torch.randn(n_seen + text_only + 2, 8)
    text[PAD] = 0
    text[OOV] = 0
    return BehaviourEncoder(n_seen, text, length=length, dim=16, heads=2, blocks=2).eval()


def test_a_position_sees_only_earlier_items() -> None:
    model = encoder()
    codes = torch.tensor([[2, 3, 4, 5, 6]])
    changed = torch.tensor([[2, 3, 4, 7, 6]])
    with torch.no_grad():
        a, b = model(codes), model(changed)
    torch.testing.assert_close(a[:, :3], b[:, :3])
    assert not torch.allclose(a[:, 3:], b[:, 3:])


def test_left_padding_does_not_change_the_newest_output() -> None:
    model = encoder()
    with torch.no_grad():
        short = model(torch.tensor([[PAD, PAD, 2, 3, 4]]))[:, -1]
        longer = model(torch.tensor([[PAD, 9, 2, 3, 4]]))[:, -1]
    assert not torch.allclose(short, longer)  # history counts ...
    with torch.no_grad():
        model.id_embed.weight[PAD] += 3.0  # ... padding does not
        again = model(torch.tensor([[PAD, PAD, 2, 3, 4]]))[:, -1]
    torch.testing.assert_close(short, again)


def test_encode_recent_reads_the_marts_order() -> None:
    model = encoder()
    newest_first = torch.tensor([[4, 3, 2, PAD, PAD], [PAD] * 5])
    with torch.no_grad():
        got = model.encode_recent(newest_first)
        expected = model(torch.tensor([[PAD, PAD, 2, 3, 4]]))[:, -1]
    torch.testing.assert_close(got[:1], expected)
    assert torch.count_nonzero(got[1]) == 0  # no history: the zero vector


def test_columns_of_padding_only_are_cut_without_changing_any_output() -> None:
    model = encoder(length=5)
    newest_first = torch.tensor([[4, 3, PAD, PAD, PAD], [2, PAD, PAD, PAD, PAD]])
    assert used_length(newest_first) == 2 and used_length(newest_first[:, :0]) == 0
    # a padding hole counts up to the last filled column
    assert used_length(torch.tensor([[4, PAD, 3, PAD, PAD]])) == 3
    with torch.no_grad():
        got = model.encode_recent(newest_first)
        # the whole length, as the exported graph runs it
        full = model(newest_first.flip(1))[:, -1]
    torch.testing.assert_close(got, full)


def test_a_product_known_only_by_text_gets_the_oov_id_and_its_own_text() -> None:
    model = encoder(n_seen=6, text_only=2)
    text_only = torch.tensor([8, 9])  # codes past the n_seen bought products
    with torch.no_grad():
        vectors = model.item_vectors(text_only)
        expected = model.id_embed.weight[OOV] + model.text_proj(model.text_vectors[text_only])
    torch.testing.assert_close(vectors, expected)
    assert model.catalogue_logits(torch.zeros(1, 16)).shape == (1, 6)


def test_vocabulary_and_windows() -> None:
    histories = {"c1": ["B", "A", "B", "C"], "c2": ["A"], "c3": list("ABCABCABCAB")}
    text = {"A": np.ones(384, np.float32), "Z": np.full(384, 2.0, np.float32)}
    vocab, n_seen, matrix = build_vocab(histories, text)
    assert vocab == ["A", "B", "C", "Z"] and n_seen == 3
    assert matrix.shape == (6, 384) and matrix[2, 0] == 1.0 and matrix[5, 0] == 2.0
    assert not matrix[3].any()  # B has no text
    codes = {p: i + 2 for i, p in enumerate(vocab)}
    histories = {"c1": ["B", "A", "B", "C"], "c2": ["A"], "c3": list("ABCDDDCBA")}
    out = windows(histories, {**codes, "D": OOV}, length=4, stride=3)
    a, b, c = codes["A"], codes["B"], codes["C"]
    assert out.tolist() == [
        [PAD, b, a, b, c],  # c1: its whole history; c2 is too short to have a target
        [a, b, c, OOV, OOV],  # c3: windows ending at purchases 5 and 8 ...
        [OOV, OOV, OOV, c, b],
        [OOV, OOV, c, b, a],  # ... and its newest purchase, so each purchase is a target
    ]
