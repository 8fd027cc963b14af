"""`cartcast train`: data, split, preprocessing, torch models and baselines, export, registry."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import torch

from cartcast.catalog import LOWER_IS_BETTER, ModelSpec, get_spec
from cartcast.errors import TrainingError
from cartcast.registry import versions as registry
from cartcast.training import baselines, card, export
from cartcast.training import importance as imp
from cartcast.training import preprocess as pp
from cartcast.training.dataset import Split, describe_split, load_frame, time_split
from cartcast.training.evidence import store_evidence
from cartcast.training.fit import TorchConfig, make_inputs, predict, train_torch
from cartcast.training.metrics import evaluate
from cartcast.warehouse.paths import Warehouse

PARITY_TOLERANCE = 1e-5
PARITY_ROWS = 2048


@dataclass(frozen=True)
class TrainOptions:
    seed: int = 0
    cutoff: datetime | None = None
    epochs: int | None = None
    feature_service: str | None = None
    quick: bool = False


@dataclass
class TrainResult:
    spec: ModelSpec
    version: int
    split_summary: str
    metrics: dict[str, dict[str, float]]
    champion: str
    family: str
    table: str
    verdict: str
    path: Path
    parity: float
    entry: registry.Entry | None = None
    history: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    importance: list[imp.Importance] = field(default_factory=list)


def torch_configs(spec: ModelSpec, options: TrainOptions) -> dict[str, TorchConfig]:
    """The torch candidates of a model. Few epochs: the data is small and weekly snapshots of
    one customer are near copies, so more epochs mostly memorise."""
    epochs = options.epochs or (1 if options.quick else 3)
    configs = {"torch mlp": TorchConfig(epochs=epochs, seed=options.seed, dropout=0.2)}
    if spec.sequence:
        configs["torch transformer+mlp"] = TorchConfig(
            epochs=options.epochs or (1 if options.quick else 2),
            seed=options.seed,
            dropout=0.2,
            use_sequence=True,
            weight_decay=1e-3,
        )
    return configs


def check_service(spec: ModelSpec, warehouse: Warehouse, options: TrainOptions) -> None:
    service = options.feature_service or spec.feature_service
    registered = registry.registered_service(warehouse, spec.name)
    if service != spec.feature_service or (registered and registered != service):
        expected = registered or spec.feature_service
        raise TrainingError(
            f"Feature service {service!r} does not match model {spec.name}, which is "
            f"registered with {expected!r}."
        )


def train_model(
    name: str,
    warehouse: Warehouse | None = None,
    options: TrainOptions | None = None,
    store=None,
    frame: pd.DataFrame | None = None,
    echo: Callable[[str], None] = print,
    progress: Callable[[str, int, int, float, float], None] | None = None,
) -> TrainResult:
    """Train, compare, export and register one model; returns what was measured."""
    spec = get_spec(name)
    warehouse = warehouse or Warehouse.from_env()
    options = options or TrainOptions()
    check_service(spec, warehouse, options)
    frame = load_frame(spec, warehouse, store) if frame is None else frame
    split = time_split(frame, spec, options.cutoff)
    summary = describe_split(split, spec)
    echo(summary)
    params = pp.fit(spec, split.train)
    y_valid = split.valid[spec.label_column].to_numpy(dtype=np.float64)

    metrics: dict[str, dict[str, float]] = {}
    # Every candidate's validation scores, kept for the report's curves.
    scores: dict[str, np.ndarray] = {}
    heads: dict[str, tuple[torch.nn.Module, TorchConfig]] = {}
    history: dict[str, list[dict[str, float]]] = {}
    for label, config in torch_configs(spec, options).items():

        def on_epoch(epoch: int, loss: float, metric: float, label=label, config=config) -> None:
            if progress is not None:
                progress(label, epoch, config.epochs, loss, metric)

        head, history[label] = train_torch(spec, params, split.train, split.valid, config, on_epoch)
        valid_inputs = make_inputs(split.valid, spec, params, config.use_sequence)
        scores[label] = predict(head, valid_inputs)
        metrics[label] = evaluate(spec.task, y_valid, scores[label])
        heads[label] = (head, config)

    fitted = [
        baselines.fit_linear(spec, params, split.train),
        baselines.fit_boosted_trees(spec, params, split.train, options.seed),
        baselines.fit_heuristic(spec, params, split.train),
    ]
    by_name = {b.name: b for b in fitted}
    for baseline in fitted:
        scores[baseline.name] = baseline.predict(split.valid)
        metrics[baseline.name] = evaluate(spec.task, y_valid, scores[baseline.name])

    linear = by_name[fitted[0].name]
    trees = by_name["hist gradient boosting"]
    # Candidates exported through torch (the torch models and the linear baseline, rebuilt as
    # a torch module), and the boosted trees through skl2onnx. The rule cannot be exported.
    torch_exportable = {**heads, linear.name: (linear.as_torch(), TorchConfig())}
    champion = _best(spec, metrics, exportable=[*torch_exportable, trees.name])
    table = card.comparison_table(spec, metrics, champion)
    verdict = card.verdict(spec, metrics, champion)

    version = registry.next_version(warehouse, spec.name)
    folder = registry.model_dir(warehouse, spec.name, version)
    parity_rows = split.valid.head(PARITY_ROWS)
    exported_by_torch = champion if champion in torch_exportable else _best(spec, metrics, [*heads])
    head, config = torch_exportable[exported_by_torch]
    inputs = export.input_signature(spec, params, config.use_sequence)
    if champion == trees.name:
        inputs = export.input_signature(spec, params, sequence=False)
    metadata = {
        "model_name": spec.name,
        "version": str(version),
        "task": spec.task,
        "feature_service": spec.feature_service,
        "label": spec.label,
        "inputs": inputs,
        "output": "score",
        "training_window": list(split.train_window),
        "validation_window": list(split.valid_window),
        "cutoff": split.cutoff.isoformat(),
        "metrics": metrics,
        "selection_metric": spec.selection_metric,
        "preprocessing": params.to_json(),
        "seed": str(options.seed),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    example = make_inputs(parity_rows, spec, params, config.use_sequence)
    family = _family(exported_by_torch, heads)
    torch_model = export.export_torch(
        head, spec, params, example, {**metadata, "family": family, "candidate": exported_by_torch}
    )
    parity = torch_parity(head, torch_model, parity_rows, spec, params, config)
    if parity > PARITY_TOLERANCE:
        raise TrainingError(
            f"ONNX Runtime and torch disagree on {spec.name} by {parity:.2e} "
            f"(> {PARITY_TOLERANCE}): the export is not faithful."
        )
    if champion == trees.name:
        family = "boosted_trees"
        champion_model = export.export_trees(
            trees, spec, params, {**metadata, "family": family, "candidate": champion}
        )
        export.save(torch_model, folder / "torch_model.onnx")
    else:
        champion_model = torch_model
    path = export.save(champion_model, folder / "model.onnx")
    if champion == trees.name:
        feed = export.onnx_feed(parity_rows, spec, params, sequence=False)
        gap = np.abs(export.run_onnx(path, feed) - trees.predict(parity_rows)).max()
        echo(f"boosted-tree ONNX vs scikit-learn on validation rows: max abs difference {gap:.2e}")
    served_sequence = config.use_sequence and champion != trees.name
    importances = store_evidence(
        spec, split, params, warehouse, version, path, scores, served_sequence, options.seed
    )

    entry = registry.register(
        warehouse,
        name=spec.name,
        version=version,
        task=spec.task,
        feature_service=spec.feature_service,
        family=family,
        train_window=split.train_window,
        valid_window=split.valid_window,
        cutoff=split.cutoff.isoformat(),
        metrics={"champion": champion, "selection_metric": spec.selection_metric, **metrics},
        path=path,
    )
    _write_card(
        spec, split, version, family, champion, table, verdict, inputs, entry, options, importances
    )
    return TrainResult(
        spec=spec,
        version=version,
        split_summary=summary,
        metrics=metrics,
        champion=champion,
        family=family,
        table=table,
        verdict=verdict,
        path=path,
        parity=parity,
        entry=entry,
        history=history,
        importance=importances,
    )


def _family(candidate: str, heads: dict) -> str:
    return "torch" if candidate in heads else "linear"


def _best(spec: ModelSpec, metrics: dict[str, dict[str, float]], exportable: list[str]) -> str:
    metric = spec.selection_metric
    sign = -1 if metric in LOWER_IS_BETTER else 1
    return max(exportable, key=lambda n: sign * metrics[n][metric])


def torch_parity(
    head: torch.nn.Module,
    model: onnx.ModelProto,
    rows: pd.DataFrame,
    spec: ModelSpec,
    params: pp.PreprocessParams,
    config: TorchConfig,
) -> float:
    """Max |ONNX Runtime - torch| on real rows, the ONNX side fed raw values.

    Probabilities are compared as they are. Amounts (spend, up to ~1e5) are compared relative
    to max(1, |amount|): float32 carries about 7 significant digits, so an absolute 1e-5 on
    an amount of 50,000 would ask for more precision than either runtime has.
    """
    expected = predict(head, make_inputs(rows, spec, params, config.use_sequence))
    feed = export.onnx_feed(rows, spec, params, sequence=config.use_sequence)
    got = export.run_onnx(model.SerializeToString(), feed)
    scale = 1.0 if spec.task == "binary" else np.maximum(1.0, np.abs(expected))
    return float((np.abs(got - expected) / scale).max())


def _write_card(
    spec: ModelSpec,
    split: Split,
    version: int,
    family: str,
    champion: str,
    table: str,
    verdict: str,
    inputs: list[dict],
    entry: registry.Entry,
    options: TrainOptions,
    importances: list[imp.Importance],
) -> None:
    tried = (
        "an MLP over the preprocessed tabular features (ReLU, dropout, AdamW, "
        + ("binary cross-entropy" if spec.task == "binary" else "Huber loss on signed log1p")
        + f", {torch_configs(spec, options)['torch mlp'].epochs} epochs, no early stopping)"
        + (
            "; the same MLP joined with a one-block Transformer encoder over the 20 most "
            "recent products (learned embeddings, out-of-vocabulary bucket)"
            if spec.sequence
            else ""
        )
        + "; baselines: linear model, HistGradientBoosting (fixed settings, no early stopping), "
        "recency/frequency rule."
    )
    content = {
        "name": spec.name,
        "version": version,
        "family": family,
        "champion": champion,
        "task": spec.task,
        "feature_service": spec.feature_service,
        "label": spec.label,
        "train_window": list(split.train_window),
        "valid_window": list(split.valid_window),
        "cutoff": split.cutoff.isoformat(),
        "rows": {
            "train": len(split.train),
            "valid": len(split.valid),
            "dropped_for_gap": split.dropped_for_gap,
        },
        "metrics": entry.metrics,
        "table": table,
        "verdict": verdict,
        "tried": tried,
        "inputs": inputs,
        "seed": options.seed,
        "importance": [asdict(i) for i in importances],
        "sha256": entry.sha256,
        "path": str(entry.path),
    }
    folder = entry.path.parent
    (folder / "model_card.json").write_text(json.dumps(content, indent=2, sort_keys=True))
    (folder / "model_card.md").write_text(card.model_card(spec, content))
