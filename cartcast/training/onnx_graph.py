"""Give an exported model the inputs callers have: one named input per raw feature.

The exported torch (or scikit-learn) graph takes a float matrix `numeric`, integer codes
`categories` and `products`. This prepends the steps that build them from raw values: each
numeric feature is a float32 vector (missing = NaN), each categorical feature a string vector,
the product sequence a (batch, length) string matrix padded with "". Vocabularies become
`ai.onnx.ml.LabelEncoder` nodes, so unseen values map to the out-of-vocabulary code in-graph.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from cartcast.training.preprocess import OOV, PAD, PreprocessParams

ML_DOMAIN = "ai.onnx.ml"
BATCH = "batch"


def _tensor_input(name: str, elem_type: int, shape: list) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem_type, shape)


def _label_encoder(
    name: str, source: str, target: str, keys: list[str], values: list[int], default: int
) -> onnx.NodeProto:
    return helper.make_node(
        "LabelEncoder",
        [source],
        [target],
        name=name,
        domain=ML_DOMAIN,
        keys_strings=list(keys),
        values_int64s=list(values),
        default_int64=default,
    )


def add_raw_inputs(
    model: onnx.ModelProto,
    params: PreprocessParams,
    sequence_name: str | None = None,
    categories_as_float: bool = False,
) -> onnx.ModelProto:
    """Replace the inputs `numeric`, `categories`, `products` by one input per raw feature.

    `categories_as_float` appends the category codes as float columns of `numeric` instead of
    a separate int64 input (for tree models, which take a single float matrix).
    """
    graph = model.graph
    old = {i.name for i in graph.input}
    if "numeric" not in old:
        raise ValueError(f"The model has no `numeric` input; it has {sorted(old)}.")
    nodes: list[onnx.NodeProto] = []
    inputs: list[onnx.ValueInfoProto] = []
    axes = "raw_inputs_axes_1"
    graph.initializer.append(numpy_helper.from_array(np.array([1], dtype=np.int64), axes))

    numeric_parts = []
    for name in params.numeric:
        inputs.append(_tensor_input(name, TensorProto.FLOAT, [BATCH]))
        column = f"raw_inputs_{name}_column"
        nodes.append(helper.make_node("Unsqueeze", [name, axes], [column]))
        numeric_parts.append(column)

    category_parts = []
    for name, vocab in params.categories.items():
        inputs.append(_tensor_input(name, TensorProto.STRING, [BATCH]))
        code = f"raw_inputs_{name}_code"
        values = list(range(1, len(vocab) + 1))
        nodes.append(_label_encoder(f"encode_{name}", name, code, vocab, values, default=0))
        column = f"raw_inputs_{name}_code_column"
        nodes.append(helper.make_node("Unsqueeze", [code, axes], [column]))
        if categories_as_float:
            as_float = f"{column}_float"
            nodes.append(helper.make_node("Cast", [column], [as_float], to=TensorProto.FLOAT))
            numeric_parts.append(as_float)
        else:
            category_parts.append(column)

    nodes.append(helper.make_node("Concat", numeric_parts, ["numeric"], axis=1))
    if category_parts:
        nodes.append(helper.make_node("Concat", category_parts, ["categories"], axis=1))
    if sequence_name is not None:
        length = params.sequence_length
        inputs.append(_tensor_input(sequence_name, TensorProto.STRING, [BATCH, length]))
        # "" (padding) -> PAD, known products -> 2.., anything else -> OOV.
        keys = ["", *params.products]
        values = [PAD, *range(2, 2 + len(params.products))]
        nodes.append(
            _label_encoder(f"encode_{sequence_name}", sequence_name, "products", keys, values, OOV)
        )

    kept = [i for i in graph.input if i.name not in {"numeric", "categories", "products"}]
    del graph.input[:]
    graph.input.extend([*inputs, *kept])
    existing = list(graph.node)
    del graph.node[:]
    graph.node.extend([*nodes, *existing])
    # LabelEncoder with keys_strings/values_int64s needs ai.onnx.ml 2 or later.
    ml = [o for o in model.opset_import if o.domain == ML_DOMAIN]
    if not ml:
        model.opset_import.append(helper.make_opsetid(ML_DOMAIN, 3))
    elif ml[0].version < 2:
        ml[0].version = 3
    onnx.checker.check_model(model)
    return model
