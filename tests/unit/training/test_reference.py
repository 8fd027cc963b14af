"""The drift reference: decile bins of the training split with a missing-value bin."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cartcast.training.reference import (
    MISSING_BIN,
    assign_bins,
    build_reference,
    feature_bins,
    quantile_edges,
)


def test_bins_of_a_known_column() -> None:
    """1..100 plus 10 missing: edges at the deciles 10, 20, ..., 90 (training values)."""
    values = np.concatenate([np.arange(1, 101, dtype=float), np.full(10, np.nan)])
    bins = feature_bins("x", values)

    assert [b.bin for b in bins] == list(range(11))
    missing = bins[0]
    assert (missing.bin, missing.lower_bound, missing.upper_bound) == (MISSING_BIN, None, None)
    assert missing.expected_share == pytest.approx(10 / 110)
    bounds = [(b.lower_bound, b.upper_bound) for b in bins[1:]]
    assert bounds == [
        (None, 10.0), (10.0, 20.0), (20.0, 30.0), (30.0, 40.0), (40.0, 50.0),
        (50.0, 60.0), (60.0, 70.0), (70.0, 80.0), (80.0, 90.0), (90.0, None),
    ]  # fmt: skip
    # lower <= value < upper: 1..9 below 10, then ten values per bin, 90..100 in the last.
    counts = [round(b.expected_share * 110) for b in bins[1:]]
    assert counts == [9, 10, 10, 10, 10, 10, 10, 10, 10, 11]
    assert sum(b.expected_share for b in bins) == pytest.approx(1.0, abs=1e-12)


def test_shares_sum_to_one_and_no_empty_bin_with_ties() -> None:
    """A mostly-zero feature: repeated edges merge and no bin sits below the minimum."""
    rng = np.random.default_rng(3)
    values = np.where(rng.random(5000) < 0.7, 0.0, rng.exponential(20, 5000))
    values[rng.random(5000) < 0.05] = np.nan
    bins = feature_bins("rate", values)

    assert sum(b.expected_share for b in bins) == pytest.approx(1.0, abs=1e-12)
    assert bins[1].lower_bound is None and bins[-1].upper_bound is None
    assert all(b.expected_share > 0 for b in bins[1:])
    assert len(bins) < 11  # the zeros took several deciles
    uppers = [b.upper_bound for b in bins[1:-1]]
    assert uppers == sorted(uppers) and len(set(uppers)) == len(uppers)


def test_documented_semantics_reproduce_the_shares() -> None:
    """Binning the training values by `lower_bound <= value < upper_bound` (null = infinite,
    bin 0 = missing), as the monitoring SQL does, gives back the stored shares."""
    rng = np.random.default_rng(0)
    values = np.round(rng.lognormal(3, 1, 2000))
    values[::17] = np.nan
    bins = feature_bins("spend", values)
    which = assign_bins(values, bins)

    assert (which >= 0).all()
    for b in bins:
        assert (which == b.bin).mean() == pytest.approx(b.expected_share)
    edge = bins[3].lower_bound
    assert assign_bins(np.array([edge]), bins)[0] == 3


def test_edges_are_training_values_above_the_minimum() -> None:
    values = np.array([5.0, 5.0, 5.0, 7.0, 9.0, np.nan])
    # Deciles of 5, 5, 5, 7, 9 ("lower"): six are 5 (the minimum, dropped), three are 7.
    assert quantile_edges(values) == [7.0]
    shares = [b.expected_share for b in feature_bins("x", values)]
    assert shares == pytest.approx([1 / 6, 3 / 6, 2 / 6])
    assert feature_bins("all_missing", np.full(4, np.nan))[0].expected_share == 1.0


def test_reference_keeps_double_precision() -> None:
    """Edges are the warehouse's double values, not float32 roundings of them: a value that
    sits on an edge must land in the bin that starts there when SQL compares doubles."""
    values = np.linspace(0.1, 100.1, 1000) / 3
    bins = build_reference(pd.DataFrame({"x": values}), ["x"])
    edges = {b.lower_bound for b in bins if b.lower_bound is not None}
    assert len(edges) == 9 and edges <= set(values.tolist())
