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
# Inputs that are parts of one whole: a customer's shares of orders by time of day sum to 1
# (all 0 with no completed order). Shuffled one at a time, each share lands beside the other
# shares of another customer, giving rows that sum to anything but 1, which the model never
# saw; and credit is split between parts that say the same thing (a high morning share is a
# low afternoon and evening one). So the parts are shuffled together, as one input, and
# reported once under this name. A group applies only when the rows really sum to 1 or 0.
COMPOSITIONS: dict[str, tuple[str, ...]] = {
    "share_orders_morning+afternoon+evening": (
        "share_orders_morning",
        "share_orders_afternoon",
        "share_orders_evening",
    ),
}
# float32 shares rounded to 6 decimals in the mart
_SUM_TOLERANCE = 1e-4
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
    for name, members in permutation_units([i.name for i in session.get_inputs()], feed):
        drops = []
        for _ in range(repeats):
            order = rng.permutation(len(y))
            shuffled = {member: feed[member][order] for member in members}
            drops.append(base - score({**feed, **shuffled}))
        found.append((name, float(np.mean(drops)), float(np.std(drops))))
    found.sort(key=lambda row: (-row[1], row[0]))
    return [
        Importance(name, mean, std, metric, rank)
        for rank, (name, mean, std) in enumerate(found, start=1)
    ]


def is_composition(feed: dict[str, np.ndarray], members: tuple[str, ...]) -> bool:
    """Whether every row's values of `members` sum to 1, or are all 0 (missing counts as 0)."""
    if not all(m in feed for m in members):
        return False
    total = np.sum([np.nan_to_num(feed[m].astype(np.float64)) for m in members], axis=0)
    return bool(np.all((np.abs(total - 1) <= _SUM_TOLERANCE) | (np.abs(total) <= _SUM_TOLERANCE)))


def permutation_units(
    inputs: list[str], feed: dict[str, np.ndarray]
) -> list[tuple[str, tuple[str, ...]]]:
    """(reported name, inputs shuffled together) in input order; a composition takes the
    place of its first member."""
    grouped = {
        name: members
        for name, members in COMPOSITIONS.items()
        if set(members) <= set(inputs) and is_composition(feed, members)
    }
    owner = {member: name for name, members in grouped.items() for member in members}
    units: list[tuple[str, tuple[str, ...]]] = []
    for name in inputs:
        if name not in owner:
            units.append((name, (name,)))
        elif name == grouped[owner[name]][0]:
            units.append((owner[name], grouped[owner[name]]))
    return units
