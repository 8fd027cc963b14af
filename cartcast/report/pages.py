"""`cartcast report`: one self-contained HTML page per model and an overview across models.

A model's page shows its champion: the comparison with the baselines, validation curves
(ROC, precision-recall, calibration, gains and lift; for amounts: predicted vs actual by
decile and gains on spend), permutation importance, and from the monitoring tables the score
distribution, drift (PSI) and realized performance over time. The overview has the data
summary (rows in, quarantined by reason, customers, snapshots) and links to every model page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd

from cartcast.catalog import LOWER_IS_BETTER, RECOMMENDERS
from cartcast.pretraining.ablation import read_ablation
from cartcast.registry import versions as registry
from cartcast.report import charts
from cartcast.report import html_page as h
from cartcast.report.data import (
    ModelEvidence,
    RecommendationEvidence,
    load_evidence,
    load_recommendations,
    reported_models,
)
from cartcast.training import validation_scores
from cartcast.training.card import metric_columns
from cartcast.warehouse.paths import Warehouse
from cartcast.warehouse.summary import LoadSummary, WarehouseNotBuilt, load_summary

OVERVIEW = "index.html"


def report_dir(warehouse: Warehouse) -> Path:
    return registry.artifacts_dir(warehouse) / "reports"


def write_reports(
    warehouse: Warehouse, out_dir: Path | None = None, names: list[str] | None = None
) -> list[Path]:
    """Write the overview and one page per model; returns their paths, overview first."""
    out_dir = out_dir or report_dir(warehouse)
    out_dir.mkdir(parents=True, exist_ok=True)
    asked = names
    names = [n for n in names if n not in RECOMMENDERS] if names else reported_models(warehouse)
    evidence = [load_evidence(warehouse, name) for name in names]
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    try:
        summary: LoadSummary | None = load_summary(warehouse)
    except WarehouseNotBuilt:
        summary = None
    recommendations = [
        r for r in load_recommendations(warehouse) if asked is None or r.spec.name in asked
    ]
    paths = [out_dir / OVERVIEW]
    paths[0].write_text(
        overview_page(summary, evidence, stamp, read_ablation(warehouse), recommendations)
    )
    for ev in evidence:
        path = out_dir / f"{ev.spec.name}.html"
        path.write_text(model_page(ev, stamp))
        paths.append(path)
    for rec in recommendations:
        path = out_dir / f"{rec.spec.name}.html"
        path.write_text(recommendation_page(rec, stamp))
        paths.append(path)
    return paths


def _fmt(value: float) -> str:
    if not np.isfinite(value):
        return "n/a"
    return f"{value:,.2f}" if abs(value) >= 100 else f"{value:.4f}"


def _not_scored(table: str, ev: ModelEvidence) -> str:
    return h.note(
        f"Not scored yet: run <code>dbt build</code>. (<code>{escape(table)}</code> has no rows "
        f"for {escape(ev.spec.name)} v{ev.entry.version}.)"
    )


def _candidates(ev: ModelEvidence) -> list[str]:
    return [k for k in ev.entry.metrics if k not in ("champion", "selection_metric")]


def comparison(ev: ModelEvidence) -> str:
    columns = metric_columns(ev.spec)
    names = _candidates(ev)
    metrics = ev.entry.metrics
    best = {}
    for c in columns:
        sign = -1 if c in LOWER_IS_BETTER else 1
        best[c] = max(names, key=lambda n, c=c, sign=sign: sign * metrics[n][c])
    headers = [
        "model",
        *(f"{c} ({'lower' if c in LOWER_IS_BETTER else 'higher'})" for c in columns),
    ]
    rows = [
        [n + (" ★" if n == ev.champion else ""), *(_fmt(metrics[n][c]) for c in columns)]
        for n in names
    ]
    cells = [["", *("best" if best[c] == n else "" for c in columns)] for n in names]
    classes = ["champion" if n == ev.champion else "" for n in names]
    text = (
        f"Validation metrics of every candidate. ★ marks the champion (the exported model), "
        f"chosen by {metrics['selection_metric']}; the best value of each column is in blue. "
        "(higher) and (lower) say which direction is better."
    )
    verdict = ev.card.get("verdict", "")
    return h.section(
        "Champion against the baselines",
        h.paragraph(text),
        h.table(headers, rows, classes, cells),
        h.paragraph(verdict) if verdict else "",
        anchor="comparison",
    )


def _curve_inputs(ev: ModelEvidence) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    frame = ev.scores
    y = frame["label"].to_numpy(dtype=np.float64)
    names = validation_scores.candidates(frame)
    return y, {n: frame[n].to_numpy(dtype=np.float64) for n in names}


def curves(ev: ModelEvidence) -> str:
    if ev.scores is None:
        return h.section(
            "Validation curves",
            h.note(
                "No validation scores beside this version's model file: it was trained before "
                "they were kept. Train a new version (<code>cartcast train --model "
                f"{escape(ev.spec.name)}</code>) and promote it."
            ),
        )
    y, scores = _curve_inputs(ev)
    champion = ev.champion
    if ev.spec.task == "binary":
        figures = [
            h.grid(
                h.figure(
                    charts.roc(y, scores, champion),
                    "ROC curve",
                    "Each curve: the share of positives caught (up) against the share of "
                    "negatives wrongly flagged (right) as the threshold falls. Higher and further "
                    "left is better; the dashed diagonal is guessing.",
                ),
                h.figure(
                    charts.precision_recall(y, scores, champion),
                    "Precision-recall curve",
                    "How pure the flagged group is (precision) as more positives are found "
                    "(recall). The dashed line is the base rate: what random picks achieve.",
                ),
            ),
            h.grid(
                h.figure(
                    charts.calibration(y, scores, champion),
                    "Calibration curve",
                    "Each point is a tenth of the rows, by score: its mean predicted probability "
                    "against how often the label was actually 1. On the diagonal, a score of 0.3 "
                    "means 30%.",
                ),
            ),
            h.figure(
                charts.gains(y, scores, champion, "positives"),
                "Cumulative gains and lift",
                "Left: target the highest-scored rows first; the curve shows the share of all "
                "positives reached for each share of rows targeted (diagonal: random order). "
                "Right: positive rate of each score decile over the overall rate.",
            ),
        ]
    else:
        figures = [
            h.grid(
                h.figure(
                    charts.predicted_vs_actual(y, scores, champion),
                    "Predicted vs actual by decile",
                    "Rows sorted into tenths by each model's prediction: lines show the mean "
                    "prediction per tenth, bars the mean actual spend in the champion's tenths "
                    "(log scale). Lines close to the bars mean the amounts are right, not only "
                    "the order.",
                ),
            ),
            h.figure(
                charts.gains(y, scores, champion, "spend"),
                "Gains on spend",
                "Left: customers sorted by predicted spend; the curve shows the share of all "
                "future spend they account for (diagonal: random order). Right: mean spend of "
                "each decile of the champion's prediction over the overall mean.",
            ),
        ]
    rows = len(ev.scores)
    window = ev.card.get("valid_window", ["", ""])
    lead = (
        f"On the validation split: {rows:,} rows, snapshots {window[0][:10]} to "
        f"{window[1][:10]}, never used for fitting."
    )
    return h.section("Validation curves", h.paragraph(lead), *figures, anchor="curves")


def importance_section(ev: ModelEvidence) -> str:
    if ev.importance.empty:
        return h.section(
            "Feature importance",
            h.note(
                "No importance stored for this version: train a new version "
                f"(<code>cartcast train --model {escape(ev.spec.name)}</code>)."
            ),
        )
    metric = str(ev.importance["metric"].iloc[0])
    return h.section(
        "Feature importance",
        h.figure(
            charts.importance(ev.importance),
            "Permutation importance",
            f"How much validation {metric} drops when one feature's values are shuffled across "
            "rows, scored through the exported ONNX file; whiskers: spread over the shuffles. "
            "Near zero: the model does not rely on the feature. Importance is not causation: "
            "correlated features share credit. Shares that sum to 1 (a+b+c) are shuffled "
            "together and shown once.",
        ),
        anchor="importance",
    )


def distribution_section(ev: ModelEvidence) -> str:
    if ev.score_distribution is None:
        body = _not_scored("monitoring.score_distribution", ev)
    else:
        body = h.figure(
            charts.score_distribution(ev.score_distribution, amount=ev.spec.task != "binary"),
            "Score distribution by as_of",
            "For each scoring date: the middle 80% of scores (band), median and mean, and the "
            "rows scored (below). A sudden shift means the population or the data changed.",
        )
    return h.section("Score distribution by as_of", body, anchor="scores")


def drift_section(ev: ModelEvidence) -> str:
    if ev.feature_drift is None:
        return h.section("Drift (PSI) over time", _not_scored("monitoring.feature_drift", ev))
    frame = ev.feature_drift
    latest = frame[frame["as_of"] == frame["as_of"].max()].sort_values("psi", ascending=False)
    rows = [[r.feature, f"{r.psi:.3f}", r.drift_level] for r in latest.head(10).itertuples()]
    cells = [["", "", f"level-{r[2]}"] for r in rows]
    when = pd.Timestamp(latest["as_of"].iloc[0])
    return h.section(
        "Drift (PSI) over time",
        h.figure(
            charts.drift(frame),
            "Population stability index over time",
            "PSI compares each scoring date's feature values with the training split, bin by "
            "bin (ml.model_reference). Below 0.1 (green): stable; 0.1 to 0.25 (yellow): "
            "moderate, watch it; 0.25 and above (red): major, retrain or check the data.",
        ),
        h.paragraph(f"Most drifted features at the latest as_of ({when:%Y-%m-%d %H:%M}):"),
        h.table(["feature", "psi", "level"], rows, cell_classes=cells),
        anchor="drift",
    )


def realized_section(ev: ModelEvidence) -> str:
    if ev.realized_performance is None:
        return h.section(
            "Realized performance",
            h.note(
                "No matured labels for scored snapshots yet: run <code>dbt build</code> once "
                f"the label window ({escape(ev.spec.window_text)}) of a scored as_of has passed."
            ),
        )
    return h.section(
        "Realized performance",
        h.figure(
            charts.realized(ev.realized_performance, ev.spec.task),
            "Realized performance by as_of",
            "Scored snapshots whose label window has passed, judged against what happened: "
            "left, ranking quality (or error); right, mean score against the observed outcome.",
        ),
        anchor="realized",
    )


def _header(ev: ModelEvidence) -> str:
    card = ev.card
    rows = card.get("rows", {})
    return h.section(
        "The model",
        h.paragraph(ev.spec.description),
        h.facts(
            [
                ("version (champion)", f"v{ev.entry.version}"),
                ("exported model", ev.champion),
                ("family", ev.entry.family),
                ("feature service", ev.entry.feature_service),
                ("training rows", f"{rows.get('train', 0):,}"),
                ("validation rows", f"{rows.get('valid', 0):,}"),
            ]
        ),
        h.paragraph(
            f"Label: {ev.spec.label} over {ev.spec.window_text}. Cut-off "
            f"{card.get('cutoff', '?')[:10]}: training snapshots end before it by a full label "
            "window, validation snapshots start at it."
        ),
    )


def model_page(ev: ModelEvidence, stamp: str) -> str:
    body = [
        _header(ev),
        comparison(ev),
        curves(ev),
        importance_section(ev),
        distribution_section(ev),
        drift_section(ev),
        realized_section(ev),
    ]
    subtitle = (
        f"{escape(ev.spec.task)} model, v{ev.entry.version} ({escape(ev.entry.status)}) · "
        f'<a href="{OVERVIEW}">all models</a>'
    )
    return h.page(f"cartcast · {ev.spec.name}", subtitle, body, f"cartcast report, {stamp}")


def _runner_up(ev: ModelEvidence) -> tuple[str, float]:
    metric = ev.entry.metrics["selection_metric"]
    sign = -1 if metric in LOWER_IS_BETTER else 1
    others = [n for n in _candidates(ev) if n != ev.champion]
    best = max(others, key=lambda n: sign * ev.entry.metrics[n][metric])
    return best, ev.entry.metrics[best][metric]


def models_section(evidence: list[ModelEvidence]) -> str:
    if not evidence:
        return h.section(
            "Models", h.note("No champion models: run <code>cartcast train --all</code>.")
        )
    rows, compare = [], []
    for ev in evidence:
        metric = ev.entry.metrics["selection_metric"]
        value = ev.entry.metrics[ev.champion][metric]
        other, other_value = _runner_up(ev)
        scored = "yes" if ev.score_distribution is not None else "not yet"
        rows.append(
            [
                ev.spec.name,
                f"v{ev.entry.version}",
                ev.champion,
                metric,
                _fmt(value),
                f"{other} {_fmt(other_value)}",
                scored,
            ]
        )
        compare.append(
            {
                "model": ev.spec.name,
                "metric": metric,
                "champion_value": value,
                "baseline_value": other_value,
            }
        )
    links = "".join(
        f'<li><a href="{escape(ev.spec.name)}.html">{escape(ev.spec.name)}</a>: '
        f"{escape(ev.spec.description)}</li>"
        for ev in evidence
    )
    headers = ["model", "version", "champion", "metric", "value", "runner-up", "scored"]
    return h.section(
        "Models",
        h.table(headers, rows, text_columns=4),
        f"<ul>{links}</ul>",
        h.figure(
            charts.model_comparison(pd.DataFrame(compare)),
            "Champion vs runner-up",
            "Each model's validation selection metric: the champion (blue) against the best "
            "other candidate (grey). A small gap means a simpler model would do nearly as well.",
        ),
        anchor="models",
    )


def data_section(summary: LoadSummary | None) -> str:
    if summary is None:
        return h.section("Data", h.note("No warehouse built yet: run <code>dbt build</code>."))
    sources = h.table(
        ["source", "rows in", "used", "quarantined", "duplicates"],
        [
            [name, f"{raw:,}", f"{used:,}", f"{q:,}", f"{d:,}"]
            for name, raw, used, q, d in summary.sources
        ],
    )
    quarantine = pd.DataFrame(
        summary.quarantine, columns=["source_table", "reason", "quarantined_rows"]
    )
    parts = [
        h.facts(
            [
                ("raw rows in", f"{sum(s[1] for s in summary.sources):,}"),
                ("rows quarantined", f"{sum(s[3] for s in summary.sources):,}"),
                ("customers", f"{summary.customers:,}"),
                ("weekly snapshots", f"{summary.snapshots:,}"),
                ("labelled customer snapshots", f"{summary.labelled_rows:,}"),
                ("clickstream users", f"{summary.users:,}"),
                ("event snapshots", f"{summary.event_snapshots:,}"),
            ]
        ),
        h.paragraph(
            "Where every raw row went (audit.load_reconciliation): used, set aside in quarantine "
            "with a reason, or removed as an exact duplicate. Rows in = used + quarantined + "
            "duplicates; dbt fails the build otherwise."
        ),
        sources,
    ]
    if not quarantine.empty:
        parts.append(h.paragraph("Quarantined by reason:"))
        parts.append(
            h.table(
                ["source", "reason", "rows"],
                [
                    [r.source_table, r.reason, f"{r.quarantined_rows:,}"]
                    for r in quarantine.itertuples()
                ],
                text_columns=2,
            )
        )
        parts.append(
            h.figure(
                charts.quarantine(quarantine),
                "Quarantined rows by reason",
                "Rows set aside by reason (audit.quarantine_summary), on a log scale: the "
                "reasons differ by orders of magnitude. Each is kept in the quarantine schema "
                "with its raw values.",
            )
        )
    return h.section("Data", *parts, anchor="data")


def pretraining_section(ablation: dict | None) -> str:
    """What pre-training buys on this data: the last run of bench/pretraining.py."""
    if ablation is None:
        return h.section(
            "What pre-training buys",
            h.note(
                "No ablation yet: run <code>python bench/pretraining.py</code> (it measures the "
                "pre-trained encoder and text embeddings against aggregates only, with intervals)."
            ),
            anchor="pretraining",
        )
    quality = ablation["next_item"]
    parts = [
        h.paragraph(
            f"Measured by bench/pretraining.py on {ablation['measured_at']}: one time split "
            f"(validation from {ablation['cutoff']}"
            + (
                f"; intent_session, with the session encoder: from {ablation['session_cutoff']}"
                if "session_cutoff" in ablation
                else ""
            )
            + "), one seed, the same MLP learner in every row. Differences are to aggregates "
            "only, with a 95% interval from a paired bootstrap over customers (users for the "
            "clickstream); an interval that spans 0 is no evidence of a gain."
        ),
        h.table(
            ["", "HR@10", "Recall@10", "NDCG@10"],
            [
                [who, *(f"{quality[f'{m}_{who}']:.3f}" for m in ("hr10", "recall10", "ndcg10"))]
                for who in ("encoder", "popularity")
            ],
        ),
        h.paragraph(
            f"Next-item quality of the encoder before any fine-tuning, on "
            f"{quality['snapshots']:,} customer snapshots with a purchase in the next 30 days."
        ),
        h.table(
            ["model", "candidate", "metric", "value", "vs aggregates", "95% interval"],
            [
                [
                    row["task"],
                    row["candidate"],
                    row["metric"],
                    f"{row['value']:.4f}",
                    "" if row["difference"] is None else f"{row['difference']:+.4f}",
                    "" if row["low"] is None else f"[{row['low']:+.4f}, {row['high']:+.4f}]",
                ]
                for row in ablation["rows"]
            ],
            text_columns=3,
        ),
    ]
    return h.section("What pre-training buys", *parts, anchor="pretraining")


def recommendation_page(rec: RecommendationEvidence, stamp: str) -> str:
    """A recommender's champion: its validation table against the baselines, how its lists
    did once the window passed, and a few customers' lists."""
    card = rec.card
    metrics = card.get("metrics") or {
        n: v for n, v in rec.entry.metrics.items() if isinstance(v, dict) and "hr_at_10" in v
    }
    champion = card.get("champion") or rec.entry.metrics["champion"]
    columns = ["hr_at_10", "recall_at_10", "ndcg_at_10", "new_hr_at_10"]
    comparison = h.section(
        "Validation: the lists against the baselines",
        h.paragraph(
            f"Snapshots {escape(' .. '.join(str(t)[:10] for t in card.get('valid_window', [])))}; "
            "for each customer snapshot with a purchase in the next 30 days, the top 10 against "
            "the products bought then. New HR@10: lists without the customer's own products, on "
            "products new to them. The champion was chosen on the last training weeks."
        ),
        h.table(
            ["list", "HR@10", "Recall@10", "NDCG@10", "new HR@10"],
            [
                [("* " if n == champion else "") + n, *(_fmt(m[c]) for c in columns)]
                for n, m in metrics.items()
            ],
        ),
        h.paragraph(escape(card.get("verdict", ""))),
        anchor="validation",
    )
    if rec.realized is None:
        realized = h.section(
            "Realized",
            h.note(
                "No scored snapshot has had its 30 days pass yet: run <code>dbt build</code> "
                "later (monitoring.recommendation_performance)."
            ),
        )
    else:
        realized = h.section(
            "Realized",
            h.figure(
                charts.recommendation_quality(rec.realized),
                "Realized list quality by as_of",
                "monitoring.recommendation_performance: each scored snapshot whose 30 days have "
                "passed, over the customers who bought in them.",
            ),
            anchor="realized",
        )
    parts = [comparison, realized]
    if rec.examples is not None:
        rows = [
            [
                str(r.customer_id)[:12],
                str(r.as_of)[:10],
                str(r.rank),
                str(r.product_id),
                str(r.description or ""),
                f"{r.score:.3f}",
                "yes" if r.is_repeat else "",
            ]
            for r in rec.examples.itertuples()
        ]
        parts.append(
            h.section(
                "Newest lists (predictions.next_products_latest)",
                h.table(
                    [
                        "customer",
                        "as_of",
                        "rank",
                        "product",
                        "description",
                        "score",
                        "bought before",
                    ],
                    rows,
                    text_columns=5,
                ),
                anchor="lists",
            )
        )
    subtitle = escape(rec.spec.description)
    return h.page(f"cartcast · {rec.spec.name}", subtitle, parts, f"cartcast report, {stamp}")


def recommendations_section(recommendations: list[RecommendationEvidence]) -> str:
    if not recommendations:
        return ""
    rows = []
    for rec in recommendations:
        metrics = rec.card.get("metrics", {})
        champion = rec.card.get("champion", "")
        model = metrics.get(champion, {})
        rows.append(
            [
                f"{rec.spec.name} v{rec.entry.version}",
                champion,
                *(
                    _fmt(model.get(c, float("nan")))
                    for c in ("hr_at_10", "recall_at_10", "ndcg_at_10")
                ),
            ]
        )
    links = " ".join(f'<a href="{r.spec.name}.html">{r.spec.name}</a>' for r in recommendations)
    return h.section(
        "Recommendations",
        h.table(["recommender", "champion", "HR@10", "Recall@10", "NDCG@10"], rows, text_columns=2),
        f"<p>Pages: {links}</p>",
        anchor="recommendations",
    )


def overview_page(
    summary: LoadSummary | None,
    evidence: list[ModelEvidence],
    stamp: str,
    ablation: dict | None = None,
    recommendations: list[RecommendationEvidence] | None = None,
) -> str:
    body = [
        data_section(summary),
        models_section(evidence),
        recommendations_section(recommendations or []),
        pretraining_section(ablation),
    ]
    subtitle = "What came in, what was set aside, and how each model does"
    return h.page("cartcast · overview", subtitle, body, f"cartcast report, {stamp}")
