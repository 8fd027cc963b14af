"""Score one customer or user online: Feast's online features, then the champion's ONNX file.

The feed is built from Feast's reply directly (no Arrow or pandas round trip), with the same
rules as the batch scorer: missing numbers are NaN, missing text "", sequences padded.
Features older than their view's TTL at the caller's clock are refused (StaleFeatures), or
with `allow_stale` scored and reported in `OnlineScore.stale`: Feast's online read itself
returns the newest materialized row whatever its age.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from cartcast.catalog import get_spec
from cartcast.features.online import ViewFreshness, online_lookup
from cartcast.warehouse.paths import Warehouse
from scoring.model import ScoringModel, load
from scoring.model_inputs import Input


@dataclass(frozen=True)
class OnlineScore:
    model: str
    version: int
    key: str
    entity: str
    score: float
    features: dict[str, Any]
    freshness: tuple[ViewFreshness, ...] = field(default=())
    now: datetime | None = None  # the clock the ages were measured against

    @property
    def stale(self) -> list[ViewFreshness]:
        return [f for f in self.freshness if f.stale]


def _value(wanted: Input, value: Any) -> np.ndarray:
    if wanted.length is not None:
        items = ["" if v is None else str(v) for v in (value or [])][: wanted.length]
        row = np.full((1, wanted.length), "", dtype=object)
        row[0, : len(items)] = items
        return row
    if wanted.type == "float32":
        missing = value is None or (isinstance(value, float) and math.isnan(value))
        return np.array([np.nan if missing else float(value)], dtype=np.float32)
    return np.array(["" if value is None else str(value)], dtype=object)


def online_feed(model: ScoringModel, features: dict[str, Any]) -> dict[str, np.ndarray]:
    return {i.name: _value(i, features.get(i.name)) for i in model.inputs}


def predict_one(
    entity: str,
    model: ScoringModel,
    store,
    warehouse: Warehouse | None = None,
    now: datetime | None = None,
    allow_stale: bool = False,
) -> OnlineScore:
    """The score of one entity at `now` (default: the wall clock) from the online store.

    Raises FeatureStoreError if it has no online features, and StaleFeatures if a view's row
    is older than the view's TTL at `now`, unless `allow_stale` (then see `.stale`).
    """
    spec = get_spec(model.name)
    lookup = {"customer": entity} if model.key == "customer_id" else {"user": entity}
    found = online_lookup(
        **lookup, service=spec.feature_service, warehouse=warehouse, store=store, now=now
    )
    if not allow_stale:
        found.require_fresh()
    score = float(model.score(online_feed(model, found.values))[0])
    return OnlineScore(
        model.name,
        model.version,
        model.key,
        entity,
        score,
        found.values,
        found.freshness,
        found.now,
    )


def open_model(warehouse: Warehouse, name: str, version: int | None = None) -> ScoringModel:
    """A single-threaded session: one row gains nothing from more threads, and a service
    scores many requests side by side."""
    return load(warehouse, name, version, threads=1)
