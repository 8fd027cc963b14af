"""The recommender as one ONNX file: raw product ids and numbers in, the top k ids and scores
out, the top k chosen inside the graph.

Inputs (batch = customer snapshots of one `as_of`):
- `recent_product_ids` (batch, length), `history_product_ids` (batch, width): strings, "" pads;
- `history_orders`, `history_days_since_last`, `history_days_since_first` (batch, width) and
  `orders_before` (batch,): float32;
- `popular_product_ids` (1, popular) strings, `popular_lines_90d`, `popular_lines_30d`
  (1, popular) float32: the snapshot's best sellers, shared by the batch;
- `k` (1,) int64; `include_repeats`, `include_unseen` (1,) float32, 1 or 0.
Outputs: `product_ids` (batch, k) strings and `scores` (batch, k) float32, best first.
Product ids become codes by `ai.onnx.ml.LabelEncoder` (unknown ids: the out-of-vocabulary
code, which scores nothing), and catalogue positions become ids the same way after `TopK`.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Mapping

import onnx
import torch
from onnx import TensorProto, helper

from cartcast.pretraining.encoder import OOV, PAD
from cartcast.registry.metadata import set_metadata
from cartcast.training.export import OPSET
from cartcast.training.onnx_graph import BATCH, ML_DOMAIN
from cartcast.training.recommender import Batch, NextProducts

STRING_INPUTS = {
    "recent_product_ids": "recent_codes",
    "history_product_ids": "history_codes",
    "popular_product_ids": "popular_codes",
}
TORCH_INPUTS = (
    "recent_codes",
    "history_codes",
    "history_orders",
    "history_days_since_last",
    "history_days_since_first",
    "orders_before",
    "popular_codes",
    "popular_lines_90d",
    "popular_lines_30d",
    "include_repeats",
    "include_unseen",
)
ROW_INPUTS = {
    "recent_codes",
    "history_codes",
    "history_orders",
    "history_days_since_last",
    "history_days_since_first",
    "orders_before",
}


def export(
    model: NextProducts, vocab: list[str], example: Batch, metadata: Mapping[str, object]
) -> onnx.ModelProto:
    model = model.cpu().eval()
    batch = torch.export.Dim("batch")
    dynamic = {name: ({0: batch} if name in ROW_INPUTS else None) for name in TORCH_INPUTS}
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model,
            example.tensors,
            dynamo=True,
            external_data=False,
            opset_version=OPSET,
            input_names=list(TORCH_INPUTS),
            output_names=["catalogue_scores"],
            dynamic_shapes=tuple(dynamic[n] for n in TORCH_INPUTS),
            verbose=False,
        )
    buffer = io.BytesIO()
    program.save(buffer, external_data=False)
    proto = onnx.load_from_string(buffer.getvalue())
    return set_metadata(_wrap(proto, vocab, example), metadata)


def _wrap(proto: onnx.ModelProto, vocab: list[str], example: Batch) -> onnx.ModelProto:
    graph = proto.graph
    length = example.tensors[0].shape[1]
    width = example.tensors[1].shape[1]
    popular = example.tensors[6].shape[1]
    shapes = {
        "recent_product_ids": [BATCH, length],
        "history_product_ids": [BATCH, width],
        "popular_product_ids": [1, popular],
    }
    keys = ["", *vocab]
    values = [PAD, *range(2, 2 + len(vocab))]
    front = [
        helper.make_node(
            "LabelEncoder",
            [raw],
            [codes],
            name=f"encode_{raw}",
            domain=ML_DOMAIN,
            keys_strings=keys,
            values_int64s=values,
            default_int64=OOV,
        )
        for raw, codes in STRING_INPUTS.items()
    ]
    kept = {i.name: i for i in graph.input}
    inputs = []
    for name in TORCH_INPUTS:
        raw = next((r for r, c in STRING_INPUTS.items() if c == name), None)
        if raw is not None:
            if name in kept:
                inputs.append(helper.make_tensor_value_info(raw, TensorProto.STRING, shapes[raw]))
        elif name in kept:
            inputs.append(kept[name])
    inputs.append(helper.make_tensor_value_info("k", TensorProto.INT64, [1]))
    back = [
        helper.make_node(
            "TopK", ["catalogue_scores", "k"], ["scores", "positions"], axis=1, largest=1, sorted=1
        ),
        helper.make_node(
            "LabelEncoder",
            ["positions"],
            ["product_ids"],
            name="decode_positions",
            domain=ML_DOMAIN,
            keys_int64s=list(range(len(vocab))),
            values_strings=list(vocab),
            default_string="",
        ),
    ]
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend([*front, *nodes, *back])
    del graph.input[:]
    graph.input.extend(inputs)
    del graph.output[:]
    graph.output.extend(
        [
            helper.make_tensor_value_info("product_ids", TensorProto.STRING, [BATCH, "k"]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, [BATCH, "k"]),
        ]
    )
    if not [o for o in proto.opset_import if o.domain == ML_DOMAIN]:
        proto.opset_import.append(helper.make_opsetid(ML_DOMAIN, 3))
    onnx.checker.check_model(proto)
    return proto
