"""The behaviour encoder: a small causal Transformer over a customer's purchase sequence,
pre-trained without labels by next-item prediction with full cross-entropy over the catalogue
(SASRec trained this way; Klenitskiy and Vasilev, RecSys 2023).

An item's input vector is its learned id vector plus a learned projection of its description's
text vector, so a rare product still means something and a product never bought before the
cut-off (but described) gets a vector from its text alone. The catalogue scored by the
next-item head is the products bought before the cut-off.

Sequences are chronological and left-padded (the newest item last); the marts hold them newest
first and right-padded, so `encode_recent` flips them.
"""

from __future__ import annotations

import math

import torch
from torch import nn

# Codes shared by every product sequence in cartcast: padding, then out-of-vocabulary.
PAD, OOV = 0, 1


def used_length(newest_first: torch.Tensor) -> int:
    """Columns up to the last one any row fills (rows are right-padded).

    Columns of padding only change no output: padding is never attended to and the newest
    item keeps its position. Cutting them makes short histories (clickstream users have one or
    two events) cost what they hold rather than the full length. The exported graph keeps the
    full length (a data-dependent shape would not export)."""
    if newest_first.numel() == 0:
        return 0
    columns = torch.arange(1, newest_first.shape[1] + 1, device=newest_first.device)
    return int(((newest_first != PAD) * columns).max())


class CausalBlock(nn.Module):
    """Pre-norm self-attention that sees only earlier positions, then a feed-forward layer.

    Written out by hand (not nn.TransformerEncoderLayer) so that eval mode takes no fused fast
    path and the ONNX export is the computation that was trained.
    """

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.dim, self.heads = dim, heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, h: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        batch, length, _ = h.shape
        head_dim = self.dim // self.heads
        q, k, v = self.qkv(self.norm1(h)).chunk(3, dim=-1)

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(batch, length, self.heads, head_dim).transpose(1, 2)

        q, k, v = split(q), split(k), split(v)
        scores = q @ k.transpose(-2, -1) / math.sqrt(head_dim)
        scores = scores.masked_fill(~allowed[:, None, :, :], -1e9)
        attended = (scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(batch, length, self.dim)
        h = h + self.drop(self.proj(attended))
        return h + self.drop(self.ff(self.norm2(h)))


class BehaviourEncoder(nn.Module):
    """Item codes (batch, length), chronological and left-padded -> one vector per position.

    Codes: PAD (0), OOV (1), then the vocabulary in order: the `n_seen` products bought before
    the cut-off first, then products known only by their text.
    """

    def __init__(
        self,
        n_seen: int,
        text_vectors: torch.Tensor,
        length: int = 20,
        dim: int = 64,
        heads: int = 2,
        blocks: int = 2,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.n_seen, self.length, self.dim = n_seen, length, dim
        # row i: the text vector of code i (zeros for PAD, OOV and products without text)
        self.register_buffer("text_vectors", text_vectors.to(torch.float32))
        self.id_embed = nn.Embedding(n_seen + 2, dim, padding_idx=PAD)
        nn.init.normal_(self.id_embed.weight, std=0.02)
        with torch.no_grad():
            self.id_embed.weight[PAD].zero_()
        self.text_proj = nn.Linear(text_vectors.shape[1], dim, bias=False)
        self.position = nn.Parameter(torch.zeros(length, dim))
        nn.init.normal_(self.position, std=0.02)
        self.blocks = nn.ModuleList(CausalBlock(dim, heads, dropout) for _ in range(blocks))
        self.norm = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)

    @property
    def vocab_size(self) -> int:
        return self.text_vectors.shape[0]

    def item_vectors(self, codes: torch.Tensor) -> torch.Tensor:
        """Id vector (OOV's for products known only by text) plus projected text vector."""
        ids = torch.where(codes >= self.n_seen + 2, torch.full_like(codes, OOV), codes)
        vectors = self.id_embed(ids) + self.text_proj(self.text_vectors[codes])
        return vectors * (codes != PAD).unsqueeze(-1).to(vectors.dtype)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        length = codes.shape[1]
        valid = codes != PAD
        h = self.drop(self.item_vectors(codes) + self.position[-length:])
        causal = torch.ones(length, length, dtype=torch.bool, device=codes.device).tril()
        # padding keys get no attention; each position always sees itself, so an all-padding
        # row stays finite (its output is never used)
        allowed = causal[None] & (
            valid[:, None, :] | torch.eye(length, dtype=torch.bool, device=codes.device)[None]
        )
        for block in self.blocks:
            h = block(h, allowed)
        return self.norm(h)

    def catalogue_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Next-item scores over the products bought before the cut-off (codes 2..n_seen+1)."""
        catalogue = torch.arange(2, self.n_seen + 2, device=hidden.device)
        return hidden @ self.item_vectors(catalogue).T

    def encode_recent(self, newest_first: torch.Tensor) -> torch.Tensor:
        """A customer's vector from the marts' codes (newest first, right-padded): the output at
        the newest position. An empty history gives the zero vector."""
        if not torch.onnx.is_in_onnx_export():
            newest_first = newest_first[:, : max(1, used_length(newest_first))]
        chronological = newest_first.flip(1)
        out = self(chronological)[:, -1]
        has_history = (newest_first != PAD).any(dim=1, keepdim=True).to(out.dtype)
        return out * has_history
