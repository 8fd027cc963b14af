"""A second writer while another process holds the warehouse gets one clear line, not a trace."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from cartcast.cli.errors import BUSY_EXIT_CODE
from cartcast.warehouse.connection import WarehouseBusy, busy_error, connect
from cartcast.warehouse.dbt_runner import run_dbt
from cartcast.warehouse.paths import PROJECT_DIR, Warehouse
from tests.reliability.summary import TALLY

HOLDER = (
    "import duckdb, sys\n"
    "con = duckdb.connect(sys.argv[1])\n"
    "con.execute('create table if not exists t as select 1 as x')\n"
    "print('holding', flush=True)\n"
    "sys.stdin.read()\n"
)


@pytest.fixture()
def held(tmp_path: Path) -> Iterator[tuple[Warehouse, int]]:
    """A warehouse file held open for writing by another process, until the test ends."""
    warehouse = Warehouse.under(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(warehouse.duckdb_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        yield warehouse, holder.pid
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


def _expected(warehouse: Warehouse, pid: int) -> str:
    return (
        f"The warehouse {warehouse.duckdb_path} is busy: process {pid} holds it. "
        "Wait for it to finish, or stop it."
    )


def test_connect_and_the_registry_say_who_holds_the_warehouse(held) -> None:
    from cartcast.registry import versions as registry

    warehouse, pid = held
    for read_only in (False, True):
        with pytest.raises(WarehouseBusy) as caught:
            connect(warehouse, read_only=read_only)
        assert str(caught.value) == _expected(warehouse, pid)
    with pytest.raises(WarehouseBusy, match=f"process {pid} holds it"), registry.connect(warehouse):
        pass
    # the same text DuckDB gives dbt is recognised in dbt's output (a lock taken mid-build)
    with pytest.raises(duckdb.IOException) as raw:
        duckdb.connect(str(warehouse.duckdb_path))
    assert busy_error(f"Runtime Error\n  {raw.value}\n").pid == pid
    TALLY.add("busy warehouse checks")


def test_run_dbt_stops_before_starting(held, tmp_path: Path) -> None:
    warehouse, pid = held
    with pytest.raises(WarehouseBusy) as caught:
        run_dbt(["run", "--select", "base_taobao__user_behavior"], warehouse, work_dir=tmp_path)
    assert str(caught.value) == _expected(warehouse, pid)
    TALLY.add("busy warehouse checks")


@pytest.mark.parametrize(
    "command", [["summary"], ["build"], ["models", "list"], ["models", "promote", "x", "1"]]
)
def test_cli_commands_print_one_line_and_exit_non_zero(held, command: list[str]) -> None:
    warehouse, pid = held
    env = {
        **os.environ,
        **warehouse.env(),
        "PYTHONPATH": str(PROJECT_DIR),
        "CARTCAST_ARTIFACTS": str(warehouse.duckdb_path.parent / "artifacts"),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "cartcast.cli", *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=PROJECT_DIR,
    )
    assert proc.returncode == BUSY_EXIT_CODE, proc.stdout + proc.stderr
    assert _expected(warehouse, pid) in " ".join(proc.stderr.split())
    assert "Traceback" not in proc.stdout + proc.stderr
    TALLY.add("busy warehouse checks")
