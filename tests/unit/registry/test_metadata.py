"""The metadata inside a registered ONNX file: written by training, read by serving."""

from __future__ import annotations

import json

import onnx
from onnx import helper

from cartcast.registry.metadata import read_metadata, set_metadata


def test_values_round_trip_strings_as_they_are_the_rest_as_json() -> None:
    model = helper.make_model(helper.make_graph([], "empty", [], []))
    set_metadata(model, {"model_name": "churn_90d", "inputs": [{"name": "x"}], "seed": 3})
    again = onnx.load_from_string(model.SerializeToString())
    meta = read_metadata(again)
    assert meta["model_name"] == "churn_90d"
    assert json.loads(meta["inputs"]) == [{"name": "x"}]
    assert meta["seed"] == "3"


def test_setting_metadata_replaces_what_was_there() -> None:
    model = helper.make_model(helper.make_graph([], "empty", [], []))
    set_metadata(model, {"old": "x"})
    set_metadata(model, {"new": "y"})
    assert read_metadata(model) == {"new": "y"}
