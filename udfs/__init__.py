"""DuckDB functions that let plain SQL call cartcast models (filled in by the scoring work)."""
