"""bench/scoring.py loaded as a module for the other benchmarks: its file name is the
`scoring` package's, so a plain import would find the package instead."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def bench_scoring():
    spec = importlib.util.spec_from_file_location("bench_scoring", BENCH / "scoring.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
