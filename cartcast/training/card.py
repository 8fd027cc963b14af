"""The comparison table and the model card (Markdown and JSON)."""

from __future__ import annotations

from cartcast.catalog import LOWER_IS_BETTER, ModelSpec
from cartcast.training.metrics import BINARY_COLUMNS, REGRESSION_COLUMNS


def metric_columns(spec: ModelSpec) -> tuple[str, ...]:
    return BINARY_COLUMNS if spec.task == "binary" else REGRESSION_COLUMNS


def comparison_table(spec: ModelSpec, results: dict[str, dict[str, float]], champion: str) -> str:
    """Plain-text table: one row per candidate, validation metrics, the champion marked."""
    columns = metric_columns(spec)
    width = max(len(n) for n in results) + 2
    head = f"{'model':<{width}}" + "".join(f"{c:>12}" for c in columns)
    arrows = f"{'':<{width}}" + "".join(
        f"{'(lower)' if c in LOWER_IS_BETTER else '(higher)':>12}" for c in columns
    )
    lines = [head, arrows]
    for name, metrics in results.items():
        mark = "* " if name == champion else "  "
        cells = "".join(f"{_fmt(metrics[c]):>12}" for c in columns)
        lines.append(f"{mark}{name:<{width - 2}}{cells}")
    lines.append(
        f"* champion, chosen by validation {spec.selection_metric} among the exportable models "
        "(all but the rule)"
    )
    return "\n".join(lines)


def _fmt(value: float) -> str:
    return f"{value:,.2f}" if abs(value) >= 100 else f"{value:.4f}"


def verdict(spec: ModelSpec, results: dict[str, dict[str, float]], champion: str) -> str:
    """One honest sentence on whether the torch model beat the baselines."""
    metric = spec.selection_metric
    sign = -1 if metric in LOWER_IS_BETTER else 1
    torch_rows = {n: m for n, m in results.items() if n.startswith("torch")}
    base_rows = {n: m for n, m in results.items() if not n.startswith("torch")}
    best_torch = max(torch_rows, key=lambda n: sign * torch_rows[n][metric])
    best_base = max(base_rows, key=lambda n: sign * base_rows[n][metric])
    t, b = torch_rows[best_torch][metric], base_rows[best_base][metric]
    worse = []
    for column in metric_columns(spec):
        if column == metric:
            continue
        s = -1 if column in LOWER_IS_BETTER else 1
        best = max(base_rows, key=lambda n, c=column, s=s: s * base_rows[n][c])
        if s * torch_rows[best_torch][column] < s * base_rows[best][column]:
            ours, theirs = torch_rows[best_torch][column], base_rows[best][column]
            worse.append(f"{column} {_fmt(ours)} vs {_fmt(theirs)} ({best})")
    caveat = f" It is worse on {', '.join(worse)}." if worse else ""
    if sign * t >= sign * b:
        return (
            f"The torch model ({best_torch}) beats the best baseline ({best_base}) on "
            f"validation {metric}: {t:.4f} vs {b:.4f}.{caveat}"
        )
    return (
        f"The torch model does NOT beat the best baseline: {best_torch} has validation "
        f"{metric} {t:.4f}, {best_base} has {b:.4f}. The champion is {champion}.{caveat}"
    )


def model_card(spec: ModelSpec, card: dict) -> str:
    """Markdown model card from the JSON card."""
    lines = [
        f"# {spec.name} v{card['version']}",
        "",
        spec.description,
        "",
        f"- family of the exported model: **{card['family']}** ({card['champion']})",
        f"- task: {spec.task}; label `{spec.label}` over {spec.window_text}",
        f"- feature service: `{spec.feature_service}`",
        f"- training snapshots: {card['train_window'][0]} .. {card['train_window'][1]} "
        f"({card['rows']['train']:,} rows)",
        f"- validation snapshots: {card['valid_window'][0]} .. {card['valid_window'][1]} "
        f"({card['rows']['valid']:,} rows); cut-off {card['cutoff']}; training rows whose "
        f"label window reaches past the cut-off are dropped ({card['rows']['dropped_for_gap']:,})",
        f"- seed {card['seed']}; ONNX file sha256 {card['sha256']}",
        "",
        "## Validation metrics",
        "",
        "```",
        card["table"],
        "```",
        "",
        "## Verdict",
        "",
        card["verdict"],
        "",
        "What was tried: " + card["tried"],
        "",
        "## Inputs (raw values, in this order)",
        "",
        "| name | type | shape |",
        "|---|---|---|",
    ]
    for row in card["inputs"]:
        shape = ", ".join(str(d) for d in row["shape"])
        lines.append(f"| {row['name']} | {row['type']} | ({shape}) |")
    lines += [
        "",
        "Missing numbers are NaN (imputed in-graph with the training median); unknown "
        "categories and products map to an out-of-vocabulary code in-graph. The output `score` "
        + (
            "is a probability."
            if spec.task == "binary"
            else "is an amount (net spend, may be negative)."
        ),
        "",
    ]
    if card.get("importance"):
        lines += importance_section(card["importance"])
    return "\n".join(lines)


def importance_section(rows: list[dict]) -> list[str]:
    """Permutation importance of the exported model, most important first."""
    metric = rows[0]["metric"]
    lines = [
        "## Feature importance (permutation, validation split)",
        "",
        f"Drop in validation {metric} when the feature's values are shuffled across rows, "
        "scored through the exported ONNX file (mean ± standard deviation of the shuffles). "
        "About 0: the model does not rely on it. Shares that sum to 1 (`a+b+c`) are shuffled "
        "together and listed once.",
        "",
        "| rank | feature | importance | std |",
        "|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['rank']} | {row['feature']} | {row['importance']:.4f} "
            f"| {row['importance_std']:.4f} |"
        )
    return [*lines, ""]
