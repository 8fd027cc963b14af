"""Export a champion to one ONNX file that takes raw feature values, with its metadata."""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import torch
from onnx import TensorProto, helper, numpy_helper

from cartcast.catalog import ModelSpec
from cartcast.registry.metadata import set_metadata
from cartcast.training import preprocess as pp
from cartcast.training.baselines import Baseline
from cartcast.training.fit import Inputs
from cartcast.training.nets import ScoreHead
from cartcast.training.onnx_graph import add_raw_inputs

OPSET = 18


def input_signature(spec: ModelSpec, params: pp.PreprocessParams, sequence: bool) -> list[dict]:
    """The graph's inputs in order: name, ONNX type, shape (what callers pass)."""
    rows = [{"name": n, "type": "float32", "shape": ["batch"]} for n in params.numeric]
    rows += [{"name": n, "type": "string", "shape": ["batch"]} for n in params.categories]
    if sequence and spec.sequence:
        length = params.sequence_length
        rows.append({"name": spec.sequence, "type": "string", "shape": ["batch", length]})
    return rows


def onnx_feed(
    frame: pd.DataFrame, spec: ModelSpec, params: pp.PreprocessParams, sequence: bool
) -> dict[str, np.ndarray]:
    """Raw feature values of `frame` as the graph's inputs (missing numbers as NaN)."""
    raw = pp.raw_numeric(frame, spec.numeric)
    feed = {name: np.ascontiguousarray(raw[:, j]) for j, name in enumerate(params.numeric)}
    for name in params.categories:
        feed[name] = frame[name].fillna("").astype(str).to_numpy(dtype=object)
    if sequence and spec.sequence:
        feed[spec.sequence] = pp.product_strings(frame, spec, params.sequence_length)
    return feed


def export_torch(
    head: ScoreHead,
    spec: ModelSpec,
    params: pp.PreprocessParams,
    example: Inputs,
    metadata: Mapping[str, object],
) -> onnx.ModelProto:
    """torch.onnx.export (dynamo) with a dynamic batch axis, then raw named inputs in front."""
    head = head.cpu().eval()
    batch = torch.export.Dim("batch")
    kwargs = {}
    dynamic: dict[str, dict] = {"numeric": {0: batch}}
    if example.categories is not None:
        kwargs["categories"] = example.categories
        dynamic["categories"] = {0: batch}
    if example.products is not None:
        kwargs["products"] = example.products
        dynamic["products"] = {0: batch}
    # The exporter logs notes (torchvision absent, shape renames) a user cannot act on.
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            head,
            (example.numeric,),
            kwargs=kwargs,
            dynamo=True,
            external_data=False,
            opset_version=OPSET,
            input_names=["numeric", *kwargs],
            output_names=["score"],
            dynamic_shapes=dynamic,
            verbose=False,
        )
    buffer = io.BytesIO()
    program.save(buffer, external_data=False)
    model = onnx.load_from_string(buffer.getvalue())
    sequence = spec.sequence if example.products is not None else None
    model = add_raw_inputs(model, params, sequence_name=sequence)
    return set_metadata(model, metadata)


def export_trees(
    baseline: Baseline, spec: ModelSpec, params: pp.PreprocessParams, metadata: Mapping[str, object]
) -> onnx.ModelProto:
    """skl2onnx conversion of the boosted trees, a `score` output like the torch models'."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    width = len(params.numeric) + len(params.categories)
    options = {id(baseline.estimator): {"zipmap": False}} if spec.task == "binary" else None
    model = convert_sklearn(
        baseline.estimator,
        initial_types=[("numeric", FloatTensorType([None, width]))],
        options=options,
        target_opset={"": OPSET, "ai.onnx.ml": 3},
    )
    graph = model.graph
    out = graph.output[-1].name if spec.task == "binary" else graph.output[0].name
    nodes = []
    if spec.task == "binary":
        graph.initializer.append(numpy_helper.from_array(np.array(1, dtype=np.int64), "one_i"))
        nodes.append(helper.make_node("Gather", [out, "one_i"], ["score"], axis=1))
    else:
        graph.initializer.append(numpy_helper.from_array(np.array([-1], np.int64), "flat"))
        graph.initializer.append(numpy_helper.from_array(np.array(1.0, np.float32), "one_f"))
        nodes += [
            helper.make_node("Reshape", [out, "flat"], ["z"]),
            helper.make_node("Abs", ["z"], ["z_abs"]),
            helper.make_node("Exp", ["z_abs"], ["z_exp"]),
            helper.make_node("Sub", ["z_exp", "one_f"], ["z_expm1"]),
            helper.make_node("Sign", ["z"], ["z_sign"]),
            helper.make_node("Mul", ["z_sign", "z_expm1"], ["score"]),
        ]
    graph.node.extend(nodes)
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info("score", TensorProto.FLOAT, ["batch"]))
    model = add_raw_inputs(model, params, categories_as_float=True)
    return set_metadata(model, metadata)


def save(model: onnx.ModelProto, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(path), save_as_external_data=False)
    return path


def run_onnx(model_path: Path | bytes, feed: Mapping[str, np.ndarray]) -> np.ndarray:
    import onnxruntime as ort

    source = model_path if isinstance(model_path, bytes) else str(model_path)
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    (score,) = session.run(["score"], dict(feed))
    return np.asarray(score, dtype=np.float64)
