"""Declared inputs against an Arrow schema, and record batches turned into ONNX feeds."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from cartcast.errors import ScoringError
from scoring.model_inputs import Input, check_schema, feed, parse_inputs

INPUTS = (
    Input("orders_90d", "float32"),
    Input("country", "string"),
    Input("recent_product_ids", "string", 3),
)


def test_parse_inputs_reads_the_metadata() -> None:
    metadata = {
        "inputs": json.dumps(
            [
                {"name": "orders_90d", "type": "float32"},
                {"name": "country", "type": "string", "shape": ["batch"]},
                {"name": "recent_product_ids", "type": "string", "shape": ["batch", 3]},
            ]
        )
    }
    assert parse_inputs(metadata) == INPUTS
    with pytest.raises(ScoringError, match="declares no inputs"):
        parse_inputs({})


def test_check_schema_names_every_missing_and_mistyped_column() -> None:
    schema = pa.schema([("orders_90d", pa.string()), ("country", pa.string())])
    with pytest.raises(ScoringError) as err:
        check_schema(schema, INPUTS, "purchase_30d", "marts.x")
    message = str(err.value)
    assert "orders_90d is string, the model needs a number" in message
    assert "recent_product_ids is missing (needs a list of text (varchar[]))" in message
    assert "country" not in message.split(":", 1)[1].split(".")[0]


def test_check_schema_accepts_numbers_of_any_width_and_all_null_columns() -> None:
    schema = pa.schema(
        [
            ("orders_90d", pa.decimal128(18, 2)),
            ("country", pa.null()),
            ("recent_product_ids", pa.list_(pa.null())),
        ]
    )
    check_schema(schema, INPUTS, "m", "t")


def test_feed_converts_numbers_text_and_sequences() -> None:
    batch = pa.record_batch(
        {
            "orders_90d": pa.array([1, None, 3], pa.int64()),
            "country": pa.array(["France", None, "UK"]),
            "recent_product_ids": pa.array([["a", "b", "c", "d"], None, ["x"]]),
        }
    )
    out = feed(batch, INPUTS)
    assert out["orders_90d"].dtype == np.float32
    assert out["orders_90d"][0] == 1.0 and np.isnan(out["orders_90d"][1])
    assert out["country"].tolist() == ["France", "", "UK"]
    assert out["recent_product_ids"].tolist() == [["a", "b", "c"], ["", "", ""], ["x", "", ""]]


def test_feed_of_a_chunked_table_equals_the_feed_of_one_batch() -> None:
    table = pa.table({"recent_product_ids": pa.chunked_array([[["a"]], [["b", None]]])})
    out = feed(table, (INPUTS[2],))
    assert out["recent_product_ids"].tolist() == [["a", "", ""], ["b", "", ""]]
