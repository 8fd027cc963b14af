"""Execution provider choice, with the providers this onnxruntime build offers faked, and the
provider that actually runs read back from a real session."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from cartcast.errors import ScoringError
from scoring import onnx_session

CPU, CUDA, TRT = "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"


@pytest.fixture()
def available(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("CARTCAST_SCORING_DEVICE", raising=False)

    def offer(*providers: str) -> None:
        monkeypatch.setattr(onnx_session.ort, "get_available_providers", lambda: list(providers))

    return offer


def test_auto_prefers_gpu_providers_in_order(available) -> None:
    available(CPU)
    assert onnx_session.choose_providers("auto") == (CPU,)
    available(CPU, CUDA, TRT)
    assert onnx_session.choose_providers("auto") == (TRT, CUDA, CPU)


def test_a_named_device_keeps_the_cpu_for_nodes_it_cannot_run(available) -> None:
    available(CPU, CUDA)
    assert onnx_session.choose_providers("cuda") == (CUDA, CPU)
    assert onnx_session.choose_providers("cpu") == (CPU,)


def test_a_missing_device_is_refused_not_silently_replaced(available) -> None:
    available(CPU)
    with pytest.raises(ScoringError, match="'cuda' asked for, but this onnxruntime has only"):
        onnx_session.choose_providers("cuda")
    with pytest.raises(ScoringError, match="Unknown scoring device 'gpu'"):
        onnx_session.choose_providers("gpu")


def test_the_environment_overrides_the_argument(available, monkeypatch) -> None:
    available(CPU, CUDA)
    monkeypatch.setenv("CARTCAST_SCORING_DEVICE", "cpu")
    assert onnx_session.choose_providers("cuda") == (CPU,)


def _double_model() -> bytes:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch"])
    y = helper.make_tensor_value_info("score", TensorProto.FLOAT, ["batch"])
    node = helper.make_node("Add", ["x", "x"], ["score"])
    graph = helper.make_graph([node], "double", [x], [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def test_a_session_reports_the_provider_that_runs(available) -> None:
    available(CPU)
    session = onnx_session.open_session(_double_model(), "auto", threads=1)
    assert session.provider == CPU and session.input_names == ("x",)
    np.testing.assert_array_equal(session.run({"x": np.array([1, 2], np.float32)}), [2, 4])


def test_a_file_that_does_not_load_says_what_to_do(available) -> None:
    available(CPU)
    with pytest.raises(ScoringError, match="retrain the model or roll back"):
        onnx_session.open_session(b"not an onnx file")
    assert onnx.__version__  # the real onnx package built the model above
