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


def test_auto_is_cuda_then_cpu_and_never_tensorrt(available) -> None:
    available(CPU)
    assert onnx_session.choose_providers("auto") == (CPU,)
    available(CPU, CUDA, TRT)
    assert onnx_session.choose_providers("auto") == (CUDA, CPU)


def test_a_named_device_keeps_the_cpu_for_nodes_it_cannot_run(available) -> None:
    available(CPU, CUDA, TRT)
    assert onnx_session.choose_providers("cuda") == (CUDA, CPU)
    assert onnx_session.choose_providers("tensorrt") == (TRT, CUDA, CPU)
    assert onnx_session.choose_providers("cpu") == (CPU,)


def test_a_missing_device_is_refused_naming_the_package(available) -> None:
    available(CPU)
    no_cuda = r"'cuda' asked for, but the installed onnxruntime has no CUDAExecutionProvider"
    with pytest.raises(ScoringError, match=no_cuda + r" .*make setup GPU=1"):
        onnx_session.choose_providers("cuda")
    with pytest.raises(ScoringError, match="install onnxruntime-gpu with TensorRT"):
        onnx_session.choose_providers("tensorrt")
    with pytest.raises(ScoringError, match="Unknown scoring device 'gpu'"):
        onnx_session.choose_providers("gpu")


def test_tensorrt_keeps_its_engines_beside_the_model(tmp_path) -> None:
    options = onnx_session.provider_options((TRT, CUDA, CPU), tmp_path / "trt_cache")
    trt, cuda, cpu = options
    assert trt[0] == TRT and trt[1]["trt_engine_cache_enable"] is True
    assert trt[1]["trt_engine_cache_path"] == str(tmp_path / "trt_cache")
    assert (tmp_path / "trt_cache").is_dir() and (cuda, cpu) == (CUDA, CPU)


@pytest.mark.filterwarnings("ignore:Specified provider")
def test_cuda_that_fails_to_start_falls_back_once_under_auto(available, caplog) -> None:
    # this onnxruntime claims CUDA but has no GPU to start it on: the session runs on the CPU
    available(CPU, CUDA)
    onnx_session._SAID.clear()
    with caplog.at_level("WARNING", logger="cartcast.scoring"):
        first = onnx_session.open_session(_double_model(), "auto", threads=1)
        again = onnx_session.open_session(_double_model(), "auto", threads=1)
    assert first.provider == again.provider == CPU
    assert first.requested == (CUDA, CPU)
    warnings = [r.message for r in caplog.records if "did not start" in r.message]
    assert len(warnings) == 1


@pytest.mark.filterwarnings("ignore:Specified provider")
def test_cuda_asked_for_by_name_that_fails_to_start_stops_naming_the_cause(
    available, monkeypatch
) -> None:
    available(CPU, CUDA)
    monkeypatch.setattr(onnx_session, "nvidia_driver", lambda: None)
    with pytest.raises(ScoringError, match="no NVIDIA driver is loaded"):
        onnx_session.open_session(_double_model(), "cuda", threads=1)
    monkeypatch.setattr(onnx_session, "nvidia_driver", lambda: "NVRM version: 570")
    with pytest.raises(ScoringError, match="did not start: no GPU is visible"):
        onnx_session.open_session(_double_model(), "cuda", threads=1)


def test_string_lookups_are_reported_as_cpu_nodes() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.STRING, ["batch"])
    y = helper.make_tensor_value_info("score", TensorProto.INT64, ["batch"])
    node = helper.make_node(
        "LabelEncoder", ["x"], ["score"], domain="ai.onnx.ml", name="country_codes",
        keys_strings=["a"], values_int64s=[1], default_int64=0,
    )  # fmt: skip
    graph = helper.make_graph([node], "lookup", [x], [y])
    model = helper.make_model(graph)
    assert onnx_session.cpu_only_nodes(model) == ("LabelEncoder:country_codes",)


def test_the_environment_overrides_the_argument(available, monkeypatch) -> None:
    available(CPU, CUDA)
    monkeypatch.setenv("CARTCAST_SCORING_DEVICE", "cpu")
    assert onnx_session.choose_providers("cuda") == (CPU,)


def _double_model() -> bytes:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch"])
    y = helper.make_tensor_value_info("score", TensorProto.FLOAT, ["batch"])
    node = helper.make_node("Add", ["x", "x"], ["score"])
    graph = helper.make_graph([node], "double", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)
    return model.SerializeToString()


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


def test_missing_cuda_libraries_are_named(available, monkeypatch) -> None:
    """What onnxruntime-gpu prints when it cannot load CUDA from the nvidia-* packages (as it
    does on a machine without them) becomes the cause named to the user."""
    available(CPU, CUDA)

    def preload_dlls() -> None:
        print("Failed to load libcublasLt.so.13: libcublasLt.so.13: cannot open shared object")
        print("Failed to load libcudnn.so.9: libcudnn.so.9: cannot open shared object file")
        print("Please follow https://example.invalid to install CUDA.")

    monkeypatch.setattr(onnx_session.ort, "preload_dlls", preload_dlls, raising=False)
    monkeypatch.setattr(onnx_session, "_MISSING_LIBRARIES", None)
    monkeypatch.setattr(onnx_session, "nvidia_driver", lambda: "NVRM version: 580")
    assert onnx_session.preload_cuda_libraries() == ["libcublasLt.so.13", "libcudnn.so.9"]
    assert onnx_session.missing_for("cuda").startswith(
        "the CUDA libraries libcublasLt.so.13, libcudnn.so.9 cannot be loaded: `make setup GPU=1`"
    )


def test_a_session_that_must_not_spin_sleeps_between_runs_and_scores_the_same() -> None:
    model = onnx_session._probe_model()
    plain = onnx_session.open_session(model, "cpu", threads=2)
    quiet = onnx_session.open_session(model, "cpu", threads=2, spinning=False)
    options = quiet.session.get_session_options()
    assert options.get_session_config_entry(onnx_session.ALLOW_SPINNING) == "0"
    assert options.intra_op_num_threads == 2
    with pytest.raises(RuntimeError, match="does not have configuration"):
        plain.session.get_session_options().get_session_config_entry(onnx_session.ALLOW_SPINNING)
    x = np.array([1.5, -2.0, 0.25], np.float32)
    np.testing.assert_array_equal(quiet.run({"x": x}), plain.run({"x": x}))
