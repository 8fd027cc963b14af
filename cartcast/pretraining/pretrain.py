"""Pre-train the behaviour encoder on every customer's purchases before a cut-off.

No labels are used: each customer's merchandise purchases, in time order, teach the encoder to
predict the next product (full softmax over the catalogue). Customers with no label yet count
as much as any other. Time-safe by construction: only order lines strictly before the cut-off
are read, so events after it change no weight (tests/unit/pretraining/test_pretrain.py).

A pre-trained encoder is kept under `<artifacts>/encoders/<cut-off>-s<seed>/` (weights,
vocabulary, card) and reused by every model trained with that cut-off and seed.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import torch
from torch import nn

from cartcast.errors import PretrainingError
from cartcast.pretraining.devices import torch_device
from cartcast.pretraining.encoder import OOV, PAD, BehaviourEncoder
from cartcast.pretraining.text import DIM as TEXT_DIM
from cartcast.registry.versions import artifacts_dir
from cartcast.warehouse.connection import connect
from cartcast.warehouse.paths import Warehouse

LINES = "intermediate.int_merchandise_lines_sequenced"
TEXT = "marts.product_text_embeddings"


@dataclass(frozen=True)
class PretrainConfig:
    length: int = 20
    dim: int = 64
    heads: int = 2
    blocks: int = 2
    dropout: float = 0.2
    epochs: int = 4
    batch_size: int = 256
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    # windows of length+1 items start every `stride` purchases of a customer
    stride: int = 10
    seed: int = 0
    device: str = "auto"


@dataclass
class Pretrained:
    encoder: BehaviourEncoder
    # code i + 2 is vocab[i]; the first n_seen were bought before the cut-off
    vocab: list[str]
    n_seen: int
    cutoff: datetime
    config: PretrainConfig
    history: list[dict[str, float]] = field(default_factory=list)
    facts: dict[str, float] = field(default_factory=dict)

    def codes(self) -> dict[str, int]:
        return {p: i + 2 for i, p in enumerate(self.vocab)}


def _naive_utc(moment) -> datetime:
    stamp = pd.Timestamp(moment)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.to_pydatetime()


def load_histories(con: duckdb.DuckDBPyConnection, before: datetime) -> dict[str, list[str]]:
    """Every customer's merchandise purchases strictly before `before`, oldest first."""
    rows = con.execute(
        f"select customer_id, list(product_id order by line_number) from {LINES} "
        "where ordered_at < ? group by customer_id order by customer_id",
        [_naive_utc(before)],
    ).fetchall()
    return {customer: products for customer, products in rows}


def load_text_vectors(con: duckdb.DuckDBPyConnection) -> dict[str, np.ndarray]:
    """Product text vectors from `marts.product_text_embeddings` (empty if not built)."""
    try:
        rows = con.execute(
            f"select product_id, embedding from {TEXT} where embedding is not null"
        ).fetchall()
    except duckdb.CatalogException:
        return {}
    return {p: np.asarray(v, dtype=np.float32) for p, v in rows}


def build_vocab(
    histories: dict[str, list[str]], text: dict[str, np.ndarray]
) -> tuple[list[str], int, np.ndarray]:
    """Bought products (sorted), then products known only by text (sorted); and the text
    matrix by code (zeros for PAD, OOV and products without text)."""
    seen = sorted({p for products in histories.values() for p in products})
    seen_set = set(seen)
    text_only = sorted(p for p in text if p not in seen_set)
    vocab = seen + text_only
    matrix = np.zeros((len(vocab) + 2, TEXT_DIM), dtype=np.float32)
    for i, product in enumerate(vocab):
        if product in text:
            matrix[i + 2] = text[product]
    return vocab, len(seen), matrix


def windows(histories: dict[str, list[str]], codes: dict[str, int], length: int, stride: int):
    """Training windows of length+1 codes, left-padded: every `stride` purchases, plus the
    newest window of each customer, so every purchase is a target at least once."""
    out = []
    for products in histories.values():
        seq = [codes.get(p, OOV) for p in products]
        if len(seq) < 2:
            continue
        ends = set(range(min(len(seq), length + 1), len(seq) + 1, stride)) | {len(seq)}
        for end in sorted(ends):
            window = seq[max(0, end - length - 1) : end]
            out.append([PAD] * (length + 1 - len(window)) + window)
    return np.asarray(out, dtype=np.int64).reshape(-1, length + 1)


def pretrain(
    warehouse: Warehouse,
    cutoff: datetime,
    config: PretrainConfig | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
) -> Pretrained:
    """Next-item pre-training on every purchase strictly before `cutoff`."""
    config = config or PretrainConfig()
    con = connect(warehouse, read_only=True)
    try:
        histories = load_histories(con, cutoff)
        text = load_text_vectors(con)
    except duckdb.CatalogException as err:
        raise PretrainingError(
            f"The warehouse has no purchase sequences ({err.args[0].splitlines()[0]}): run "
            "`dbt build` first."
        ) from err
    finally:
        con.close()
    vocab, n_seen, matrix = build_vocab(histories, text)
    if n_seen == 0:
        raise PretrainingError(
            f"No merchandise purchase before {cutoff}: nothing to pre-train the encoder on."
        )
    codes = {p: i + 2 for i, p in enumerate(vocab)}
    data = torch.from_numpy(windows(histories, codes, config.length, config.stride))
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)
    dev = torch_device(config.device)
    encoder = BehaviourEncoder(
        n_seen,
        torch.from_numpy(matrix),
        config.length,
        config.dim,
        config.heads,
        config.blocks,
        config.dropout,
    ).to(dev)
    optimizer = torch.optim.AdamW(
        encoder.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    loss_fn = nn.CrossEntropyLoss(ignore_index=-1)
    generator = torch.Generator().manual_seed(config.seed)
    history = []
    start = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        encoder.train()
        order = torch.randperm(len(data), generator=generator)
        total, seen = 0.0, 0
        for first in range(0, len(order), config.batch_size):
            batch = data[order[first : first + config.batch_size]].to(dev)
            inputs, targets = batch[:, :-1], batch[:, 1:]
            # catalogue index of the next product; padding, unknown and text-only are skipped
            labels = torch.where(
                (targets >= 2) & (targets < n_seen + 2), targets - 2, torch.full_like(targets, -1)
            )
            labels = torch.where(inputs == PAD, torch.full_like(labels, -1), labels)
            logits = encoder.catalogue_logits(encoder(inputs))
            loss = loss_fn(logits.reshape(-1, n_seen), labels.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            counted = int((labels >= 0).sum())
            total += loss.item() * counted
            seen += counted
        history.append({"epoch": epoch, "loss": total / max(seen, 1)})
        if on_epoch is not None:
            on_epoch(epoch, total / max(seen, 1))
    encoder = encoder.cpu().eval()
    facts = {
        "customers": float(len(histories)),
        "purchases": float(sum(len(h) for h in histories.values())),
        "windows": float(len(data)),
        "products_bought": float(n_seen),
        "products_text_only": float(len(vocab) - n_seen),
        "products_with_text": float(sum(p in text for p in vocab)),
        "seconds": time.perf_counter() - start,
    }
    return Pretrained(encoder, vocab, n_seen, _naive_utc(cutoff), config, history, facts)


def encoders_dir(warehouse: Warehouse) -> Path:
    return artifacts_dir(warehouse) / "encoders"


def folder_for(warehouse: Warehouse, cutoff: datetime, seed: int) -> Path:
    return encoders_dir(warehouse) / f"{_naive_utc(cutoff):%Y%m%dT%H%M%S}-s{seed}"


def save(pretrained: Pretrained, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(pretrained.encoder.state_dict(), folder / "encoder.pt")
    card = {
        "cutoff": pretrained.cutoff.isoformat(),
        "n_seen": pretrained.n_seen,
        "vocab": pretrained.vocab,
        "config": asdict(pretrained.config),
        "history": pretrained.history,
        "facts": pretrained.facts,
    }
    (folder / "encoder.json").write_text(json.dumps(card, indent=1, sort_keys=True))
    return folder


def load(folder: Path) -> Pretrained:
    card = json.loads((folder / "encoder.json").read_text())
    config = PretrainConfig(**card["config"])
    state = torch.load(folder / "encoder.pt", weights_only=True)
    encoder = BehaviourEncoder(
        card["n_seen"],
        state["text_vectors"],
        config.length,
        config.dim,
        config.heads,
        config.blocks,
        config.dropout,
    )
    encoder.load_state_dict(state)
    return Pretrained(
        encoder.eval(),
        card["vocab"],
        card["n_seen"],
        datetime.fromisoformat(card["cutoff"]),
        config,
        card["history"],
        card["facts"],
    )


def pretrained_for(
    warehouse: Warehouse,
    cutoff: datetime,
    config: PretrainConfig | None = None,
    echo: Callable[[str], None] = print,
) -> Pretrained:
    """The encoder pre-trained on everything before `cutoff`: kept from an earlier run with
    the same cut-off and settings, else pre-trained now and kept."""
    config = config or PretrainConfig()
    folder = folder_for(warehouse, cutoff, config.seed)
    if (folder / "encoder.json").exists():
        kept = load(folder)
        if kept.config == config:
            return kept
    pretrained = pretrain(warehouse, cutoff, config)
    save(pretrained, folder)
    facts = pretrained.facts
    echo(
        f"pre-trained the behaviour encoder on {facts['purchases']:,.0f} purchases of "
        f"{facts['customers']:,.0f} customers before {pretrained.cutoff:%Y-%m-%d} "
        f"({facts['products_bought']:,.0f} products, "
        f"{facts['products_text_only']:,.0f} more known by text) in {facts['seconds']:.0f} s"
    )
    return pretrained
