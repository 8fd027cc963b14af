"""The torch models: an MLP over tabular features (with learned embeddings for categories),
optionally joined with a small Transformer encoder over the customer's recent products."""

from __future__ import annotations

import math

import torch
from torch import nn

from cartcast.pretraining.encoder import BehaviourEncoder
from cartcast.training.preprocess import PAD, PreprocessParams, TabularPreprocessor


class SequenceEncoder(nn.Module):
    """Product embeddings + learned positions, one pre-norm self-attention block, masked mean.

    Written out by hand (not nn.TransformerEncoderLayer) so that eval mode takes no fused
    fast path and the ONNX export is the same computation as training.
    """

    def __init__(
        self,
        vocab_size: int,
        length: int,
        dim: int = 16,
        heads: int = 2,
        token_dropout: float = 0.3,
    ) -> None:
        super().__init__()
        self.dim, self.heads, self.token_dropout = dim, heads, token_dropout
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=PAD)
        self.position = nn.Parameter(torch.zeros(length, dim))
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        nn.init.normal_(self.position, std=0.02)

    def forward(self, products: torch.Tensor) -> torch.Tensor:
        batch, length = products.shape
        if self.training and self.token_dropout > 0:
            # Forget random products while training: a customer's weekly snapshots repeat the
            # same history, and whole sequences are otherwise easy to memorise.
            keep = torch.rand(products.shape, device=products.device) >= self.token_dropout
            products = torch.where(keep, products, torch.zeros_like(products))
        valid = products != PAD
        h = self.embed(products) + self.position[:length]
        q, k, v = self.qkv(self.norm1(h)).chunk(3, dim=-1)
        head_dim = self.dim // self.heads

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(batch, length, self.heads, head_dim).transpose(1, 2)

        q, k, v = split(q), split(k), split(v)
        scores = q @ k.transpose(-2, -1) / math.sqrt(head_dim)
        # Padding keys get no attention; position 0 always stays open so that an empty
        # history gives finite numbers (its output is masked out of the mean below).
        open_keys = valid.clone()
        open_keys[:, 0] = True
        scores = scores.masked_fill(~open_keys[:, None, None, :], -1e9)
        attended = (scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(batch, length, self.dim)
        h = h + self.proj(attended)
        h = h + self.ff(self.norm2(h))
        weights = valid.to(h.dtype).unsqueeze(-1)
        return (h * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


class PretrainedSequence(nn.Module):
    """The pre-trained behaviour encoder as the sequence part of a network: the customer's
    vector at their newest purchase. Frozen, it is a fixed feature extractor (its dropout off
    even while the head trains); unfrozen, it is fine-tuned with the head."""

    def __init__(self, encoder: BehaviourEncoder, frozen: bool) -> None:
        super().__init__()
        self.encoder, self.frozen = encoder, frozen
        self.dim = encoder.dim
        if frozen:
            for parameter in self.encoder.parameters():
                parameter.requires_grad_(False)

    def train(self, mode: bool = True) -> PretrainedSequence:
        super().train(mode)
        if self.frozen:
            self.encoder.eval()
        return self

    def forward(self, products: torch.Tensor) -> torch.Tensor:
        return self.encoder.encode_recent(products)


class Precomputed(nn.Module):
    """Stands in for a frozen encoder while its head trains: the inputs are the encoder's
    vectors, computed once per distinct sequence rather than again in every epoch."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        return vectors


class CartcastNet(nn.Module):
    """Raw numeric features (+ category codes, + product codes) -> one raw output per row
    (a logit for binary tasks, a signed-log1p amount for regression)."""

    def __init__(
        self,
        params: PreprocessParams,
        hidden: tuple[int, ...] = (64, 32),
        dropout: float = 0.1,
        category_dim: int = 4,
        use_sequence: bool = False,
        sequence_dim: int = 16,
        sequence_module: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.preprocess = TabularPreprocessor(params)
        self.category_embeddings = nn.ModuleList(
            nn.Embedding(len(vocab) + 1, category_dim) for vocab in params.categories.values()
        )
        if sequence_module is not None:
            self.sequence, sequence_dim, use_sequence = sequence_module, sequence_module.dim, True
        elif use_sequence:
            self.sequence = SequenceEncoder(
                len(params.products) + 2, params.sequence_length, sequence_dim
            )
        else:
            self.sequence = None
        width = params.n_tabular + category_dim * len(self.category_embeddings)
        width += sequence_dim if use_sequence else 0
        layers: list[nn.Module] = []
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        layers.append(nn.Linear(width, 1))
        self.mlp = nn.Sequential(*layers)

    def forward(
        self,
        numeric: torch.Tensor,
        categories: torch.Tensor | None = None,
        products: torch.Tensor | None = None,
    ) -> torch.Tensor:
        parts = [self.preprocess(numeric)]
        for j, embedding in enumerate(self.category_embeddings):
            parts.append(embedding(categories[:, j]))
        if self.sequence is not None:
            parts.append(self.sequence(products))
        return self.mlp(torch.cat(parts, dim=1)).squeeze(1)


class ScoreHead(nn.Module):
    """What callers get: a probability (binary) or an amount (regression, inverse signed log1p
    of the network's output, kept within the training targets' range so that an extrapolating
    network cannot predict amounts no customer ever spent)."""

    def __init__(
        self, net: nn.Module, task: str, bounds: tuple[float, float] | None = None
    ) -> None:
        super().__init__()
        self.net, self.task = net, task
        low, high = bounds if bounds is not None else (-1e30, 1e30)
        self.register_buffer("low", torch.tensor(low, dtype=torch.float32))
        self.register_buffer("high", torch.tensor(high, dtype=torch.float32))

    def forward(
        self,
        numeric: torch.Tensor,
        categories: torch.Tensor | None = None,
        products: torch.Tensor | None = None,
    ) -> torch.Tensor:
        out = self.net(numeric, categories, products)
        if self.task == "binary":
            return torch.sigmoid(out)
        out = torch.minimum(torch.maximum(out, self.low), self.high)
        return torch.sign(out) * torch.expm1(torch.abs(out))


class LinearNet(nn.Module):
    """A fitted linear baseline (logistic or ridge) as a torch module over raw inputs, so it
    is exported with the same in-graph preprocessing as the MLP: preprocessed numbers times
    weights, plus one weight per category value (the one-hot coefficients)."""

    def __init__(self, params: PreprocessParams, coef, intercept: float) -> None:
        super().__init__()
        self.preprocess = TabularPreprocessor(params)
        coef = torch.as_tensor(coef, dtype=torch.float32).reshape(-1)
        width = params.n_tabular
        self.linear = nn.Linear(width, 1)
        with torch.no_grad():
            self.linear.weight.copy_(coef[:width].reshape(1, -1))
            self.linear.bias.fill_(float(intercept))
        self.category_weights = nn.ModuleList()
        start = width
        for vocab in params.categories.values():
            embedding = nn.Embedding(len(vocab) + 1, 1)
            with torch.no_grad():
                embedding.weight.copy_(coef[start : start + len(vocab) + 1].reshape(-1, 1))
            self.category_weights.append(embedding)
            start += len(vocab) + 1

    def forward(
        self,
        numeric: torch.Tensor,
        categories: torch.Tensor | None = None,
        products: torch.Tensor | None = None,
    ) -> torch.Tensor:
        out = self.linear(self.preprocess(numeric)).squeeze(1)
        for j, embedding in enumerate(self.category_weights):
            out = out + embedding(categories[:, j]).squeeze(1)
        return out
