"""The torch device that pre-training and training run on."""

from __future__ import annotations

import os

import torch

from cartcast.errors import TrainingError

# cuBLAS is deterministic on CUDA only with a fixed workspace (NVIDIA's documented setting);
# it must be set before the first CUDA call, so it is set when this module loads.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def torch_device(wanted: str = "auto") -> torch.device:
    """The training device: `auto` is CUDA when torch sees a GPU, else the CPU;
    `CARTCAST_TRAINING_DEVICE` overrides. `cuda` without a usable GPU stops, naming why."""
    wanted = os.environ.get("CARTCAST_TRAINING_DEVICE", wanted).lower()
    if wanted == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if wanted == "cpu":
        return torch.device("cpu")
    if wanted != "cuda":
        raise TrainingError(f"Unknown training device {wanted!r}; use auto, cpu or cuda.")
    if torch.version.cuda is None:
        raise TrainingError(
            f"Training device 'cuda' asked for, but torch {torch.__version__} is a CPU build: "
            "install a CUDA build of torch (on Linux, `pip install torch==<version>` from PyPI)."
        )
    if not torch.cuda.is_available():
        raise TrainingError(
            "Training device 'cuda' asked for, but torch sees no GPU: no NVIDIA driver is "
            "loaded, or CUDA_VISIBLE_DEVICES hides the devices."
        )
    return torch.device("cuda")
