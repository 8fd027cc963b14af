"""Pre-train a behaviour encoder on every sequence of its corpus before a cut-off.

No labels are used: each customer's merchandise purchases (or each clickstream user's events,
for the session encoder), in time order, teach the encoder to predict the next item (full
softmax over the items seen). Entities with no label yet count as much as any other.
Time-safe by construction: only what happened strictly before the cut-off is read, so events
after it change no weight (tests/unit/pretraining/test_pretrain.py).

A pre-trained encoder is kept under `<artifacts>/encoders/[<corpus>-]<cut-off>-s<seed>/`
(weights, vocabulary, card) and reused by every model trained with that corpus, cut-off and
seed.
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
import torch
from torch import nn

from cartcast.errors import PretrainingError
from cartcast.pretraining.corpora import get_corpus, naive_utc
from cartcast.pretraining.devices import torch_device
from cartcast.pretraining.encoder import OOV, PAD, BehaviourEncoder, used_length
from cartcast.pretraining.text import DIM as TEXT_DIM
from cartcast.registry.versions import artifacts_dir
from cartcast.warehouse.connection import connect
from cartcast.warehouse.paths import Warehouse


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
    # windows of length+1 items end every `stride` purchases of a customer; stride = length
    # makes each purchase a target once per epoch (10 made each one twice, at twice the cost,
    # and predicted the next 30 days' products less well on a gapped slice before the
    # validation cut-off: Recall@10 0.056 against 0.061)
    stride: int = 20
    seed: int = 0
    device: str = "auto"
    # what the encoder learns from (cartcast.pretraining.corpora): the catalog's model.corpus
    corpus: str = "purchases"


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
    """Next-item pre-training on every sequence of the config's corpus strictly before
    `cutoff`."""
    config = config or PretrainConfig()
    corpus = get_corpus(config.corpus)
    con = connect(warehouse, read_only=True)
    try:
        histories = corpus.histories(con, cutoff)
        text = corpus.text_vectors(con)
    except duckdb.CatalogException as err:
        raise PretrainingError(
            f"The warehouse has no {corpus.events} to pre-train on ({corpus.table}: "
            f"{err.args[0].splitlines()[0]}): run `dbt build` first."
        ) from err
    finally:
        con.close()
    vocab, n_seen, matrix = build_vocab(histories, text)
    if n_seen == 0:
        raise PretrainingError(
            f"No {corpus.events} in {corpus.table} before {cutoff}: nothing to pre-train the "
            f"{corpus.encoder} on."
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
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(config.seed)
    history = []
    start = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        encoder.train()
        order = torch.randperm(len(data), generator=generator)
        total, seen = 0.0, 0
        for first in range(0, len(order), config.batch_size):
            batch = data[order[first : first + config.batch_size]].to(dev)
            # windows are left-padded: columns of padding only are dropped (see used_length)
            batch = batch[:, batch.shape[1] - max(2, used_length(batch.flip(1))) :]
            inputs, targets = batch[:, :-1], batch[:, 1:]
            # catalogue index of the next product; padding, unknown and text-only are skipped
            labels = torch.where(
                (targets >= 2) & (targets < n_seen + 2), targets - 2, torch.full_like(targets, -1)
            )
            labels = torch.where(inputs == PAD, torch.full_like(labels, -1), labels)
            # the catalogue scores (positions x catalogue) are most of the cost: computed only
            # where there is a next item to predict (left padding of short histories has none)
            target = labels >= 0
            counted = int(target.sum())
            if counted == 0:
                continue
            logits = encoder.catalogue_logits(encoder(inputs)[target])
            loss = loss_fn(logits, labels[target])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * counted
            seen += counted
        history.append({"epoch": epoch, "loss": total / max(seen, 1)})
        if on_epoch is not None:
            on_epoch(epoch, total / max(seen, 1))
    encoder = encoder.cpu().eval()
    # counted in the corpus's own words: sequences of customers or users, items of products
    # or event tokens
    facts = {
        "sequences": float(len(histories)),
        "events": float(sum(len(h) for h in histories.values())),
        "windows": float(len(data)),
        "items_seen": float(n_seen),
        "items_text_only": float(len(vocab) - n_seen),
        "items_with_text": float(sum(p in text for p in vocab)),
        "seconds": time.perf_counter() - start,
    }
    return Pretrained(encoder, vocab, n_seen, naive_utc(cutoff), config, history, facts)


def describe(pretrained: Pretrained) -> str:
    """One line: what the encoder was pre-trained on, and how long it took."""
    corpus, facts = get_corpus(pretrained.config.corpus), pretrained.facts
    known_by_text = (
        f", {facts['items_text_only']:,.0f} more known by text" if facts["items_with_text"] else ""
    )
    return (
        f"pre-trained the {corpus.encoder} on {facts['events']:,.0f} {corpus.events} of "
        f"{facts['sequences']:,.0f} {corpus.entities} before {pretrained.cutoff:%Y-%m-%d %H:%M} "
        f"({facts['items_seen']:,.0f} {corpus.items}{known_by_text}) in "
        f"{facts['seconds']:.0f} s"
    )


def encoders_dir(warehouse: Warehouse) -> Path:
    return artifacts_dir(warehouse) / "encoders"


def folder_for(
    warehouse: Warehouse, cutoff: datetime, seed: int, corpus: str = "purchases"
) -> Path:
    """`<cut-off>-s<seed>` for the purchase encoder, `<corpus>-<cut-off>-s<seed>` for others."""
    prefix = "" if corpus == "purchases" else f"{corpus}-"
    return encoders_dir(warehouse) / f"{prefix}{naive_utc(cutoff):%Y%m%dT%H%M%S}-s{seed}"


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


def corpus_of(folder: Path) -> str:
    """The corpus a kept encoder learned from (cards written before corpora: purchases)."""
    card = json.loads((folder / "encoder.json").read_text())
    return card["config"].get("corpus", "purchases")


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
    folder = folder_for(warehouse, cutoff, config.seed, config.corpus)
    if (folder / "encoder.json").exists():
        kept = load(folder)
        if kept.config == config:
            return kept
    pretrained = pretrain(warehouse, cutoff, config)
    save(pretrained, folder)
    echo(describe(pretrained))
    return pretrained
