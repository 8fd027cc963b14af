"""SQL functions that call cartcast models from DuckDB, and the dbt-duckdb plugin that adds
them (and the model registry) to dbt's connection."""

from udfs.predict import register

__all__ = ["register"]
