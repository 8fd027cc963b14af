"""DuckDB's memory cap and spill folder for the dbt builds.

DuckDB's own default cap is 80% of RAM, which leaves too little for what runs beside it: dbt's
Python models in the same process (ONNX Runtime, torch), Feast and the other stages of the
pipeline. Unbounded, the feature build of 10M order lines peaked at 20 GiB of this machine's 24
(bench/README.md). Beyond the cap DuckDB spills joins, sorts and aggregates to its temp
directory (by default `<warehouse file>.tmp/` beside the warehouse).

`CARTCAST_DUCKDB_MEMORY_LIMIT` (read by profiles.yml) takes DuckDB's sizes (`8GB`, `12GiB`)
or a share of this machine's memory (`40%`), which DuckDB itself does not accept; empty means
`DEFAULT_SHARE`. `CARTCAST_DUCKDB_TEMP_DIR` moves the spill folder.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import duckdb

from cartcast.errors import WarehouseError

ENV_LIMIT = "CARTCAST_DUCKDB_MEMORY_LIMIT"
ENV_TEMP = "CARTCAST_DUCKDB_TEMP_DIR"
# Half the memory: room for the models and services beside DuckDB, and near what DuckDB's
# own out-of-memory guide advises when other work shares the machine (50-60%).
DEFAULT_SHARE = 0.5
_SIZE = re.compile(r"\d+(\.\d+)?\s*([KMGT]i?B|bytes)", re.IGNORECASE)
_CGROUP_LIMIT = Path("/sys/fs/cgroup/memory.max")
# dbt's words for a model DuckDB could not build within its cap
_OUT_OF_MEMORY = re.compile(r"Runtime Error in model (\w+)[^\n]*\n[^\n]*Out of Memory Error")


def total_memory() -> int:
    """Bytes of memory this process may use: the machine's, or its container's if smaller."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        limit = _CGROUP_LIMIT.read_text().strip()
    except OSError:
        return total
    return min(total, int(limit)) if limit.isdigit() else total


def memory_limit(setting: str | None, total: int | None = None) -> str:
    """The `memory_limit` for DuckDB: `setting` as given when it is a size, else its share
    (or `DEFAULT_SHARE`) of `total` bytes (default: this machine's memory)."""
    setting = (setting or "").strip()
    if setting and not setting.endswith("%"):
        if not _SIZE.fullmatch(setting):
            raise WarehouseError(
                f"{ENV_LIMIT}={setting!r} is not a memory size: give one DuckDB reads "
                "(e.g. 8GB or 12GiB) or a share of this machine's memory (e.g. 40%)."
            )
        return setting
    share = DEFAULT_SHARE
    if setting:
        try:
            share = float(setting[:-1]) / 100
        except ValueError:
            share = -1.0
        if not 0 < share <= 1:
            raise WarehouseError(
                f"{ENV_LIMIT}={setting!r} is not a share of memory: give a percentage above "
                "0 and at most 100 (e.g. 40%), or a size (e.g. 8GB)."
            )
    total = total_memory() if total is None else total
    return f"{max(1, int(total * share) // 2**20)}MiB"


def cap(conn: duckdb.DuckDBPyConnection, limit: str | None, temp_directory: str | None) -> None:
    """Set DuckDB's memory cap (see `memory_limit`) and, if given, its spill folder."""
    conn.execute("set memory_limit = ?", [memory_limit(limit)])
    if temp_directory and temp_directory.strip():
        folder = Path(temp_directory.strip()).expanduser()
        folder.mkdir(parents=True, exist_ok=True)
        conn.execute("set temp_directory = ?", [str(folder)])


def out_of_memory(output: str, setting: str | None) -> str | None:
    """The sentence for a dbt run whose models DuckDB could not build within its cap (dbt's
    `output`; `setting`: the run's CARTCAST_DUCKDB_MEMORY_LIMIT), or None."""
    models = list(dict.fromkeys(_OUT_OF_MEMORY.findall(output)))
    if not models:
        return None
    return (
        f"DuckDB ran out of its memory cap ({memory_limit(setting)}) in {', '.join(models)}: "
        f"raise {ENV_LIMIT} (a size such as 16GB, or a share of RAM such as 70%); a mart "
        "built in slices of customers takes more, smaller slices with a lower var "
        "`slice_memory_share` (or `--vars '{slices: N}'`)."
    )
