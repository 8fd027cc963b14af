"""Point-in-time training sets: labels as entity frame, features from a Feast feature service."""

from __future__ import annotations

import pandas as pd

from cartcast.identifiers import qualified_from_text, quote
from cartcast.paths import Warehouse
from cartcast.warehouse_connection import connect

# Which labels and entity key each feature service trains on.
SERVICE_LABELS: dict[str, tuple[str, str, str]] = {
    # service: (label table, join key, label column)
    "purchase_30d_v1": ("marts.customer_labels", "customer_id", "purchase_30d"),
    "churn_90d_v1": ("marts.customer_labels", "customer_id", "churn_90d"),
    "spend_90d_v1": ("marts.customer_labels", "customer_id", "spend_90d"),
    "intent_session_v1": ("marts.user_event_labels", "user_id", "purchase_within_horizon"),
}


class TrainingSetError(ValueError):
    """The entity frame or the feature service cannot give a training set."""


def label_entity_frame(service: str, warehouse: Warehouse | None = None) -> pd.DataFrame:
    """The labelled (key, as_of) rows of a service's label, with `event_timestamp` = as_of."""
    if service not in SERVICE_LABELS:
        raise TrainingSetError(
            f"Unknown feature service {service!r}; known: {sorted(SERVICE_LABELS)}."
        )
    table_name, key_name, label_name = SERVICE_LABELS[service]
    # names come from configuration and are spliced into SQL: validated and quoted
    table = qualified_from_text(table_name)
    key, label = quote(key_name, "join key"), quote(label_name, "label column")
    warehouse = warehouse or Warehouse.from_env()
    con = connect(warehouse, read_only=True)
    try:
        frame = con.sql(
            f"select {key}, as_of as event_timestamp, {label} from {table} "
            f"where {label} is not null order by as_of, {key}"
        ).df()
    finally:
        con.close()
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
    return frame


def build_training_set(entity_df: pd.DataFrame, service: str, store) -> pd.DataFrame:
    """Features of `service` for each entity row, as of its `event_timestamp` (point in time).

    A feature row stamped after the entity's timestamp is never used; the newest one at or
    before it is, if it lies within the feature view's TTL.
    """
    try:
        feature_service = store.get_feature_service(service)
    except Exception as err:  # Feast raises its own not-found types per registry
        raise TrainingSetError(
            f"Feature service {service!r} is not registered: {err}. Run `cartcast features apply`."
        ) from err
    if "event_timestamp" not in entity_df.columns:
        raise TrainingSetError(
            "The entity frame has no `event_timestamp` column: add one (the as-of time of "
            f"each row); it has {list(entity_df.columns)}."
        )
    join_keys = {
        store.get_entity(name).join_key
        for projection in feature_service.feature_view_projections
        for name in store.get_feature_view(projection.name).entities
    }
    missing = sorted(join_keys - set(entity_df.columns))
    if missing:
        raise TrainingSetError(f"The entity frame lacks the join key(s) {missing} of {service!r}.")
    if entity_df.empty:
        raise TrainingSetError("The entity frame is empty: there is nothing to train on.")
    frame = entity_df.copy()
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
    result = store.get_historical_features(entity_df=frame, features=feature_service).to_df()
    sort_keys = [*sorted(join_keys), "event_timestamp"]
    return result.sort_values(sort_keys).reset_index(drop=True)
