"""What is stored with a model version besides the ONNX file, for monitoring and the report:
the drift reference of the training split (`reference.json`, `ml.model_reference`), the
exported model's permutation importance on validation (`ml.model_feature_importance`, and the
model card), and every candidate's validation scores (`validation_scores.parquet`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cartcast.catalog import ModelSpec
from cartcast.registry.versions import connect
from cartcast.training import export, model_tables, validation_scores
from cartcast.training import importance as imp
from cartcast.training import preprocess as pp
from cartcast.training import reference as ref
from cartcast.training.dataset import Split
from cartcast.warehouse.paths import Warehouse


def store_evidence(
    spec: ModelSpec,
    split: Split,
    params: pp.PreprocessParams,
    warehouse: Warehouse,
    version: int,
    model_path: Path,
    scores: dict[str, np.ndarray],
    sequence: bool,
    seed: int,
) -> list[imp.Importance]:
    """What monitoring and the report need besides the model: the drift reference of the
    training split, the exported model's permutation importance on validation, and every
    candidate's validation scores. Files beside the model, rows in the warehouse."""
    folder = model_path.parent
    bins = ref.build_reference(split.train, spec.numeric)
    ref.write_json(folder / "reference.json", spec.name, version, len(split.train), bins)
    feed = export.onnx_feed(split.valid, spec, params, sequence)
    y_valid = split.valid[spec.label_column].to_numpy(dtype=np.float64)
    importances = imp.permutation_importance(
        model_path, feed, y_valid, spec.task, spec.selection_metric, seed=seed
    )
    validation_scores.write(folder / validation_scores.FILE, spec, split.valid, scores)
    # the warehouse is opened once, when everything to write is known
    with connect(warehouse) as con:
        model_tables.write_reference_on(con, spec.name, version, bins)
        model_tables.write_importance_on(con, spec.name, version, importances)
    return importances
