"""ONNX Runtime sessions: which execution provider to use, and which one actually runs.

ONNX Runtime falls back to the CPU without raising when a GPU provider is listed but cannot
start (no driver, wrong CUDA, out of memory). So the provider that scores is read back from
the session: `auto` logs a fallback once and carries on; a device asked for by name stops
with one line naming what is missing (the package, the driver or the device).

`auto` is CUDA, then the CPU. TensorRT only when asked for (`tensorrt`): it builds an engine
per model and input shape, minutes on a first run, so its engine cache is switched on in a
folder beside the model file and reused by every later session.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from cartcast.errors import ScoringError

log = logging.getLogger("cartcast.scoring")

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
NAMES = {"tensorrt": TENSORRT, "cuda": CUDA, "cpu": CPU}
# what `auto` tries, in order; TensorRT is never chosen for the user
AUTO = (CUDA, CPU)
# ONNX Runtime's CUDA provider has no kernels for the ai.onnx.ml operators (string lookups,
# tree ensembles): those nodes stay on the CPU whatever the provider
CPU_ONLY_DOMAINS = frozenset({"ai.onnx.ml"})
# ONNX Runtime's setting for whether idle intra-op threads spin ("1", its default) or sleep
ALLOW_SPINNING = "session.intra_op.allow_spinning"
# the messages a process has already logged, so each is said once
_SAID: set[str] = set()
# the CUDA and cuDNN libraries onnxruntime-gpu could not load, once looked for
_MISSING_LIBRARIES: list[str] | None = None


@dataclass(frozen=True)
class Session:
    session: ort.InferenceSession
    provider: str
    requested: tuple[str, ...]
    input_names: tuple[str, ...]
    # nodes the GPU provider leaves to the CPU (empty on the CPU)
    cpu_nodes: tuple[str, ...] = ()

    def run(self, feed: dict, output: str = "score") -> np.ndarray:
        (out,) = self.session.run([output], feed)
        return out


def _say_once(level: int, message: str) -> None:
    if message not in _SAID:
        _SAID.add(message)
        log.log(level, message)


def requested_device(device: str = "auto") -> str:
    """The device asked for: `CARTCAST_SCORING_DEVICE` overrides the argument."""
    device = os.environ.get("CARTCAST_SCORING_DEVICE", device).lower()
    if device != "auto" and device not in NAMES:
        raise ScoringError(f"Unknown scoring device {device!r}; use auto, cpu, cuda or tensorrt.")
    return device


def nvidia_driver() -> str | None:
    """The NVIDIA kernel driver's version line, or None when no driver is loaded."""
    version = Path("/proc/driver/nvidia/version")
    if not version.exists():
        return None
    return version.read_text().splitlines()[0].strip()


def preload_cuda_libraries() -> list[str]:
    """Load the CUDA and cuDNN libraries onnxruntime-gpu needs from the nvidia-* packages
    (`make setup GPU=1` installs them); returns those that could not be loaded.

    onnxruntime-gpu does not look in those packages unless asked; it prints what it misses,
    which is caught here and reported in cartcast's own words instead.
    """
    global _MISSING_LIBRARIES
    if _MISSING_LIBRARIES is None:
        missing: list[str] = []
        if hasattr(ort, "preload_dlls"):
            said = io.StringIO()
            with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
                try:
                    ort.preload_dlls()
                except Exception as err:  # it raises OSError and friends on some systems
                    missing.append(str(err))
            missing += [
                line.removeprefix("Failed to load ").split(":")[0].strip()
                for line in said.getvalue().splitlines()
                if line.startswith("Failed to load ")
            ]
        _MISSING_LIBRARIES = missing
    return _MISSING_LIBRARIES


def missing_for(device: str) -> str:
    """What stops `device` here, in words a user can act on."""
    package = "onnxruntime-gpu" if device == "cuda" else "onnxruntime-gpu with TensorRT"
    available = ort.get_available_providers()
    if NAMES[device] not in available:
        return (
            f"the installed onnxruntime has no {NAMES[device]} (it offers {', '.join(available)}): "
            f"install {package} in place of onnxruntime (`make setup GPU=1`)"
        )
    if nvidia_driver() is None:
        return "no NVIDIA driver is loaded (/proc/driver/nvidia/version is missing)"
    libraries = preload_cuda_libraries()
    if libraries:
        return (
            f"the CUDA libraries {', '.join(libraries)} cannot be loaded: `make setup GPU=1` "
            "installs them (onnxruntime-gpu[cuda,cudnn] and nvidia-cublas), or install the CUDA "
            "toolkit and cuDNN that this onnxruntime-gpu was built for"
        )
    return (
        f"{NAMES[device]} is installed and a driver is loaded, but it did not start: no GPU "
        "is visible (CUDA_VISIBLE_DEVICES?) or the CUDA and cuDNN libraries onnxruntime-gpu "
        "needs are missing; `cartcast doctor` shows what was found"
    )


def choose_providers(device: str = "auto") -> tuple[str, ...]:
    """`auto`: CUDA when this onnxruntime has it, then the CPU. `cpu`, `cuda`, `tensorrt`:
    that one (and the CPU for nodes it cannot run); a GPU provider this onnxruntime lacks
    stops here, naming the package to install."""
    device = requested_device(device)
    available = set(ort.get_available_providers())
    if device == "auto":
        return tuple(p for p in AUTO if p in available)
    wanted = NAMES[device]
    if wanted not in available:
        raise ScoringError(f"Scoring device {device!r} asked for, but {missing_for(device)}.")
    if wanted == TENSORRT:
        # TensorRT hands what it cannot build to CUDA, then the CPU
        return tuple(p for p in (TENSORRT, CUDA, CPU) if p in available)
    return (wanted,) if wanted == CPU else (wanted, CPU)


def provider_options(providers: tuple[str, ...], cache_dir: Path | None) -> list:
    """Providers with their options: TensorRT keeps its engines in `cache_dir`."""
    out: list = []
    for provider in providers:
        if provider == TENSORRT and cache_dir is not None:
            cache_dir.mkdir(parents=True, exist_ok=True)
            out.append(
                (
                    provider,
                    {
                        "trt_engine_cache_enable": True,
                        "trt_engine_cache_path": str(cache_dir),
                        "trt_timing_cache_enable": True,
                        "trt_timing_cache_path": str(cache_dir),
                    },
                )
            )
        else:
            out.append(provider)
    return out


def cpu_only_nodes(model: onnx.ModelProto) -> tuple[str, ...]:
    """Nodes a GPU provider leaves to the CPU: the ai.onnx.ml operators (string lookups of
    categories and products, tree ensembles)."""
    return tuple(
        f"{node.op_type}:{node.name or node.output[0]}"
        for node in model.graph.node
        if node.domain in CPU_ONLY_DOMAINS
    )


def open_session(
    model: Path | bytes,
    device: str = "auto",
    threads: int | None = None,
    cache_dir: Path | None = None,
    spinning: bool = True,
) -> Session:
    """A session on the best provider that starts; the one that runs is read back.

    `cache_dir` is where TensorRT keeps its engines (default: `trt_cache/` beside a model
    file; a model given as bytes has no folder, so pass one). `spinning=False`: the CPU
    threads sleep between runs instead of spinning for the next one, for callers that do
    other work between runs on the same cores (batch scoring reads the next batch with
    DuckDB meanwhile: beside spinning threads that reading took up to twice as long on two
    cores, see bench/README.md).
    """
    device = requested_device(device)
    requested = choose_providers(device)
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    if not spinning:
        options.add_session_config_entry(ALLOW_SPINNING, "0")
    options.log_severity_level = 3
    if cache_dir is None and isinstance(model, Path):
        cache_dir = model.parent / "trt_cache"
    source = model if isinstance(model, bytes) else str(model)
    if CUDA in requested or TENSORRT in requested:
        preload_cuda_libraries()
    try:
        session = ort.InferenceSession(
            source, sess_options=options, providers=provider_options(requested, cache_dir)
        )
    except Exception as err:  # onnxruntime raises its own Fail/InvalidGraph types
        where = "the model bytes" if isinstance(model, bytes) else str(model)
        raise ScoringError(
            f"ONNX Runtime cannot load {where}: {err}. The file may be corrupt or truncated; "
            "retrain the model or roll back to the previous champion."
        ) from err
    running = session.get_providers()[0]
    if running != requested[0]:
        if device in ("cuda", "tensorrt"):
            raise ScoringError(
                f"Scoring device {device!r} asked for, but {running} runs: {missing_for(device)}."
            )
        _say_once(
            logging.WARNING,
            f"{requested[0]} is available but did not start, so the CPU scores "
            f"({missing_for('cuda')})",
        )
    cpu_nodes: tuple[str, ...] = ()
    if running != CPU:
        proto = onnx.load_from_string(model) if isinstance(model, bytes) else onnx.load(model)
        cpu_nodes = cpu_only_nodes(proto)
        if cpu_nodes:
            _say_once(
                logging.INFO,
                f"{running} scores; {len(cpu_nodes)} node(s) run on the CPU: "
                + ", ".join(cpu_nodes),
            )
    _say_once(logging.INFO, f"scoring with {running}")
    names = tuple(i.name for i in session.get_inputs())
    return Session(session, running, requested, names, cpu_nodes)


def _probe_model() -> bytes:
    """One Add node: enough to see which provider a session starts on."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch"])
    y = helper.make_tensor_value_info("score", TensorProto.FLOAT, ["batch"])
    graph = helper.make_graph([helper.make_node("Add", ["x", "x"], ["score"])], "probe", [x], [y])
    # IR 10, as the exported models: onnxruntime-gpu builds can lag onnx's newest IR version
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)
    return model.SerializeToString()


def probe(device: str = "auto") -> tuple[str | None, str]:
    """The provider a session on `device` really starts with, or None and the reason."""
    try:
        session = open_session(_probe_model(), device, threads=1)
    except ScoringError as err:
        return None, str(err)
    return session.provider, "started"
