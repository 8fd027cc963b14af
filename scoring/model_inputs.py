"""A model's declared inputs (from its ONNX metadata) against a feature table's Arrow schema,
and Arrow record batches turned into ONNX Runtime feeds.

The conversion matches what training fed the exporter (`scoring.export.onnx_feed`): numbers
as float32 with missing as NaN (cast through float64, as pandas did), text with missing as
"", the product sequence as a (batch, length) matrix of strings padded with "".
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cartcast.errors import ScoringError


@dataclass(frozen=True)
class Input:
    name: str
    type: str  # "float32" or "string"
    length: int | None = None  # set for a sequence input (batch, length)

    @property
    def expects(self) -> str:
        if self.length is not None:
            return "a list of text (varchar[])"
        return "a number" if self.type == "float32" else "text (varchar)"


def parse_inputs(metadata: dict[str, str]) -> tuple[Input, ...]:
    if "inputs" not in metadata:
        raise ScoringError(
            "The model file declares no inputs in its metadata: it was not exported by "
            "`cartcast train`. Retrain it."
        )
    inputs = []
    for row in json.loads(metadata["inputs"]):
        shape = row.get("shape", ["batch"])
        length = int(shape[1]) if len(shape) == 2 else None
        inputs.append(Input(row["name"], row["type"], length))
    return tuple(inputs)


def _fits(field: pa.DataType, wanted: Input) -> bool:
    if wanted.length is not None:
        return (pa.types.is_list(field) or pa.types.is_large_list(field)) and (
            pa.types.is_string(field.value_type)
            or pa.types.is_large_string(field.value_type)
            or pa.types.is_null(field.value_type)
        )
    if wanted.type == "float32":
        return (
            pa.types.is_integer(field)
            or pa.types.is_floating(field)
            or pa.types.is_decimal(field)
            or pa.types.is_null(field)
        )
    return pa.types.is_string(field) or pa.types.is_large_string(field) or pa.types.is_null(field)


def check_schema(schema: pa.Schema, inputs: tuple[Input, ...], model: str, table: str) -> None:
    """Stop, naming every missing or mistyped column, before any row is scored."""
    problems = []
    for wanted in inputs:
        index = schema.get_field_index(wanted.name)
        if index < 0:
            problems.append(f"{wanted.name} is missing (needs {wanted.expects})")
        elif not _fits(schema.field(index).type, wanted):
            problems.append(
                f"{wanted.name} is {schema.field(index).type}, the model needs {wanted.expects}"
            )
    if problems:
        raise ScoringError(
            f"Model {model} cannot score {table}: " + "; ".join(problems) + ". The feature "
            "table and the model disagree: rebuild the features (`dbt build`) or retrain the "
            "model on the current features (`cartcast train`)."
        )


def _numbers(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    as_double = pc.cast(column, pa.float64())
    return np.asarray(as_double.to_numpy(zero_copy_only=False), dtype=np.float64).astype(np.float32)


def _text(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    filled = pc.fill_null(pc.cast(column, pa.string()), "")
    return np.asarray(filled.to_numpy(zero_copy_only=False), dtype=object)


def _sequence(column: pa.ChunkedArray | pa.Array, length: int) -> np.ndarray:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    rows = len(column)
    out = np.full((rows, length), "", dtype=object)
    if pa.types.is_null(column.type.value_type):
        return out
    sliced = pc.list_slice(column, 0, length)
    sizes = pc.fill_null(pc.list_value_length(sliced), 0).to_numpy(zero_copy_only=False)
    flat = pc.fill_null(pc.cast(pc.list_flatten(sliced), pa.string()), "")
    values = np.asarray(flat.to_numpy(zero_copy_only=False), dtype=object)
    row_index = np.repeat(np.arange(rows), sizes)
    starts = np.repeat(np.cumsum(sizes) - sizes, sizes)
    out[row_index, np.arange(len(values)) - starts] = values
    return out


def feed(batch: pa.RecordBatch | pa.Table, inputs: tuple[Input, ...]) -> dict[str, np.ndarray]:
    """The ONNX Runtime feed of one batch (its columns already checked by `check_schema`)."""
    out: dict[str, np.ndarray] = {}
    for wanted in inputs:
        column = batch.column(wanted.name)
        if wanted.length is not None:
            out[wanted.name] = _sequence(column, wanted.length)
        elif wanted.type == "float32":
            out[wanted.name] = _numbers(column)
        else:
            out[wanted.name] = _text(column)
    return out
