"""The metadata a registered ONNX file carries: written by training, read by serving.

Every value is a string in the file's metadata props: strings as they are, anything else as
JSON (inputs, metrics, preprocessing). Kept here, below both, so serving never imports
training (and torch) to read a file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import onnx


def set_metadata(model: onnx.ModelProto, metadata: Mapping[str, object]) -> onnx.ModelProto:
    """Metadata props: strings as they are, anything else as JSON."""
    del model.metadata_props[:]
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key = key
        entry.value = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return model


def read_metadata(model: onnx.ModelProto) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}
