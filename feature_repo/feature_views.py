"""Feature views over the feature marts. Schemas come from the marts' dbt contracts."""

from __future__ import annotations

import re
from datetime import timedelta

from data_sources import (
    customer_embeddings_source,
    customer_features_source,
    customer_product_history_source,
    customer_sequences_source,
    product_popularity_source,
    user_event_features_source,
    user_event_sequences_source,
)
from entities import catalogue, customer, user
from feast import FeatureView, Field
from feast.types import (
    Array,
    Bool,
    FeastType,
    Float32,
    Float64,
    Int32,
    Int64,
    String,
    UnixTimestamp,
)

from cartcast.warehouse.dbt_contract import Column, feature_columns

DBT_TO_FEAST: dict[str, FeastType] = {
    "varchar": String,
    "double": Float64,
    "bigint": Int64,
    "integer": Int32,
    "boolean": Bool,
    "timestamp": UnixTimestamp,
    "varchar[]": Array(String),
    "bigint[]": Array(Int64),
    "double[]": Array(Float64),
    "float[]": Array(Float32),
}


def schema_from_contract(model: str, keys: tuple[str, ...]) -> list[Field]:
    def field(col: Column) -> Field:
        # a fixed-size array (float[64]) is a list to Feast
        dtype = re.sub(r"\[\d+\]$", "[]", col.data_type)
        if dtype not in DBT_TO_FEAST:
            raise TypeError(
                f"{model}.{col.name}: dbt type {col.data_type!r} has no Feast type; "
                f"add it to DBT_TO_FEAST in {__file__}."
            )
        return Field(name=col.name, dtype=DBT_TO_FEAST[dtype], description=col.description)

    return [field(c) for c in feature_columns(model, keys)]


# Snapshots are weekly: a row serves entity times up to 8 days after its `as_of` (7 days plus
# a day of slack for a late nightly build). Older than that it is stale and comes back null
# rather than silently describing a customer as they were weeks ago.
CUSTOMER_TTL = timedelta(days=8)

customer_features = FeatureView(
    name="customer_features",
    entities=[customer],
    ttl=CUSTOMER_TTL,
    schema=schema_from_contract("customer_features", ("customer_id", "as_of")),
    source=customer_features_source,
    online=True,
    description="What each customer had done before the snapshot: recency, frequency, spend, ...",
    tags={"mart": "marts.customer_features"},
)

customer_sequences = FeatureView(
    name="customer_sequences",
    entities=[customer],
    ttl=CUSTOMER_TTL,
    schema=schema_from_contract("customer_sequences", ("customer_id", "as_of")),
    source=customer_sequences_source,
    online=True,
    description="The customer's most recent bought products, newest first (lists).",
    tags={"mart": "marts.customer_sequences"},
)

customer_product_history = FeatureView(
    name="customer_product_history",
    entities=[customer],
    ttl=CUSTOMER_TTL,
    schema=schema_from_contract("customer_product_history", ("customer_id", "as_of")),
    source=customer_product_history_source,
    online=True,
    description="The products the customer bought before the snapshot, with order counts and "
    "ages (lists, most orders first).",
    tags={"mart": "marts.customer_product_history"},
)

# One row per weekly snapshot under the catalogue key 'all': the same weekly TTL.
product_popularity = FeatureView(
    name="product_popularity",
    entities=[catalogue],
    ttl=CUSTOMER_TTL,
    schema=schema_from_contract("product_popularity", ("catalogue_id", "as_of")),
    source=product_popularity_source,
    online=True,
    description="The catalogue's best sellers before the snapshot, with their lines in 90 and "
    "30 days (lists, most lines first).",
    tags={"mart": "marts.product_popularity"},
)

# Clickstream snapshots come every 10 minutes and describe the last hour; intent decays fast,
# so a row serves for 15 minutes (one grid step plus slack) and is stale after that.
user_event_features = FeatureView(
    name="user_event_features",
    entities=[user],
    ttl=timedelta(minutes=15),
    schema=schema_from_contract("user_event_features", ("user_id", "as_of")),
    source=user_event_features_source,
    online=True,
    description="Funnel counts and session shape over the hour before the snapshot.",
    tags={"mart": "marts.user_event_features"},
)

# The same snapshots as user_event_features, so the same TTL.
user_event_sequences = FeatureView(
    name="user_event_sequences",
    entities=[user],
    ttl=timedelta(minutes=15),
    schema=schema_from_contract("user_event_sequences", ("user_id", "as_of")),
    source=user_event_sequences_source,
    online=True,
    description="The user's most recent clickstream events as <event type>:<category> tokens, "
    "newest first (lists).",
    tags={"mart": "marts.user_event_sequences"},
)

# Written with the newest kept encoder by dbt's scoring models: registered from the start, and
# materialized once its Parquet exists (see catalog.EMBEDDINGS). The same weekly TTL.
customer_embeddings = FeatureView(
    name="customer_embeddings",
    entities=[customer],
    ttl=CUSTOMER_TTL,
    schema=schema_from_contract("customer_embeddings", ("customer_id", "as_of")),
    source=customer_embeddings_source,
    online=True,
    description="The customer's vector from the pre-trained behaviour encoder, and which "
    "encoder wrote it.",
    tags={"mart": "marts.customer_embeddings"},
)
