"""Permutation importance of the exported model on the validation split.

For each input of the ONNX graph (each raw feature; the product sequence counts as one), the
validation rows' values of that input are shuffled across rows and the model is scored again
through ONNX Runtime: the importance is how much the selection metric gets worse, averaged
over a few seeded shuffles (standard deviation beside it). Scoring the exported file measures
what is served, in-graph preprocessing included. Shuffling keeps each input's distribution
and breaks its link with the label, so a feature the model ignores scores about 0; a negative
value means shuffling it helped by chance (noise level: see the standard deviation).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cartcast.catalog import LOWER_IS_BETTER
from cartcast.training.metrics import evaluate

REPEATS = 3
# Enough rows for a stable metric (the shuffled and unshuffled scores are paired, so their
# difference is steadier than the metric); more only costs time: every input is scored
# REPEATS times (about 15 s for the 28 inputs of purchase_30d on 2 cores).
MAX_ROWS = 10_000


@dataclass(frozen=True)
class Importance:
    feature: str
    importance: float
    importance_std: float
    metric: str
    rank: int


def _session(model_path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])


def permutation_importance(
    model_path: Path,
    feed: dict[str, np.ndarray],
    y: np.ndarray,
    task: str,
    metric: str,
    repeats: int = REPEATS,
    seed: int = 0,
    max_rows: int = MAX_ROWS,
) -> list[Importance]:
    """Drop in `metric` when each input is shuffled, ranked (1 = most important)."""
    rng = np.random.default_rng(seed)
    y = np.asarray(y, dtype=np.float64)
    if len(y) > max_rows:
        keep = np.sort(rng.choice(len(y), size=max_rows, replace=False))
        feed = {name: values[keep] for name, values in feed.items()}
        y = y[keep]
    session = _session(model_path)
    # Better is higher for most metrics; for the others a rise is the loss.
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0

    def score(inputs: dict[str, np.ndarray]) -> float:
        (pred,) = session.run(["score"], inputs)
        return sign * evaluate(task, y, np.asarray(pred, dtype=np.float64))[metric]

    base = score(feed)
    found: list[tuple[str, float, float]] = []
    for name in [i.name for i in session.get_inputs()]:
        drops = []
        for _ in range(repeats):
            order = rng.permutation(len(y))
            drops.append(base - score({**feed, name: feed[name][order]}))
        found.append((name, float(np.mean(drops)), float(np.std(drops))))
    found.sort(key=lambda row: (-row[1], row[0]))
    return [
        Importance(name, mean, std, metric, rank)
        for rank, (name, mean, std) in enumerate(found, start=1)
    ]
