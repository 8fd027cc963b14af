"""Point-in-time training sets: labels as entity frame, features from a Feast feature service."""

from __future__ import annotations

import pandas as pd

from cartcast import catalog
from cartcast.errors import CatalogError, TrainingSetError
from cartcast.warehouse.connection import connect
from cartcast.warehouse.identifiers import qualified_from_text, quote
from cartcast.warehouse.paths import Warehouse


def label_entity_frame(service: str, warehouse: Warehouse | None = None) -> pd.DataFrame:
    """The labelled (key, as_of) rows of a service's label, with `event_timestamp` = as_of."""
    try:
        spec = catalog.by_service(service)
    except CatalogError as err:
        raise TrainingSetError(str(err)) from None
    table_name, key_name, label_name = spec.label_table, spec.key, spec.label
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
