"""The report's charts, drawn with matplotlib (Agg, no display) and returned as PNG bytes.

Every chart takes plain arrays or frames and knows nothing about files or HTML. A candidate
keeps one colour on every chart of every page; the champion is drawn thicker.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve, roc_curve

# Colours by candidate; the linear models share one (one of them exists per task).
CANDIDATE_COLOURS = {
    "torch mlp": "#1f5f9e",
    "torch transformer+mlp": "#7b3fa0",
    "logistic regression": "#e07b00",
    "ridge (signed log1p)": "#e07b00",
    "hist gradient boosting": "#2e8b57",
    "recency/frequency rule": "#8a8a8a",
}
FALLBACK_COLOURS = ("#c0392b", "#16a085", "#8e6c3a", "#d35400")
PRIMARY = "#1f5f9e"
LIGHT = "#a9c6e8"
REFERENCE = "#9aa0a6"
DRIFT_ZONES = (("stable", 0.0, 0.1, "#e8f5e9"), ("moderate", 0.1, 0.25, "#fff8e1"))
MAJOR_ZONE = "#fdecea"
DPI = 110
STYLE = {
    "font.size": 9.5,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e6e6e6",
    "grid.linewidth": 0.8,
    "legend.frameon": False,
    "axes.axisbelow": True,
    "legend.fontsize": 8.5,
}


def colour(name: str, order: list[str] | None = None) -> str:
    if name in CANDIDATE_COLOURS:
        return CANDIDATE_COLOURS[name]
    index = (order or [name]).index(name) if order and name in order else 0
    return FALLBACK_COLOURS[index % len(FALLBACK_COLOURS)]


def _line_style(name: str, champion: str) -> dict:
    return {
        "color": colour(name),
        "linewidth": 2.6 if name == champion else 1.3,
        "alpha": 1.0 if name == champion else 0.85,
        "linestyle": ":" if name == "recency/frequency rule" else "-",
        "zorder": 3 if name == champion else 2,
        "label": f"{name} (champion)" if name == champion else name,
    }


def _draw(size: tuple[float, float], draw: Callable[[Figure], None]) -> bytes:
    with rc_context(STYLE):
        fig = Figure(figsize=size, layout="constrained")
        draw(fig)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return buffer.getvalue()


def roc(y: np.ndarray, scores: Mapping[str, np.ndarray], champion: str) -> bytes:
    def draw(fig: Figure) -> None:
        ax = fig.subplots()
        ax.plot([0, 1], [0, 1], color=REFERENCE, linestyle="--", linewidth=1, label="random")
        for name, score in scores.items():
            fpr, tpr, _ = roc_curve(y, score)
            ax.plot(fpr, tpr, **_line_style(name, champion))
        ax.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1))
        ax.set_title("ROC curve (validation)")
        ax.legend(loc="lower right")

    return _draw((6.0, 4.4), draw)


def precision_recall(y: np.ndarray, scores: Mapping[str, np.ndarray], champion: str) -> bytes:
    def draw(fig: Figure) -> None:
        ax = fig.subplots()
        base = float(np.mean(y))
        ax.axhline(
            base, color=REFERENCE, linestyle="--", linewidth=1, label=f"base rate {base:.1%}"
        )
        top = base
        for name, score in scores.items():
            precision, recall, _ = precision_recall_curve(y, score)
            ax.plot(recall, precision, **_line_style(name, champion))
            top = max(top, float(precision[recall >= 0.02].max(initial=base)))
        ax.set(xlabel="recall (share of positives found)", ylabel="precision", xlim=(0, 1))
        # A rare label keeps precision near the base rate: zoom on it rather than on the
        # meaningless first points (a handful of rows at the very top of the ranking).
        ax.set_ylim(0, min(1.02, max(5 * base, 1.1 * top)))
        ax.set_title("Precision-recall curve (validation)")
        ax.legend(loc="upper right")

    return _draw((6.0, 4.4), draw)


def quantile_bins(score: np.ndarray, bins: int = 10) -> np.ndarray:
    """Bin index 0..bins-1 of each score by its rank (equal-count bins, ties split by order)."""
    order = np.argsort(score, kind="stable")
    which = np.empty(len(score), dtype=np.int64)
    which[order] = np.arange(len(score)) * bins // max(1, len(score))
    return which


def calibration(y: np.ndarray, scores: Mapping[str, np.ndarray], champion: str) -> bytes:
    """Mean predicted vs observed rate in ten equal-count bins of each candidate's score:
    equal-width bins would put almost every row of a rare label in the first bin."""

    def draw(fig: Figure) -> None:
        ax = fig.subplots()
        top = 0.0
        for name, score in scores.items():
            which = quantile_bins(score)
            predicted = np.array([score[which == b].mean() for b in range(10)])
            observed = np.array([y[which == b].mean() for b in range(10)])
            top = max(top, predicted.max(), observed.max())
            style = _line_style(name, champion)
            ax.plot(predicted, observed, marker="o", markersize=3.5, **style)
        top = min(1.0, top * 1.08)
        ax.plot([0, top], [0, top], color=REFERENCE, linestyle="--", linewidth=1, label="perfect")
        ax.set(xlim=(0, top), ylim=(0, top))
        ax.set(xlabel="mean predicted probability", ylabel="observed rate")
        ax.set_title("Calibration (ten equal-count bins)")
        ax.legend(loc="upper left")

    return _draw((6.0, 4.4), draw)


def _gains_curve(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(-score, kind="stable")
    captured = np.concatenate([[0.0], np.cumsum(y[order]) / y.sum()])
    share = np.linspace(0, 1, len(y) + 1)
    return share, captured


def decile_lift(y: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Mean label in each score decile (highest scores first) over the overall mean."""
    which = 9 - quantile_bins(score)
    return np.array([y[which == d].mean() for d in range(10)]) / y.mean()


def gains(
    y: np.ndarray, scores: Mapping[str, np.ndarray], champion: str, what: str = "positives"
) -> bytes:
    """Cumulative gains (left) and the champion's lift per decile (right)."""

    def draw(fig: Figure) -> None:
        left, right = fig.subplots(1, 2, width_ratios=[1.35, 1])
        left.plot([0, 1], [0, 1], color=REFERENCE, linestyle="--", linewidth=1, label="random")
        share, best = _gains_curve(y, y)
        left.plot(share, best, color="#444444", linewidth=0.9, linestyle="-.", label="perfect")
        for name, score in scores.items():
            share, captured = _gains_curve(y, score)
            left.plot(share, captured, **_line_style(name, champion))
        left.set(xlabel="share of rows targeted (highest scores first)", xlim=(0, 1))
        left.set(ylabel=f"share of {what} captured")
        left.set_title("Cumulative gains")
        left.legend(loc="lower right")
        lift = decile_lift(y, scores[champion])
        right.bar(np.arange(1, 11), lift, color=colour(champion), width=0.7)
        right.axhline(1.0, color=REFERENCE, linestyle="--", linewidth=1)
        for d, value in enumerate(lift, start=1):
            right.text(d, value, f"{value:.1f}", ha="center", va="bottom", fontsize=7.5)
        right.set(
            xlabel="score decile (1 = highest)", ylabel="lift over average", xticks=range(1, 11)
        )
        right.set_title(f"Lift by decile: {champion}")
        right.grid(axis="x", visible=False)

    return _draw((10.5, 4.4), draw)


def predicted_vs_actual(y: np.ndarray, scores: Mapping[str, np.ndarray], champion: str) -> bytes:
    """Amounts: mean prediction and mean actual in each decile of the prediction."""

    def draw(fig: Figure) -> None:
        ax = fig.subplots()
        x = np.arange(1, 11)
        actual = None
        for name, score in scores.items():
            which = quantile_bins(score)
            means = np.array([score[which == b].mean() for b in range(10)])
            ax.plot(x, means, marker="o", markersize=3.5, **_line_style(name, champion))
            if name == champion:
                actual = np.array([y[which == b].mean() for b in range(10)])
        ax.bar(x, actual, color=LIGHT, width=0.7, label=f"actual (deciles of {champion})", zorder=1)
        # Symmetric log: the top decile's amounts are orders of magnitude above the rest.
        ax.set_yscale("symlog", linthresh=10)
        ax.set(xlabel="decile of the prediction (1 = lowest)", xticks=x)
        ax.set(ylabel="mean amount (symmetric log scale)")
        ax.set_title("Predicted vs actual by decile (validation)")
        ax.legend(loc="upper left")

    return _draw((6.4, 4.4), draw)


def importance(frame: pd.DataFrame, top: int = 20) -> bytes:
    """Horizontal bars, most important on top, with the shuffles' standard deviation."""
    rows = frame.sort_values("rank").head(top).iloc[::-1]
    metric = str(frame["metric"].iloc[0])

    def draw(fig: Figure) -> None:
        ax = fig.subplots()
        values = rows["importance"].to_numpy()
        colours = [PRIMARY if v > 0 else REFERENCE for v in values]
        ax.barh(
            rows["feature"],
            values,
            xerr=rows["importance_std"],
            color=colours,
            error_kw={"ecolor": "#555555", "capsize": 2, "linewidth": 0.8},
        )
        ax.axvline(0, color="#555555", linewidth=0.8)
        ax.set(xlabel=f"drop in validation {metric} when shuffled")
        ax.set_title(f"Permutation importance (top {len(rows)})")
        ax.grid(axis="y", visible=False)

    return _draw((7.0, 0.25 * len(rows) + 1.4), draw)


def _time_axis(ax: Axes) -> None:
    for label in ax.get_xticklabels():
        label.set_rotation(30)
        label.set_horizontalalignment("right")


def score_distribution(frame: pd.DataFrame, amount: bool = False) -> bytes:
    """p10-p90 band, median and mean of the scores per as_of, rows scored below."""
    frame = frame.sort_values("as_of")
    when = pd.to_datetime(frame["as_of"])

    def draw(fig: Figure) -> None:
        top, bottom = fig.subplots(2, 1, height_ratios=[3, 1], sharex=True)
        top.fill_between(
            when, frame["p10"], frame["p90"], color=LIGHT, alpha=0.7, label="p10 to p90"
        )
        top.plot(when, frame["p50"], color=PRIMARY, linewidth=2, label="median")
        top.plot(
            when, frame["mean_score"], color="#e07b00", linewidth=1.4, linestyle="--", label="mean"
        )
        top.set(ylabel="predicted amount" if amount else "predicted probability")
        top.set_title("Scores by as_of")
        top.legend(loc="upper left", ncols=3)
        bottom.bar(when, frame["rows"], color=REFERENCE, width=_bar_width(when))
        bottom.set(ylabel="rows")
        _time_axis(bottom)

    return _draw((10.5, 4.6), draw)


def _bar_width(when: pd.Series) -> float:
    if len(when) < 2:
        return 1.0
    gaps = np.diff(when.to_numpy()).astype("timedelta64[s]").astype(float)
    return float(np.median(gaps)) / 86400 * 0.7


def drift(frame: pd.DataFrame, top: int = 8) -> bytes:
    """PSI per as_of of the features that drifted most, over the stable/moderate/major zones."""
    worst = frame.groupby("feature")["psi"].max().sort_values(ascending=False).head(top).index

    def draw(fig: Figure) -> None:
        ax = fig.subplots()
        ceiling = max(0.3, float(frame["psi"].max()) * 1.1)
        for _, low, high, shade in DRIFT_ZONES:
            ax.axhspan(low, high, color=shade, zorder=0)
        ax.axhspan(0.25, ceiling, color=MAJOR_ZONE, zorder=0)
        for level, y in (("moderate", 0.1), ("major", 0.25)):
            ax.axhline(y, color=REFERENCE, linestyle="--", linewidth=0.9)
            ax.text(
                1.0,
                y,
                f" {level} ≥ {y}",
                transform=ax.get_yaxis_transform(),
                va="bottom",
                ha="right",
                fontsize=7.5,
                color="#555555",
            )
        palette = matplotlib.colormaps["tab10"]
        for i, feature in enumerate(worst):
            rows = frame[frame["feature"] == feature].sort_values("as_of")
            ax.plot(
                pd.to_datetime(rows["as_of"]),
                rows["psi"],
                marker="o",
                markersize=3,
                color=palette(i % 10),
                linewidth=1.5,
                label=feature,
            )
        ax.set(ylabel="population stability index", ylim=(0, ceiling))
        ax.set_title(f"Drift against the training split (the {len(worst)} most drifted features)")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
        _time_axis(ax)

    return _draw((10.5, 4.4), draw)


def realized(frame: pd.DataFrame, task: str) -> bytes:
    """Once labels matured: ROC-AUC (probabilities) or MAE (amounts) per scored as_of, and
    the mean score next to the observed rate or mean."""
    frame = frame.sort_values("as_of")
    when = pd.to_datetime(frame["as_of"])

    def draw(fig: Figure) -> None:
        left, right = fig.subplots(1, 2)
        if task == "binary":
            left.plot(when, frame["roc_auc"], color=PRIMARY, marker="o", markersize=3)
            left.axhline(0.5, color=REFERENCE, linestyle="--", linewidth=1)
            left.set(ylabel="ROC-AUC")
            left.set_title("Realized ROC-AUC by as_of")
        else:
            left.plot(when, frame["mae"], color=PRIMARY, marker="o", markersize=3, label="MAE")
            left.plot(when, frame["rmse"], color="#e07b00", marker="o", markersize=3, label="RMSE")
            left.set(ylabel="error")
            left.set_title("Realized error by as_of")
            left.legend()
        right.plot(when, frame["mean_score"], color=PRIMARY, linewidth=2, label="mean score")
        right.plot(
            when,
            frame["observed_rate"],
            color="#e07b00",
            linewidth=1.6,
            linestyle="--",
            label="observed",
        )
        right.set_title("Predicted vs observed by as_of")
        right.legend()
        _time_axis(left)
        _time_axis(right)

    return _draw((10.5, 4.0), draw)


def recommendation_quality(frame: pd.DataFrame) -> bytes:
    """HR@10, Recall@10 and NDCG@10 of the stored lists per as_of, once 30 days passed."""
    frame = frame.sort_values("as_of")
    when = pd.to_datetime(frame["as_of"])

    def draw(fig: Figure) -> None:
        ax = fig.subplots()
        for column, label, style in (
            ("hr_at_10", "HR@10", "-"),
            ("ndcg_at_10", "NDCG@10", "--"),
            ("recall_at_10", "Recall@10", ":"),
        ):
            ax.plot(when, frame[column], linestyle=style, marker="o", markersize=3, label=label)
        ax.set(ylabel="share", ylim=(0, 1))
        ax.set_title("Realized list quality by as_of")
        ax.legend()
        _time_axis(ax)

    return _draw((10.5, 4.0), draw)


def quarantine(frame: pd.DataFrame) -> bytes:
    """Quarantined rows by source and reason, largest first (log scale: reasons differ by
    orders of magnitude)."""
    rows = frame.sort_values("quarantined_rows")
    labels = [f"{r.reason}  ({r.source_table.split('.')[0]})" for r in rows.itertuples()]

    def draw(fig: Figure) -> None:
        ax = fig.subplots()
        ax.barh(labels, rows["quarantined_rows"], color="#c0392b")
        for i, value in enumerate(rows["quarantined_rows"]):
            ax.text(value, i, f" {value:,}", va="center", fontsize=8)
        ax.set_xscale("log")
        ax.set(xlabel="rows quarantined (log scale)")
        ax.set_title("Quarantined rows by reason")
        ax.grid(axis="y", visible=False)

    return _draw((7.5, 0.32 * len(rows) + 1.3), draw)


def model_comparison(frame: pd.DataFrame) -> bytes:
    """Champion vs best baseline per model on each model's selection metric."""

    def draw(fig: Figure) -> None:
        axes = np.atleast_1d(fig.subplots(1, len(frame)))
        for ax, row in zip(axes, frame.itertuples(), strict=True):
            values = [row.champion_value, row.baseline_value]
            ax.bar([0, 1], values, color=[PRIMARY, REFERENCE], width=0.6)
            for x, value in enumerate(values):
                ax.text(x, value, f"{value:.3f}", ha="center", va="bottom", fontsize=8)
            ax.set_xticks([0, 1], ["champion", "runner-up"])
            ax.set_title(row.model, fontsize=10)
            ax.set_ylabel(row.metric)
            ax.set_ylim(0, max(values) * 1.18 if max(values) > 0 else 1)
            ax.grid(axis="x", visible=False)

    return _draw((2.6 * max(1, len(frame)) + 0.6, 3.2), draw)
