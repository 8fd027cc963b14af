"""Opening the DuckDB warehouse, with one clear message when another process holds it.

DuckDB lets one process write a database file at a time; a second one gets an IOException
("Could not set lock on file ... (PID n)") deep in a stack trace. Every entry point opens the
warehouse through `connect` here, so they all say the same thing: who holds it and what to do.
"""

from __future__ import annotations

from cartcast.errors import WarehouseBusy
import re
from pathlib import Path

import duckdb

from cartcast.warehouse.paths import Warehouse

_LOCK_ERROR = re.compile(
    r'Could not set lock on file "(?P<path>[^"]+)"(?:.*?\(PID (?P<pid>\d+)\))?', re.DOTALL
)


def busy_error(message: str, path: Path | str | None = None) -> WarehouseBusy | None:
    """The WarehouseBusy that a DuckDB (or dbt) error text describes, if it is a lock error."""
    match = _LOCK_ERROR.search(message)
    if match is None:
        return None
    pid = match.group("pid")
    return WarehouseBusy(path or match.group("path"), int(pid) if pid else None)


def _path_of(warehouse_or_path: Warehouse | Path | str) -> Path:
    if isinstance(warehouse_or_path, Warehouse):
        return warehouse_or_path.duckdb_path
    return Path(warehouse_or_path)


def connect(
    warehouse_or_path: Warehouse | Path | str, read_only: bool = False
) -> duckdb.DuckDBPyConnection:
    """duckdb.connect on the warehouse file; WarehouseBusy when another process holds it."""
    path = _path_of(warehouse_or_path)
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as err:
        busy = busy_error(str(err), path)
        if busy is None:
            raise
        raise busy from None


def ensure_free(warehouse_or_path: Warehouse | Path | str) -> None:
    """Raise WarehouseBusy now, rather than minutes into a build, if the file is held."""
    path = _path_of(warehouse_or_path)
    if not path.exists():
        return
    try:
        connect(path).close()
    except WarehouseBusy:
        raise
    except duckdb.Error:
        # Anything else (a file from another DuckDB version, say) is for the real run to report.
        return
