"""The GPU device check: training on CUDA against the CPU, scoring with ONNX Runtime's CUDA
execution provider against its CPU one, on the same machine, in one run.

1. Training: pre-training the behaviour encoder and the torch candidates of purchase_30d (the
   MLP, the Transformer over recent products, the frozen and the fine-tuned pre-trained encoder)
   on the bundled data's training set (the warehouse `make demo` built), the same split, seed
   and settings on the CPU and on CUDA: seconds and validation ROC-AUC of each.
2. Scoring: `bench/scoring.py`'s synthetic churn_90d warehouse (10M rows; `--quick` 100k) scored
   end to end by `scoring.batch.score` (`--device cpu` and `--device cuda`), and pure ONNX
   Runtime over the same prebuilt feeds on each provider.

A part whose package or device is missing is skipped, saying why (torch without CUDA, an
onnxruntime without the CUDA provider, no demo warehouse). Last line:

    RESULT gpu train_cpu_s=.. train_cuda_s=.. train_speedup=.. auc_gap=..
        e2e_cpu_rows_per_s=.. e2e_cuda_rows_per_s=.. e2e_speedup=..
        ort_cpu_rows_per_s=.. ort_cuda_rows_per_s=.. ort_speedup=..

(`n/a` where a part was skipped). Usage:

    .venv/bin/python bench/gpu.py            # 10M rows, 2 epochs per candidate
    .venv/bin/python bench/gpu.py --quick    # 100k rows, 1 epoch
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
# The project root ahead of bench/: bench/scoring.py would otherwise hide the `scoring` package.
sys.path.insert(0, str(BENCH.parent))

from scoring_module import bench_scoring  # noqa: E402

TRAIN_MODEL = "purchase_30d"


def cuda_for_torch() -> str | None:
    """Why torch cannot train on CUDA here, or None when it can."""
    import torch

    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU build"
    if not torch.cuda.is_available():
        return "torch sees no GPU"
    return None


def cuda_for_onnxruntime() -> str | None:
    """Why ONNX Runtime cannot score on CUDA here, or None when it can."""
    from scoring.onnx_session import probe

    provider, why = probe("cuda")
    return None if provider == "CUDAExecutionProvider" else why


def train_part(epochs: int, seed: int) -> dict:
    """Each torch candidate of purchase_30d on the CPU and on CUDA, same everything else."""
    import numpy as np
    import torch

    from cartcast.catalog import get_spec
    from cartcast.pretraining.pretrain import PretrainConfig, pretrain
    from cartcast.training import preprocess as pp
    from cartcast.training.dataset import load_frame, time_split
    from cartcast.training.fit import make_inputs, params_for_encoder, predict, train_torch
    from cartcast.training.metrics import evaluate
    from cartcast.training.train import TrainOptions, torch_configs
    from cartcast.warehouse.paths import Warehouse

    warehouse = Warehouse.from_env()
    if not warehouse.duckdb_path.exists():
        print(f"training: skipped, no warehouse at {warehouse.duckdb_path} (run `make demo`)")
        return {}
    spec = get_spec(TRAIN_MODEL)
    start = time.perf_counter()
    frame = load_frame(spec, warehouse)
    split = time_split(frame, spec, None)
    params = pp.fit(spec, split.train)
    y = split.valid[spec.label_column].to_numpy(dtype=np.float64)
    print(
        f"training: {TRAIN_MODEL}, {len(split.train):,} training and {len(split.valid):,} "
        f"validation rows (loaded and split in {time.perf_counter() - start:.1f} s)"
    )
    devices = ["cpu"]
    why = cuda_for_torch()
    if why is None:
        devices.append("cuda")
        print(f"  CUDA device: {torch.cuda.get_device_name(0)}")
    else:
        print(f"  CUDA: skipped, {why}")
    seconds = {d: 0.0 for d in devices}
    aucs: dict[str, dict[str, float]] = {d: {} for d in devices}
    encoders = {}
    for dev in devices:
        # the behaviour encoder's pre-training is part of training: timed on each device
        start = time.perf_counter()
        encoders[dev] = pretrain(
            warehouse, split.cutoff, PretrainConfig(seed=seed, epochs=epochs, device=dev)
        )
        if dev == "cuda":
            torch.cuda.synchronize()
        took = time.perf_counter() - start
        seconds[dev] += took
        print(f"  {'pre-training the encoder':<42} {dev:<5} {took:8.1f} s")
    for label, config in torch_configs(
        spec, TrainOptions(seed=seed, epochs=epochs), encoders["cpu"]
    ).items():
        for dev in devices:
            changes = {"device": dev}
            own = params
            if config.pretrained is not None:
                changes["pretrained"] = encoders[dev]
                own = params_for_encoder(params, encoders[dev])
            config_on = dataclasses.replace(config, **changes)
            start = time.perf_counter()
            head, _ = train_torch(spec, own, split.train, split.valid, config_on)
            if dev == "cuda":
                torch.cuda.synchronize()
            took = time.perf_counter() - start
            scores = predict(head, make_inputs(split.valid, spec, own, config.use_sequence))
            auc = evaluate(spec.task, y, scores)["roc_auc"]
            seconds[dev] += took
            aucs[dev][label] = auc
            print(f"  {label:<42} {dev:<5} {took:8.1f} s  validation ROC-AUC {auc:.4f}")
    out = {"train_cpu_s": seconds["cpu"]}
    if "cuda" in devices:
        gap = max(abs(aucs["cpu"][k] - aucs["cuda"][k]) for k in aucs["cpu"])
        out |= {
            "train_cuda_s": seconds["cuda"],
            "train_speedup": seconds["cpu"] / seconds["cuda"],
            "auc_gap": gap,
        }
        print(
            f"  all candidates: CPU {seconds['cpu']:.1f} s, CUDA {seconds['cuda']:.1f} s: "
            f"CUDA {seconds['cpu'] / seconds['cuda']:.2f}x (goal >= 3); largest ROC-AUC gap "
            f"{gap:.4f}"
        )
    return out


def score_part(rows: int, seed: int, root: Path) -> dict:
    """End to end and pure ONNX Runtime, on the CPU provider and on CUDA."""
    import onnxruntime as ort

    bench = bench_scoring()
    args = argparse.Namespace(
        model_dir=root / "model",
        batch_rows=None,
        repeats=3,
        device="cpu",
        seed=seed,
        threads=None,
        explain="none",
        setting=None,
    )
    from scoring.batch import DEFAULT_BATCH_ROWS

    args.batch_rows = DEFAULT_BATCH_ROWS
    print(
        f"scoring: churn_90d MLP, {rows:,} synthetic rows, onnxruntime {ort.__version__} "
        f"({', '.join(ort.get_available_providers())})"
    )
    bench.build_model(args.model_dir, seed)
    folder = root / "warehouse"
    made = bench.run_child("make", folder, args, rows=rows)
    print(f"  table made in {made['seconds']:.1f} s")
    devices = ["cpu"]
    why = cuda_for_onnxruntime()
    if why is None:
        devices.append("cuda")
    else:
        print(f"  CUDA: skipped, {why}")
    out: dict = {}
    for dev in devices:
        e2e = bench.run_child("e2e", folder, args, device=dev)
        inf = bench.run_child("inference", folder, args, device=dev, no_torch=True)
        e2e_rate = e2e["rows"] / e2e["seconds"]
        out[f"e2e_{dev}_rows_per_s"] = e2e_rate
        out[f"ort_{dev}_rows_per_s"] = inf["ort_rows_per_s"]
        print(
            f"  {dev:<5} end to end {e2e_rate:>12,.0f} rows/s [{e2e['provider']}]   pure ONNX "
            f"Runtime {inf['ort_rows_per_s']:>12,.0f} rows/s [{inf['provider']}]"
        )
    if "cuda" in devices:
        out["e2e_speedup"] = out["e2e_cuda_rows_per_s"] / out["e2e_cpu_rows_per_s"]
        out["ort_speedup"] = out["ort_cuda_rows_per_s"] / out["ort_cpu_rows_per_s"]
        print(
            f"  CUDA / CPU: end to end {out['e2e_speedup']:.2f}x (goal >= 3), pure ONNX Runtime "
            f"{out['ort_speedup']:.2f}x"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100k rows, 1 epoch")
    parser.add_argument("--rows", type=int, help="rows to score (default 10M; --quick 100k)")
    parser.add_argument("--epochs", type=int, help="epochs per candidate (default 2; --quick 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--skip-scoring", action="store_true")
    parser.add_argument("--dir", type=Path, help="work folder (default: a temporary one)")
    args = parser.parse_args()
    rows = args.rows or (100_000 if args.quick else 10_000_000)
    epochs = args.epochs or (1 if args.quick else 2)
    result: dict = {}
    if not args.skip_training:
        result |= train_part(epochs, args.seed)
    if not args.skip_scoring:
        root = Path(tempfile.mkdtemp(prefix="bench-gpu-", dir=args.dir or "/tmp"))
        try:
            result |= score_part(rows, args.seed, root)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    keys = (
        "train_cpu_s", "train_cuda_s", "train_speedup", "auc_gap",
        "e2e_cpu_rows_per_s", "e2e_cuda_rows_per_s", "e2e_speedup",
        "ort_cpu_rows_per_s", "ort_cuda_rows_per_s", "ort_speedup",
    )  # fmt: skip

    def shown(key: str) -> str:
        value = result.get(key)
        if value is None:
            return "n/a"
        return f"{value:.0f}" if "rows_per_s" in key else f"{value:.4g}"

    print("RESULT gpu " + " ".join(f"{k}={shown(k)}" for k in keys))


if __name__ == "__main__":
    main()
