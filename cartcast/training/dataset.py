"""Training data: labels as the entity frame, features through Feast, a time-based split."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from cartcast.catalog import ModelSpec
from cartcast.errors import TrainingError
from cartcast.warehouse.paths import Warehouse


@dataclass(frozen=True)
class Split:
    """Rows to fit on and rows to judge on, separated by a cut-off and a label-window gap."""

    train: pd.DataFrame
    valid: pd.DataFrame
    cutoff: pd.Timestamp
    dropped_for_gap: int

    @property
    def train_window(self) -> tuple[str, str]:
        ts = self.train["event_timestamp"]
        return ts.min().isoformat(), ts.max().isoformat()

    @property
    def valid_window(self) -> tuple[str, str]:
        ts = self.valid["event_timestamp"]
        return ts.min().isoformat(), ts.max().isoformat()


def load_frame(spec: ModelSpec, warehouse: Warehouse, store=None) -> pd.DataFrame:
    """Every labelled row of the model with its point-in-time features from Feast."""
    from cartcast.features import store as feature_store
    from cartcast.features.training_set import build_training_set, label_entity_frame

    store = store or feature_store.get_store(warehouse)
    entities = label_entity_frame(spec.feature_service, warehouse)
    if entities.empty:
        raise TrainingError(
            f"The training set of {spec.name} is empty: {spec.feature_service} has no labelled "
            "rows (labels exist only once their window has passed). Build more data first."
        )
    entities = entities.rename(columns={spec.label: spec.label_column})
    return build_training_set(entities, spec.feature_service, store)


def default_cutoff(frame: pd.DataFrame, valid_share: float = 0.2) -> pd.Timestamp:
    """The snapshot time from which the last `valid_share` of snapshot times are validation."""
    times = np.sort(frame["event_timestamp"].unique())
    if len(times) < 2:
        raise TrainingError(
            f"Only {len(times)} snapshot time(s) are labelled: a time-based split needs at least 2."
        )
    index = min(len(times) - 1, max(1, int(np.floor(len(times) * (1 - valid_share)))))
    return pd.Timestamp(times[index])


def time_split(
    frame: pd.DataFrame, spec: ModelSpec, cutoff: datetime | pd.Timestamp | None = None
) -> Split:
    """Validate on snapshots at or after `cutoff`; train on earlier ones whose label window
    ends by the cut-off (as_of + window <= cutoff), so no training label sees validation time."""
    check_frame(frame, spec)
    cutoff = default_cutoff(frame) if cutoff is None else pd.Timestamp(cutoff)
    if cutoff.tzinfo is None:
        cutoff = cutoff.tz_localize("UTC")
    ts = frame["event_timestamp"]
    valid = frame[ts >= cutoff]
    before = frame[ts < cutoff]
    train = before[before["event_timestamp"] + spec.label_window <= cutoff]
    if valid.empty:
        raise TrainingError(
            f"The cut-off {cutoff.isoformat()} leaves no validation data for {spec.name}: the "
            f"newest labelled snapshot is {ts.max().isoformat()}. Choose an earlier cut-off."
        )
    if train.empty:
        raise TrainingError(
            f"The cut-off {cutoff.isoformat()} leaves no training data for {spec.name}: every "
            f"snapshot before it has a label window ({spec.window_text}) reaching past it. "
            "Choose a later cut-off."
        )
    for part, rows in (("training", train), ("validation", valid)):
        classes = rows[spec.label_column].nunique()
        if spec.task == "binary" and classes < 2:
            value = rows[spec.label_column].iloc[0]
            raise TrainingError(
                f"The {part} split of {spec.name} has a single class: every label "
                f"{spec.label} is {value}. A classifier needs both; move the cut-off or add data."
            )
    return Split(
        train=train.reset_index(drop=True),
        valid=valid.reset_index(drop=True),
        cutoff=cutoff,
        dropped_for_gap=len(before) - len(train),
    )


def check_frame(frame: pd.DataFrame, spec: ModelSpec) -> None:
    """Stop on data no model should be fitted on: empty, missing columns, bad labels, inf."""
    if frame.empty:
        raise TrainingError(f"The training set of {spec.name} is empty: nothing to train on.")
    needed = [spec.label_column, "event_timestamp", *spec.numeric, *spec.categorical]
    if spec.sequence:
        needed.append(spec.sequence)
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise TrainingError(
            f"The training set of {spec.name} lacks column(s) {missing}: is "
            f"{spec.feature_service} the feature service this model was built for?"
        )
    label = pd.to_numeric(frame[spec.label_column], errors="coerce")
    if label.isna().any():
        raise TrainingError(f"Label {spec.label} has {int(label.isna().sum())} missing values.")
    if not np.isfinite(label.to_numpy(dtype=float)).all():
        raise TrainingError(f"Label {spec.label} has infinite values.")
    if spec.task == "binary":
        values = set(label.unique())
        if not values <= {0, 1}:
            raise TrainingError(f"Label {spec.label} must be 0/1; found {sorted(values)[:5]}.")
        if len(values) < 2:
            raise TrainingError(
                f"Label {spec.label} of {spec.name} has a single class ({values.pop()}) in all "
                f"{len(frame)} rows: a classifier needs both 0 and 1."
            )
    for column in spec.numeric:
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        if np.isinf(values).any():
            raise TrainingError(
                f"Feature {column} has {int(np.isinf(values).sum())} infinite value(s): "
                "fix the feature (a division by zero?) before training."
            )
        if np.isnan(values).all():
            raise TrainingError(
                f"Feature {column} is missing in every row: there is nothing to impute it from."
            )


def describe_split(split: Split, spec: ModelSpec) -> str:
    """Row counts and class balance (or label summary) of both sides of the split."""
    lines = [
        f"{spec.name}: cut-off {split.cutoff.isoformat()}, label window {spec.window_text}; "
        f"{split.dropped_for_gap:,} training rows dropped (label window past the cut-off)"
    ]
    for part, rows in (("train", split.train), ("valid", split.valid)):
        lo, hi = rows["event_timestamp"].min(), rows["event_timestamp"].max()
        y = rows[spec.label_column].astype(float)
        if spec.task == "binary":
            balance = f"positives {int(y.sum()):,} ({y.mean():.1%})"
        else:
            balance = f"mean {y.mean():,.1f}, median {y.median():,.1f}, zero {(y == 0).mean():.1%}"
        lines.append(
            f"  {part}: {len(rows):,} rows, {rows['event_timestamp'].nunique()} snapshots "
            f"{lo:%Y-%m-%d %H:%M} .. {hi:%Y-%m-%d %H:%M}; {balance}"
        )
    return "\n".join(lines)
