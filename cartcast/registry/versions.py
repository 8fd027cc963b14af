"""The model registry: `ml.model_registry` in the warehouse, files under artifacts/models/.

Each trained model is a row (name, version, metrics, file and its sha256, status). Status is
`candidate` when registered, `champion` for the one version per name that scoring uses by
default, `archived` for former champions and superseded candidates. Promotions are stamped
(`promoted_at`), so `rollback` can return to the champion before the current one.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from cartcast.errors import RegistryError
from cartcast.warehouse.connection import connect as connect_warehouse
from cartcast.warehouse.paths import PROJECT_DIR, Warehouse

if TYPE_CHECKING:
    import pandas as pd

TABLE = "ml.model_registry"
# Stored with each version at training: the drift reference (scoring/reference.py) and the
# permutation importance of the exported model (scoring/importance.py).
REFERENCE_TABLE = "ml.model_reference"
IMPORTANCE_TABLE = "ml.model_feature_importance"
STATUSES = ("candidate", "champion", "archived")

DDL = f"""
create schema if not exists ml;
create table if not exists {TABLE} (
    name varchar not null,
    version integer not null,
    created_at timestamp not null,
    task varchar not null,
    feature_service varchar not null,
    family varchar not null,
    train_start timestamp,
    train_end timestamp,
    valid_start timestamp,
    valid_end timestamp,
    cutoff timestamp,
    metrics json,
    path varchar not null,
    sha256 varchar not null,
    status varchar not null check (status in ('candidate', 'champion', 'archived')),
    promoted_at timestamp,
    primary key (name, version)
);
create table if not exists {REFERENCE_TABLE} (
    model_name varchar not null,
    model_version integer not null,
    feature varchar not null,
    bin integer not null,
    lower_bound double,
    upper_bound double,
    expected_share double not null,
    primary key (model_name, model_version, feature, bin)
);
create table if not exists {IMPORTANCE_TABLE} (
    model_name varchar not null,
    model_version integer not null,
    feature varchar not null,
    importance double not null,
    importance_std double not null,
    metric varchar not null,
    rank integer not null,
    primary key (model_name, model_version, feature)
);
"""


@dataclass(frozen=True)
class Entry:
    name: str
    version: int
    task: str
    feature_service: str
    family: str
    path: Path
    sha256: str
    status: str
    metrics: dict

    def check_feature_service(self, service: str) -> None:
        if service != self.feature_service:
            raise RegistryError(
                f"Feature service {service!r} does not match model {self.name} v{self.version}, "
                f"which was trained on {self.feature_service!r}: use that service (or train "
                "a new version on the new one)."
            )

    def verify_file(self) -> Path:
        if not self.path.exists():
            raise RegistryError(f"{self.name} v{self.version}: file {self.path} is missing.")
        if sha256(self.path) != self.sha256:
            raise RegistryError(
                f"{self.name} v{self.version}: {self.path} does not match its registered sha256."
            )
        return self.path


def artifacts_dir(warehouse: Warehouse) -> Path:
    """`$CARTCAST_ARTIFACTS`, else `artifacts/` of the project for the default warehouse, else
    `artifacts/` beside the warehouse file (tests and benchmarks stay in their own folders)."""
    if os.environ.get("CARTCAST_ARTIFACTS"):
        return Path(os.environ["CARTCAST_ARTIFACTS"]).resolve()
    default = Warehouse.from_env({})
    if warehouse.duckdb_path.resolve() == default.duckdb_path.resolve():
        return PROJECT_DIR / "artifacts"
    return warehouse.duckdb_path.parent / "artifacts"


def model_dir(warehouse: Warehouse, name: str, version: int) -> Path:
    return artifacts_dir(warehouse) / "models" / name / str(version)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@contextmanager
def connect(warehouse: Warehouse, read_only: bool = False):
    if not warehouse.duckdb_path.exists():
        raise RegistryError(
            f"No warehouse at {warehouse.duckdb_path}: run `make demo` or `dbt build` first."
        )
    # a clear "warehouse is busy" error instead of DuckDB's lock IOException
    con = connect_warehouse(warehouse, read_only=read_only)
    try:
        if not read_only:
            con.execute(DDL)
        yield con
    finally:
        con.close()


def next_version(warehouse: Warehouse, name: str) -> int:
    with connect(warehouse) as con:
        return next_version_on(con, name)


def next_version_on(con: duckdb.DuckDBPyConnection, name: str) -> int:
    (latest,) = con.execute(f"select max(version) from {TABLE} where name = ?", [name]).fetchone()
    return 1 if latest is None else latest + 1


def registered_service(warehouse: Warehouse, name: str) -> str | None:
    """The feature service of the model's newest version, if any version is registered."""
    with connect(warehouse) as con:
        return registered_service_on(con, name)


def registered_service_on(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    row = con.execute(
        f"select feature_service from {TABLE} where name = ? order by version desc limit 1",
        [name],
    ).fetchone()
    return None if row is None else row[0]


def register(warehouse: Warehouse, **fields) -> Entry:
    """Add a candidate (see `register_on`)."""
    with connect(warehouse) as con:
        return register_on(con, **fields)


def register_on(
    con: duckdb.DuckDBPyConnection,
    *,
    name: str,
    version: int,
    task: str,
    feature_service: str,
    family: str,
    train_window: tuple[str, str],
    valid_window: tuple[str, str],
    cutoff: str,
    metrics: dict,
    path: Path,
) -> Entry:
    """Add a candidate. A name's first version becomes champion (scoring needs one)."""
    digest = sha256(path)
    known = con.execute(
        f"select feature_service from {TABLE} where name = ? order by version desc limit 1",
        [name],
    ).fetchone()
    if (
        known is not None
        and known[0] != feature_service
        and not newer_service(name, known[0], feature_service)
    ):
        raise RegistryError(
            f"Feature service {feature_service!r} does not match the registered model "
            f"{name}, trained on {known[0]!r}."
        )
    if con.execute(
        f"select 1 from {TABLE} where name = ? and version = ?", [name, version]
    ).fetchone():
        raise RegistryError(f"{name} v{version} is already registered.")
    con.execute(
        f"insert into {TABLE} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'candidate', null)",
        [
            name,
            version,
            datetime.now(UTC).replace(tzinfo=None),
            task,
            feature_service,
            family,
            *_naive(train_window),
            *_naive(valid_window),
            *_naive((cutoff,)),
            json.dumps(metrics, sort_keys=True),
            str(path),
            digest,
        ],
    )
    has_champion = con.execute(
        f"select 1 from {TABLE} where name = ? and status = 'champion'", [name]
    ).fetchone()
    if not has_champion:
        # training just ran this file in ONNX Runtime on real feature rows (torch parity)
        promote_on(con, name, version, verify=None)
    return get_on(con, name, version)


def _service_number(name: str, service: str) -> int | None:
    number = service.removeprefix(f"{name}_v")
    return int(number) if service.startswith(f"{name}_v") and number.isdigit() else None


def newer_service(name: str, known: str, new: str) -> bool:
    """Whether `new` is a later version of the model's own feature service than `known`
    (`<name>_v2` after `<name>_v1`): a model may move to new inputs, never to another's."""
    old_number, new_number = _service_number(name, known), _service_number(name, new)
    return old_number is not None and new_number is not None and new_number > old_number


def _naive(values) -> list[datetime]:
    # imported here: the dbt plugin loads this module on every connection, pandas is slow to load
    import pandas as pd

    return [pd.Timestamp(v).tz_convert("UTC").tz_localize(None).to_pydatetime() for v in values]


def _entry(row: tuple) -> Entry:
    name, version, task, service, family, path, digest, status, metrics = row
    return Entry(
        name, version, task, service, family, Path(path), digest, status, json.loads(metrics)
    )


_COLUMNS = "name, version, task, feature_service, family, path, sha256, status, metrics"


def get(warehouse: Warehouse, name: str, version: int) -> Entry:
    with connect(warehouse) as con:
        return get_on(con, name, version)


def get_on(con: duckdb.DuckDBPyConnection, name: str, version: int) -> Entry:
    """`get` on an open connection (dbt's own, inside a Python model)."""
    row = con.execute(
        f"select {_COLUMNS} from {TABLE} where name = ? and version = ?", [name, version]
    ).fetchone()
    if row is None:
        raise RegistryError(f"No model {name} v{version} in {TABLE}; see `cartcast models list`.")
    return _entry(row)


def champion(warehouse: Warehouse, name: str, feature_service: str | None = None) -> Entry:
    """The version scoring uses by default; checks the feature service when one is given."""
    with connect(warehouse) as con:
        return champion_on(con, name, feature_service)


def champion_on(
    con: duckdb.DuckDBPyConnection, name: str, feature_service: str | None = None
) -> Entry:
    """`champion` on an open connection (dbt's own, inside a Python model)."""
    row = con.execute(
        f"select {_COLUMNS} from {TABLE} where name = ? and status = 'champion'", [name]
    ).fetchone()
    if row is None:
        raise RegistryError(
            f"Model {name} has no champion: train one with `cartcast train --model {name}`."
        )
    entry = _entry(row)
    if feature_service is not None:
        entry.check_feature_service(feature_service)
    return entry


# Proves a version can serve, raising RegistryError if not; serving supplies it
# (`scoring.promotion.check`), so the registry needs nothing from the layers above it.
Verify = Callable[[duckdb.DuckDBPyConnection, Entry], None]


def promote(warehouse: Warehouse, name: str, version: int, verify: Verify | None) -> Entry:
    """Make `version` the champion; the former champion is archived.

    `verify` runs first on the warehouse's connection and refuses a version that cannot
    serve, so the champion stays in service. None is for a version that was just proven
    (training ran its file in ONNX Runtime on real feature rows); everyone else goes through
    `scoring.promotion.promote`, which passes the full check.
    """
    with connect(warehouse) as con:
        return promote_on(con, name, version, verify)


def promote_on(
    con: duckdb.DuckDBPyConnection, name: str, version: int, verify: Verify | None
) -> Entry:
    """`promote` on an open connection."""
    entry = get_on(con, name, version)
    if verify is not None:
        verify(con, entry)
    con.execute("begin")
    con.execute(
        f"update {TABLE} set status = 'archived' where name = ? and status = 'champion'",
        [name],
    )
    con.execute(
        f"update {TABLE} set status = 'champion', promoted_at = ? where name = ? and version = ?",
        [datetime.now(UTC).replace(tzinfo=None), name, version],
    )
    con.execute("commit")
    return get_on(con, name, version)


def rollback(warehouse: Warehouse, name: str) -> Entry:
    """Archive the current champion and bring back the one promoted before it."""
    current = champion(warehouse, name)
    with connect(warehouse) as con:
        row = con.execute(
            f"select version from {TABLE} where name = ? and status = 'archived' "
            "and promoted_at is not null and version <> ? "
            "order by promoted_at desc, version desc limit 1",
            [name, current.version],
        ).fetchone()
        if row is None:
            raise RegistryError(
                f"Model {name} has no earlier champion to roll back to (v{current.version} is "
                "the only one ever promoted)."
            )
        con.execute("begin")
        con.execute(
            f"update {TABLE} set status = 'archived', promoted_at = null "
            "where name = ? and version = ?",
            [name, current.version],
        )
        con.execute(
            f"update {TABLE} set status = 'champion' where name = ? and version = ?",
            [name, row[0]],
        )
        con.execute("commit")
    return get(warehouse, name, row[0])


def list_models(warehouse: Warehouse, name: str | None = None) -> pd.DataFrame:
    with connect(warehouse) as con:
        where, args = ("where name = ?", [name]) if name else ("", [])
        return con.execute(
            f"select name, version, status, family, task, feature_service, created_at, "
            f"train_start, train_end, valid_start, valid_end, metrics, path, sha256 "
            f"from {TABLE} {where} order by name, version",
            args,
        ).df()
