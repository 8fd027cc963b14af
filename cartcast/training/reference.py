"""The drift reference stored with each model version: quantile bins of the training split.

For every numeric input feature, up to 10 bins cut at the deciles of the feature's values in
the training split, and the share of training rows in each bin. The population stability
index (PSI) of a later population compares its shares in the same bins with these:
PSI = sum over bins of (actual - expected) * ln(actual / expected).

Bin semantics (what the monitoring SQL must reproduce):

- bin 0 holds missing values (null / NaN); its `lower_bound` and `upper_bound` are both null.
- bins 1..k hold non-missing values; a value is in bin b when
  `lower_bound <= value < upper_bound`, a null `lower_bound` meaning minus infinity (bin 1)
  and a null `upper_bound` meaning plus infinity (bin k). The bins cover the whole real line
  without overlap, so every value falls in exactly one bin.
- `expected_share` is the share of all training rows (missing ones included) in the bin; the
  shares of a feature sum to 1.

Edges are training values themselves (numpy's "lower" quantile), repeated edges are merged
and an edge at the training minimum is dropped, so every non-missing bin holds at least one
training row. A feature with few distinct values (a share that is mostly 0) gets fewer bins.
The missing bin is always present and has share 0 when training had no missing values: a
PSI computation must floor shares at a small epsilon (e.g. 1e-4) before taking the log.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

BINS = 10
MISSING_BIN = 0


@dataclass(frozen=True)
class ReferenceBin:
    feature: str
    bin: int
    lower_bound: float | None
    upper_bound: float | None
    expected_share: float


def quantile_edges(values: np.ndarray, bins: int = BINS) -> list[float]:
    """Inner edges at the deciles of the non-missing values (fewer when values repeat)."""
    present = values[~np.isnan(values)]
    if present.size == 0:
        return []
    # "lower": each edge is an observed value, so the bin starting at it is never empty.
    qs = np.quantile(present, np.arange(1, bins) / bins, method="lower")
    lowest = present.min()
    # An edge at the minimum would leave the bin below it empty (nothing is < the minimum).
    return [float(e) for e in np.unique(qs) if e > lowest]


def feature_bins(feature: str, values: np.ndarray, bins: int = BINS) -> list[ReferenceBin]:
    """The missing bin and the quantile bins of one feature, with training shares."""
    values = np.asarray(values, dtype=np.float64)
    total = len(values)
    missing = np.isnan(values)
    edges = quantile_edges(values, bins)
    bounds: list[float | None] = [None, *edges, None]
    # searchsorted(side="right") puts a value equal to an edge in the bin that starts there,
    # which is exactly lower_bound <= value < upper_bound.
    which = np.searchsorted(np.asarray(edges), values[~missing], side="right")
    counts = np.bincount(which, minlength=len(edges) + 1)
    rows = [ReferenceBin(feature, MISSING_BIN, None, None, float(missing.sum() / total))]
    for b in range(len(edges) + 1):
        rows.append(
            ReferenceBin(feature, b + 1, bounds[b], bounds[b + 1], float(counts[b] / total))
        )
    return rows


def build_reference(
    train: pd.DataFrame, numeric: list[str] | tuple[str, ...]
) -> list[ReferenceBin]:
    """Bins of every numeric input feature over the training split's rows."""
    rows: list[ReferenceBin] = []
    for name in numeric:
        # Full double precision, as the warehouse holds the values: edges rounded to float32
        # (what the model is fed) would move values that sit on an edge to the bin below.
        values = pd.to_numeric(train[name], errors="coerce").to_numpy(dtype=np.float64)
        rows += feature_bins(name, values)
    return rows


def assign_bins(values: np.ndarray, bins: list[ReferenceBin]) -> np.ndarray:
    """The bin number of each value under the documented semantics (a reader's check)."""
    values = np.asarray(values, dtype=np.float64)
    out = np.full(len(values), -1, dtype=np.int64)
    for b in bins:
        if b.bin == MISSING_BIN:
            out[np.isnan(values)] = MISSING_BIN
            continue
        low = -np.inf if b.lower_bound is None else b.lower_bound
        high = np.inf if b.upper_bound is None else b.upper_bound
        out[(values >= low) & (values < high)] = b.bin
    return out


def write_json(
    path: Path, model_name: str, model_version: int, rows: int, bins: list[ReferenceBin]
) -> Path:
    content = {
        "model_name": model_name,
        "model_version": model_version,
        "training_rows": rows,
        "semantics": "bin 0: missing; else lower_bound <= value < upper_bound (null = infinite)",
        "bins": [asdict(b) for b in bins],
    }
    path.write_text(json.dumps(content, indent=2))
    return path


def read_json(path: Path) -> list[ReferenceBin]:
    return [ReferenceBin(**b) for b in json.loads(path.read_text())["bins"]]
