"""The next-product recommender on hand-made rows: its features, masks, export and metrics.

Real data cannot produce these cases on demand (a product the vocabulary never saw, a customer
with an empty history, exact ties); the integration test runs the same code on the real data.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import onnxruntime as ort
import pytest
import torch

from cartcast.errors import ScoringError
from cartcast.features.recommend_rows import Popular, Rows, onnx_feed
from cartcast.training import recommend_export, recommend_metrics
from cartcast.training import recommender as rec
from scoring.recommend import check_k

VOCAB = [f"P{i:02d}" for i in range(12)]
AS_OF = np.datetime64(datetime(2011, 9, 5), "us")


def rows(histories: list[list[str]], width: int = 6, length: int = 4) -> Rows:
    n = len(histories)
    history = np.full((n, width), "", dtype=object)
    orders = np.zeros((n, width), dtype=np.float32)
    last = np.zeros((n, width), dtype=np.float32)
    first = np.zeros((n, width), dtype=np.float32)
    recent = np.full((n, length), "", dtype=object)
    for r, products in enumerate(histories):
        for j, p in enumerate(products[:width]):
            history[r, j] = p
            orders[r, j] = len(products) - j  # the first is the most bought
            last[r, j] = 3.0 * (j + 1)
            first[r, j] = 60.0 + j
        recent[r, : min(length, len(products))] = products[:length]
    return Rows(
        customer_id=np.array([f"c{r}" for r in range(n)], dtype=object),
        as_of=np.full(n, AS_OF),
        recent=recent,
        history=history,
        orders=orders,
        days_last=last,
        days_first=first,
        orders_before=np.array([max(len(h), 1) for h in histories], dtype=np.float32),
    )


def popular() -> dict:
    ids = np.array(["P11", "P10", "P09", "P08", "", ""], dtype=object)
    lines = np.array([90, 80, 70, 60, 0, 0], dtype=np.float32)
    return {AS_OF: Popular(ids, lines, lines / 3)}


def co_purchase() -> tuple[list[str], np.ndarray]:
    """Counts as `co_purchase_counts` gives them: P03 shared orders with P04 (5) and P06 (2),
    P05 with P07 (3); X99 is not in the catalogue."""
    products = ["P03", "P04", "P05", "P06", "P07", "X99"]
    counts = np.zeros((6, 6), dtype=np.float32)
    for a, b, n in [("P03", "P04", 5), ("P03", "P06", 2), ("P05", "P07", 3), ("P03", "X99", 9)]:
        i, j = products.index(a), products.index(b)
        counts[i, j] = counts[j, i] = n
    return products, counts


def model(n_seen: int = 10) -> rec.NextProducts:
    torch.manual_seed(0)
    return rec.NextProducts(None, len(VOCAB), n_seen, rec.Neighbours.of(VOCAB, *co_purchase()))


def test_neighbours_are_the_strongest_catalogue_products_first() -> None:
    got = rec.Neighbours.of(VOCAB, *co_purchase(), m=2)
    none = len(VOCAB)
    # P03: P04 then P06 (X99 is not in the catalogue); P04: only P03; P00: nothing
    assert got.positions[3].tolist() == [4, 6]
    assert got.weights[3].tolist() == [5.0, 2.0]
    assert got.positions[4].tolist() == [3, none]
    assert got.weights[4].tolist() == [5.0, 0.0]
    assert got.positions[0].tolist() == [none, none]


def test_a_product_bought_with_the_customers_own_rises_with_the_co_purchase_weight() -> None:
    net = model()
    data = rows([["P03"]])
    batch = rec.Batch.of(data, popular()[AS_OF], rec.Coder(VOCAB))
    with torch.no_grad():
        before = net(*batch.tensors)[0]
        net.co_purchase_weight.fill_(1.0)
        after = net(*batch.tensors)[0]
    rise = (after - before).numpy()
    # P04 (5 shared orders) gains more than P06 (2); P05, which never shared one, nothing
    assert rise[4] > rise[6] > 0
    assert rise[5] == pytest.approx(0.0)


def test_a_fresh_model_ranks_like_the_repeat_baseline() -> None:
    """The mix starts at "most-bought first, then best sellers": training moves from there."""
    data = rows([["P03", "P05", "P01"], []])
    coder = rec.Coder(VOCAB)
    ids, _ = rec.top_k(model(), data, popular(), coder, k=5)
    assert list(ids[0][:3]) == ["P03", "P05", "P01"]
    # a cold start: the best sellers (the seen ones; P10 and P11 are known by text only)
    assert list(ids[1][:2]) == ["P09", "P08"]


def test_repeats_and_unseen_products_are_masked_when_asked() -> None:
    data = rows([["P03", "P05", "P01"]])
    coder = rec.Coder(VOCAB)
    fresh, _ = rec.top_k(model(), data, popular(), coder, k=5, repeats=False)
    assert not {"P03", "P05", "P01"} & set(fresh[0])
    seen_only, _ = rec.top_k(model(), data, popular(), coder, k=9)
    assert not {"P10", "P11"} & set(seen_only[0])
    with_unseen, _ = rec.top_k(model(), data, popular(), coder, k=12, unseen=True)
    assert {"P10", "P11"} <= set(with_unseen[0])


def test_a_product_missing_from_the_vocabulary_is_the_unknown_token(tmp_path) -> None:
    """An id the catalogue never saw maps to OOV in the graph: it scores nothing and the
    rest of the row is ranked as without it."""
    coder = rec.Coder(VOCAB)
    assert coder(np.array(["NEW-1", "", "P00"], dtype=object)).tolist() == [1, 0, 2]
    net = model()
    with_unknown = rows([["NEW-1", "P03", "P05"]])
    without = rows([["P03", "P05"]])
    # same orders and ages for the known products
    without.orders[0, :2], without.days_last[0, :2] = (
        with_unknown.orders[0, 1:3],
        with_unknown.days_last[0, 1:3],
    )
    without.days_first[0, :2] = with_unknown.days_first[0, 1:3]
    without.orders_before[:] = with_unknown.orders_before
    example = rec.Batch.of(with_unknown, popular()[AS_OF], coder)
    proto = recommend_export.export(net, VOCAB, example, {"model_name": "next_products"})
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    ids_a, scores_a = session.run(None, onnx_feed(with_unknown, popular()[AS_OF], 5, session))
    ids_b, scores_b = session.run(None, onnx_feed(without, popular()[AS_OF], 5, session))
    assert "NEW-1" not in set(ids_a[0])
    assert list(ids_a[0]) == list(ids_b[0])
    np.testing.assert_allclose(scores_a, scores_b, rtol=1e-5)


def test_the_onnx_file_gives_torch_s_top_k_for_any_batch_and_k() -> None:
    coder = rec.Coder(VOCAB)
    net = model()
    with torch.no_grad():  # move off the starting point so the deep part matters
        for parameter in net.deep.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    data = rows([["P03", "P05", "P01"], ["P02"], [], ["P07", "P06", "P05", "P04", "P03", "P02"]])
    example = rec.Batch.of(data.take(np.arange(3)), popular()[AS_OF], coder)
    proto = recommend_export.export(net, VOCAB, example, {"model_name": "next_products"})
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    for k in (1, 4, 10):
        _, want_scores = rec.top_k(net, data, popular(), coder, k=k)
        got_ids, got_scores = session.run(None, onnx_feed(data, popular()[AS_OF], k, session))
        np.testing.assert_allclose(got_scores, want_scores, rtol=1e-5, atol=1e-5)
        assert got_ids.shape == (4, k)


def test_ranking_metrics_by_hand() -> None:
    lists = np.array([["a", "b", "c"], ["x", "y", "z"], ["q", "r", "s"]], dtype=object)
    truths = [frozenset({"b", "d"}), frozenset({"x"}), frozenset()]
    got = recommend_metrics.ranking(lists, truths, k=3)
    # row 1: a hit at rank 2 of 2 bought; row 2: a hit at rank 1 of 1; row 3 has no truth
    assert got["rows"] == 2
    assert got["hr"] == pytest.approx(1.0)
    assert got["recall"] == pytest.approx((0.5 + 1.0) / 2)
    ideal_two = 1 + 1 / np.log2(3)
    assert got["ndcg"] == pytest.approx(((1 / np.log2(3)) / ideal_two + 1.0) / 2)


def test_repeat_lists_top_up_with_best_sellers_not_bought() -> None:
    data = rows([["P03", "P09"]])
    got = recommend_metrics.repeat_lists(data, popular(), k=5)
    assert list(got[0]) == ["P03", "P09", "P11", "P10", "P08"]


@pytest.mark.parametrize("k", [0, -3, 1001])
def test_k_outside_1_to_1000_is_refused(k: int) -> None:
    with pytest.raises(ScoringError, match="between 1 and 1000"):
        check_k(k)


def every_product_scores(model: rec.NextProducts, *tensors: torch.Tensor) -> torch.Tensor:
    """The mix by its definition: every feature stacked for every product of every row (what
    the model computes only for history products, and from four features elsewhere)."""
    (recent, history, orders, days_last, days_first, orders_before, popular_codes, lines_90d,
     lines_30d, include_repeats, include_unseen) = tensors  # fmt: skip
    count = model._spread(history, orders, 0.0)
    last = model._spread(history, days_last.clamp(max=rec.HORIZON_DAYS), rec.HORIZON_DAYS)
    first = model._spread(history, days_first.clamp(max=rec.HORIZON_DAYS), 0.0)
    pop90 = torch.log1p(model._spread(popular_codes, lines_90d, 0.0))
    pop30 = torch.log1p(model._spread(popular_codes, lines_30d, 0.0))
    bought = (count > 0).to(count.dtype)
    again = count > 1
    interval = torch.where(
        again, (first - last).clamp(min=0) / (count - 1).clamp(min=1), torch.ones_like(count)
    )
    overdue = torch.where(again, torch.log1p(last) - torch.log1p(interval), 0 * count)
    nxt = torch.zeros_like(count)
    if model.encoder is not None:
        hidden = model.encoder.encode_recent(recent)
        nxt = hidden @ model.encoder.item_vectors(torch.arange(2, model.n_items + 2)).T
        nxt = nxt - nxt.mean(dim=1, keepdim=True)
    # co-purchase by its definition: a dense product-by-product matrix of the neighbours
    n = model.n_items
    shared = torch.zeros(n + 1, n + 1)
    shared.scatter_(1, model.neighbour_positions, model.neighbour_weights)
    co = torch.log1p((bought * torch.exp(-last / 180)) @ shared[:n, :n])
    features = torch.stack(
        [
            torch.log1p(count),
            bought * torch.exp(-last / 30),
            bought * torch.exp(-last / 180),
            bought,
            pop90.expand_as(count),
            bought * torch.log1p(count) * torch.exp(-last / 90),
            nxt * 0.1,
            count / orders_before.clamp(min=1)[:, None],
            overdue,
            (pop30 - pop90).expand_as(count),
            bought * torch.log1p(orders_before)[:, None],
            bought * torch.log1p(last) / 6,
            bought * co,
        ],
        dim=-1,
    )
    # the MLP reads every feature but the encoder's score; the linear part reads them all
    deep_reads = features.clone()
    deep_reads[..., rec.ENCODER_FEATURE] = 0.0
    mix = model.wide(features).squeeze(-1) + model.deep(deep_reads).squeeze(-1)
    score = model.encoder_weight * nxt + mix + model.co_purchase_weight * co
    masked = (1 - include_repeats) * bought + (1 - include_unseen) * (1 - model.seen)
    return score + rec.NEVER * masked.clamp(max=1)


@pytest.mark.parametrize(("repeats", "encoded"), [(True, True), (False, True), (True, False)])
def test_the_mix_is_every_feature_of_every_product(repeats: bool, encoded: bool) -> None:
    from cartcast.pretraining.encoder import BehaviourEncoder

    torch.manual_seed(3)
    encoder = BehaviourEncoder(10, torch.randn(len(VOCAB) + 2, 384), length=4, dim=16).eval()
    net = rec.NextProducts(
        encoder if encoded else None, len(VOCAB), 10, rec.Neighbours.of(VOCAB, *co_purchase())
    ).eval()
    with torch.no_grad():  # a trained model's weights, not the repeat baseline's start
        for parameter in net.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    data = rows([["P03", "P05", "P01", "NEW-1"], [], ["P07", "P03"]])
    data.orders[0, 1] = 1.0  # bought once: no rhythm, no overdue
    batch = rec.Batch.of(data, popular()[AS_OF], rec.Coder(VOCAB), repeats=repeats)
    with torch.no_grad():
        got = net(*batch.tensors)
        want = every_product_scores(net, *batch.tensors)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-4)
    assert (got[0] < rec.NEVER / 2).sum() == (0 if repeats else 3) + 2
