"""Pseudonymous customer and user ids: the same salted hash the warehouse computes.

With the dbt var `cartcast_pseudonymize_ids` on, staging replaces every raw customer id
(orders) and user id (events) by sha256 of "<salt>:<id>" (macro `pseudonymize_id`), so no
table or Parquet file holds a raw id. Whoever holds a raw id and the salt (the online scorer
asked for `--customer 12345`) gets the warehouse's key from `pseudonymize`; `warehouse_key`
does it only when the warehouse's recorded id mode (audit.id_mode) says its ids are hashed.
"""

from __future__ import annotations

import hashlib
import os
import re
from functools import cache

import duckdb
import yaml

from cartcast.errors import MissingSalt
from cartcast.warehouse.connection import connect
from cartcast.warehouse.paths import PROJECT_DIR, Warehouse

SALT_ENV = "CARTCAST_ID_SALT"
_SPREADSHEET_SUFFIX = re.compile(r"\.0+$")
_WHITESPACE = " \t\n\r"
_KEY = re.compile(r"^[0-9a-f]{64}$")
PSEUDONYMIZED = "pseudonymized"


@cache
def demo_salt() -> str:
    """The public salt `cartcast demo` uses when CARTCAST_ID_SALT is unset (dbt var
    `cartcast_demo_id_salt`, so that dbt and Python agree on it)."""
    project = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())
    return str(project["vars"]["cartcast_demo_id_salt"])


def salt_from_env(env: dict[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    salt = env.get(SALT_ENV, "")
    if not salt:
        raise MissingSalt(
            f"Pseudonymous ids need the salt: set the environment variable {SALT_ENV} to the "
            "value the warehouse was built with."
        )
    return salt


def pseudonymize(raw_id: str | int, salt: str) -> str:
    """The warehouse's key for a raw id: sha256("<salt>:<id>") as 64 hex characters.

    The id is cleaned the way staging cleans it first (surrounding whitespace, a
    spreadsheet's trailing ".0"), so "17850.0" and " 17850" map to the same key as "17850".
    """
    if not salt:
        raise MissingSalt(f"An empty salt gives no privacy: set {SALT_ENV}.")
    text = _SPREADSHEET_SUFFIX.sub("", str(raw_id).strip(_WHITESPACE))
    return hashlib.sha256(f"{salt}:{text}".encode()).hexdigest()


def salt_fingerprint(salt: str) -> str:
    """How audit.id_mode records a salt (macro cartcast_salt_fingerprint): never the salt."""
    return hashlib.md5(f"cartcast:{salt}".encode()).hexdigest()[:8]


def recorded_id_mode(warehouse: Warehouse) -> str | None:
    """The id mode the warehouse was last built with ('raw' or 'pseudonymized (salt <fp>)'),
    None when it was never built."""
    if not warehouse.duckdb_path.exists():
        return None
    con = connect(warehouse, read_only=True)
    try:
        row = con.execute("select mode from audit.id_mode").fetchone()
    except duckdb.CatalogException:
        row = None
    finally:
        con.close()
    return None if row is None else str(row[0])


def warehouse_salt(mode: str, env: dict[str, str] | None = None) -> str:
    """The salt of a pseudonymized warehouse: CARTCAST_ID_SALT, or the demo salt when the
    warehouse was built with it; refused when the one given is not the one recorded."""
    env = os.environ if env is None else env
    given = env.get(SALT_ENV, "")
    candidates = [given] if given else [demo_salt()]
    for salt in candidates:
        if mode == f"{PSEUDONYMIZED} (salt {salt_fingerprint(salt)})":
            return salt
    if given:
        raise MissingSalt(
            f"{SALT_ENV} is not the salt this warehouse was built with (audit.id_mode: {mode}; "
            f"{SALT_ENV} has fingerprint {salt_fingerprint(given)}): set it to the build's salt."
        )
    raise MissingSalt(
        f"This warehouse holds pseudonymized ids ({mode}): set the environment variable "
        f"{SALT_ENV} to the salt it was built with to look ids up."
    )


def warehouse_key(entity_id: str, warehouse: Warehouse, env: dict[str, str] | None = None) -> str:
    """The key the warehouse holds for `entity_id`: the id itself in a raw warehouse, or when
    it already is a key (64 hex characters); its salted hash in a pseudonymized one."""
    mode = recorded_id_mode(warehouse)
    if mode is None or not mode.startswith(PSEUDONYMIZED) or _KEY.match(entity_id):
        return entity_id
    return pseudonymize(entity_id, warehouse_salt(mode, env))
