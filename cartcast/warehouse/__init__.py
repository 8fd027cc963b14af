"""The warehouse: where it lives, opening it, running dbt on it, names and ids that reach it."""
