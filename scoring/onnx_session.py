"""ONNX Runtime sessions: which execution provider to use, and which one actually runs.

ONNX Runtime falls back to the CPU without raising when a GPU provider is listed but cannot
start (no driver, wrong CUDA, out of memory). So the provider that scores is read back from
the session, and a fallback is logged, never assumed.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from cartcast.errors import ScoringError

log = logging.getLogger("cartcast.scoring")

# In order of preference; only those this onnxruntime build has are tried.
PREFERRED = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
NAMES = {"tensorrt": PREFERRED[0], "cuda": PREFERRED[1], "cpu": PREFERRED[2]}


@dataclass(frozen=True)
class Session:
    session: ort.InferenceSession
    provider: str
    requested: tuple[str, ...]
    input_names: tuple[str, ...]

    def run(self, feed: dict) -> np.ndarray:
        (score,) = self.session.run(["score"], feed)
        return score


def choose_providers(device: str = "auto") -> tuple[str, ...]:
    """`auto`: every available provider in order of preference; `cpu`, `cuda`, `tensorrt`:
    that one (and the CPU for nodes it cannot run). `CARTCAST_SCORING_DEVICE` overrides."""
    device = os.environ.get("CARTCAST_SCORING_DEVICE", device).lower()
    available = set(ort.get_available_providers())
    if device == "auto":
        return tuple(p for p in PREFERRED if p in available)
    if device not in NAMES:
        raise ScoringError(f"Unknown scoring device {device!r}; use auto, cpu, cuda or tensorrt.")
    wanted = NAMES[device]
    if wanted not in available:
        raise ScoringError(
            f"Scoring device {device!r} asked for, but this onnxruntime has only "
            f"{sorted(available)}: install onnxruntime-gpu on a machine with CUDA, or use auto."
        )
    return (wanted,) if wanted == NAMES["cpu"] else (wanted, NAMES["cpu"])


def open_session(model: Path | bytes, device: str = "auto", threads: int | None = None) -> Session:
    """A session on the best provider that starts; logs the one that runs."""
    requested = choose_providers(device)
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.log_severity_level = 3
    source = model if isinstance(model, bytes) else str(model)
    try:
        session = ort.InferenceSession(source, sess_options=options, providers=list(requested))
    except Exception as err:  # onnxruntime raises its own Fail/InvalidGraph types
        where = "the model bytes" if isinstance(model, bytes) else str(model)
        raise ScoringError(
            f"ONNX Runtime cannot load {where}: {err}. The file may be corrupt or truncated; "
            "retrain the model or roll back to the previous champion."
        ) from err
    running = session.get_providers()[0]
    if running != requested[0]:
        log.warning("%s requested but %s runs: it could not start here", requested[0], running)
    log.info("scoring with %s", running)
    names = tuple(i.name for i in session.get_inputs())
    return Session(session, running, requested, names)
