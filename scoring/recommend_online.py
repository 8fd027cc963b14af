"""Next-product lists for one customer online: Feast's online rows, then the champion's ONNX.

One `get_online_features` call reads the recommender's feature service with an entity row
carrying both keys: the customer's `customer_sequences` and `customer_product_history` rows and
the catalogue's (`catalogue_id` 'all') `product_popularity` row. They become the same arrays
the batch path builds from the marts (`scoring.recommend.lists`), so a customer's online list
equals the one `predictions.next_products` holds for the same snapshot.

A customer the store does not know, or one with no purchase history, is a cold start: the
list the model gives an empty history (led by the snapshot's best sellers), flagged
`cold_start`, never an error. Rows older than their view's TTL at `now` are refused
(StaleFeatures) as `scoring.online.predict_one` refuses them, or with `allow_stale` used and
reported. The champion's session (single-threaded, on the CPU: one row gains nothing from
more threads, and its string lookups run on the CPU anyway), the product descriptions and the
feature store are opened once per process; `clear_cache()` forgets them (after a promotion).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

import duckdb
import numpy as np
import yaml

from cartcast.catalog import CATALOGUE, CUSTOMER, get_recommender
from cartcast.errors import FeatureStoreError, RegistryError
from cartcast.features.online import OnlineLookup, ViewFreshness, read_row, utc
from cartcast.features.recommend_rows import Popular, Rows
from cartcast.features.store import get_store
from cartcast.registry import versions as registry
from cartcast.warehouse.paths import PROJECT_DIR, Warehouse
from scoring.recommend import Recommender, champion, check_k, load

DEFAULT_RECOMMENDER = "next_products"
# the catalogue entity's one key (marts.product_popularity)
CATALOGUE_KEY = "all"
POPULARITY_VIEW = "product_popularity"
HISTORY_VIEW = "customer_product_history"
DESCRIPTIONS = "intermediate.int_product_descriptions"


@dataclass(frozen=True)
class OnlineRecommender:
    """A recommender version ready for one-customer calls: its session, the product
    descriptions, and the list options dbt's batch lists use."""

    model: Recommender
    descriptions: dict[str, str]
    repeats: bool
    unseen: bool

    @property
    def name(self) -> str:
        return self.model.entry.name

    @property
    def version(self) -> int:
        return self.model.version

    @property
    def feature_service(self) -> str:
        return self.model.entry.feature_service


@dataclass(frozen=True)
class Recommendation:
    rank: int
    product_id: str
    description: str | None
    score: float
    is_repeat: bool  # bought by the customer before the snapshot


@dataclass(frozen=True)
class OnlineRecommendations:
    model: str
    version: int
    customer_id: str
    k: int
    items: tuple[Recommendation, ...]
    # no purchase history: the list an empty history gets (best sellers first)
    cold_start: bool
    # whether the online store holds rows of the customer at all
    known_customer: bool
    # the snapshot the list describes: the customer's rows', else the best sellers'
    as_of: datetime | None
    freshness: tuple[ViewFreshness, ...] = field(default=())
    now: datetime | None = None  # the clock the ages were measured against

    @property
    def stale(self) -> list[ViewFreshness]:
        return [f for f in self.freshness if f.stale]

    @property
    def product_ids(self) -> list[str]:
        return [item.product_id for item in self.items]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: times in ISO 8601, ages and TTLs in seconds."""

        def iso(t: datetime | None) -> str | None:
            return None if t is None else t.isoformat()

        return {
            "model": self.model,
            "version": self.version,
            "customer_id": self.customer_id,
            "k": self.k,
            "as_of": iso(self.as_of),
            "now": iso(self.now),
            "cold_start": self.cold_start,
            "known_customer": self.known_customer,
            "stale": [f.view for f in self.stale],
            "freshness": [
                {
                    "view": f.view,
                    "event_time": iso(f.event_time),
                    "age_seconds": None if f.age is None else f.age.total_seconds(),
                    "ttl_seconds": f.ttl.total_seconds(),
                    "stale": f.stale,
                }
                for f in self.freshness
            ],
            "items": [
                {
                    "rank": i.rank,
                    "product_id": i.product_id,
                    "description": i.description,
                    "score": i.score,
                    "is_repeat": i.is_repeat,
                }
                for i in self.items
            ],
        }


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes")


@cache
def list_options() -> tuple[bool, bool]:
    """(include repeats, include unseen products) as dbt_project.yml sets them for the batch
    lists (vars `recommend_include_repeats`, `recommend_unseen_products`)."""
    project = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text()) or {}
    variables = project.get("vars") or {}
    return (
        _flag(variables.get("recommend_include_repeats", True)),
        _flag(variables.get("recommend_unseen_products", False)),
    )


def open_recommender(
    warehouse: Warehouse,
    name: str = DEFAULT_RECOMMENDER,
    version: int | None = None,
    device: str = "cpu",
    threads: int = 1,
) -> OnlineRecommender:
    """The champion (or `version`) of recommender `name`, its file checked against the
    registry, on a session for one-row calls; with the products' descriptions."""
    get_recommender(name)  # unknown names stop here, with the known ones
    with registry.connect(warehouse, read_only=True) as con:
        try:
            entry = champion(con, name, version)
        except duckdb.CatalogException as err:  # no model was ever registered here
            raise RegistryError(
                f"Model {name} has no champion: train one with `cartcast train --model {name}`."
            ) from err
        descriptions = _descriptions(con)
    model = load(entry, device, threads)
    repeats, unseen = list_options()
    return OnlineRecommender(model, descriptions, repeats, unseen)


def _descriptions(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Each product's description (a few thousand rows); none before the first build."""
    try:
        rows = con.execute(
            f"select product_id, description from {DESCRIPTIONS} where description is not null"
        ).fetchall()
    except duckdb.CatalogException:
        return {}
    return dict(rows)


# ---- per-process caches -------------------------------------------------------------------

_LOCK = threading.Lock()
_MODELS: dict[tuple, OnlineRecommender] = {}
_STORES: dict[tuple, Any] = {}


def cached_recommender(
    warehouse: Warehouse, name: str = DEFAULT_RECOMMENDER, version: int | None = None
) -> OnlineRecommender:
    """`open_recommender`, once per process and warehouse (a promotion shows after
    `clear_cache()` or in a new process)."""
    key = (warehouse, name, version)
    with _LOCK:
        if key not in _MODELS:
            _MODELS[key] = open_recommender(warehouse, name, version)
        return _MODELS[key]


def cached_store(warehouse: Warehouse):
    """The warehouse's feature store (online store from $CARTCAST_ONLINE_STORE), once."""
    key = (
        warehouse,
        os.environ.get("CARTCAST_ONLINE_STORE"),
        os.environ.get("CARTCAST_REDIS_URL"),
    )
    with _LOCK:
        if key not in _STORES:
            _STORES[key] = get_store(warehouse)
        return _STORES[key]


def clear_cache() -> None:
    with _LOCK:
        _MODELS.clear()
        _STORES.clear()


# ---- one customer ------------------------------------------------------------------------


def _padded(values: list | None, width: int, fill: Any, dtype: Any) -> np.ndarray:
    """One list as a (1, width) row, as `recommend_rows.padded` makes it from the marts."""
    out = np.full((1, width), fill, dtype=dtype)
    items = [fill if v is None else v for v in (values or [])[:width]]
    if items:
        out[0, : len(items)] = items
    return out


def customer_rows(values: dict[str, Any], customer_id: str, as_of, length: int, width: int) -> Rows:
    """The recommender's arrays for one customer from their online values (empty lists and
    zeros where a view has no row: the cold start)."""
    return Rows(
        customer_id=np.array([customer_id], dtype=object),
        as_of=np.array([np.datetime64(as_of.replace(tzinfo=None) if as_of else "NaT", "us")]),
        recent=_padded(values.get("recent_product_ids"), length, "", object),
        history=_padded(values.get("history_product_ids"), width, "", object),
        orders=_padded(values.get("history_orders"), width, 0.0, np.float32),
        days_last=_padded(values.get("history_days_since_last"), width, 0.0, np.float32),
        days_first=_padded(values.get("history_days_since_first"), width, 0.0, np.float32),
        orders_before=np.array([values.get("orders_before") or 0.0], dtype=np.float32),
    )


def popular_row(values: dict[str, Any], width: int) -> Popular:
    return Popular(
        _padded(values.get("popular_product_ids"), width, "", object)[0],
        _padded(values.get("popular_lines_90d"), width, 0.0, np.float32)[0],
        _padded(values.get("popular_lines_30d"), width, 0.0, np.float32)[0],
    )


def recommend_one(
    warehouse_or_store,
    customer_id: str,
    k: int = 10,
    now: datetime | None = None,
    *,
    model: OnlineRecommender | None = None,
    warehouse: Warehouse | None = None,
    name: str = DEFAULT_RECOMMENDER,
    allow_stale: bool = False,
    repeats: bool | None = None,
    unseen: bool | None = None,
) -> OnlineRecommendations:
    """The top `k` products (1..1000) for one customer at `now` (default: the wall clock).

    `warehouse_or_store`: a Warehouse (its feature store and champion are opened once per
    process) or a Feast store (then the model comes from `model`, else the champion of
    `warehouse`, else of the warehouse of the environment). `repeats` / `unseen` default to
    the batch lists' settings in dbt_project.yml.

    Raises ScoringError for k outside 1..1000, FeatureStoreError when the catalogue's best
    sellers are not in the online store, and StaleFeatures when a row is older than its
    view's TTL at `now`, unless `allow_stale` (then see `.stale`).
    """
    k = check_k(k)
    if isinstance(warehouse_or_store, Warehouse):
        warehouse = warehouse_or_store
        store = cached_store(warehouse)
    else:
        store = warehouse_or_store
    if model is None:
        model = cached_recommender(warehouse or Warehouse.from_env(), name)
    now = utc(now)
    customer_id = str(customer_id)
    entity_row = {CUSTOMER.key: customer_id, CATALOGUE.key: CATALOGUE_KEY}
    values, freshness = read_row(store, model.feature_service, entity_row, now)
    times = {f.view: f.event_time for f in freshness}
    if times.get(POPULARITY_VIEW) is None:
        raise FeatureStoreError(
            f"The online store has no best sellers ({POPULARITY_VIEW}, {CATALOGUE.key}="
            f"'{CATALOGUE_KEY}') for {model.name}: run `cartcast features apply` and "
            "`cartcast features materialize`."
        )
    if not allow_stale:
        OnlineLookup(CUSTOMER.key, customer_id, values, freshness, now).require_fresh()
    customer_times = [t for view, t in times.items() if view != POPULARITY_VIEW and t is not None]
    as_of = max(customer_times) if customer_times else times[POPULARITY_VIEW]
    recommender = model.model
    rows = customer_rows(values, customer_id, as_of, recommender.length, recommender.width)
    popular = popular_row(values, recommender.popular_width)
    ids, scores = recommender.run(
        rows,
        popular,
        k,
        model.repeats if repeats is None else repeats,
        model.unseen if unseen is None else unseen,
    )
    bought = {p for p in rows.history[0] if p != ""}
    items = tuple(
        Recommendation(
            rank,
            str(product),
            model.descriptions.get(product),
            float(score),
            product in bought,
        )
        for rank, (product, score) in enumerate(zip(ids[0], scores[0], strict=True), start=1)
    )
    return OnlineRecommendations(
        model.name,
        model.version,
        customer_id,
        k,
        items,
        cold_start=not bought,
        known_customer=bool(customer_times),
        as_of=as_of,
        freshness=freshness,
        now=now,
    )
