"""Online feature lookups for one customer or user, through Feast's own `get_online_features`,
with the event time and age of each feature view's row.

Feast's online read returns the newest materialized row whatever its age: the view's TTL
bounds only the offline point-in-time join and the materialization window. So the age is
measured here, against a clock the caller sets (`now`, default the wall clock), and callers
that score (`scoring.online.predict_one`) refuse a row older than its view's TTL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from weakref import WeakKeyDictionary

from cartcast import catalog
from cartcast.errors import StaleFeatures
from cartcast.features.store import FeatureStoreError, get_store
from cartcast.warehouse.paths import Warehouse

# Feast's get_feature_service skips its registry cache by default and rebuilds the service on
# every call, which also defeats its cache of resolved feature views: about 8 ms per lookup on
# SQLite (bench/online.py). A service is fixed for the life of a store object, so keep it.
_SERVICES: WeakKeyDictionary = WeakKeyDictionary()
_TTLS: WeakKeyDictionary = WeakKeyDictionary()
# Feast's suffix of the per-feature event time in `to_dict(include_event_timestamps=True)`
_TS = "__ts"


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


def view_ttl(store, view: str) -> timedelta:
    """The registered TTL of a feature view (0: never stale), fetched once per store object."""
    ttls = _TTLS.setdefault(store, {})
    if view not in ttls:
        ttls[view] = store.get_feature_view(view).ttl or timedelta(0)
    return ttls[view]


@dataclass(frozen=True)
class ViewFreshness:
    """When one feature view's online row was observed, and how old it is at `now`."""

    view: str
    event_time: datetime | None  # None: no row for this entity
    ttl: timedelta
    age: timedelta | None

    @property
    def stale(self) -> bool:
        return self.age is not None and self.ttl > timedelta(0) and self.age > self.ttl

    def describe(self) -> str:
        if self.event_time is None:
            return f"{self.view}: no row"
        state = "STALE" if self.stale else "fresh"
        return (
            f"{self.view}: event time {self.event_time:%Y-%m-%d %H:%M:%S} UTC, age "
            f"{_duration(self.age)}, TTL {_duration(self.ttl)}: {state}"
        )


@dataclass(frozen=True)
class OnlineLookup:
    key: str
    entity: str
    values: dict[str, Any]
    freshness: tuple[ViewFreshness, ...]
    now: datetime

    @property
    def stale(self) -> list[ViewFreshness]:
        return [f for f in self.freshness if f.stale]

    def stale_message(self) -> str:
        views = "; ".join(f.describe() for f in self.stale)
        return (
            f"Online features of {self.key}={self.entity!r} are older than their TTL at "
            f"{self.now:%Y-%m-%d %H:%M:%S} UTC ({views}). Materialize newer snapshots "
            "(`dbt build`, then `cartcast features materialize`), or score as of the data's "
            "time with --now, or accept them with --allow-stale."
        )

    def require_fresh(self) -> None:
        if self.stale:
            raise StaleFeatures(self.stale_message())


def _duration(span: timedelta | None) -> str:
    if span is None:
        return "unknown"
    seconds = span.total_seconds()
    if abs(seconds) >= 2 * 86400:
        return f"{seconds / 86400:,.1f} days"
    if abs(seconds) >= 2 * 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds / 60:.1f} minutes"


def utc(now: datetime | None) -> datetime:
    """`now` as an aware UTC time (naive: taken as UTC); the wall clock when None."""
    now = now or datetime.now(UTC)
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def read_row(
    store, service_name: str, entity_row: dict[str, Any], now: datetime
) -> tuple[dict[str, Any], tuple[ViewFreshness, ...]]:
    """One entity row's online features of a feature service, whatever their age: the values
    (the row's keys first, then the features in the order the marts declare them; None where a
    view has no row for the entity) and each view's freshness at `now`.

    A service may span entities (a recommender's customer and catalogue views): the row then
    carries every join key, and each view is read by its own."""
    service_object = feature_service(store, service_name)
    row = store.get_online_features(features=service_object, entity_rows=[entity_row]).to_dict(
        include_event_timestamps=True
    )
    # in the order the marts declare them, not the order Feast's reply happens to have
    order = [*entity_row] + [
        f.name
        for projection in service_object.feature_view_projections
        for f in projection.features
    ]
    values = {name: row[name][0] for name in order if name in row}
    freshness = []
    for projection in service_object.feature_view_projections:
        # one row per view and entity: every feature of the view carries its event time
        seconds = max((row.get(f.name + _TS, [0])[0] or 0) for f in projection.features)
        event_time = datetime.fromtimestamp(seconds, UTC) if seconds else None
        freshness.append(
            ViewFreshness(
                projection.name,
                event_time,
                view_ttl(store, projection.name),
                now - event_time if event_time else None,
            )
        )
    return values, tuple(freshness)


def online_lookup(
    customer: str | None = None,
    user: str | None = None,
    service: str | None = None,
    online: str | None = None,
    warehouse: Warehouse | None = None,
    store=None,
    now: datetime | None = None,
) -> OnlineLookup:
    """The online features of one entity with each view's event time and age at `now` (the
    wall clock unless given), or a FeatureStoreError saying why there are none."""
    key, value = ("customer_id", customer) if customer is not None else ("user_id", user)
    if value is None:
        raise FeatureStoreError("Name a customer or a user to look up.")
    now = utc(now)
    store = store or get_store(warehouse, online)
    service_name = service or catalog.default_service(key)
    values, freshness = read_row(store, service_name, {key: value}, now)
    if all(v is None for name, v in values.items() if name != key):
        raise FeatureStoreError(
            f"No online features for {key}={value!r}: unknown id, or not materialized yet "
            "(`cartcast features materialize`)."
        )
    return OnlineLookup(key, str(value), values, freshness, now)


def online_features(
    customer: str | None = None,
    user: str | None = None,
    service: str | None = None,
    online: str | None = None,
    warehouse: Warehouse | None = None,
    store=None,
) -> dict[str, Any]:
    """The online features of one entity (values only, whatever their age)."""
    return online_lookup(customer, user, service, online, warehouse, store).values
