"""Parquet files written by dbt's `external` feature marts (see models/marts/)."""

from __future__ import annotations

import os
from pathlib import Path

from feast import FileSource

_PROJECT_DIR = Path(__file__).resolve().parent.parent


def parquet_path(mart: str) -> str:
    """Where dbt writes a mart: $CARTCAST_PARQUET_DIR, as the dbt profile does."""
    root = Path(os.environ.get("CARTCAST_PARQUET_DIR", "warehouse/parquet"))
    if not root.is_absolute():
        root = _PROJECT_DIR / root
    return str(root / f"{mart}.parquet")


customer_features_source = FileSource(
    name="customer_features_source",
    path=parquet_path("customer_features"),
    timestamp_field="as_of",
    description="marts.customer_features: one row per customer and weekly snapshot.",
)

customer_sequences_source = FileSource(
    name="customer_sequences_source",
    path=parquet_path("customer_sequences"),
    timestamp_field="as_of",
    description="marts.customer_sequences: recent products per customer and snapshot.",
)

customer_product_history_source = FileSource(
    name="customer_product_history_source",
    path=parquet_path("customer_product_history"),
    timestamp_field="as_of",
    description="marts.customer_product_history: products bought per customer and snapshot.",
)

product_popularity_source = FileSource(
    name="product_popularity_source",
    path=parquet_path("product_popularity"),
    timestamp_field="as_of",
    description="marts.product_popularity: the catalogue's best sellers per snapshot.",
)

user_event_features_source = FileSource(
    name="user_event_features_source",
    path=parquet_path("user_event_features"),
    timestamp_field="as_of",
    description="marts.user_event_features: clickstream features per user and 10-minute snapshot.",
)

user_event_sequences_source = FileSource(
    name="user_event_sequences_source",
    path=parquet_path("user_event_sequences"),
    timestamp_field="as_of",
    description="marts.user_event_sequences: recent clickstream events per user and snapshot.",
)

customer_embeddings_source = FileSource(
    name="customer_embeddings_source",
    path=parquet_path("customer_embeddings"),
    timestamp_field="as_of",
    description="marts.customer_embeddings: each customer's encoder vector per snapshot (written "
    "by dbt's scoring models, once a pre-trained encoder exists).",
)
