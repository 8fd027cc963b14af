"""Online feature lookups for one customer or user, through Feast's own `get_online_features`."""

from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

from cartcast import catalog
from cartcast.features.store import FeatureStoreError, get_store
from cartcast.warehouse.paths import Warehouse

# Feast's get_feature_service skips its registry cache by default and rebuilds the service on
# every call, which also defeats its cache of resolved feature views: about 8 ms per lookup on
# SQLite (bench/online.py). A service is fixed for the life of a store object, so keep it.
_SERVICES: WeakKeyDictionary = WeakKeyDictionary()


def feature_service(store, name: str):
    """The store's feature service `name`, fetched once per store object."""
    services = _SERVICES.setdefault(store, {})
    if name not in services:
        try:
            services[name] = store.get_feature_service(name)
        except Exception as err:
            raise FeatureStoreError(
                f"Feature service {name!r} is not registered ({err}); run "
                "`cartcast features apply`."
            ) from err
    return services[name]


def online_features(
    customer: str | None = None,
    user: str | None = None,
    service: str | None = None,
    online: str | None = None,
    warehouse: Warehouse | None = None,
    store=None,
) -> dict[str, Any]:
    """The online features of one entity, or a FeatureStoreError saying why there are none."""
    key, value = ("customer_id", customer) if customer is not None else ("user_id", user)
    if value is None:
        raise FeatureStoreError("Name a customer or a user to look up.")
    store = store or get_store(warehouse, online)
    service_name = service or catalog.default_service(key)
    service_object = feature_service(store, service_name)
    row = store.get_online_features(features=service_object, entity_rows=[{key: value}]).to_dict()
    # in the order the marts declare them, not the order Feast's reply happens to have
    order = [key] + [
        f.name
        for projection in service_object.feature_view_projections
        for f in projection.features
    ]
    values = {name: row[name][0] for name in order if name in row}
    if all(v is None for name, v in values.items() if name != key):
        raise FeatureStoreError(
            f"No online features for {key}={value!r}: unknown id, or not materialized yet "
            "(`cartcast features materialize`)."
        )
    return values
