"""Run dbt against a cartcast warehouse in a subprocess, with clear errors."""

from __future__ import annotations

from cartcast.errors import DbtError
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cartcast.warehouse import memory
from cartcast.warehouse.paths import PROJECT_DIR, Warehouse
from cartcast.warehouse.raw_input_errors import explain
from cartcast.warehouse.connection import busy_error, ensure_free


def dbt_executable() -> str:
    """The dbt installed next to this Python (the project's venv), else the one on PATH."""
    beside = Path(sys.executable).parent / "dbt"
    if beside.exists():
        return str(beside)
    found = shutil.which("dbt")
    if found is None:
        raise DbtError("dbt is not installed: run `make setup` (or `pip install -e .`).")
    return found


def dbt_env(
    warehouse: Warehouse, work_dir: Path | None = None, extra_env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of a dbt process on this warehouse (target/ and logs/ in `work_dir`)."""
    env = {
        **os.environ,
        **warehouse.env(),
        **(extra_env or {}),
        "DBT_PROFILES_DIR": str(PROJECT_DIR),
        # the project whose code runs: a DBT_PROJECT_DIR inherited from the caller (the Makefile
        # exports one) would otherwise build another checkout's models
        "DBT_PROJECT_DIR": str(PROJECT_DIR),
    }
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")
    if work_dir is not None:
        env["DBT_TARGET_PATH"] = str(work_dir / "target")
        env["DBT_LOG_PATH"] = str(work_dir / "logs")
    return env


def dbt_command(args: Sequence[str], dbt_vars: Mapping[str, Any] | None = None) -> list[str]:
    cmd = [dbt_executable(), *args]
    if dbt_vars:
        cmd += ["--vars", json.dumps(dict(dbt_vars))]
    return cmd


def run_dbt(
    args: Sequence[str],
    warehouse: Warehouse | None = None,
    dbt_vars: Mapping[str, Any] | None = None,
    work_dir: Path | None = None,
    echo: bool = False,
    extra_env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `dbt <args>` in the project with this warehouse and vars.

    `work_dir` keeps dbt's target/ and logs/ apart, so that several builds (tests,
    benchmarks) can run at once without overwriting each other's manifests. `extra_env`
    adds environment variables (CARTCAST_ID_SALT, say) for this run only.

    Raises WarehouseBusy when another process holds the warehouse file, and DbtError whose
    first line names the cause (the raw file, column and rule broken, when dbt's own words
    would not).
    """
    warehouse = warehouse or Warehouse.from_env()
    # dbt would spend its start-up, then fail with a lock error buried in its log
    ensure_free(warehouse)
    env = dbt_env(warehouse, work_dir, extra_env)
    cmd = dbt_command(args, dbt_vars)
    # Output is always captured (and echoed line by line when asked), so a failure can be
    # explained whether or not the user watched it scroll past.
    lines: list[str] = []
    with subprocess.Popen(
        cmd,
        cwd=PROJECT_DIR,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    ) as child:
        assert child.stdout is not None
        for line in child.stdout:
            lines.append(line)
            if echo:
                sys.stdout.write(line)
                sys.stdout.flush()
    output = "".join(lines)
    proc = subprocess.CompletedProcess(cmd, child.returncode, output, None)
    if proc.returncode != 0:
        busy = busy_error(output, warehouse.duckdb_path)
        if busy is not None:
            raise busy
        tail = "\n".join(output.splitlines()[-40:])
        causes = explain(output)
        starved = memory.out_of_memory(output, env.get(memory.ENV_LIMIT))
        if starved:
            causes.append(starved)
        first = f": {' | '.join(causes)}" if causes else f" (exit {proc.returncode})."
        raise DbtError(f"`dbt {' '.join(args)}` failed{first}\n{tail}")
    return proc


def run_dbt_in_process(
    args: Sequence[str],
    warehouse: Warehouse,
    dbt_vars: Mapping[str, Any] | None = None,
    work_dir: Path | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> None:
    """Run `dbt <args>` inside this process, with the environment `run_dbt` would give it.

    For Spark: dbt-spark's session method takes the process's Spark session
    (`getOrCreate`), and the embedded metastore admits one JVM at a time, so a dbt run
    after cartcast's own Spark job (scoring) must share that job's JVM rather than start
    another. Raises DbtError naming the failed nodes and dbt's message for each.
    """
    from dbt.cli.main import dbtRunner

    env = dbt_env(warehouse, work_dir, extra_env)
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        cmd = dbt_command(args, dbt_vars)[1:]
        result = dbtRunner().invoke(
            [*cmd, "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR)]
        )
    finally:
        os.environ.clear()
        os.environ.update(saved)
    if result.success:
        return
    failed = []
    for node in getattr(result.result, "results", None) or []:
        if str(node.status) in ("error", "fail"):
            # dbt's first line only names the node; the cause follows it
            words = " ".join(str(node.message).split())
            failed.append(f"{node.node.name}: {words[:600]}")
    cause = " | ".join(failed) or str(result.exception or "see dbt's log")
    raise DbtError(f"`dbt {' '.join(args)}` failed: {cause}")
