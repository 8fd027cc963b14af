"""Feast, in process: the repository's configuration pointed at a warehouse, apply, materialize.

The Feast CLI costs seconds of start-up per call; these functions call Feast's Python API
directly with the same definitions (`feature_repo/`) and the same `feature_store.yaml`, with
paths taken from the warehouse and the online store chosen by `CARTCAST_ONLINE_STORE`.
"""

from __future__ import annotations

import copy
import importlib
import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feast  # noqa: F401  (imported here for the warnings filter below)
import yaml

from cartcast import catalog
from cartcast.errors import FeatureStoreError
from cartcast.warehouse.connection import connect
from cartcast.warehouse.identifiers import qualified_from_text
from cartcast.warehouse.paths import PROJECT_DIR, Warehouse

# Feast's modules run `warnings.simplefilter("once", DeprecationWarning)` when imported, which
# puts every library's deprecation notices on a cartcast user's terminal: ibis (under Feast's
# DuckDB offline store) calling DuckDB's deprecated fetch_arrow_table at each materialization,
# torch's ONNX exporter while training. None is something a user can act on. Feast is imported
# above, once, and Python's default (deprecations shown to the code's developers, not its
# users) put back after it.
warnings.filterwarnings("ignore", category=DeprecationWarning)

FEATURE_REPO = PROJECT_DIR / "feature_repo"
REPO_MODULES = ("entities", "data_sources", "feature_views", "feature_services")
ONLINE_STORES = ("sqlite", "redis")


def feast_dir(warehouse: Warehouse) -> Path:
    return warehouse.duckdb_path.parent / "feast"


def online_store_settings(
    warehouse: Warehouse,
    online: str | None = None,
    redis_url: str | None = None,
    fast: bool = True,
) -> dict[str, Any]:
    """The `online_store` block: the yaml's own for SQLite, or Redis at `redis_url`.

    `fast` (the default) keeps cartcast's bulk-writing stores (cartcast/features/bulk/);
    `fast=False` gives Feast's stock SQLite or Redis store, for comparisons.
    """
    online = (online or os.environ.get("CARTCAST_ONLINE_STORE") or "sqlite").lower()
    if online not in ONLINE_STORES:
        raise FeatureStoreError(
            f"Unknown online store {online!r}: set CARTCAST_ONLINE_STORE to one of {ONLINE_STORES}."
        )
    base = _yaml_config()["online_store"]
    if online == "sqlite":
        settings = {**base, "path": str(feast_dir(warehouse) / "online_store.db")}
        return settings if fast else {**settings, "type": "sqlite"}
    url = redis_url or os.environ.get("CARTCAST_REDIS_URL") or "127.0.0.1:6379"
    store_type = "cartcast.features.bulk.redis.CartcastRedisOnlineStore" if fast else "redis"
    return {"type": store_type, "connection_string": url}


def _yaml_config() -> dict[str, Any]:
    return yaml.safe_load((FEATURE_REPO / "feature_store.yaml").read_text())


def repo_config(
    warehouse: Warehouse,
    online: str | None = None,
    redis_url: str | None = None,
    fast: bool = True,
):
    from feast.repo_config import RepoConfig

    raw = _yaml_config()
    raw["registry"] = {**raw["registry"], "path": str(feast_dir(warehouse) / "registry.db")}
    raw["online_store"] = online_store_settings(warehouse, online, redis_url, fast)
    if not fast:
        raw["batch_engine"] = "local"
    return RepoConfig(repo_path=FEATURE_REPO, **raw)


def get_store(
    warehouse: Warehouse | None = None,
    online: str | None = None,
    redis_url: str | None = None,
    fast: bool = True,
):
    from feast import FeatureStore

    warehouse = warehouse or Warehouse.from_env()
    feast_dir(warehouse).mkdir(parents=True, exist_ok=True)
    store = FeatureStore(
        config=repo_config(warehouse, online, redis_url, fast), repo_path=str(FEATURE_REPO)
    )
    # Feast marks a view MATERIALIZING in its registry while it writes and refuses to serve
    # it until the run ends; a run killed half-way leaves the mark, and lookups fail until a
    # rerun. The SQLite store writes each view's rows in one transaction (feast_stores/), so
    # it always holds the last complete materialization: serve it. (Set on the registry
    # object, as Feast's RegistryConfig warns that the option targets SQL registries.)
    store.registry.serve_features_while_materializing = True
    return store


def _repo_modules() -> Iterator[Any]:
    if str(FEATURE_REPO) not in sys.path:
        sys.path.insert(0, str(FEATURE_REPO))
    for name in REPO_MODULES:
        yield importlib.import_module(name)


def repo_contents(warehouse: Warehouse):
    """The definitions in feature_repo/, with every FileSource pointed at this warehouse."""
    from feast import Entity, FeatureService, FeatureView, FileSource, Project
    from feast.repo_contents import RepoContents

    project = _yaml_config()["project"]
    contents = RepoContents(
        projects=[Project(name=project)], data_sources=[], entities=[], feature_views=[],
        feature_services=[],
        on_demand_feature_views=[], stream_feature_views=[], label_views=[], permissions=[],
    )  # fmt: skip
    seen: set[int] = set()
    for module in _repo_modules():
        for obj in vars(module).values():
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if isinstance(obj, FileSource):
                contents.data_sources.append(_repoint(copy.deepcopy(obj), warehouse))
            elif isinstance(obj, Entity):
                contents.entities.append(obj)
            elif isinstance(obj, FeatureView):
                view = copy.deepcopy(obj)
                _repoint(view.batch_source, warehouse)
                contents.feature_views.append(view)
            elif isinstance(obj, FeatureService):
                contents.feature_services.append(obj)
    return contents


def _repoint(source, warehouse: Warehouse):
    mart = Path(source.path).name.removesuffix(".parquet")
    source.file_options.uri = str(warehouse.mart_file(mart))
    return source


def check_marts(warehouse: Warehouse) -> dict[str, str]:
    """Stop clearly when a feature mart's Parquet is missing or older than its build; an
    optional mart (`catalog.FeatureMart.optional`) is only reported: returns the optional
    marts not ready, each with the reason."""
    if not warehouse.duckdb_path.exists():
        raise FeatureStoreError(
            f"No warehouse at {warehouse.duckdb_path}: run `make demo` or `dbt build` first."
        )
    skipped = {}
    con = connect(warehouse, read_only=True)
    try:
        for mart in catalog.feature_marts().values():
            problem = _mart_problem(con, warehouse, mart)
            if problem and mart.optional:
                skipped[mart.name] = problem
            elif problem:
                raise FeatureStoreError(f"Feature mart {problem}")
    finally:
        con.close()
    return skipped


def _mart_problem(con, warehouse: Warehouse, mart: catalog.FeatureMart) -> str | None:
    path, upstream = warehouse.mart_file(mart.name), mart.upstream
    built = any(path.parent.glob(path.name))
    if not built and mart.optional:
        return f"{path} is not built yet (dbt's scoring models write it once a model is trained)"
    if not built:
        return f"{path} is missing: run `dbt build` (or `make demo`) first."
    if warehouse.marts_engine != "duckdb":
        return None  # the upstream tables are the other engine's: nothing here to compare
    (newest_file,) = con.execute("select max(as_of) from read_parquet(?)", [str(path)]).fetchone()
    table = qualified_from_text(upstream)
    (newest_built,) = con.execute(f"select max(as_of) from {table}").fetchone()
    if newest_file is not None and newest_built is not None and newest_file < newest_built:
        return (
            f"{path} is stale (newest snapshot {newest_file}, the warehouse has "
            f"{newest_built}): run `dbt build` to rewrite it."
        )
    return None


def apply(
    warehouse: Warehouse | None = None,
    online: str | None = None,
    redis_url: str | None = None,
    check: bool = True,
    fast: bool = True,
):
    """`feast apply` in process: register the definitions and create online tables.

    `check=False` skips comparing the Parquet marts with the warehouse, for feature files
    written by other means than this project's dbt build (hand-made test data).
    `fast=False`: stock Feast's online store and engine (see `online_store_settings`).
    """
    from feast.repo_operations import apply_total_with_repo_instance

    warehouse = warehouse or Warehouse.from_env()
    if check:
        check_marts(warehouse)
    store = get_store(warehouse, online, redis_url, fast)
    with _friendly_online_errors(store), _quiet_about_unchecked_paths(warehouse):
        apply_total_with_repo_instance(
            store,
            store.project,
            store.registry,
            repo_contents(warehouse),
            skip_source_validation=False,
        )
    return store


class _PathWarningFilter(logging.Filter):
    """Drops Feast's "could not validate FileSource path" for the given paths."""

    def __init__(self, paths: set[str]) -> None:
        super().__init__()
        self.paths = paths

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.args and str(record.args[0]) in self.paths)


@contextmanager
def _quiet_about_unchecked_paths(warehouse: Warehouse) -> Iterator[None]:
    """Feast's path warning, silenced where it says nothing useful: for an optional mart not
    built yet (its view is registered on purpose before dbt writes it,
    `catalog.FeatureMart.optional`), and for the Spark marts' part-file globs, which Feast
    cannot check as paths and `check_marts` has already found."""
    paths = {
        str(warehouse.mart_file(m.name))
        for m in catalog.feature_marts().values()
        if m.optional or warehouse.marts_engine != "duckdb"
    }
    logger = logging.getLogger("feast.infra.offline_stores.file_source")
    quiet = _PathWarningFilter(paths)
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


def materialize(
    warehouse: Warehouse | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    online: str | None = None,
    redis_url: str | None = None,
    feature_views: list[str] | None = None,
    fast: bool = True,
    echo: Callable[[str], None] = print,
):
    """Load the newest feature row per entity in [start, end] into the online store (every
    view, or `feature_views`; an optional mart not built yet is skipped, and said).

    Explicit ranges on purpose: Feast's incremental materialization starts at now minus the
    TTL and would silently skip historical snapshots. `fast=False`: stock Feast's writer.
    """
    warehouse = warehouse or Warehouse.from_env()
    skipped = check_marts(warehouse)
    store = get_store(warehouse, online, redis_url, fast)
    asked = [name for name in feature_views or [] if name in skipped]
    if asked:
        reasons = "; ".join(f"{name}: {skipped[name]}" for name in asked)
        raise FeatureStoreError(f"Not ready to materialize: {reasons}")
    if feature_views is None and skipped:
        for name, reason in skipped.items():
            echo(f"Skipping the feature view {name}: {reason}")
        feature_views = [v.name for v in store.list_feature_views() if v.name not in skipped]
    start = start or datetime(1970, 1, 1, tzinfo=UTC)
    end = end or datetime.now(UTC)
    if start >= end:
        raise FeatureStoreError(f"Materialization range is empty: start {start} >= end {end}.")
    with _friendly_online_errors(store):
        store.materialize(start_date=start, end_date=end, feature_views=feature_views)
    return store


@contextmanager
def _friendly_online_errors(store) -> Iterator[None]:
    """Turn a refused Redis connection into a message that says what to do."""
    import redis

    try:
        yield
    except redis.exceptions.ConnectionError as err:
        url = getattr(store.config.online_store, "connection_string", "?")
        raise FeatureStoreError(
            f"Redis at {url} is not reachable ({err}). Start redis-server, or set "
            "CARTCAST_REDIS_URL, or use CARTCAST_ONLINE_STORE=sqlite."
        ) from err
