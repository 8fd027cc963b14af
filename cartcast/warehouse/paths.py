"""Where the project and its warehouse live, from the environment with sensible defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Warehouse:
    """The DuckDB file and the Parquet folder that one dbt target writes, and which engine's
    feature marts Feast reads (`marts_engine`: duckdb, or spark for the marts a Spark build
    wrote under `spark_dir`; `$CARTCAST_MARTS_ENGINE`)."""

    duckdb_path: Path
    parquet_dir: Path
    marts_engine: str = "duckdb"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Warehouse:
        env = os.environ if env is None else env
        duckdb_path = Path(env.get("CARTCAST_DUCKDB", "warehouse/cartcast.duckdb"))
        parquet_dir = Path(env.get("CARTCAST_PARQUET_DIR", "warehouse/parquet"))
        if not duckdb_path.is_absolute():
            duckdb_path = PROJECT_DIR / duckdb_path
        if not parquet_dir.is_absolute():
            parquet_dir = PROJECT_DIR / parquet_dir
        engine = env.get("CARTCAST_MARTS_ENGINE", "duckdb")
        return cls(duckdb_path=duckdb_path, parquet_dir=parquet_dir, marts_engine=engine)

    @classmethod
    def under(cls, root: Path) -> Warehouse:
        """A self-contained warehouse below `root` (tests, benchmarks)."""
        return cls(duckdb_path=root / "cartcast.duckdb", parquet_dir=root / "parquet")

    @property
    def spark_dir(self) -> Path:
        """Spark's tables and metastore for this warehouse: `spark/` beside the DuckDB file."""
        return self.duckdb_path.parent / "spark"

    def mart_file(self, mart: str) -> Path:
        """What Feast reads for a feature mart: the Parquet file dbt-duckdb writes, or the
        part files of the managed Parquet table a Spark build writes (a glob DuckDB reads)."""
        if self.marts_engine == "spark":
            return self.spark_dir / "tables" / "marts.db" / mart / "*.parquet"
        return self.parquet_dir / f"{mart}.parquet"

    def env(self) -> dict[str, str]:
        """Environment variables that point dbt's profile at this warehouse."""
        return {
            "CARTCAST_DUCKDB": str(self.duckdb_path),
            "CARTCAST_PARQUET_DIR": str(self.parquet_dir),
        }
