"""`cartcast train`: data, split, preprocessing, torch models and baselines, export, registry."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import torch

from cartcast.catalog import LOWER_IS_BETTER, ModelSpec, get_spec, is_upgrade
from cartcast.errors import TrainingError
from cartcast.pretraining.corpora import get_corpus
from cartcast.pretraining.pretrain import PretrainConfig, Pretrained, pretrained_for
from cartcast.registry import versions as registry
from cartcast.training import baselines, card, export
from cartcast.training import importance as imp
from cartcast.training import preprocess as pp
from cartcast.training.dataset import Split, describe_split, load_frame, time_split
from cartcast.training.evidence import store_evidence
from cartcast.training.fit import (
    TorchConfig,
    make_inputs,
    params_for_encoder,
    predict,
    train_torch,
)
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
    # candidates on the behaviour encoder pre-trained before the cut-off (models with a
    # product sequence); its epochs (default 4, quick 1)
    pretrained: bool = True
    pretrain_epochs: int | None = None


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
    # wall seconds: "pre-training" (0 when a kept encoder was reused) and each candidate's fit
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def encoder_seconds(self) -> tuple[float, float]:
        """Seconds pre-training the encoder and fitting the candidates built on it."""
        tuned = sum(v for k, v in self.seconds.items() if k in (FROZEN, FINE_TUNED))
        return self.seconds.get("pre-training", 0.0), tuned


FROZEN = "torch pretrained encoder (frozen)+mlp"
FINE_TUNED = "torch pretrained encoder (fine-tuned)+mlp"


def torch_configs(
    spec: ModelSpec, options: TrainOptions, pretrained: Pretrained | None = None
) -> dict[str, TorchConfig]:
    """The torch candidates of a model. Few epochs: the data is small and weekly snapshots of
    one customer are near copies, so more epochs mostly memorise. With a pre-trained encoder,
    two more: its customer vector as frozen features of the MLP, and the encoder fine-tuned
    with the MLP head."""
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
    if spec.sequence and pretrained is not None:
        epochs = options.epochs or (1 if options.quick else 2)
        common = dict(epochs=epochs, seed=options.seed, dropout=0.2, use_sequence=True)
        configs[FROZEN] = TorchConfig(**common, pretrained=pretrained, freeze_encoder=True)
        configs[FINE_TUNED] = TorchConfig(**common, pretrained=pretrained, weight_decay=1e-3)
    return configs


def pretrain_encoder(
    prepared: Prepared,
    warehouse: Warehouse,
    options: TrainOptions,
    echo: Callable[[str], None] = print,
) -> Pretrained | None:
    """The encoder of the model's sequence pre-trained on its corpus before this run's
    cut-off (kept and reused across models and runs with the same corpus, cut-off and seed):
    the purchase encoder for customers, the session encoder for clickstream users."""
    spec = prepared.spec
    if not (options.pretrained and spec.sequence and spec.corpus):
        return None
    epochs = options.pretrain_epochs or (1 if options.quick else PretrainConfig().epochs)
    config = PretrainConfig(seed=options.seed, epochs=epochs, corpus=spec.corpus)
    return pretrained_for(warehouse, prepared.split.cutoff, config, echo)


@dataclass(frozen=True)
class Prepared:
    """Step 1: the model's rows split in time, preprocessing fitted on the training rows,
    and the version this run will register."""

    spec: ModelSpec
    split: Split
    summary: str
    params: pp.PreprocessParams
    version: int

    @property
    def y_valid(self) -> np.ndarray:
        return self.split.valid[self.spec.label_column].to_numpy(dtype=np.float64)


@dataclass
class Candidates:
    """Step 2: every candidate fitted, with its validation scores and metrics."""

    metrics: dict[str, dict[str, float]]
    # Every candidate's validation scores, kept for the report's curves.
    scores: dict[str, np.ndarray]
    heads: dict[str, tuple[torch.nn.Module, TorchConfig]]
    history: dict[str, list[dict[str, float]]]
    linear: baselines.Baseline
    trees: baselines.Baseline
    # the preprocessing of candidates that differ from the run's (the pre-trained encoder's
    # product vocabulary)
    params: dict[str, pp.PreprocessParams] = field(default_factory=dict)
    default_params: pp.PreprocessParams | None = None
    # wall seconds of each candidate's fit and validation scores
    seconds: dict[str, float] = field(default_factory=dict)

    def params_for(self, candidate: str) -> pp.PreprocessParams:
        return self.params.get(candidate, self.default_params)

    @cached_property
    def torch_exportable(self) -> dict[str, tuple[torch.nn.Module, TorchConfig]]:
        """Candidates exported through torch: the torch models and the linear baseline,
        rebuilt as a torch module. The boosted trees go through skl2onnx; the rule cannot be
        exported."""
        return {**self.heads, self.linear.name: (self.linear.as_torch(), TorchConfig())}


@dataclass(frozen=True)
class Choice:
    """Step 3: the champion and how it compares."""

    champion: str
    table: str
    verdict: str


@dataclass(frozen=True)
class Exported:
    """Step 4: the champion's ONNX file, checked against the model it came from."""

    path: Path
    family: str
    inputs: list[dict]
    parity: float
    # the graph that serves the sequence input (explanations and importance feed it)
    serves_sequence: bool
    # the preprocessing inside the exported graph
    params: pp.PreprocessParams


def check_service(spec: ModelSpec, registered: str | None, options: TrainOptions) -> None:
    service = options.feature_service or spec.feature_service
    if registered and registered != service and is_upgrade(spec, registered):
        # the catalog moved the model to a new version of its inputs: new versions use it
        registered = service
    if service != spec.feature_service or (registered and registered != service):
        expected = registered or spec.feature_service
        raise TrainingError(
            f"Feature service {service!r} does not match model {spec.name}, which is "
            f"registered with {expected!r}."
        )


def prepare(
    spec: ModelSpec,
    warehouse: Warehouse,
    options: TrainOptions,
    store=None,
    frame: pd.DataFrame | None = None,
) -> Prepared:
    """Check the feature service against the registry, load the training set (unless given),
    split it in time and fit the preprocessing on the training rows."""
    with registry.connect(warehouse) as con:
        check_service(spec, registry.registered_service_on(con, spec.name), options)
        version = registry.next_version_on(con, spec.name)
    frame = load_frame(spec, warehouse, store) if frame is None else frame
    split = time_split(frame, spec, options.cutoff)
    return Prepared(spec, split, describe_split(split, spec), pp.fit(spec, split.train), version)


def fit_candidates(
    prepared: Prepared,
    options: TrainOptions,
    progress: Callable[[str, int, int, float, float], None] | None = None,
    pretrained: Pretrained | None = None,
) -> Candidates:
    """The torch candidates and the baselines, each scored on the validation rows."""
    spec, split, params = prepared.spec, prepared.split, prepared.params
    y_valid = prepared.y_valid
    metrics: dict[str, dict[str, float]] = {}
    scores: dict[str, np.ndarray] = {}
    heads: dict[str, tuple[torch.nn.Module, TorchConfig]] = {}
    history: dict[str, list[dict[str, float]]] = {}
    own_params: dict[str, pp.PreprocessParams] = {}
    seconds: dict[str, float] = {}
    for label, config in torch_configs(spec, options, pretrained).items():
        started = time.perf_counter()
        params = prepared.params
        if config.pretrained is not None:
            params = own_params[label] = params_for_encoder(prepared.params, config.pretrained)

        def on_epoch(epoch: int, loss: float, metric: float, label=label, config=config) -> None:
            if progress is not None:
                progress(label, epoch, config.epochs, loss, metric)

        head, history[label] = train_torch(spec, params, split.train, split.valid, config, on_epoch)
        valid_inputs = make_inputs(split.valid, spec, params, config.use_sequence)
        scores[label] = predict(head, valid_inputs)
        metrics[label] = evaluate(spec.task, y_valid, scores[label])
        heads[label] = (head, config)
        seconds[label] = time.perf_counter() - started

    params = prepared.params
    fitters = [
        lambda: baselines.fit_linear(spec, params, split.train),
        lambda: baselines.fit_boosted_trees(spec, params, split.train, options.seed),
        lambda: baselines.fit_heuristic(spec, params, split.train),
    ]
    fitted = []
    for fit_baseline in fitters:
        started = time.perf_counter()
        baseline = fit_baseline()
        scores[baseline.name] = baseline.predict(split.valid)
        metrics[baseline.name] = evaluate(spec.task, y_valid, scores[baseline.name])
        seconds[baseline.name] = time.perf_counter() - started
        fitted.append(baseline)
    by_family = {b.family: b for b in fitted}
    return Candidates(
        metrics,
        scores,
        heads,
        history,
        by_family["linear"],
        by_family["boosted_trees"],
        own_params,
        prepared.params,
        seconds,
    )


def choose_champion(spec: ModelSpec, candidates: Candidates) -> Choice:
    """The exportable candidate with the best validation metric; the table and the verdict."""
    exportable = [*candidates.torch_exportable, candidates.trees.name]
    champion = _best(spec, candidates.metrics, exportable)
    return Choice(
        champion,
        card.comparison_table(spec, candidates.metrics, champion),
        card.verdict(spec, candidates.metrics, champion),
    )


def export_and_verify(
    prepared: Prepared,
    candidates: Candidates,
    choice: Choice,
    folder: Path,
    options: TrainOptions,
    echo: Callable[[str], None] = print,
) -> Exported:
    """Export the champion to one ONNX file that takes raw features, and prove it scores as
    the model it came from: ONNX Runtime against torch (or scikit-learn) on validation rows.

    The best torch-exportable candidate is exported even when the trees win, so the torch
    path's parity is proven on every run and its file is kept beside the champion.
    """
    spec, split = prepared.spec, prepared.split
    trees = candidates.trees
    torch_exportable = candidates.torch_exportable
    champion = choice.champion
    parity_rows = split.valid.head(PARITY_ROWS)
    if champion in torch_exportable:
        exported_by_torch = champion
    else:
        exported_by_torch = _best(spec, candidates.metrics, [*candidates.heads])
    head, config = torch_exportable[exported_by_torch]
    # the torch candidate's own preprocessing (a pre-trained encoder brings its vocabulary)
    params = candidates.params_for(exported_by_torch)
    inputs = export.input_signature(spec, params, config.use_sequence)
    if champion == trees.name:
        inputs = export.input_signature(spec, prepared.params, sequence=False)
    metadata = {
        "model_name": spec.name,
        "version": str(prepared.version),
        "task": spec.task,
        "feature_service": spec.feature_service,
        "label": spec.label,
        "inputs": inputs,
        "output": "score",
        "training_window": list(split.train_window),
        "validation_window": list(split.valid_window),
        "cutoff": split.cutoff.isoformat(),
        "metrics": candidates.metrics,
        "selection_metric": spec.selection_metric,
        "preprocessing": params.to_json(),
        "seed": str(options.seed),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    example = make_inputs(parity_rows, spec, params, config.use_sequence)
    family = _family(exported_by_torch, candidates.heads)
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
        params = prepared.params
        metadata["preprocessing"] = params.to_json()
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
    serves_sequence = config.use_sequence and champion != trees.name
    return Exported(path, family, inputs, parity, serves_sequence, params)


def record_evidence(
    prepared: Prepared,
    candidates: Candidates,
    exported: Exported,
    warehouse: Warehouse,
    options: TrainOptions,
) -> list[imp.Importance]:
    """The drift reference, the permutation importance and every candidate's validation
    scores, beside the file and in the warehouse."""
    return store_evidence(
        prepared.spec,
        prepared.split,
        exported.params,
        warehouse,
        prepared.version,
        exported.path,
        candidates.scores,
        exported.serves_sequence,
        options.seed,
    )


def register(
    prepared: Prepared,
    candidates: Candidates,
    choice: Choice,
    exported: Exported,
    warehouse: Warehouse,
    options: TrainOptions,
    importances: list[imp.Importance],
) -> registry.Entry:
    """Register the version (the first of a name becomes champion) and write its card."""
    spec, split = prepared.spec, prepared.split
    entry = registry.register(
        warehouse,
        name=spec.name,
        version=prepared.version,
        task=spec.task,
        feature_service=spec.feature_service,
        family=exported.family,
        train_window=split.train_window,
        valid_window=split.valid_window,
        cutoff=split.cutoff.isoformat(),
        metrics={
            "champion": choice.champion,
            "selection_metric": spec.selection_metric,
            **candidates.metrics,
        },
        path=exported.path,
    )
    _write_card(
        spec,
        split,
        prepared.version,
        exported.family,
        choice.champion,
        choice.table,
        choice.verdict,
        exported.inputs,
        entry,
        options,
        importances,
        candidates.seconds,
    )
    return entry


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
    prepared = prepare(spec, warehouse, options, store, frame)
    echo(prepared.summary)
    started = time.perf_counter()
    pretrained = pretrain_encoder(prepared, warehouse, options, echo)
    pretraining = time.perf_counter() - started if pretrained is not None else 0.0
    candidates = fit_candidates(prepared, options, progress, pretrained)
    choice = choose_champion(spec, candidates)
    folder = registry.model_dir(warehouse, spec.name, prepared.version)
    exported = export_and_verify(prepared, candidates, choice, folder, options, echo)
    importances = record_evidence(prepared, candidates, exported, warehouse, options)
    entry = register(prepared, candidates, choice, exported, warehouse, options, importances)
    return TrainResult(
        spec=spec,
        version=prepared.version,
        split_summary=prepared.summary,
        metrics=candidates.metrics,
        champion=choice.champion,
        family=exported.family,
        table=choice.table,
        verdict=choice.verdict,
        path=exported.path,
        parity=exported.parity,
        entry=entry,
        history=candidates.history,
        importance=importances,
        seconds={"pre-training": pretraining, **candidates.seconds},
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
    seconds: dict[str, float] | None = None,
) -> None:
    corpus = get_corpus(spec.corpus) if spec.corpus else None
    tried = (
        "an MLP over the preprocessed tabular features (ReLU, dropout, AdamW, "
        + ("binary cross-entropy" if spec.task == "binary" else "Huber loss on signed log1p")
        + f", {torch_configs(spec, options)['torch mlp'].epochs} epochs, no early stopping)"
        + (
            "; the same MLP joined with a one-block Transformer encoder over the 20 most "
            f"recent {corpus.items if corpus else 'items'} (learned embeddings, "
            "out-of-vocabulary bucket)"
            if spec.sequence
            else ""
        )
        + (
            f"; the {corpus.encoder} pre-trained by next-item prediction on every "
            f"{corpus.events.removesuffix('s')} of {corpus.entities} before the cut-off, as "
            "frozen features of the MLP and fine-tuned with it"
            if corpus and any(label in entry.metrics for label in (FROZEN, FINE_TUNED))
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
        # wall seconds of each candidate's fit and validation scores on this machine
        "seconds": {k: round(v, 1) for k, v in (seconds or {}).items()},
        "sha256": entry.sha256,
        "path": str(entry.path),
    }
    folder = entry.path.parent
    (folder / "model_card.json").write_text(json.dumps(content, indent=2, sort_keys=True))
    (folder / "model_card.md").write_text(card.model_card(spec, content))
