"""`cartcast doctor`: what this machine offers scoring and training, and what they will use."""

from __future__ import annotations

import typer


def doctor() -> None:
    """Print the ONNX Runtime package and its execution providers, the NVIDIA driver, the CUDA
    device torch and ONNX Runtime see, and the device scoring and training will use."""
    from importlib import metadata

    import onnxruntime as ort
    import torch

    from cartcast import __version__
    from cartcast.training.fit import device as training_device
    from scoring.onnx_session import nvidia_driver, probe

    def installed(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    packages = {n: installed(n) for n in ("onnxruntime", "onnxruntime-gpu")}
    present = [f"{n} {v}" for n, v in packages.items() if v]
    typer.echo(f"cartcast {__version__}")
    typer.echo(f"ONNX Runtime: {ort.__version__} from {', '.join(present) or 'no package?'}")
    if all(packages.values()):
        typer.secho(
            "  both onnxruntime and onnxruntime-gpu are installed: they provide the same module "
            "and overwrite each other; keep one (`make setup GPU=1` swaps them cleanly)",
            fg=typer.colors.YELLOW,
        )
    typer.echo(f"  execution providers: {', '.join(ort.get_available_providers())}")
    typer.echo(f"NVIDIA driver: {nvidia_driver() or 'none loaded'}")
    cuda_build = torch.version.cuda
    typer.echo(
        f"torch: {torch.__version__} ({f'CUDA {cuda_build}' if cuda_build else 'CPU build'})"
    )
    if torch.cuda.is_available():
        typer.echo(f"  CUDA device seen by torch: {torch.cuda.get_device_name(0)}")
    else:
        typer.echo("  CUDA device seen by torch: none")
    provider, why = probe("auto")
    typer.echo(f"scoring will use: {provider or 'nothing'} (device auto)")
    if "CUDAExecutionProvider" in ort.get_available_providers():
        cuda, why = probe("cuda")
        typer.echo(f"  CUDA in ONNX Runtime: {'starts' if cuda else why}")
    typer.echo(f"training will use: {training_device('auto').type} (device auto)")
