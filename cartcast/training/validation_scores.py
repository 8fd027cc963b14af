"""Every candidate's scores on the validation split, kept beside the model for the report.

One Parquet file, one row per validation row: the entity key, `as_of`, `label`, then one
column per candidate named as in the comparison table ("torch mlp", "logistic regression",
...). Curves (ROC, precision-recall, calibration, gains) are drawn from it without retraining.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cartcast.catalog import ModelSpec

FILE = "validation_scores.parquet"
KEY_COLUMNS = ("key", "as_of", "label")


def write(path: Path, spec: ModelSpec, valid: pd.DataFrame, scores: dict[str, np.ndarray]) -> Path:
    frame = pd.DataFrame(
        {
            "key": valid[spec.key].astype(str).to_numpy(),
            "as_of": pd.to_datetime(valid["event_timestamp"], utc=True).to_numpy(),
            "label": valid[spec.label_column].to_numpy(dtype=np.float64),
        }
    )
    for name, values in scores.items():
        frame[name] = np.asarray(values, dtype=np.float64)
    frame.to_parquet(path, index=False)
    return path


def read(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path)


def candidates(frame: pd.DataFrame) -> list[str]:
    """The candidate columns, in the order training wrote them."""
    return [c for c in frame.columns if c not in KEY_COLUMNS]
