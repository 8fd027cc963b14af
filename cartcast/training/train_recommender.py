"""Train, compare, export and register a next-product recommender, in named steps.

Split in time like every cartcast model: training snapshots are those whose window ends by the
cut-off, validation snapshots start at it. Candidates are chosen on a gapped slice of the
training snapshots (the last `SELECTION_WEEKS` weeks, fitted on what ended before them), never
on validation; the champion is then refitted on all training snapshots. Validation reports every
candidate and baseline with one protocol (`recommend_metrics`), and again on products new to
the customer, where every list leaves out what the customer already bought.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from cartcast.catalog import RecommenderSpec, get_recommender
from cartcast.errors import TrainingError
from cartcast.features import recommend_rows as data
from cartcast.pretraining.corpora import product_text_vectors, purchase_histories
from cartcast.pretraining.pretrain import PretrainConfig, build_vocab, pretrained_for
from cartcast.registry import versions as registry
from cartcast.training import recommend_export as rexport
from cartcast.training import recommend_metrics as rmetrics
from cartcast.training import recommender as rec
from cartcast.training.export import save
from cartcast.warehouse.connection import connect
from cartcast.warehouse.paths import Warehouse

SELECTION_WEEKS = 4
PARITY_ROWS = 256
# ONNX Runtime against torch on the scores of the top k (float32 sums in another order)
PARITY_TOLERANCE = 1e-4


@dataclass(frozen=True)
class RecommenderOptions:
    seed: int = 0
    cutoff: datetime | None = None
    epochs: int | None = None
    quick: bool = False
    pretrain_epochs: int | None = None

    @property
    def fit_epochs(self) -> int:
        return self.epochs or (1 if self.quick else 2)

    def candidates(self) -> dict[str, str | None]:
        if self.quick:  # a smoke run: the mix alone, no encoder to pre-train
            return {n: u for n, u in rec.CANDIDATES.items() if u is None}
        return dict(rec.CANDIDATES)

    @property
    def selects(self) -> bool:
        """Whether a champion is chosen on the selection slice (with one candidate, no)."""
        return len(self.candidates()) > 1


@dataclass
class Prepared:
    spec: RecommenderSpec
    version: int
    cutoff: datetime
    train_window: tuple[datetime, datetime]
    valid_window: tuple[datetime, datetime]
    train: data.Rows
    valid: data.Rows
    popular: dict
    width: int
    # co-purchase counts (`recommend_rows.co_purchase_counts`) before the selection slice's
    # first snapshot and before the cut-off: what the selection fits and the final fits see
    co_purchase: dict[datetime, tuple[list[str], np.ndarray]] = field(default_factory=dict)

    @property
    def selection_start(self) -> datetime:
        return self.train_window[1] - timedelta(weeks=SELECTION_WEEKS - 1)

    def neighbours(self, vocab: list[str], before: datetime) -> rec.Neighbours:
        return rec.Neighbours.of(vocab, *self.co_purchase[before])


@dataclass
class RecommenderResult:
    spec: RecommenderSpec
    version: int
    champion: str
    metrics: dict[str, dict[str, float]]
    new_metrics: dict[str, dict[str, float]]
    selection: dict[str, float]
    table: str
    verdict: str
    path: Path
    parity: float
    entry: registry.Entry | None = None
    facts: dict[str, float] = field(default_factory=dict)
    # wall seconds: "pre-training" (0 when a kept encoder was reused) and each candidate's
    # fits (on the selection slice's rows, then on all training rows)
    seconds: dict[str, float] = field(default_factory=dict)
    # the candidates built on the pre-trained encoder
    encoder_candidates: tuple[str, ...] = ()

    @property
    def encoder_seconds(self) -> tuple[float, float]:
        """Seconds pre-training the encoder and fitting the candidates built on it."""
        tuned = sum(self.seconds.get(label, 0.0) for label in self.encoder_candidates)
        return self.seconds.get("pre-training", 0.0), tuned


def prepare(
    spec: RecommenderSpec, warehouse: Warehouse, options: RecommenderOptions, length: int
) -> Prepared:
    with registry.connect(warehouse) as con:
        version = registry.next_version_on(con, spec.name)
    con = connect(warehouse, read_only=True)
    try:
        times, observed = data.snapshot_times(con)
        cutoff, train_window, valid_window = data.windows(
            times, observed, spec.window, options.cutoff
        )
        (width,) = con.execute(
            "select max(history_length) from marts.customer_product_history"
        ).fetchone()
        train = data.load_rows(con, spec, *train_window, length, int(width))
        valid = data.load_rows(con, spec, *valid_window, length, int(width))
        popular, _ = data.load_popular(con)
        prepared = Prepared(
            spec, version, cutoff, train_window, valid_window, train, valid, popular, int(width)
        )
        times = (prepared.selection_start, cutoff) if options.selects else (cutoff,)
        for before in times:
            prepared.co_purchase[before] = data.co_purchase_counts(con, before)
    finally:
        con.close()
    return prepared


def selection_split(prepared: Prepared) -> tuple[data.Rows, data.Rows]:
    """(fit, select): the last SELECTION_WEEKS weeks of training snapshots, and the training
    snapshots whose window ended before the first of them."""
    rows = prepared.train
    start = np.datetime64(prepared.selection_start, "us")
    window = np.timedelta64(prepared.spec.window.days, "D")
    fit_rows = np.flatnonzero(rows.as_of + window <= start)
    select_rows = np.flatnonzero(rows.as_of >= start)
    if len(fit_rows) == 0 or len(select_rows) == 0:
        raise TrainingError(
            f"Too few training snapshots before {prepared.cutoff:%Y-%m-%d} for a gapped "
            f"selection slice of {SELECTION_WEEKS} weeks: use a later --cutoff."
        )
    return rows.take(fit_rows), rows.take(select_rows)


def comparison_table(metrics: dict[str, dict[str, float]], champion: str, k: int) -> str:
    columns = [f"hr_at_{k}", f"recall_at_{k}", f"ndcg_at_{k}", f"new_hr_at_{k}"]
    width = max(len(n) for n in metrics) + 4
    lines = [f"{'list':<{width}}" + "".join(f"{c:>14}" for c in columns)]
    for name, row in metrics.items():
        mark = "* " if name == champion else "  "
        lines.append(f"{mark}{name:<{width - 2}}" + "".join(f"{row[c]:>14.4f}" for c in columns))
    lines.append(
        f"* champion, chosen by ndcg_at_{k} on the last {SELECTION_WEEKS} training weeks; "
        f"new_hr_at_{k}: lists without the customer's own products, on products new to them"
    )
    return "\n".join(lines)


def verdict(metrics: dict[str, dict[str, float]], champion: str, k: int) -> str:
    model = metrics[champion]
    repeat = metrics[rmetrics.REPEAT]
    popular = metrics[rmetrics.POPULARITY]
    recall = model[f"recall_at_{k}"] / repeat[f"recall_at_{k}"]
    ndcg = model[f"ndcg_at_{k}"] / repeat[f"ndcg_at_{k}"]
    beats = "beats" if recall > 1 and ndcg > 1 else "does not beat"
    new = "above" if model[f"new_hr_at_{k}"] > popular[f"new_hr_at_{k}"] else "not above"
    return (
        f"The champion ({champion}) {beats} the repeat baseline: Recall@{k} x{recall:.3f}, "
        f"NDCG@{k} x{ndcg:.3f}, HR@{k} {model[f'hr_at_{k}']:.3f} against "
        f"{repeat[f'hr_at_{k}']:.3f}; on products new to the customer its HR@{k} is {new} "
        f"popularity's ({model[f'new_hr_at_{k}']:.3f} against {popular[f'new_hr_at_{k}']:.3f})."
    )


def _without_own(lists: np.ndarray, rows: data.Rows, popular: dict, k: int) -> np.ndarray:
    """A baseline's lists with the customer's own products left out, topped up by best
    sellers they have not bought."""
    out = np.full((len(rows), k), "", dtype=object)
    for r in range(len(rows)):
        own = rows.bought_before(r)
        kept = [p for p in lists[r] if p != "" and p not in own]
        kept = rmetrics.top_up(kept, popular[rows.as_of[r]].product_ids, k, skip=own)
        out[r, : len(kept)] = kept
    return out


def evaluate_all(
    models: dict[str, rec.NextProducts],
    prepared: Prepared,
    coder: rec.Coder,
    k: int = rmetrics.K,
    baselines: dict[str, np.ndarray] | None = None,
) -> dict[str, dict[str, float]]:
    """Validation metrics of every candidate and baseline, one protocol; `new_*` on lists
    without the customer's own products."""
    valid, popular = prepared.valid, prepared.popular
    out = {}
    for name, model in models.items():
        lists, _ = rec.top_k(model, valid, popular, coder, k)
        fresh, _ = rec.top_k(model, valid, popular, coder, k, repeats=False)
        out[name] = _merge(rmetrics.evaluate(lists, valid, k), rmetrics.evaluate(fresh, valid, k))
    for name, lists in (baselines or {}).items():
        fresh = _without_own(lists, valid, popular, k)
        out[name] = _merge(rmetrics.evaluate(lists, valid, k), rmetrics.evaluate(fresh, valid, k))
    return out


def _merge(plain: dict[str, float], fresh: dict[str, float]) -> dict[str, float]:
    return {
        **{n: v for n, v in plain.items() if not n.startswith("new_")},
        **{n: v for n, v in fresh.items() if n.startswith("new_")},
    }


def parity(
    model: rec.NextProducts, proto: onnx.ModelProto, prepared: Prepared, coder: rec.Coder, k: int
) -> float:
    """Largest difference, relative to the score's size, between ONNX Runtime's top-k scores
    and torch's, on validation rows of one snapshot; and between ONNX Runtime's scores and
    torch's scores of the products ONNX Runtime chose (so both rank the same, up to ties)."""
    valid = prepared.valid
    rows = valid.take(rec.by_snapshot(valid)[-1][:PARITY_ROWS])
    popular = prepared.popular[rows.as_of[0]]
    with torch.no_grad():
        every = model(*rec.Batch.of(rows, popular, coder).tensors).numpy()
    best = -np.sort(-every, axis=1)[:, :k]
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    got_ids, got_scores = session.run(
        ["product_ids", "scores"], data.onnx_feed(rows, popular, k, session)
    )
    chosen = np.take_along_axis(every, coder(got_ids) - 2, axis=1)
    scale = np.maximum(1.0, np.abs(best))
    return float(
        max((np.abs(got_scores - best) / scale).max(), (np.abs(got_scores - chosen) / scale).max())
    )


def fit_candidates(
    prepared: Prepared,
    options: RecommenderOptions,
    coder: rec.Coder,
    n_seen: int,
    encoder,
    k: int = rmetrics.K,
) -> tuple[dict[str, rec.NextProducts], dict[str, float | None], str, dict[str, float]]:
    """Each candidate fitted on the training rows before the selection slice and scored on it
    (NDCG@k), the best one the champion; then every candidate refitted on all training rows,
    so validation compares like with like. With one candidate there is nothing to choose.
    Also each candidate's wall seconds, both fits together."""
    fit_rows, select_rows = selection_split(prepared)
    labels = options.candidates()
    # neighbours counted before the rows scored: the selection slice's start, the cut-off
    before_cutoff = prepared.neighbours(coder.vocab, prepared.cutoff)

    def fitted(rows: data.Rows, use: str | None, neighbours: rec.Neighbours) -> rec.NextProducts:
        return rec.fit(
            rows,
            prepared.popular,
            coder,
            n_seen,
            encoder,
            use,
            options.fit_epochs,
            options.seed,
            neighbours=neighbours,
        )

    selection: dict[str, float | None] = {label: None for label in labels}
    seconds = dict.fromkeys(labels, 0.0)
    if options.selects:
        before_selection = prepared.neighbours(coder.vocab, prepared.selection_start)
        for label, use in labels.items():
            started = time.perf_counter()
            model = fitted(fit_rows, use, before_selection)
            lists, _ = rec.top_k(model, select_rows, prepared.popular, coder, k)
            selection[label] = rmetrics.evaluate(lists, select_rows, k)[f"ndcg_at_{k}"]
            seconds[label] += time.perf_counter() - started
    champion = max(selection, key=lambda label: selection[label] or -1.0)
    models = {}
    for label, use in labels.items():
        started = time.perf_counter()
        models[label] = fitted(prepared.train, use, before_cutoff)
        seconds[label] += time.perf_counter() - started
    return models, selection, champion, seconds


@dataclass
class Catalogue:
    """The products a recommender scores (code i + 2 is `vocab[i]`; the first `n_seen` were
    bought before the cut-off) and the pre-trained encoder, when a candidate reads it."""

    vocab: list[str]
    n_seen: int
    encoder: object | None
    pretrained: object | None


def catalogue_for(
    warehouse: Warehouse,
    cutoff: datetime,
    options: RecommenderOptions,
    config: PretrainConfig,
    echo: Callable[[str], None] = print,
) -> Catalogue:
    """The encoder's catalogue and the encoder pre-trained before `cutoff` when a candidate
    uses it; otherwise the same catalogue built from the histories, nothing pre-trained."""
    if any(options.candidates().values()):
        pretrained = pretrained_for(warehouse, cutoff, config, echo)
        return Catalogue(pretrained.vocab, pretrained.n_seen, pretrained.encoder, pretrained)
    con = connect(warehouse, read_only=True)
    try:
        vocab, n_seen, _ = build_vocab(purchase_histories(con, cutoff), product_text_vectors(con))
    finally:
        con.close()
    return Catalogue(vocab, n_seen, None, None)


def train_recommender(
    name: str,
    warehouse: Warehouse | None = None,
    options: RecommenderOptions | None = None,
    echo: Callable[[str], None] = print,
) -> RecommenderResult:
    spec = get_recommender(name)
    warehouse = warehouse or Warehouse.from_env()
    options = options or RecommenderOptions()
    config = PretrainConfig(
        seed=options.seed,
        epochs=options.pretrain_epochs or (1 if options.quick else PretrainConfig().epochs),
    )
    con = connect(warehouse, read_only=True)
    try:
        times, observed = data.snapshot_times(con)
        cutoff, _, _ = data.windows(times, observed, spec.window, options.cutoff)
    finally:
        con.close()
    started = time.perf_counter()
    known = catalogue_for(warehouse, cutoff, options, config, echo)
    pretraining = time.perf_counter() - started if known.pretrained is not None else 0.0
    vocab, n_seen, encoder, pretrained = known.vocab, known.n_seen, known.encoder, known.pretrained
    prepared = prepare(spec, warehouse, options, config.length)
    prepared_cutoff = prepared.cutoff
    echo(
        f"{spec.name}: training snapshots {prepared.train_window[0]:%Y-%m-%d} .. "
        f"{prepared.train_window[1]:%Y-%m-%d} ({len(prepared.train):,} with a purchase in the "
        f"next {spec.window_text}), validation {prepared.valid_window[0]:%Y-%m-%d} .. "
        f"{prepared.valid_window[1]:%Y-%m-%d} ({len(prepared.valid):,}), cut-off "
        f"{prepared_cutoff:%Y-%m-%d}"
    )
    coder = rec.Coder(vocab)
    k = rmetrics.K
    candidates, selection, champion, seconds = fit_candidates(
        prepared, options, coder, n_seen, encoder, k
    )
    baselines = rmetrics.baseline_lists(
        prepared.valid, prepared.popular, prepared.co_purchase[prepared_cutoff], k
    )
    metrics = evaluate_all(candidates, prepared, coder, k, baselines)
    table = comparison_table(metrics, champion, k)
    sentence = verdict(metrics, champion, k)
    echo(table)
    echo(sentence)

    folder = registry.model_dir(warehouse, spec.name, prepared.version)
    folder.mkdir(parents=True, exist_ok=True)
    model = candidates[champion]
    example_rows = prepared.valid.take(rec.by_snapshot(prepared.valid)[-1][:7])
    example = rec.Batch.of(example_rows, prepared.popular[example_rows.as_of[0]], coder)
    train_window = tuple(t.replace(tzinfo=UTC).isoformat() for t in prepared.train_window)
    valid_window = tuple(t.replace(tzinfo=UTC).isoformat() for t in prepared.valid_window)
    metadata = {
        "model_name": spec.name,
        "version": str(prepared.version),
        "task": spec.task,
        "feature_service": spec.feature_service,
        "candidate": champion,
        "family": "torch",
        "training_window": list(train_window),
        "validation_window": list(valid_window),
        "cutoff": prepared_cutoff.isoformat(),
        "n_seen": str(n_seen),
        "history_width": str(prepared.width),
        "sequence_length": str(config.length),
        "metrics": metrics,
        "selection_metric": spec.selection_metric,
        "seed": str(options.seed),
    }
    proto = rexport.export(model, vocab, example, metadata)
    gap = parity(model, proto, prepared, coder, k)
    if gap > PARITY_TOLERANCE:
        raise TrainingError(
            f"ONNX Runtime and torch disagree on {spec.name} by {gap:.2e} (> {PARITY_TOLERANCE})."
        )
    path = save(proto, folder / "model.onnx")
    entry = registry.register(
        warehouse,
        name=spec.name,
        version=prepared.version,
        task=spec.task,
        feature_service=spec.feature_service,
        family="torch",
        train_window=train_window,
        valid_window=valid_window,
        cutoff=prepared_cutoff.replace(tzinfo=UTC).isoformat(),
        metrics={
            "champion": champion,
            "selection_metric": spec.selection_metric,
            "selection": selection,
            **metrics,
        },
        path=path,
    )
    card = {
        "name": spec.name,
        "version": prepared.version,
        "champion": champion,
        "cutoff": prepared_cutoff.isoformat(),
        "train_window": list(train_window),
        "valid_window": list(valid_window),
        "rows": {"train": len(prepared.train), "valid": len(prepared.valid)},
        "selection": selection,
        "metrics": metrics,
        "table": table,
        "verdict": sentence,
        "encoder": {"cutoff": pretrained.cutoff.isoformat(), **pretrained.facts}
        if encoder is not None
        else None,
        "seed": options.seed,
        # wall seconds: pre-training (0: a kept encoder) and each candidate's two fits
        "seconds": {k: round(v, 1) for k, v in {"pre-training": pretraining, **seconds}.items()},
        "sha256": entry.sha256,
        "path": str(entry.path),
    }
    (folder / "model_card.json").write_text(json.dumps(card, indent=2, sort_keys=True))
    (folder / "model_card.md").write_text(
        f"# {spec.name} v{prepared.version}\n\n{spec.description}\n\n```\n{table}\n```\n\n"
        f"{sentence}\n"
    )
    return RecommenderResult(
        spec,
        prepared.version,
        champion,
        metrics,
        {},
        selection,
        table,
        sentence,
        path,
        gap,
        entry,
        seconds={"pre-training": pretraining, **seconds},
        encoder_candidates=tuple(label for label, use in options.candidates().items() if use),
    )
