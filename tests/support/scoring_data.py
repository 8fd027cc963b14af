"""Small hand-made training frames with the real feature columns, for fast scoring tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cartcast.catalog import ModelSpec


def synthetic_frame(spec: ModelSpec, weeks: int = 12, customers: int = 60, seed: int = 0):
    """Weekly snapshots; the label depends on `orders_90d` and `recency_days` so models learn."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2011-01-03", tz="UTC")
    rows = []
    step = pd.Timedelta(minutes=10) if spec.key == "user_id" else pd.Timedelta(days=7)
    for w in range(weeks):
        for c in range(customers):
            row = {spec.key: str(c), "event_timestamp": start + w * step}
            for name in spec.numeric:
                row[name] = float(rng.poisson(3))
            row["recency_days"] = float(rng.exponential(30)) if c % 7 else np.nan
            for name in spec.categorical:
                row[name] = ["United Kingdom", "France", "Germany"][c % 3]
            if spec.sequence:
                row[spec.sequence] = [f"P{(c + k) % 30}" for k in range(c % 5)] or None
            signal = row.get("orders_90d", row.get("carts_15m", 0.0)) - 3
            if spec.task == "binary":
                row[spec.label_column] = int(signal + rng.normal() > 0)
            else:
                row[spec.label_column] = max(0.0, 100 * signal + rng.normal(0, 50))
            rows.append(row)
    return pd.DataFrame(rows)
