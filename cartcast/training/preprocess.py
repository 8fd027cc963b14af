"""Preprocessing fitted on the training split only, as plain parameters (JSON) and as a torch
module, so that the exported ONNX graph takes raw feature values.

Numeric features: impute missing with the training median, signed log1p for counts and money
(sign(x) * log1p(|x|), which keeps negative net spend meaningful), standardise with training
mean and standard deviation; a missing-indicator column for each feature that had missing
values in training. Categorical features: a vocabulary of training values (index 0: unseen).
Product sequences: a vocabulary of products seen often enough in training (0: padding, 1: unseen).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from cartcast.catalog import ModelSpec
from cartcast.errors import TrainingError
from cartcast.pretraining.encoder import OOV, PAD

MIN_CATEGORY_COUNT = 20
MIN_PRODUCT_COUNT = 20
MAX_PRODUCTS = 4000


@dataclass(frozen=True)
class PreprocessParams:
    numeric: list[str]
    transforms: list[str]
    medians: list[float]
    has_missing: list[bool]
    means: list[float]
    stds: list[float]
    categories: dict[str, list[str]]
    products: list[str]
    sequence_length: int

    @property
    def n_tabular(self) -> int:
        """Width of the preprocessed numeric block: features plus missing indicators."""
        return len(self.numeric) + sum(self.has_missing)

    def to_json(self) -> dict:
        return asdict(self)


def signed_log1p(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


def raw_numeric(frame: pd.DataFrame, names: list[str] | tuple[str, ...]) -> np.ndarray:
    """The raw numeric features as float32, missing as NaN, in the given order."""
    return np.column_stack(
        [pd.to_numeric(frame[n], errors="coerce").to_numpy(dtype=np.float64) for n in names]
    ).astype(np.float32)


def fit(spec: ModelSpec, train: pd.DataFrame, sequence_length: int = 20) -> PreprocessParams:
    raw = raw_numeric(train, spec.numeric).astype(np.float64)
    medians, has_missing, means, stds, transforms = [], [], [], [], []
    for j, name in enumerate(spec.numeric):
        column = raw[:, j]
        missing = np.isnan(column)
        if missing.all():
            raise TrainingError(f"Feature {name} is missing in every training row.")
        median = float(np.median(column[~missing]))
        kind = spec.transform(name)
        values = np.where(missing, median, column)
        if kind == "signed_log1p":
            values = signed_log1p(values)
        std = float(values.std())
        medians.append(median)
        has_missing.append(bool(missing.any()))
        means.append(float(values.mean()))
        stds.append(std if std > 1e-6 else 1.0)
        transforms.append(kind)
    categories = {}
    for name in spec.categorical:
        counts = Counter(train[name].fillna("").astype(str))
        categories[name] = sorted(v for v, c in counts.items() if c >= MIN_CATEGORY_COUNT and v)
    products: list[str] = []
    if spec.sequence:
        counts = Counter(p for seq in train[spec.sequence] for p in _as_list(seq))
        frequent = [(p, c) for p, c in counts.items() if c >= MIN_PRODUCT_COUNT]
        frequent.sort(key=lambda pc: (-pc[1], pc[0]))
        products = sorted(p for p, _ in frequent[:MAX_PRODUCTS])
    return PreprocessParams(
        numeric=list(spec.numeric),
        transforms=transforms,
        medians=medians,
        has_missing=has_missing,
        means=means,
        stds=stds,
        categories=categories,
        products=products,
        sequence_length=sequence_length if spec.sequence else 0,
    )


def _as_list(value) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    return [str(v) for v in value]


def transform_numeric(raw: np.ndarray, params: PreprocessParams) -> np.ndarray:
    """The numpy twin of `TabularPreprocessor` (for the scikit-learn baselines)."""
    raw = raw.astype(np.float64)
    missing = np.isnan(raw)
    values = np.where(missing, np.asarray(params.medians), raw)
    slog = np.asarray([t == "signed_log1p" for t in params.transforms])
    values = np.where(slog, signed_log1p(values), values)
    values = (values - np.asarray(params.means)) / np.asarray(params.stds)
    indicators = missing[:, np.asarray(params.has_missing, dtype=bool)].astype(np.float64)
    out = np.hstack([values, indicators])
    bad = ~np.isfinite(out)
    if bad.any():
        names = [*params.numeric]
        names += [n for n, m in zip(params.numeric, params.has_missing, strict=True) if m]
        column = names[int(np.argwhere(bad)[0][1])]
        raise TrainingError(
            f"Feature {column} is not finite after imputation and scaling: check its raw values."
        )
    return out


def category_codes(frame: pd.DataFrame, params: PreprocessParams) -> np.ndarray:
    """One int64 code per categorical feature (0: unseen in training), shape (rows, k)."""
    if not params.categories:
        return np.zeros((len(frame), 0), dtype=np.int64)
    columns = []
    for name, vocab in params.categories.items():
        index = {v: i + 1 for i, v in enumerate(vocab)}
        columns.append(frame[name].fillna("").astype(str).map(index).fillna(0).to_numpy())
    return np.column_stack(columns).astype(np.int64)


def product_strings(frame: pd.DataFrame, spec: ModelSpec, length: int) -> np.ndarray:
    """The recent products as a (rows, length) array of strings, padded with ""."""
    out = np.full((len(frame), length), "", dtype=object)
    for i, seq in enumerate(frame[spec.sequence]):
        items = _as_list(seq)[:length]
        out[i, : len(items)] = items
    return out


def product_codes(strings: np.ndarray, params: PreprocessParams) -> np.ndarray:
    index = {p: i + 2 for i, p in enumerate(params.products)}
    index[""] = PAD
    return np.vectorize(lambda p: index.get(p, OOV), otypes=[np.int64])(strings)


class TabularPreprocessor(nn.Module):
    """Impute, signed log1p, standardise, missing indicators: raw (B, n) -> (B, n + k)."""

    def __init__(self, params: PreprocessParams) -> None:
        super().__init__()
        f32 = torch.float32
        self.register_buffer("medians", torch.tensor(params.medians, dtype=f32))
        self.register_buffer(
            "slog", torch.tensor([t == "signed_log1p" for t in params.transforms], dtype=torch.bool)
        )
        self.register_buffer("means", torch.tensor(params.means, dtype=f32))
        self.register_buffer("stds", torch.tensor(params.stds, dtype=f32))
        self.indicator_index = [i for i, m in enumerate(params.has_missing) if m]

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        missing = torch.isnan(raw)
        values = torch.where(missing, self.medians, raw)
        logged = torch.sign(values) * torch.log1p(torch.abs(values))
        values = torch.where(self.slog, logged, values)
        values = (values - self.means) / self.stds
        if self.indicator_index:
            indicators = missing[:, self.indicator_index].to(values.dtype)
            values = torch.cat([values, indicators], dim=1)
        return values
