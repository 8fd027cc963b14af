"""The next-product recommender: the pre-trained behaviour encoder's next-item scores mixed
with what the customer and the shop did before, trained on the products bought next.

Repeat purchase dominates retail baskets, so every product's score is a learned mix (a linear
part plus a small MLP) of its features for this customer: how many of their orders held it, how
long since they last and first bought it and whether that is overdue against their own rhythm,
its share of their orders, and the shop's best-seller counts (90 and 30 days, so a product on
the rise counts); plus the encoder's next-item score from the customer's recent products and
the co-purchase pull (how often the product shared an order with the customer's own products,
weighted by how recently they bought those; counted on orders before the cut-off and kept in
the model), scaled by learned weights (read linearly only: see `NextProducts._mix`). The
linear part starts at "most-bought first, then best sellers", so training begins at the repeat
baseline and only moves where the data says so.

Candidates (`CANDIDATES`): the mix without the encoder, with the encoder frozen, and with it
fine-tuned. The loss is full cross-entropy over the catalogue against the products bought in
the window (each bought product weighted 1/n).
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cartcast.features.recommend_rows import Popular, Rows
from cartcast.pretraining.encoder import OOV, PAD, BehaviourEncoder

FEATURES = 13
# the position of the encoder's next-item score among them
ENCODER_FEATURE = 6
# the encoder's use per candidate: None (not used), "frozen", "fine-tuned"
CANDIDATES: dict[str, str | None] = {
    "repeat-aware mix": None,
    "pretrained encoder (frozen) + mix": "frozen",
    "pretrained encoder (fine-tuned) + mix": "fine-tuned",
}
# a score that can never make a list (masked products)
NEVER = -1e9
# days beyond which "how long ago" stops mattering (and the unset value of a never-bought one)
HORIZON_DAYS = 400.0
# co-purchase neighbours kept per product
NEIGHBOURS = 100


@dataclass(frozen=True)
class Neighbours:
    """Each catalogue product's strongest co-purchase neighbours, as catalogue positions
    (`n_items`: none) and weights, (n_items, NEIGHBOURS) each."""

    positions: np.ndarray
    weights: np.ndarray

    @classmethod
    def of(cls, vocab: list[str], products: list[str], counts: np.ndarray, m: int = NEIGHBOURS):
        """From `recommend_rows.co_purchase_counts`: for each product of `vocab`, its `m`
        neighbours of `vocab` with the most (normalised) shared orders."""
        n = len(vocab)
        positions = np.full((n, m), n, dtype=np.int64)
        weights = np.zeros((n, m), dtype=np.float32)
        where = {p: i for i, p in enumerate(products)}
        rows = np.asarray([where.get(p, -1) for p in vocab], dtype=np.int64)
        present = np.flatnonzero(rows >= 0)
        if len(present):
            block = counts[np.ix_(rows[present], rows[present])]
            order = np.argsort(-block, axis=1, kind="stable")[:, :m]
            top = np.take_along_axis(block, order, axis=1)
            positions[present, : order.shape[1]] = np.where(top > 0, present[order], n)
            weights[present, : order.shape[1]] = np.where(top > 0, top, 0.0)
        return cls(positions, weights)


class NextProducts(nn.Module):
    """Codes in, a score for every product of the catalogue out.

    Codes: PAD (0), OOV (1), then the catalogue: `vocab[i]` is code i + 2; the first `n_seen`
    were bought before the cut-off, the rest are known by their description only.
    """

    def __init__(
        self,
        encoder: BehaviourEncoder | None,
        n_items: int,
        n_seen: int,
        neighbours: Neighbours | None = None,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.n_items = n_items
        seen = torch.zeros(n_items)
        seen[:n_seen] = 1.0
        self.register_buffer("seen", seen)
        self.wide = nn.Linear(FEATURES, 1)
        with torch.no_grad():
            # log orders, bought at all, log best-seller lines: the repeat baseline's order
            start = torch.zeros(FEATURES)
            start[0], start[3], start[4] = 3.0, 1.0, 0.5
            self.wide.weight.copy_(start[None])
            self.wide.bias.zero_()
        self.deep = nn.Sequential(nn.Linear(FEATURES, 32), nn.ReLU(), nn.Linear(32, 1))
        deep_reads = torch.ones(FEATURES)
        deep_reads[ENCODER_FEATURE] = 0.0
        self.register_buffer("deep_reads", deep_reads, persistent=False)
        with torch.no_grad():
            self.deep[2].weight.mul_(0.01)
        self.encoder_weight = nn.Parameter(torch.tensor(0.1 if encoder is not None else 0.0))
        # co-purchase neighbours, with one extra row for padding and unknown products
        if neighbours is None:
            neighbours = Neighbours(
                np.full((n_items, 1), n_items, dtype=np.int64), np.zeros((n_items, 1), np.float32)
            )
        width = neighbours.positions.shape[1]
        self.register_buffer(
            "neighbour_positions",
            torch.cat(
                [
                    torch.from_numpy(neighbours.positions),
                    torch.full((1, width), n_items, dtype=torch.int64),
                ]
            ),
        )
        self.register_buffer(
            "neighbour_weights",
            torch.cat([torch.from_numpy(neighbours.weights), torch.zeros(1, width)]),
        )
        self.co_purchase_weight = nn.Parameter(torch.tensor(0.0))

    def _spread(self, codes: torch.Tensor, values: torch.Tensor, fill: float) -> torch.Tensor:
        """(batch, width) values of catalogue codes -> (batch, n_items); `fill` elsewhere."""
        out = torch.full(
            (codes.shape[0], self.n_items + 1), fill, dtype=values.dtype, device=values.device
        )
        # codes in a list are distinct, so a plain scatter is exact; padding and unknown
        # products land in the extra last column, which is dropped
        return out.scatter(1, self._slots(codes), values)[:, : self.n_items]

    def _slots(self, codes: torch.Tensor) -> torch.Tensor:
        """Catalogue positions of codes; padding and unknown products: one past the end."""
        return torch.where(codes >= 2, codes - 2, torch.full_like(codes, self.n_items))

    def _mix(self, features: torch.Tensor) -> torch.Tensor:
        """The linear part reads every feature, the MLP all but the encoder's score: read by
        the MLP it would cost a pass over every product of every row (the rest of the
        catalogue has it as its only own feature), linearly one multiply per product."""
        return (self.wide(features) + self.deep(features * self.deep_reads)).squeeze(-1)

    def forward(
        self,
        recent: torch.Tensor,
        history: torch.Tensor,
        orders: torch.Tensor,
        days_last: torch.Tensor,
        days_first: torch.Tensor,
        orders_before: torch.Tensor,
        popular: torch.Tensor,
        lines_90d: torch.Tensor,
        lines_30d: torch.Tensor,
        include_repeats: torch.Tensor,
        include_unseen: torch.Tensor,
    ) -> torch.Tensor:
        # A product the customer never bought has only four features that are not zero:
        # the two best-seller ones (shared by the batch), the encoder's score and the
        # co-purchase pull (both read linearly). So the mix is computed in full only for the
        # (at most `width`) products of each history, and once per batch for the rest of the
        # catalogue; the result is the same as stacking every feature for every product of
        # every row.
        pop90 = torch.log1p(self._spread(popular, lines_90d, 0.0))[0]
        rise = torch.log1p(self._spread(popular, lines_30d, 0.0))[0] - pop90
        if self.encoder is not None:
            hidden = self.encoder.encode_recent(recent)
            catalogue = torch.arange(2, self.n_items + 2, device=recent.device)
            nxt = hidden @ self.encoder.item_vectors(catalogue).T
            nxt = nxt - nxt.mean(dim=1, keepdim=True)
        else:
            nxt = torch.zeros(recent.shape[0], self.n_items, device=recent.device)
        slots = self._slots(history)
        known = slots < self.n_items
        # per history product: its own numbers, and the shared ones read at its position
        # (the extra position, for padding and unknown products, reads zeros)
        pad = torch.zeros(1, device=pop90.device, dtype=pop90.dtype)
        at = slots.reshape(-1)
        pop90_h = torch.cat([pop90, pad])[at].reshape(slots.shape)
        rise_h = torch.cat([rise, pad])[at].reshape(slots.shape)
        nxt_h = torch.cat([nxt, torch.zeros_like(nxt[:, :1])], dim=1).gather(1, slots)
        count = torch.where(known, orders, torch.zeros_like(orders))
        last = torch.where(
            known, days_last.clamp(max=HORIZON_DAYS), torch.full_like(days_last, HORIZON_DAYS)
        )
        first = torch.where(known, days_first.clamp(max=HORIZON_DAYS), torch.zeros_like(orders))
        bought = (count > 0).to(count.dtype)
        again = count > 1
        interval = torch.where(
            again, (first - last).clamp(min=0) / (count - 1).clamp(min=1), torch.ones_like(count)
        )
        overdue = torch.where(
            again, torch.log1p(last) - torch.log1p(interval), torch.zeros_like(count)
        )
        share = count / orders_before.clamp(min=1)[:, None]
        # what sells with the customer's own products: each history product's neighbours,
        # weighted by how recently the customer bought it (on the selection slice a 180-day
        # decay ranked better than 60 days or the order count)
        recently = bought * torch.exp(-last / 180)
        rows = slots.shape[0]
        near = self.neighbour_positions[slots].reshape(rows, -1)
        pull = (self.neighbour_weights[slots] * recently[..., None]).reshape(rows, -1)
        co = torch.zeros(rows, self.n_items + 1, dtype=pull.dtype, device=pull.device)
        co = torch.log1p(co.scatter_add(1, near, pull))
        co_h = co.gather(1, slots)
        history_features = torch.stack(
            [
                torch.log1p(count),
                bought * torch.exp(-last / 30),
                recently,
                bought,
                pop90_h,
                bought * torch.log1p(count) * torch.exp(-last / 90),
                nxt_h.detach() * 0.1,
                share,
                overdue,
                rise_h,
                bought * torch.log1p(orders_before)[:, None],
                bought * torch.log1p(last) / 6,
                co_h,
            ],
            dim=-1,
        )
        # the rest of the catalogue: features 4 (best sellers) and 9 (rising); the encoder's
        # score is added linearly
        rest = torch.zeros(self.n_items, FEATURES, device=pop90.device, dtype=pop90.dtype)
        rest = rest.index_copy(1, torch.tensor([4, 9], device=pop90.device),
                               torch.stack([pop90, rise], dim=1))  # fmt: skip
        others = self._mix(rest)[None]
        if self.encoder is not None:
            others = others + (nxt.detach() * 0.1) * self.wide.weight[0, ENCODER_FEATURE]
        else:
            others = others.expand(recent.shape[0], -1)
        mixed = torch.cat([others, torch.zeros_like(others[:, :1])], dim=1)
        mixed = mixed.scatter(1, slots, self._mix(history_features))[:, : self.n_items]
        bought_any = self._spread(history, bought, 0.0)
        score = self.encoder_weight * nxt + mixed + self.co_purchase_weight * co[:, : self.n_items]
        masked = (1 - include_repeats) * bought_any + (1 - include_unseen) * (1 - self.seen)
        return score + NEVER * masked.clamp(max=1)


@dataclass
class Coder:
    """Product ids to the encoder's codes."""

    vocab: list[str]

    def __post_init__(self) -> None:
        self.codes = {p: i + 2 for i, p in enumerate(self.vocab)}

    def __call__(self, strings: np.ndarray) -> np.ndarray:
        flat = [PAD if p == "" else self.codes.get(p, OOV) for p in strings.ravel()]
        return np.asarray(flat, dtype=np.int64).reshape(strings.shape)


@dataclass
class Batch:
    """The model's tensors for rows of one snapshot."""

    tensors: tuple[torch.Tensor, ...]

    @classmethod
    def of(
        cls, rows: Rows, popular: Popular, coder: Coder, repeats: bool = True, unseen: bool = False
    ) -> Batch:
        return cls(
            (
                torch.from_numpy(coder(rows.recent)),
                torch.from_numpy(coder(rows.history)),
                torch.from_numpy(rows.orders),
                torch.from_numpy(rows.days_last),
                torch.from_numpy(rows.days_first),
                torch.from_numpy(rows.orders_before),
                torch.from_numpy(coder(popular.product_ids[None])),
                torch.from_numpy(popular.lines_90d[None]),
                torch.from_numpy(popular.lines_30d[None]),
                torch.tensor([1.0 if repeats else 0.0]),
                torch.tensor([1.0 if unseen else 0.0]),
            )
        )


def by_snapshot(rows: Rows) -> list[np.ndarray]:
    """Row indices grouped by as_of (each group shares one best-seller list)."""
    order = np.argsort(rows.as_of, kind="stable")
    times = rows.as_of[order]
    cuts = np.flatnonzero(times[1:] != times[:-1]) + 1
    return np.split(order, cuts)


def targets(rows: Rows, coder: Coder, n_items: int) -> torch.Tensor:
    """(rows, n_items): 1/n on each of the n catalogue products bought in the window."""
    y = torch.zeros(len(rows), n_items)
    for r, bought in enumerate(rows.bought or []):
        index = [coder.codes[p] - 2 for p in bought if p in coder.codes]
        if index:
            y[r, index] = 1.0 / len(index)
    return y


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def fit(
    rows: Rows,
    popular: dict,
    coder: Coder,
    n_seen: int,
    encoder: BehaviourEncoder | None,
    use: str | None,
    epochs: int = 2,
    seed: int = 0,
    batch_size: int = 256,
    neighbours: Neighbours | None = None,
) -> NextProducts:
    """Train one candidate on `rows` (each with its bought products)."""
    seed_everything(seed)
    n_items = len(coder.vocab)
    model = NextProducts(copy.deepcopy(encoder) if use else None, n_items, n_seen, neighbours)
    head = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
    groups = [{"params": head, "lr": 1e-2}]
    if use == "fine-tuned":
        groups.append({"params": list(model.encoder.parameters()), "lr": 3e-4})
    elif use == "frozen":
        model.encoder.requires_grad_(False)
    optimizer = torch.optim.AdamW(groups, weight_decay=1e-5)
    # batches within one snapshot (they share its best sellers), in a seeded random order
    generator = np.random.default_rng(seed)
    groups_of_rows = by_snapshot(rows)
    for _ in range(epochs):
        model.train()
        if use == "frozen":
            model.encoder.eval()
        batches = []
        for index in groups_of_rows:
            shuffled = generator.permutation(index)
            batches += [shuffled[i : i + batch_size] for i in range(0, len(shuffled), batch_size)]
        for b in generator.permutation(len(batches)):
            part = rows.take(batches[b])
            batch = Batch.of(part, popular[part.as_of[0]], coder)
            logits = model(*batch.tensors)
            y = targets(part, coder, n_items)
            loss = -(torch.log_softmax(logits, dim=1) * y).sum(dim=1).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


def top_k(
    model: NextProducts,
    rows: Rows,
    popular: dict,
    coder: Coder,
    k: int = 10,
    repeats: bool = True,
    unseen: bool = False,
    batch_size: int = 1024,
) -> tuple[np.ndarray, np.ndarray]:
    """(rows, k) product ids and scores, best first."""
    ids = np.empty((len(rows), k), dtype=object)
    scores = np.empty((len(rows), k), dtype=np.float32)
    vocab = np.asarray(coder.vocab, dtype=object)
    with torch.no_grad():
        for index in by_snapshot(rows):
            for i in range(0, len(index), batch_size):
                part_index = index[i : i + batch_size]
                part = rows.take(part_index)
                batch = Batch.of(part, popular[part.as_of[0]], coder, repeats, unseen)
                values, codes = torch.topk(model(*batch.tensors), k, dim=1)
                ids[part_index] = vocab[codes.numpy()]
                scores[part_index] = values.numpy()
    return ids, scores
