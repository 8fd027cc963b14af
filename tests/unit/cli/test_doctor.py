"""`cartcast doctor`: the providers, the devices and what scoring and training will use."""

from __future__ import annotations

from importlib import metadata

import onnxruntime as ort
import pytest
import torch
from typer.testing import CliRunner

from cartcast.cli.app import app


def test_doctor_reports_this_machine() -> None:
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    assert f"execution providers: {', '.join(ort.get_available_providers())}" in result.output
    assert f"torch: {torch.__version__}" in result.output
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        assert "scoring will use: CPUExecutionProvider" in result.output
    if not torch.cuda.is_available():
        assert "training will use: cpu" in result.output
    assert "both onnxruntime and onnxruntime-gpu" not in result.output


def test_doctor_warns_when_both_onnxruntime_packages_are_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = metadata.version

    def version(name: str) -> str:
        return "1.31.1" if name == "onnxruntime-gpu" else real(name)

    monkeypatch.setattr(metadata, "version", version)
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 0
    assert "both onnxruntime and onnxruntime-gpu are installed" in result.output
    assert "onnxruntime-gpu 1.31.1" in result.output
