"""Where the project and its warehouse live, from the environment with sensible defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Warehouse:
    """The DuckDB file and the Parquet folder that one dbt target writes."""

    duckdb_path: Path
    parquet_dir: Path

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Warehouse:
        env = os.environ if env is None else env
        duckdb_path = Path(env.get("CARTCAST_DUCKDB", "warehouse/cartcast.duckdb"))
        parquet_dir = Path(env.get("CARTCAST_PARQUET_DIR", "warehouse/parquet"))
        if not duckdb_path.is_absolute():
            duckdb_path = PROJECT_DIR / duckdb_path
        if not parquet_dir.is_absolute():
            parquet_dir = PROJECT_DIR / parquet_dir
        return cls(duckdb_path=duckdb_path, parquet_dir=parquet_dir)

    @classmethod
    def under(cls, root: Path) -> Warehouse:
        """A self-contained warehouse below `root` (tests, benchmarks)."""
        return cls(duckdb_path=root / "cartcast.duckdb", parquet_dir=root / "parquet")

    def env(self) -> dict[str, str]:
        """Environment variables that point dbt's profile at this warehouse."""
        return {
            "CARTCAST_DUCKDB": str(self.duckdb_path),
            "CARTCAST_PARQUET_DIR": str(self.parquet_dir),
        }
