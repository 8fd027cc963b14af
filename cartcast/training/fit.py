"""Fit a torch model: seeded, CUDA when present, progress per epoch (loss, validation metric)."""

from __future__ import annotations

import copy
import dataclasses
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from cartcast.catalog import ModelSpec
from cartcast.errors import TrainingError
from cartcast.pretraining.devices import torch_device as device
from cartcast.training import preprocess as pp
from cartcast.training.metrics import evaluate
from cartcast.training.nets import CartcastNet, Precomputed, PretrainedSequence, ScoreHead


@dataclass(frozen=True)
class TorchConfig:
    epochs: int = 8
    batch_size: int = 1024
    learning_rate: float = 3e-3
    weight_decay: float = 1e-5
    hidden: tuple[int, ...] = (64, 32)
    dropout: float = 0.1
    use_sequence: bool = False
    seed: int = 0
    # "auto" (CUDA when torch sees a GPU, else the CPU), "cpu" or "cuda"
    device: str = "auto"
    # the pre-trained behaviour encoder as the sequence part (cartcast.pretraining), frozen
    # or fine-tuned at `encoder_learning_rate`; its vocabulary must be the params' products
    pretrained: Any = None
    freeze_encoder: bool = False
    encoder_learning_rate: float = 3e-4


@dataclass
class Inputs:
    """Model inputs as tensors, in the order of the network's forward."""

    numeric: torch.Tensor
    categories: torch.Tensor | None
    products: torch.Tensor | None

    def __len__(self) -> int:
        return self.numeric.shape[0]

    def take(self, index: torch.Tensor | slice) -> Inputs:
        return Inputs(
            self.numeric[index],
            None if self.categories is None else self.categories[index],
            None if self.products is None else self.products[index],
        )

    def to(self, device: torch.device) -> Inputs:
        def move(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(device)

        return Inputs(self.numeric.to(device), move(self.categories), move(self.products))


def params_for_encoder(params: pp.PreprocessParams, pretrained) -> pp.PreprocessParams:
    """The preprocessing with the pre-trained encoder's product vocabulary and length, so
    product codes (in training and in the exported graph) are the encoder's."""
    return dataclasses.replace(
        params, products=list(pretrained.vocab), sequence_length=pretrained.config.length
    )


def make_inputs(
    frame: pd.DataFrame, spec: ModelSpec, params: pp.PreprocessParams, use_sequence: bool
) -> Inputs:
    numeric = torch.from_numpy(pp.raw_numeric(frame, spec.numeric))
    categories = torch.from_numpy(pp.category_codes(frame, params)) if params.categories else None
    products = None
    if use_sequence:
        strings = pp.product_strings(frame, spec, params.sequence_length)
        products = torch.from_numpy(pp.product_codes(strings, params))
    return Inputs(numeric, categories, products)


def target(spec: ModelSpec, frame: pd.DataFrame) -> np.ndarray:
    """What the network fits: the 0/1 label, or signed log1p of an amount."""
    y = frame[spec.label_column].to_numpy(dtype=np.float64)
    return y if spec.task == "binary" else pp.signed_log1p(y)


def target_bounds(spec: ModelSpec, train: pd.DataFrame) -> tuple[float, float] | None:
    """For amounts: the 0.1% and 99.9% quantiles of the fitted (signed log1p) target in
    training, which predictions are kept within (a network extrapolating past the biggest
    customers predicts amounts nobody spends, and one such row dominates MAE and RMSE)."""
    if spec.task == "binary":
        return None
    z = target(spec, train)
    low, high = np.quantile(z, [0.001, 0.999])
    return float(low), float(high)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


@torch.no_grad()
def frozen_vectors(sequence: PretrainedSequence, inputs: Inputs, batch_size: int = 8192) -> Inputs:
    """The inputs with each row's sequence replaced by the (frozen or evaluated) encoder's
    vector of it.

    Weekly snapshots of a customer repeat the same recent products until they buy again, so
    each distinct sequence is encoded once and the vectors are shared."""
    sequence.eval()
    dev = next(sequence.parameters()).device
    distinct, inverse = torch.unique(inputs.products, dim=0, return_inverse=True)
    parts = [
        sequence(distinct[start : start + batch_size].to(dev)).cpu()
        for start in range(0, len(distinct), batch_size)
    ]
    vectors = torch.cat(parts) if parts else torch.zeros(0, sequence.dim)
    return Inputs(inputs.numeric, inputs.categories, vectors[inverse])


@torch.no_grad()
def predict(head: ScoreHead, inputs: Inputs, batch_size: int = 8192) -> np.ndarray:
    head.eval()
    dev = next(head.parameters()).device
    sequence = getattr(head.net, "sequence", None)
    encoded = isinstance(sequence, PretrainedSequence) and inputs.products is not None
    if encoded:
        # a pre-trained encoder is most of the cost: each distinct sequence once
        inputs = frozen_vectors(sequence, inputs)
        head.net.sequence = Precomputed(sequence.dim)
    try:
        out = []
        for start in range(0, len(inputs), batch_size):
            part = inputs.take(slice(start, start + batch_size)).to(dev)
            out.append(head(part.numeric, part.categories, part.products).float().cpu())
    finally:
        if encoded:
            head.net.sequence = sequence
    return torch.cat(out).numpy().astype(np.float64)


def train_torch(
    spec: ModelSpec,
    params: pp.PreprocessParams,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    config: TorchConfig,
    on_epoch: Callable[[int, float, float], None] | None = None,
) -> tuple[ScoreHead, list[dict[str, float]]]:
    """Fit for a fixed number of epochs (no early stopping on validation data: the validation
    split only reports). Returns the model on the CPU, in eval mode, and the history."""
    seed_everything(config.seed)
    dev = device(config.device)
    sequence_module = None
    if config.pretrained is not None:
        if list(params.products) != list(config.pretrained.vocab):
            raise TrainingError(
                "The preprocessing's product vocabulary is not the pre-trained encoder's: fit "
                "the candidate with `params_for_encoder`."
            )
        # a copy: every candidate and every run starts from the same pre-trained weights
        encoder = copy.deepcopy(config.pretrained.encoder)
        sequence_module = PretrainedSequence(encoder, frozen=config.freeze_encoder)
    net = CartcastNet(
        params,
        hidden=config.hidden,
        dropout=config.dropout,
        use_sequence=config.use_sequence,
        sequence_module=sequence_module,
    )
    bounds = target_bounds(spec, train)
    head = ScoreHead(net, spec.task, bounds).to(dev)
    x_train = make_inputs(train, spec, params, config.use_sequence)
    x_valid = make_inputs(valid, spec, params, config.use_sequence)
    frozen = sequence_module is not None and config.freeze_encoder
    if frozen:
        # the frozen encoder's output per row never changes while the head trains: computed
        # once here, the network reads it through a stand-in, the encoder goes back after
        x_train = frozen_vectors(sequence_module.to(dev), x_train)
        x_valid = frozen_vectors(sequence_module, x_valid)
        net.sequence = Precomputed(sequence_module.dim)
    y_train = torch.tensor(target(spec, train), dtype=torch.float32)
    y_valid = valid[spec.label_column].to_numpy(dtype=np.float64)
    loss_fn: nn.Module = nn.BCEWithLogitsLoss() if spec.task == "binary" else nn.HuberLoss()
    encoder_ids = (
        {id(p) for p in sequence_module.parameters()} if sequence_module is not None else set()
    )
    head_parameters = [p for p in net.parameters() if id(p) not in encoder_ids]
    groups = [{"params": head_parameters, "lr": config.learning_rate}]
    if sequence_module is not None and not config.freeze_encoder:
        # the pre-trained weights move slowly, or the head's early noise erases them
        groups.append(
            {"params": list(sequence_module.parameters()), "lr": config.encoder_learning_rate}
        )
    optimizer = torch.optim.AdamW(groups, lr=config.learning_rate, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    history = []
    for epoch in range(1, config.epochs + 1):
        net.train()
        order = torch.randperm(len(x_train), generator=generator)
        total, seen = 0.0, 0
        for start in range(0, len(order), config.batch_size):
            index = order[start : start + config.batch_size]
            batch = x_train.take(index).to(dev)
            y = y_train[index].to(dev)
            optimizer.zero_grad()
            loss = loss_fn(net(batch.numeric, batch.categories, batch.products), y)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(index)
            seen += len(index)
        metric = evaluate(spec.task, y_valid, predict(head, x_valid))[spec.selection_metric]
        history.append({"epoch": epoch, "loss": total / seen, spec.selection_metric: metric})
        if on_epoch is not None:
            on_epoch(epoch, total / seen, metric)
    if frozen:
        net.sequence = sequence_module
    return head.cpu().eval(), history
