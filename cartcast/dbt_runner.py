"""Run dbt against a cartcast warehouse in a subprocess, with clear errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cartcast.paths import PROJECT_DIR, Warehouse


class DbtError(RuntimeError):
    """dbt exited non-zero; the message carries the failing nodes and dbt's own words."""


def dbt_executable() -> str:
    """The dbt installed next to this Python (the project's venv), else the one on PATH."""
    beside = Path(sys.executable).parent / "dbt"
    if beside.exists():
        return str(beside)
    found = shutil.which("dbt")
    if found is None:
        raise DbtError("dbt is not installed: run `make setup` (or `pip install -e .`).")
    return found


def run_dbt(
    args: Sequence[str],
    warehouse: Warehouse | None = None,
    dbt_vars: Mapping[str, Any] | None = None,
    work_dir: Path | None = None,
    echo: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run `dbt <args>` in the project with this warehouse and vars.

    `work_dir` keeps dbt's target/ and logs/ apart, so that several builds (tests,
    benchmarks) can run at once without overwriting each other's manifests.
    """
    warehouse = warehouse or Warehouse.from_env()
    env = {**os.environ, **warehouse.env(), "DBT_PROFILES_DIR": str(PROJECT_DIR)}
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")
    if work_dir is not None:
        env["DBT_TARGET_PATH"] = str(work_dir / "target")
        env["DBT_LOG_PATH"] = str(work_dir / "logs")
    cmd = [dbt_executable(), *args]
    if dbt_vars:
        cmd += ["--vars", json.dumps(dict(dbt_vars))]
    proc = subprocess.run(
        cmd,
        cwd=PROJECT_DIR,
        env=env,
        text=True,
        stdout=None if echo else subprocess.PIPE,
        stderr=subprocess.STDOUT if not echo else None,
        check=False,
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout or "").splitlines()[-40:])
        raise DbtError(f"`dbt {' '.join(args)}` failed (exit {proc.returncode}).\n{tail}")
    return proc
